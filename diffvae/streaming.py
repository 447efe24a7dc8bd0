"""Training and embedding straight from an .h5ad on disk (anndata's backed mode).

The models accept an AnnData opened with ``backed="r"`` (or the path of an .h5ad) wherever they
accept data in memory. The matrix stays on disk: the preprocessing statistics come from passes
over blocks of cells (:meth:`diffvae.preprocessing.Preprocessor.fit`), each training minibatch
is read, normalised and scaled on the fly (:class:`MinibatchSequence`, a Keras ``PyDataset``),
and ``transform`` embeds block by block. Memory grows with the number of cells only by the
cell indices, one library size per cell and the N x m representation returned.

A minibatch is a random sample of cells, read in file order (anndata reads sorted rows of a
sparse matrix in one pass), so batches mix the whole file even when it is sorted by cell type.
"""
from __future__ import annotations

import math

import anndata as ad
import keras
import numpy as np
import scipy.sparse as sp

from .errors import InputError
from .preprocessing import Preprocessor


class MinibatchSequence(keras.utils.PyDataset):
    """Minibatches of the scaled expression of ``rows`` of a (backed) AnnData, for
    ``keras.Model.fit``: each batch is read from disk and preprocessed when Keras asks for it.

    The rows (sorted) are cut into blocks of ``block_size`` consecutive ones, and a batch is
    ``batch_size / block_size`` random blocks: each block is one contiguous read from disk (a
    read per cell costs about 8 times more), and the blocks come from anywhere in the file, so
    batches mix cell types even when the file is sorted by type. With ``shuffle`` the blocks
    are drawn again at the end of every epoch (seeded by ``seed``), and the rows within them.
    """

    def __init__(self, adata: ad.AnnData, preprocessor: Preprocessor, rows: np.ndarray,
                 batch_size: int, *, shuffle: bool = False, seed: int | None = None,
                 block_size: int = 16) -> None:
        super().__init__()
        self.reader, self.preprocessor, self.batch_size = RowReader(adata), preprocessor, int(batch_size)
        self.shuffle, self.rng = shuffle, np.random.default_rng(seed)
        rows = np.sort(np.asarray(rows))
        self.n_rows = len(rows)
        self.blocks = np.split(rows, np.arange(block_size, len(rows), block_size))
        columns = adata.var_names.get_indexer(preprocessor.input_genes_)
        if (columns < 0).any():
            raise InputError(f"the file lacks {int((columns < 0).sum())} of the model's genes")
        # None: the file's columns are the model's input genes, in order (no column gather)
        self.columns = None if np.array_equal(columns, np.arange(adata.n_vars)) else columns
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(self.n_rows / self.batch_size)

    def __getitem__(self, index: int) -> np.ndarray:
        window = slice(index * self.batch_size, (index + 1) * self.batch_size)
        rows, blocks = self.order[window], self.block_of[window]
        # one read per block: the span from its first to its last row (rows are sorted within)
        counts = self.reader.take(np.split(rows, np.flatnonzero(np.diff(blocks)) + 1))
        # dense from here: a 128 x genes batch is small, and numpy on it costs less than
        # scipy's sparse bookkeeping (2.4 -> 1.4 ms a batch)
        batch = self.preprocessor.scale_rows(counts if self.columns is None
                                             else counts[:, self.columns])
        return self.rng.permutation(batch) if self.shuffle else batch

    def on_epoch_end(self) -> None:
        order = self.rng.permutation(len(self.blocks)) if self.shuffle else range(len(self.blocks))
        order = list(order)
        self.order = np.concatenate([self.blocks[i] for i in order]) if order else np.zeros(0, int)
        self.block_of = np.repeat(np.arange(len(order)), [len(self.blocks[i]) for i in order])


class RowReader:
    """Reads spans of consecutive rows of a backed AnnData's X straight from its HDF5 datasets.

    For a CSR matrix the row pointers (8 bytes per cell) are read once; a span is then two
    contiguous reads, about 0.1 ms, where anndata's own slicing costs about 3 ms a call. A
    column-wise (CSC) matrix cannot be read by rows and is refused.
    """

    def __init__(self, adata: ad.AnnData) -> None:
        x = adata.X
        self.format = getattr(x, "format", None)
        if self.format == "csc":
            raise InputError(f"{adata.filename}: X is stored by columns (CSC), which cannot be "
                             "read cell by cell; store it by rows: adata.X = adata.X.tocsr(), "
                             "then write the file again")
        if self.format == "csr":
            group = x.group
            self.data, self.indices = group["data"], group["indices"]
            self.indptr, self.n_vars = group["indptr"][...], x.shape[1]
        else:  # dense: an HDF5 dataset, sliced directly
            self.dense = x

    def take(self, runs: list[np.ndarray]) -> np.ndarray:
        """The rows in ``runs`` (each increasing) as one dense float32 array, in that order;
        a run is one contiguous read, from its first to its last row."""
        if self.format != "csr":
            return np.concatenate([np.asarray(self.dense[run[0]:run[-1] + 1])[run - run[0]]
                                   for run in runs]).astype(np.float32, copy=False)
        data, indices, starts, offset = [], [], [], 0
        for run in runs:
            low, high = self.indptr[run[0]], self.indptr[run[-1] + 1]
            data.append(self.data[low:high])
            indices.append(self.indices[low:high])
            starts.append(self.indptr[run] - low + offset)  # each row's place in the spans read
            offset += high - low
        rows = np.concatenate(runs)
        lengths = self.indptr[rows + 1] - self.indptr[rows]
        ends = np.cumsum(lengths)
        take = np.repeat(np.concatenate(starts) - (ends - lengths), lengths) + np.arange(ends[-1])
        matrix = sp.csr_matrix((np.concatenate(data)[take].astype(np.float32, copy=False),
                                np.concatenate(indices)[take], np.concatenate([[0], ends])),
                               shape=(len(rows), self.n_vars))
        return matrix.toarray()  # sums duplicate entries, as scipy does for any CSR
