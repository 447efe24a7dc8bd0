"""Loss terms of DiffVAE and its baselines, written with ``keras.ops`` (any Keras backend).

Each function returns one value per cell (shape ``(batch,)``) except :func:`mmd`, which compares
two whole samples and returns a scalar.
"""
from __future__ import annotations

from keras import ops


def binary_cross_entropy(x, x_hat, epsilon: float = 1e-7):
    """Bernoulli negative log-likelihood summed over genes (the paper's reconstruction term)."""
    x_hat = ops.clip(x_hat, epsilon, 1.0 - epsilon)
    return -ops.sum(x * ops.log(x_hat) + (1.0 - x) * ops.log(1.0 - x_hat), axis=-1)


def squared_error(x, x_hat):
    """Squared reconstruction error summed over genes: the plain autoencoder's loss."""
    return ops.sum(ops.square(x - x_hat), axis=-1)


def kl_divergence(mu, log_var):
    """KL(N(mu, diag(exp(log_var))) || N(0, I)) per cell: the standard VAE's regulariser."""
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mu) - ops.exp(log_var), axis=-1)


def gaussian_kernel(x, y, width):
    """k(x, y) = exp(-||x - y||^2 / width) for every pair of rows of ``x`` and ``y``."""
    # ||x||^2 + ||y||^2 - 2 x.y: one matmul instead of a (n, n, m) difference tensor, which
    # made the MMD a fifth of DiffVAE's training time (benchmarks/train_speed.py).
    sq_dist = (ops.sum(ops.square(x), axis=-1)[:, None] + ops.sum(ops.square(y), axis=-1)[None, :]
               - 2.0 * ops.matmul(x, ops.transpose(y)))
    return ops.exp(-ops.maximum(sq_dist, 0.0) / width)


def mmd(z, prior_sample, width=None):
    """Maximum mean discrepancy between a latent sample and a prior sample.

    The biased (V-statistic) estimate mean k(z, z) + mean k(p, p) - 2 mean k(z, p), with InfoVAE's
    kernel: InfoVAE (and the paper's code) compute exp(-mean_d (x_d - y_d)^2 / m), which is
    exp(-||x - y||^2 / m^2); ``width=None`` means that width m^2, m the latent size.
    """
    if width is None:
        width = float(ops.shape(z)[-1]) ** 2
    return (
        ops.mean(gaussian_kernel(z, z, width))
        + ops.mean(gaussian_kernel(prior_sample, prior_sample, width))
        - 2.0 * ops.mean(gaussian_kernel(z, prior_sample, width))
    )
