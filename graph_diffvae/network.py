"""The Graph-DiffVAE Keras network (registered, so that it saves to ``.keras``)."""
from __future__ import annotations

import keras
from keras import ops

from diffvae.layers import Reparameterize

from .layers import GCNConv


@keras.saving.register_keras_serializable(package="graph_diffvae")
class GraphDiffVAENetwork(keras.Model):
    """(X, A_norm) -> (Z*, mu, log sigma^2). Encoder GCN(hidden, ReLU) -> GCN mu, GCN log sigma^2
    (latent, linear); decoder GCN(hidden, ReLU) on [Z | X] -> GCN Z' (latent); Z* = (Z + Z') / 2.
    z is sampled when training and mu otherwise."""

    def __init__(self, n_features: int, hidden_dim: int = 512, latent_dim: int = 50,
                 seed: int | None = None, **kwargs) -> None:
        super().__init__(**{"name": "graph_diffvae", **kwargs})
        self.n_features, self.hidden_dim, self.latent_dim, self.seed = (
            int(n_features), int(hidden_dim), int(latent_dim), seed)
        self.encoder_hidden = GCNConv(hidden_dim, activation="relu", name="encoder_hidden")
        self.mu = GCNConv(latent_dim, name="mu")
        self.log_var = GCNConv(latent_dim, name="log_var")
        self.reparameterize = Reparameterize(seed=seed, name="reparameterize")
        self.decoder_hidden = GCNConv(hidden_dim, activation="relu", name="decoder_hidden")
        self.decoder_z = GCNConv(latent_dim, name="decoder_z")

    def build(self, input_shape=None) -> None:
        # The adjacency's shape does not matter to the weights: build every layer from the
        # feature width, so that a saved model loads without data.
        f, h, m = self.n_features, self.hidden_dim, self.latent_dim
        for layer, width in ((self.encoder_hidden, f), (self.mu, h), (self.log_var, h),
                             (self.decoder_hidden, m + f), (self.decoder_z, h)):
            layer.build([(None, width), (None, None)])
        self.built = True

    def call(self, x, a, training=False):
        h = self.encoder_hidden([x, a])
        mu, log_var = self.mu([h, a]), self.log_var([h, a])
        z = self.reparameterize(mu, log_var) if training else mu
        h = self.decoder_hidden([ops.concatenate([z, x], axis=1), a])
        return (z + self.decoder_z([h, a])) / 2.0, mu, log_var

    def get_config(self) -> dict:
        return {**super().get_config(), "n_features": self.n_features,
                "hidden_dim": self.hidden_dim, "latent_dim": self.latent_dim, "seed": self.seed}
