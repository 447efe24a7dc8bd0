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

from .errors import InputError
from .preprocessing import Preprocessor


class MinibatchSequence(keras.utils.PyDataset):
    """Minibatches of the scaled expression of ``rows`` of a (backed) AnnData, for
    ``keras.Model.fit``: each batch is read from disk and preprocessed when Keras asks for it.

    With ``shuffle``, the rows are permuted again at the end of every epoch (seeded by
    ``seed``); the rows of one batch are read in file order.
    """

    def __init__(self, adata: ad.AnnData, preprocessor: Preprocessor, rows: np.ndarray,
                 batch_size: int, *, shuffle: bool = False, seed: int | None = None) -> None:
        super().__init__()
        self.adata, self.preprocessor, self.batch_size = adata, preprocessor, int(batch_size)
        self.rows, self.shuffle = np.asarray(rows), shuffle
        self.rng = np.random.default_rng(seed)
        columns = adata.var_names.get_indexer(preprocessor.input_genes_)
        if (columns < 0).any():
            raise InputError(f"the file lacks {int((columns < 0).sum())} of the model's genes")
        # None: the file's columns are the model's input genes, in order (no column gather)
        self.columns = None if np.array_equal(columns, np.arange(adata.n_vars)) else columns
        self.order = self.rng.permutation(self.rows) if shuffle else self.rows

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size)

    def __getitem__(self, index: int) -> np.ndarray:
        batch = np.sort(self.order[index * self.batch_size:(index + 1) * self.batch_size])
        rows = self.adata.X[batch]
        return self.preprocessor.scale_rows(rows if self.columns is None else rows[:, self.columns])

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.order = self.rng.permutation(self.rows)
