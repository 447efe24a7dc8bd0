"""The adjacency losses (graph_diffvae.losses) against numpy."""
import numpy as np
import pytest
import scipy.sparse as sp

from graph_diffvae import graphs
from graph_diffvae.losses import dense_reconstruction_loss, sparse_reconstruction_loss


def test_sparse_loss_equals_dense_loss_with_every_non_edge(rng):
    import tensorflow as tf

    n = 12
    target = graphs.symmetric_binary(*rng.integers(0, n, (2, 15)), n) + sp.eye(n, format="csr")
    z = tf.constant(rng.normal(size=(n, 4)).astype(np.float32))
    positives = np.stack(target.nonzero(), axis=1)
    negatives = np.stack(np.nonzero(target.toarray() == 0), axis=1)
    dense = float(dense_reconstruction_loss(z, target.toarray()))
    sparse = float(sparse_reconstruction_loss(z, positives, negatives))
    assert sparse == pytest.approx(dense, rel=1e-5)
    # the sampled estimate is unbiased: half of the non-edges, averaged over draws
    draws = [float(sparse_reconstruction_loss(z, positives, negatives[rng.permutation(len(negatives))[:60]]))
             for _ in range(200)]
    assert np.mean(draws) == pytest.approx(dense, rel=0.05)


def test_pair_logits_gradient_equals_numpy(rng):
    import tensorflow as tf

    from graph_diffvae.losses import pair_logits

    z = rng.normal(size=(40, 6)).astype(np.float32)
    pairs = rng.integers(0, 40, size=(300, 2))  # repeated pairs and self pairs included
    weights = rng.normal(size=300).astype(np.float32)
    variable = tf.Variable(z)
    with tf.GradientTape() as tape:
        logits = pair_logits(variable, pairs)
        total = tf.reduce_sum(weights * logits)
    gradient = tape.gradient(total, variable).numpy()
    expected = np.zeros_like(z)
    np.add.at(expected, pairs[:, 0], weights[:, None] * z[pairs[:, 1]])
    np.add.at(expected, pairs[:, 1], weights[:, None] * z[pairs[:, 0]])
    np.testing.assert_allclose(logits.numpy(), np.sum(z[pairs[:, 0]] * z[pairs[:, 1]], axis=1),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-4)


def test_dense_loss_equals_numpy(rng):
    n = 10
    target = (graphs.symmetric_binary(*rng.integers(0, n, (2, 12)), n) + sp.eye(n)).toarray()
    target = np.minimum(target, 1)
    z = rng.normal(size=(n, 3))
    logits = z @ z.T
    p = 1 / (1 + np.exp(-logits))
    pos_weight = (n * n - target.sum()) / target.sum()
    norm = n * n / (2 * (n * n - target.sum()))
    expected = norm * np.mean(-(pos_weight * target * np.log(p) + (1 - target) * np.log(1 - p)))
    assert float(dense_reconstruction_loss(z.astype(np.float32), target)) == pytest.approx(expected, rel=1e-5)
