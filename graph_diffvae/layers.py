"""The graph convolution: the one Keras 3 compatibility shim that Spektral 1.3.1 needs (kept
here so Spektral stays replaceable) and the sparse adjacency tensor it takes."""
from __future__ import annotations

import keras
import numpy as np
import scipy.sparse as sp
import tensorflow as tf
from spektral.layers import GCNConv as _SpektralGCNConv


def sparse_adjacency(matrix: sp.spmatrix) -> tf.SparseTensor:
    """A (normalised) scipy adjacency as the ordered float32 ``tf.SparseTensor`` GCNConv takes."""
    coo = sp.coo_matrix(matrix, dtype=np.float32)
    indices = np.stack([coo.row, coo.col], axis=1).astype(np.int64)
    return tf.sparse.reorder(tf.SparseTensor(indices, coo.data, coo.shape))


@keras.saving.register_keras_serializable(package="graph_diffvae")
class GCNConv(_SpektralGCNConv):
    """Spektral's ``GCNConv``: activation(A_norm X W + b) for node features X and a normalised
    sparse adjacency A_norm.

    Keras 3 calls layers with ``mask=[None, None]`` for a list input, which Spektral multiplies
    into the output and then fails with "Could not automatically infer the output shape"; an
    all-``None`` mask is turned into ``None``.
    """

    def call(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)) and all(m is None for m in mask):
            mask = None
        return super().call(inputs, mask=mask)
