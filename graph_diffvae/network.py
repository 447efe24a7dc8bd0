"""The Graph-DiffVAE Keras network (registered, so that it saves to ``.keras``).

It trains through ``keras.Model.fit`` as the dense models do: Keras's own training step calls
the network on ``(X, A_norm)`` and :meth:`GraphDiffVAENetwork.compute_loss` scores the
prediction against the target that each step of the input pipeline carries (the dense
adjacency, or the positive pairs and a fresh sample of non-edges), so progress bars, callbacks,
early stopping and ``TerminateOnNaN`` work as for any Keras model.
"""
from __future__ import annotations

import keras
from keras import ops

from diffvae import defaults
from diffvae.layers import Reparameterize

from . import losses
from .layers import GCNConv, GraphAttention, graph_inputs

CONVS = ("gcn", "gat")


@keras.saving.register_keras_serializable(package="graph_diffvae")
class GraphDiffVAENetwork(keras.Model):
    """(X, A_norm) -> (Z*, mu, log sigma^2). Encoder GCN(hidden, ReLU) -> GCN mu, GCN log sigma^2
    (latent, linear); decoder GCN(hidden, ReLU) on [Z | X] -> GCN Z' (latent); Z* = (Z + Z') / 2.
    z is sampled when training and mu otherwise. With ``conv="gat"`` the three encoder layers are
    graph attention with ``heads`` heads (hidden: hidden_dim / heads units per head,
    concatenated; mu and log sigma^2: averaged over heads); the decoder stays the paper's GCN.

    Loss (``compute_loss``): the adjacency reconstruction of :mod:`graph_diffvae.losses` (dense
    when the target is an N x N matrix, sparse when it is (positive pairs, sampled non-edges))
    plus the KL term per node; both tracked as metrics ``reconstruction`` and ``kl``.
    """

    #: graph layers in :meth:`encode` and :meth:`decode`: how far a node's outputs reach
    encoder_hops, decoder_hops = 2, 2

    def __init__(self, n_features: int, hidden_dim: int = defaults.GRAPH_HIDDEN_DIM,
                 latent_dim: int = defaults.GRAPH_LATENT_DIM,
                 seed: int | None = None, conv: str = "gcn", heads: int = 1, **kwargs) -> None:
        super().__init__(**{"name": "graph_diffvae", **kwargs})
        self.n_features, self.hidden_dim, self.latent_dim, self.seed = (
            int(n_features), int(hidden_dim), int(latent_dim), seed)
        self.conv, self.heads = conv, int(heads)
        if conv == "gat":
            self.encoder_hidden = GraphAttention(hidden_dim // heads, heads, activation="relu",
                                                 name="encoder_hidden")
            self.mu = GraphAttention(latent_dim, heads, concat_heads=False, name="mu")
            self.log_var = GraphAttention(latent_dim, heads, concat_heads=False, name="log_var")
        else:
            self.encoder_hidden = GCNConv(hidden_dim, activation="relu", name="encoder_hidden")
            self.mu = GCNConv(latent_dim, name="mu")
            self.log_var = GCNConv(latent_dim, name="log_var")
        self.reparameterize = Reparameterize(seed=seed, name="reparameterize")
        self.decoder_hidden = GCNConv(hidden_dim, activation="relu", name="decoder_hidden")
        self.decoder_z = GCNConv(latent_dim, name="decoder_z")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def build(self, input_shape=None) -> None:
        # The adjacency's shape does not matter to the weights: build every layer from the
        # feature width, so that a saved model loads without data.
        f, h, m = self.n_features, self.hidden_dim, self.latent_dim
        encoded = h // self.heads * self.heads if self.conv == "gat" else h  # heads concatenated
        for layer, width in ((self.encoder_hidden, f), (self.mu, encoded), (self.log_var, encoded),
                             (self.decoder_hidden, m + f), (self.decoder_z, h)):
            layer.build([(None, width), (None, None)])
        # every layer built: Keras then never traces the network on placeholders, which carry
        # no sparse adjacency on JAX
        self.reparameterize.build((None, m))
        self.built = True

    def call(self, inputs, training=False):
        x, a = graph_inputs(inputs)
        mu, log_var = self.encode(x, a)
        z = self.reparameterize(mu, log_var) if training else mu
        return self.decode(z, x, a), mu, log_var

    def encode(self, x, a):
        """(mu, log sigma^2) of every node; a node's depend on its :attr:`encoder_hops`-hop
        neighbourhood."""
        h = self.encoder_hidden([x, a])
        return self.mu([h, a]), self.log_var([h, a])

    def decode(self, z, x, a):
        """Z* = (z + Z') / 2, from latent codes and expression; a node's depends on its
        :attr:`decoder_hops`-hop neighbourhood."""
        h = self.decoder_hidden([ops.concatenate([z, x], axis=1), a])
        return (z + self.decoder_z([h, a])) / 2.0

    def attention(self, inputs):
        """The first encoder layer's attention on each edge (``conv="gat"``): see
        :meth:`GraphAttention.attention`."""
        return self.encoder_hidden.attention(inputs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Reconstruction of the adjacency ``y`` plus KL / N."""
        z, mu, log_var = y_pred
        reconstruction = losses.reconstruction_loss(z, y)
        kl = losses.kl_per_node(mu, log_var, losses.cell_mask(ops.shape(z)[0], y))
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return reconstruction + kl

    def get_config(self) -> dict:
        return {**super().get_config(), "n_features": self.n_features,
                "hidden_dim": self.hidden_dim, "latent_dim": self.latent_dim, "seed": self.seed,
                "conv": self.conv, "heads": self.heads}
