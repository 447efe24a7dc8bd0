"""The graph layers: the GCN (Spektral's, with the one Keras 3 compatibility shim that Spektral
1.3.1 needs, kept here so Spektral stays replaceable), graph attention, and the sparse adjacency
both take. Both layers run on TensorFlow and JAX."""
from __future__ import annotations

import keras
import numpy as np
import scipy.sparse as sp
from keras import ops
from spektral.layers import GCNConv as _SpektralGCNConv
from spektral.layers.ops import modal_dot


def sparse_adjacency(matrix: sp.spmatrix, *, backend: str | None = None):
    """A (normalised) scipy adjacency as a sparse tensor of ``backend`` (default: Keras's),
    entries in row order: a float32 ``tf.SparseTensor`` on TensorFlow (also what ``tf.data``
    input pipelines carry, which Keras converts for JAX), a ``jax.experimental.sparse.BCOO`` on
    JAX."""
    coo = sp.coo_matrix(matrix, dtype=np.float32)
    order = np.lexsort((coo.col, coo.row))
    indices = np.stack([coo.row[order], coo.col[order]], axis=1)
    if (backend or keras.backend.backend()) == "jax":
        from jax.experimental import sparse as jax_sparse

        return jax_sparse.BCOO((coo.data[order], indices.astype(np.int32)), shape=coo.shape,
                               indices_sorted=True, unique_indices=True)
    import tensorflow as tf

    return tf.SparseTensor(indices.astype(np.int64), coo.data[order], coo.shape)


def graph_inputs(inputs):
    """(X, sparse A_norm) of a network's input: ``(X, A_norm)`` as it is, or a padded step's
    ``(X, entries, values)``, the adjacency's (row, column) entries and their values as dense
    arrays (which Keras's data-parallel training splits over devices as it splits X), made into
    the sparse adjacency of X's rows."""
    if len(inputs) == 2:
        return tuple(inputs)
    x, entries, values = inputs
    n = x.shape[0]
    if keras.backend.backend() == "jax":
        from jax.experimental import sparse as jax_sparse

        return x, jax_sparse.BCOO((values, ops.cast(entries, "int32")), shape=(n, n))
    import tensorflow as tf

    n = tf.shape(x, out_type=tf.int64)[0]
    return x, tf.SparseTensor(tf.cast(entries, tf.int64), values, tf.stack([n, n]))


def propagate(a, x):
    """A_norm X for a sparse ``a`` from :func:`sparse_adjacency`: Spektral's product on
    TensorFlow (``tf.sparse.sparse_dense_matmul``; ``keras.ops.matmul`` would gather an
    edges x width tensor there, see ``benchmarks/graph_layers.py``), ``keras.ops.matmul`` on
    other backends (a sparse-dense product of JAX's BCOO)."""
    if keras.backend.backend() == "tensorflow":
        return modal_dot(a, x)
    return ops.matmul(a, x)


def add_bias(x, bias):
    """x + bias over the last axis: Spektral's ``tf.nn.bias_add`` on TensorFlow (whose gradient
    sums in its own order: training stays bit for bit what it was), ``+`` elsewhere."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.nn.bias_add(x, bias)
    return x + bias


@keras.saving.register_keras_serializable(package="graph_diffvae")
class GCNConv(_SpektralGCNConv):
    """Spektral's ``GCNConv``: activation(A_norm X W + b) for node features X and a normalised
    sparse adjacency A_norm.

    Spektral's ``call`` rewritten with three changes, none to the result:

    - Keras 3 calls layers with ``mask=[None, None]`` for a list input, which Spektral multiplies
      into the output and then fails with "Could not automatically infer the output shape"; an
      all-``None`` mask is turned into ``None``.
    - The sparse product runs on the narrower side: (A_norm X) W when X has fewer columns than
      the layer has units, A_norm (X W) otherwise (Spektral's order, always). Every N x width
      tensor of the product, and its gradient, is then as narrow as it can be.
    - The rest is written with ``keras.ops`` and the product with :func:`propagate`, so the
      layer runs on JAX as well (Spektral's own product on TensorFlow).
    """

    def call(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)) and all(m is None for m in mask):
            mask = None
        x, a = inputs
        if x.shape[-1] is not None and x.shape[-1] < self.channels:
            output = ops.matmul(propagate(a, x), self.kernel)
        else:
            output = propagate(a, ops.matmul(x, self.kernel))
        if self.use_bias:
            output = add_bias(output, self.bias)
        if mask is not None:
            output *= mask[0]
        return self.activation(output)


@keras.saving.register_keras_serializable(package="graph_diffvae")
class GraphAttention(keras.layers.Layer):
    """Graph attention (Velickovic et al. 2018), computed on the edges only: for every edge
    i <- j of the adjacency (self-loops included), e_ij = LeakyReLU(a_s . W h_i + a_n . W h_j),
    alpha_ij = softmax of e_ij over i's neighbours j, and out_i = activation(sum_j alpha_ij W h_j
    + b), for each of ``heads`` heads, concatenated (``concat_heads``) or averaged.

    Written with ``keras.ops`` segment sums over the edge list (never an N x N matrix), on every
    backend; the adjacency is the sparse tensor that :func:`sparse_adjacency` makes (its values
    are not used, only where it is non-zero). Spektral's ``GATConv`` is not used: its sparse mode is
    reported broken on its issue tracker.
    """

    def __init__(self, units: int, heads: int = 1, *, concat_heads: bool = True,
                 activation=None, negative_slope: float = 0.2, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units, self.heads, self.concat_heads = int(units), int(heads), bool(concat_heads)
        self.activation = keras.activations.get(activation)
        self.negative_slope = float(negative_slope)

    def build(self, input_shape) -> None:
        n_features = input_shape[0][-1]
        self.kernel = self.add_weight(shape=(n_features, self.heads, self.units),
                                      initializer="glorot_uniform", name="kernel")
        self.attention_self = self.add_weight(shape=(self.heads, self.units),
                                              initializer="glorot_uniform", name="attention_self")
        self.attention_neighbour = self.add_weight(shape=(self.heads, self.units),
                                                   initializer="glorot_uniform",
                                                   name="attention_neighbour")
        width = self.heads * self.units if self.concat_heads else self.units
        self.bias = self.add_weight(shape=(width,), initializer="zeros", name="bias")

    def attention(self, inputs):
        """(edges as (i, j) rows, alpha per edge and head (E x heads), W h (N x heads x units))."""
        x, a = inputs
        edges = a.indices
        target, source = edges[:, 0], edges[:, 1]
        n = ops.shape(x)[0]
        h = ops.einsum("nf,fhu->nhu", x, self.kernel)
        score_self = ops.sum(h * self.attention_self, axis=-1)
        score_neighbour = ops.sum(h * self.attention_neighbour, axis=-1)
        e = ops.leaky_relu(ops.take(score_self, target, axis=0)
                           + ops.take(score_neighbour, source, axis=0), self.negative_slope)
        # softmax over each node's incoming edges, shifted by the node's maximum for stability
        e = e - ops.take(ops.segment_max(e, target, num_segments=n), target, axis=0)
        weights = ops.exp(e)
        total = ops.segment_sum(weights, target, num_segments=n)
        return edges, weights / ops.take(total, target, axis=0), h

    def call(self, inputs):
        edges, alpha, h = self.attention(inputs)
        n = ops.shape(h)[0]
        messages = ops.expand_dims(alpha, -1) * ops.take(h, edges[:, 1], axis=0)
        out = ops.segment_sum(messages, edges[:, 0], num_segments=n)
        out = (ops.reshape(out, (n, self.heads * self.units)) if self.concat_heads
               else ops.mean(out, axis=1))
        return self.activation(out + self.bias)

    def compute_output_shape(self, input_shape):
        width = self.heads * self.units if self.concat_heads else self.units
        return (input_shape[0][0], width)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "heads": self.heads,
                "concat_heads": self.concat_heads,
                "activation": keras.activations.serialize(self.activation),
                "negative_slope": self.negative_slope}
