"""Loss terms of Graph-DiffVAE, written with ``keras.ops`` (on TensorFlow, the pair logits'
gradient with TensorFlow's own); the KL term is DiffVAE's.

Reconstruction: the Bernoulli log-likelihood of the adjacency (with self-loops) under
sigmoid(z*_i . z*_j), with Kipf & Welling's positive-class weighting and normalisation. Two
forms that agree: :func:`dense_reconstruction_loss` scores all N^2 pairs;
:func:`sparse_reconstruction_loss` scores the edges and a sample of non-edges, each standing for
its share of all non-edges, never materialising N x N (with every non-edge they are equal).
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from diffvae.losses import kl_divergence


def loss_weights(n_cells, n_positive):
    """Kipf & Welling's (pos_weight, norm) for an adjacency with ``n_positive`` ones of N^2."""
    total = ops.cast(n_cells, "float32") ** 2
    n_positive = ops.cast(n_positive, "float32")
    return (total - n_positive) / n_positive, total / (2.0 * (total - n_positive))


def dense_reconstruction_loss(z, target):
    """norm * mean over all N^2 pairs of the positive-weighted binary cross-entropy of
    sigmoid(z z^T) against ``target`` (dense 0/1 adjacency with self-loops)."""
    target = ops.cast(target, "float32")
    pos_weight, norm = loss_weights(ops.shape(target)[0], ops.sum(target))
    logits = ops.matmul(z, ops.transpose(z))
    # weighted BCE with logits: pos_weight * softplus(-l) for ones, softplus(l) for zeros
    pairs = pos_weight * target * ops.softplus(-logits) + (1.0 - target) * ops.softplus(logits)
    return norm * ops.mean(pairs)


def sparse_reconstruction_loss(z, positives, negatives):
    """The same loss from ``positives`` (every one of the target, as (i, j) rows) and a uniform
    sample of ``negatives`` (zeros of the target), each sampled pair standing for
    n_non_edges / len(negatives) pairs."""
    n_cells = ops.cast(ops.shape(z)[0], "float32")
    n_positive = ops.cast(ops.shape(positives)[0], "float32")
    n_non_edges = n_cells ** 2 - n_positive
    pos_weight, norm = loss_weights(n_cells, n_positive)
    positive_sum = pos_weight * ops.sum(ops.softplus(-pair_logits(z, positives)))
    negative_mean = ops.mean(ops.softplus(pair_logits(z, negatives)))
    return norm * (positive_sum + negative_mean * n_non_edges) / n_cells ** 2


def padded_reconstruction_loss(z, positives, negatives, counts):
    """:func:`sparse_reconstruction_loss` of a padded step (fixed sizes, so that JAX compiles
    it once), averaged over the step's subgraphs: ``counts`` has a row (cells, positives,
    negatives) per subgraph s, whose rows of ``z`` are the s-th equal slice, of which the first
    ``cells`` are cells, and whose pairs are the s-th equal slices of ``positives`` and
    ``negatives``, of which the first ``positives`` and ``negatives`` are pairs (all in ``z``'s
    numbering); the rest is padding, left out."""
    n_subgraphs = ops.shape(counts)[0]
    n_cells, n_positive, n_negative = (ops.cast(counts[:, i], "float32") for i in range(3))

    def per_subgraph(pairs, sign, count):  # softplus(sign * logit) of the real pairs, summed
        losses = ops.reshape(ops.softplus(sign * pair_logits(z, pairs)), (n_subgraphs, -1))
        real = ops.arange(ops.shape(losses)[1])[None, :] < count[:, None]
        return ops.sum(losses * ops.cast(real, "float32"), axis=1)

    pos_weight, norm = loss_weights(n_cells, n_positive)
    positive_sum = pos_weight * per_subgraph(positives, -1.0, counts[:, 1])
    negative_mean = per_subgraph(negatives, 1.0, counts[:, 2]) / n_negative
    return ops.mean(norm * (positive_sum + negative_mean * (n_cells ** 2 - n_positive))
                    / n_cells ** 2)


def reconstruction_loss(z, target):
    """The dense loss for an N x N ``target``, the sparse one for (positives, negatives), the
    padded one for (positives, negatives, counts)."""
    if isinstance(target, (tuple, list)):
        if len(target) == 3:
            return padded_reconstruction_loss(z, *target)
        return sparse_reconstruction_loss(z, *target)
    return dense_reconstruction_loss(z, target)


def cell_mask(n_rows, target):
    """1.0 for the rows that are cells, 0.0 for padding (all ones unless ``target`` is a
    padded step's (positives, negatives, counts): see :func:`padded_reconstruction_loss`)."""
    if isinstance(target, (tuple, list)) and len(target) == 3:
        counts = target[2]
        rows = ops.arange(n_rows // ops.shape(counts)[0])
        return ops.reshape(ops.cast(rows[None, :] < counts[:, :1], "float32"), (-1,))
    return None


def pair_logits(z, pairs):
    """z_i . z_j for each row (i, j) of ``pairs``.

    On TensorFlow the gradient is written out (:func:`_pair_logits_tf`); elsewhere autodiff of
    two gathers, whose pairs x latent tensors are small for the subgraph minibatches that
    large graphs train on."""
    if keras.backend.backend() == "tensorflow":
        return _pair_logits_tf(z, pairs)
    pairs = ops.cast(pairs, "int32")
    return ops.sum(ops.take(z, pairs[:, 0], axis=0) * ops.take(z, pairs[:, 1], axis=0), axis=1)


@tf.custom_gradient
def _pair_logits_tf(z, pairs):
    """z_i . z_j for each row (i, j) of ``pairs``, with the gradient written out so that
    training keeps no pairs x latent tensor: with P the N x N sparse matrix of the upstream
    gradients at the pairs, dL/dz = P z + P^T z, two sparse products (autodiff would keep both
    gathered factors, 2 x pairs x latent floats: 3 GB for the 4 million pairs of a
    million-cell graph, and as much again for their gradients)."""
    pairs = tf.cast(pairs, tf.int64)
    logits = tf.reduce_sum(tf.gather(z, pairs[:, 0]) * tf.gather(z, pairs[:, 1]), axis=1)

    def gradient(upstream):
        n = tf.shape(z, out_type=tf.int64)[0]
        weights = tf.SparseTensor(pairs, tf.cast(upstream, z.dtype), tf.stack([n, n]))
        return (tf.sparse.sparse_dense_matmul(weights, z)
                + tf.sparse.sparse_dense_matmul(weights, z, adjoint_a=True)), None

    return logits, gradient


def kl_per_node(mu, log_var, mask=None):
    """KL(q(z|X, A) || N(0, I)) averaged over nodes and divided by N (GAE's scaling); with a
    :func:`cell_mask`, over the cells only."""
    if mask is None:
        return ops.mean(kl_divergence(mu, log_var)) / ops.cast(ops.shape(mu)[0], "float32")
    n_cells = ops.sum(mask)
    return ops.sum(kl_divergence(mu, log_var) * mask) / n_cells / n_cells
