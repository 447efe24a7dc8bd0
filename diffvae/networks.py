"""The Keras networks: one dense encoder/decoder pair shared by DiffVAE, the VAE and the autoencoder.

Layers follow the paper's Methods: encoder Dense(h2) -> Dense(h1), each with ReLU and then
BatchNorm (as in the original code); mu = ReLU(W x + b) and log sigma^2 = ReLU(W x + b); decoder
Dense(h1) -> Dense(h2) with ReLU -> Dense(genes, sigmoid). Only the objective differs:

- ``"mmd"`` (DiffVAE): summed binary cross-entropy + MMD(q(z) || N(0, I)), InfoVAE kernel by
  default (the kernel, its weight, the prior sample size, the estimate and the log-variance
  and mu activations are options, the paper's values by default);
- ``"kl"`` (standard VAE): summed binary cross-entropy + KL(q(z|x) || N(0, I));
- ``"mse"`` (plain autoencoder): summed squared error, z = mu, no noise.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers, ops

from . import defaults, losses
from .layers import Reparameterize

OBJECTIVES = ("mmd", "kl", "mse")


def build_encoder(n_genes: int, hidden_dims: Sequence[int], latent_dim: int,
                  variational: bool, log_var_activation: str = "relu",
                  mu_activation: str = "relu") -> keras.Model:
    """Expression -> mu (and log-variance when ``variational``); each ReLU as the paper writes it
    (mu >= 0, sigma >= 1) or ``"linear"``."""
    x = keras.Input(shape=(n_genes,), name="expression")
    h = x
    for i, units in enumerate(hidden_dims):
        h = layers.Dense(units, activation="relu", name=f"dense_{i}")(h)
        h = layers.BatchNormalization(name=f"batch_norm_{i}")(h)
    mu = layers.Dense(latent_dim, activation=mu_activation, name="mu")(h)
    if not variational:
        return keras.Model(x, mu, name="encoder")
    log_var = layers.Dense(latent_dim, activation=log_var_activation, name="log_var")(h)
    return keras.Model(x, [mu, log_var], name="encoder")


def build_decoder(latent_dim: int, hidden_dims: Sequence[int], n_genes: int) -> keras.Model:
    """Latent code -> expression in [0, 1]; hidden layers in the reverse order of the encoder's."""
    z = keras.Input(shape=(latent_dim,), name="latent")
    h = z
    for i, units in enumerate(reversed(hidden_dims)):
        h = layers.Dense(units, activation="relu", name=f"dense_{i}")(h)
    x_hat = layers.Dense(n_genes, activation="sigmoid", name="reconstruction")(h)
    return keras.Model(z, x_hat, name="decoder")


def kernel_product(decoder: keras.Model):
    """The product of a dense decoder's kernels, input to output (the paper's omega)."""
    kernels = [layer.kernel for layer in decoder.layers if isinstance(layer, layers.Dense)]
    omega = kernels[0]
    for kernel in kernels[1:]:
        omega = ops.matmul(omega, kernel)
    return ops.convert_to_numpy(omega)


@keras.saving.register_keras_serializable(package="diffvae")
class LatentAutoencoder(keras.Model):
    """Encoder + (optional) reparameterisation + decoder, trained on one of :data:`OBJECTIVES`.

    ``model(x)`` returns a dict with ``reconstruction``, ``z`` and ``mu`` (plus ``log_var`` for
    the variational objectives and ``prior``, a sample of N(0, I) with as many rows as ``z`` or
    ``mmd_prior_samples``, for MMD).
    The loss terms are tracked as metrics named ``reconstruction`` and ``mmd`` / ``kl``.
    """

    def __init__(
        self,
        n_genes: int,
        latent_dim: int = defaults.LATENT_DIM,
        hidden_dims: Sequence[int] = defaults.HIDDEN_DIMS,
        objective: str = "mmd",
        mmd_kernel_width: float | None = None,
        seed: int | None = None,
        mmd_kernel: str = "infovae",
        mmd_weight: float = 1.0,
        mmd_prior_samples: int | None = None,
        mmd_unbiased: bool = False,
        log_var_activation: str = "relu",
        mu_activation: str = "relu",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self.n_genes, self.latent_dim = int(n_genes), int(latent_dim)
        self.hidden_dims = tuple(int(h) for h in hidden_dims)
        self.objective, self.mmd_kernel_width, self.seed = objective, mmd_kernel_width, seed
        self.mmd_kernel, self.mmd_weight = mmd_kernel, float(mmd_weight)
        self.mmd_prior_samples, self.mmd_unbiased = mmd_prior_samples, bool(mmd_unbiased)
        self.log_var_activation, self.mu_activation = log_var_activation, mu_activation
        self.variational = objective != "mse"
        self.encoder = build_encoder(self.n_genes, self.hidden_dims, self.latent_dim,
                                     self.variational, log_var_activation, mu_activation)
        self.decoder = build_decoder(self.latent_dim, self.hidden_dims, self.n_genes)
        if self.variational:
            self.reparameterize = Reparameterize(seed=seed, name="reparameterize")
        if objective == "mmd":
            self.prior_seed = keras.random.SeedGenerator(None if seed is None else seed + 1)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        if self.variational:
            self.regularizer_tracker = keras.metrics.Mean(name=objective)

    def call(self, x, training=False):
        if not self.variational:
            mu = self.encoder(x, training=training)
            return {"reconstruction": self.decoder(mu, training=training), "z": mu, "mu": mu}
        mu, log_var = self.encoder(x, training=training)
        z = self.reparameterize(mu, log_var)
        out = {"reconstruction": self.decoder(z, training=training), "z": z, "mu": mu,
               "log_var": log_var}
        if self.objective == "mmd":
            n_prior = ops.shape(z)[0] if self.mmd_prior_samples is None else self.mmd_prior_samples
            out["prior"] = keras.random.normal((n_prior, self.latent_dim), seed=self.prior_seed)
        return out

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Batch mean of the per-cell reconstruction loss plus the objective's regulariser."""
        if self.objective == "mse":
            reconstruction = ops.mean(losses.squared_error(x, y_pred["reconstruction"]))
            self.reconstruction_tracker.update_state(reconstruction)
            return reconstruction
        reconstruction = ops.mean(losses.binary_cross_entropy(x, y_pred["reconstruction"]))
        if self.objective == "mmd":
            regularizer = self.mmd_weight * losses.mmd(
                y_pred["z"], y_pred["prior"], self.mmd_kernel_width, kernel=self.mmd_kernel,
                unbiased=self.mmd_unbiased)
        else:
            regularizer = ops.mean(losses.kl_divergence(y_pred["mu"], y_pred["log_var"]))
        self.reconstruction_tracker.update_state(reconstruction)
        self.regularizer_tracker.update_state(regularizer)
        return reconstruction + regularizer

    def decoder_weights(self):
        """omega = W0 . W1 . W2 (latent x genes): the product of the decoder's Dense kernels."""
        return kernel_product(self.decoder)

    def get_config(self) -> dict:
        return {
            **super().get_config(), "n_genes": self.n_genes, "latent_dim": self.latent_dim,
            "hidden_dims": list(self.hidden_dims), "objective": self.objective,
            "mmd_kernel_width": self.mmd_kernel_width, "seed": self.seed,
            "mmd_kernel": self.mmd_kernel, "mmd_weight": self.mmd_weight,
            "mmd_prior_samples": self.mmd_prior_samples, "mmd_unbiased": self.mmd_unbiased,
            "log_var_activation": self.log_var_activation, "mu_activation": self.mu_activation,
        }
