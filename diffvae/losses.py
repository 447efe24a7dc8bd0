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


#: the MMD kernels: "infovae" (the paper's code), "rbf" (trVAE's multi-scale sum) and "imq"
#: (the Wasserstein auto-encoder's inverse multiquadratics over scales)
KERNELS = ("infovae", "rbf", "imq")
#: trVAE's bandwidths: k = sum_s exp(-||x - y||^2 / (2 s))
RBF_SCALES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0,
              100.0, 1e3, 1e4, 1e5, 1e6)
#: the Wasserstein auto-encoder's scales: k = sum_s C / (C + ||x - y||^2), C = 2 m s
IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def squared_distances(x, y):
    """||x_i - y_j||^2 for every pair of rows, never below 0."""
    # ||x||^2 + ||y||^2 - 2 x.y: one matmul instead of a (n, n, m) difference tensor, which
    # made the MMD a fifth of DiffVAE's training time (benchmarks/train_speed.py).
    sq_dist = (ops.sum(ops.square(x), axis=-1)[:, None] + ops.sum(ops.square(y), axis=-1)[None, :]
               - 2.0 * ops.matmul(x, ops.transpose(y)))
    return ops.maximum(sq_dist, 0.0)


def kernel_matrix(x, y=None, kernel: str = "infovae", width=None):
    """The kernel between every pair of rows of ``x`` and ``y`` (m = the number of columns).

    ``"infovae"``: exp(-||x - y||^2 / width), width = m^2 unless given (InfoVAE's and the paper's
    choice, which is nearly constant at m = 50); ``"rbf"``: sum over :data:`RBF_SCALES` of
    exp(-||x - y||^2 / (2 s)); ``"imq"``: sum over :data:`IMQ_SCALES` of C / (C + ||x - y||^2)
    with C = 2 m s. ``y=None`` compares ``x`` with itself, with exact zeros on the diagonal (the
    one-matmul distances leave float32 round-off there, which the narrow "rbf" bandwidths turn
    into large errors).
    """
    m = float(ops.shape(x)[-1])
    d2 = squared_distances(x, x if y is None else y)
    if y is None:
        d2 = d2 * (1.0 - ops.eye(ops.shape(x)[0], dtype=d2.dtype))
    if kernel == "infovae":
        return ops.exp(-d2 / (m ** 2 if width is None else width))
    if kernel == "rbf":
        return sum(ops.exp(-d2 / (2.0 * s)) for s in RBF_SCALES)
    if kernel == "imq":
        return sum((2.0 * m * s) / (2.0 * m * s + d2) for s in IMQ_SCALES)
    raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")


def mmd(z, prior_sample, width=None, *, kernel: str = "infovae", unbiased: bool = False,
        weights=None):
    """Maximum mean discrepancy between a latent sample and a prior sample.

    The biased (V-statistic) estimate mean k(z, z) + mean k(p, p) - 2 mean k(z, p), as InfoVAE
    and the paper's code; ``unbiased=True`` leaves the i = j terms out of the first two means
    (the U-statistic). With the default kernel, InfoVAE's code computes exp(-mean_d (x_d - y_d)^2
    / m), which is exp(-||x - y||^2 / m^2): ``width=None`` means that width m^2.
    ``weights`` (0 or 1 per row of both samples) leaves rows out: the means run over the rows
    of weight 1 only (padding rows of a fixed-size step).
    """
    if weights is None:
        def within(a):
            k = kernel_matrix(a, None, kernel, width)
            if not unbiased:
                return ops.mean(k)
            n = ops.cast(ops.shape(a)[0], k.dtype)
            return (ops.sum(k) - ops.sum(ops.diagonal(k))) / (n * (n - 1.0))

        return (within(z) + within(prior_sample)
                - 2.0 * ops.mean(kernel_matrix(z, prior_sample, kernel, width)))
    pairs = ops.expand_dims(weights, 1) * ops.expand_dims(weights, 0)
    n = ops.sum(weights)

    def weighted_within(a):
        k = kernel_matrix(a, None, kernel, width) * pairs
        if not unbiased:
            return ops.sum(k) / n ** 2
        return (ops.sum(k) - ops.sum(ops.diagonal(k))) / (n * (n - 1.0))

    return (weighted_within(z) + weighted_within(prior_sample)
            - 2.0 * ops.sum(kernel_matrix(z, prior_sample, kernel, width) * pairs) / n ** 2)
