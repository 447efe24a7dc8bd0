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
        self.scaled, self.batch_size = ScaledRows(adata, preprocessor), int(batch_size)
        self.shuffle, self.rng = shuffle, np.random.default_rng(seed)
        rows = np.sort(np.asarray(rows))
        self.n_rows = len(rows)
        self.blocks = np.split(rows, np.arange(block_size, len(rows), block_size))
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(self.n_rows / self.batch_size)

    def __getitem__(self, index: int) -> np.ndarray:
        window = slice(index * self.batch_size, (index + 1) * self.batch_size)
        rows, blocks = self.order[window], self.block_of[window]
        # one read per block: the span from its first to its last row (rows are sorted within)
        batch = self.scaled.take(np.split(rows, np.flatnonzero(np.diff(blocks)) + 1))
        return self.rng.permutation(batch) if self.shuffle else batch

    def on_epoch_end(self) -> None:
        order = self.rng.permutation(len(self.blocks)) if self.shuffle else range(len(self.blocks))
        order = list(order)
        self.order = np.concatenate([self.blocks[i] for i in order]) if order else np.zeros(0, int)
        self.block_of = np.repeat(np.arange(len(order)), [len(self.blocks[i]) for i in order])


class ScaledRows:
    """The model input (preprocessed, scaled float32) of any rows of a backed AnnData, read
    straight from its file: ``scaled(rows)`` for sorted rows, ``scaled.take(runs)`` for runs.

    ``max_gap``: sorted rows less than this many rows apart are read in one span (and the rows
    between dropped), fewer reads for scattered rows such as a subgraph's cells.
    """

    def __init__(self, adata: ad.AnnData, preprocessor: Preprocessor, *, max_gap: int = 32) -> None:
        self.reader, self.preprocessor, self.max_gap = RowReader(adata), preprocessor, int(max_gap)
        self.n_obs = adata.n_obs
        columns = adata.var_names.get_indexer(preprocessor.input_genes_)
        if (columns < 0).any():
            raise InputError(f"the file lacks {int((columns < 0).sum())} of the model's genes")
        # None: the file's columns are the model's input genes, in order (no column gather)
        self.columns = None if np.array_equal(columns, np.arange(adata.n_vars)) else columns

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows)
        if len(rows) == 0:
            return np.zeros((0, len(self.preprocessor.genes_)), dtype=np.float32)
        return self.take(np.split(rows, np.flatnonzero(np.diff(rows) > self.max_gap) + 1))

    def take(self, runs: list[np.ndarray]) -> np.ndarray:
        """The scaled rows of ``runs`` (each increasing, one read each), in that order."""
        counts = self.reader.take(runs)
        # dense from here: a batch is small, and numpy on it costs less than scipy's sparse
        # bookkeeping
        return self.preprocessor.scale_rows(counts if self.columns is None
                                            else counts[:, self.columns])

    def blocks(self, block_size: int = 8192):
        """Every row in order, as scaled blocks of up to ``block_size`` rows."""
        for start in range(0, self.n_obs, block_size):
            yield self(np.arange(start, min(start + block_size, self.n_obs)))


def streamed_pca(blocks, n_components: int, *, n_iter: int = 7,
                 seed: int | None = 0) -> np.ndarray:
    """The top ``n_components`` principal components (scores, cells x n_components, float32) of
    the matrix whose rows ``blocks()`` yields block by block, each call a fresh pass: randomized
    subspace iteration (Halko et al. 2011; ``n_iter`` as scikit-learn's randomized PCA for few
    components) with the products summed over blocks, so memory is genes x (n_components + 10)
    and the scores; ``n_iter`` + 3 passes in all."""
    n = width = 0
    total = None
    for block in blocks():
        block = np.asarray(block, dtype=np.float64)
        total = block.sum(axis=0) if total is None else total + block.sum(axis=0)
        n, width = n + len(block), block.shape[1]
    mean = total / max(n, 1)
    n_components = min(n_components, width, n)
    basis = np.random.default_rng(seed).standard_normal((width, min(width, n_components + 10)))

    def covariance_times(vectors):  # (X - mean)^T (X - mean) vectors, a block at a time
        out = np.zeros_like(vectors)
        shift = mean @ vectors
        for block in blocks():
            block = np.asarray(block, dtype=np.float64)
            projected = block @ vectors - shift
            out += block.T @ projected - np.outer(mean, projected.sum(axis=0))
        return out

    for _ in range(n_iter):
        basis = np.linalg.qr(covariance_times(basis))[0]
    values, vectors = np.linalg.eigh(basis.T @ covariance_times(basis))
    components = basis @ vectors[:, ::-1][:, :n_components]
    shift = mean @ components
    return np.concatenate([(np.asarray(block, dtype=np.float64) @ components - shift).astype(np.float32)
                           for block in blocks()])


class RowReader:
    """Reads spans of consecutive rows of a backed AnnData's X straight from its HDF5 datasets.

    For a CSR matrix the row pointers (8 bytes per cell) are read once; a span is then two
    contiguous reads, far cheaper than anndata's own slicing (benchmarks/scale.py). A
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
