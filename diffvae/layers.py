"""Registered custom layers (no ``Lambda``), so that models save to ``.keras`` and run on any backend."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="diffvae")
class Reparameterize(keras.layers.Layer):
    """z = mu + eps * exp(log_var / 2) with eps ~ N(0, I) drawn for every cell and dimension.

    The noise has the shape of ``mu`` itself, so the original code's bug (one scalar of noise
    shared by all cells and dimensions) cannot happen.
    """

    def __init__(self, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True  # no weights to make: the network's optimizer can be built before fit

    def call(self, mu, log_var):
        eps = keras.random.normal(ops.shape(mu), seed=self.seed_generator)
        return mu + eps * ops.exp(0.5 * log_var)

    def compute_output_shape(self, mu_shape, log_var_shape):
        return mu_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}
