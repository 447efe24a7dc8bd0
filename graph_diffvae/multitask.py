"""DiffVAE and Graph-DiffVAE as one multitask model (the paper's future work).

One encoder, shared: DiffVAE's dense layers turn each cell's expression into a hidden code, and
graph layers (GCN, or graph attention) mix each cell's code with its neighbours' into mu and
log sigma^2. The expression goes through the dense layers first because they compress thousands
of genes per cell at a cost linear in cells, and the graph layers then only move codes of a few
hundred numbers along the edges (the reverse order would run a sparse product over every gene).

A latent z = mu + eps * sigma with DiffVAE's MMD prior feeds two decoders: DiffVAE's (z ->
expression in [0, 1]) and Graph-DiffVAE's (GCN on [z | X] -> Z* = (z + Z') / 2; link i-j with
probability sigmoid(z*_i . z*_j)). Both reconstruction terms are negative log-likelihoods per
cell: the expression's summed over genes, the adjacency's summed over the cell's N possible
links (Graph-DiffVAE's loss, a mean over N^2 pairs, times N), so ``graph_weight=1`` weighs
them as one joint likelihood. Trained as Graph-DiffVAE: full batch, or on subgraph minibatches
(:mod:`graph_diffvae.subgraphs`).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from diffvae import defaults
from diffvae import losses as diffvae_losses
from diffvae.base import read_file
from diffvae.checks import positive_int, positive_ints, positive_number
from diffvae.layers import Reparameterize
from diffvae.networks import build_decoder, kernel_product

from . import losses
from .estimator import GraphEstimator
from .layers import GCNConv, GraphAttention, graph_inputs

_LATENT = "latent.npy"


@keras.saving.register_keras_serializable(package="graph_diffvae")
class MultitaskNetwork(keras.Model):
    """(X, A_norm) -> (Z*, mu, log sigma^2, expression reconstruction, z).

    Encoder: Dense(h, ReLU) for each h of ``hidden_dims``, then graph layers mu and
    log sigma^2 (``latent_dim``, linear; GCN, or graph attention with ``heads`` heads averaged).
    Decoders: DiffVAE's dense decoder (reverse ``hidden_dims``, sigmoid output) and
    Graph-DiffVAE's GCN(hidden_dims[0], ReLU) on [z | X] -> GCN Z' (latent_dim).
    The dense layers have no batch normalisation: in full-batch training batch statistics are the
    population's, and moving averages would only add a train / inference gap.

    Loss: mean over cells of the expression's binary cross-entropy (summed over genes)
    + ``mmd_weight`` x MMD(z, N(0, I)) (DiffVAE's, on ``mmd_samples`` random cells per step)
    + ``graph_weight`` x N x Graph-DiffVAE's adjacency loss; tracked as metrics
    ``reconstruction``, ``mmd`` and ``adjacency``. N is ``graph_cells``, the cells of the whole
    graph, so that a subgraph's adjacency term still counts each cell's links to all N cells
    (None: the cells of the step, the same in full-batch training).
    """

    #: graph layers in :meth:`encode` and :meth:`decode`: how far a node's outputs reach
    encoder_hops, decoder_hops = 1, 2

    def __init__(self, n_features: int, hidden_dims: Sequence[int] = defaults.HIDDEN_DIMS,
                 latent_dim: int = defaults.LATENT_DIM, *, conv: str = "gcn", heads: int = 1,
                 graph_weight: float = defaults.MULTITASK_GRAPH_WEIGHT, mmd_weight: float = 1.0,
                 mmd_samples: int = defaults.MULTITASK_MMD_SAMPLES, seed: int | None = None,
                 graph_cells: int | None = None, **kwargs) -> None:
        super().__init__(**{"name": "multitask_diffvae", **kwargs})
        self.graph_cells = None if graph_cells is None else int(graph_cells)
        self.n_features, self.latent_dim = int(n_features), int(latent_dim)
        self.hidden_dims = tuple(int(h) for h in hidden_dims)
        self.conv, self.heads, self.seed = conv, int(heads), seed
        self.graph_weight, self.mmd_weight = float(graph_weight), float(mmd_weight)
        self.mmd_samples = int(mmd_samples)
        self.body = keras.Sequential(
            [layers.Dense(h, activation="relu", name=f"dense_{i}")
             for i, h in enumerate(self.hidden_dims)], name="encoder_body")
        if conv == "gat":
            self.mu = GraphAttention(latent_dim, heads, concat_heads=False, name="mu")
            self.log_var = GraphAttention(latent_dim, heads, concat_heads=False, name="log_var")
        else:
            self.mu = GCNConv(latent_dim, name="mu")
            self.log_var = GCNConv(latent_dim, name="log_var")
        self.reparameterize = Reparameterize(seed=seed, name="reparameterize")
        self.expression_decoder = build_decoder(self.latent_dim, self.hidden_dims, self.n_features)
        self.graph_decoder_hidden = GCNConv(self.hidden_dims[0], activation="relu",
                                            name="graph_decoder_hidden")
        self.graph_decoder_z = GCNConv(self.latent_dim, name="graph_decoder_z")
        self.mmd_seed = keras.random.SeedGenerator(None if seed is None else seed + 1)
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("reconstruction", "mmd", "adjacency")}

    def build(self, input_shape=None) -> None:
        # from the feature width alone, so that a saved model loads without data
        f, h, m = self.n_features, self.hidden_dims, self.latent_dim
        self.body.build((None, f))
        for layer in (self.mu, self.log_var):
            layer.build([(None, h[-1]), (None, None)])
        self.graph_decoder_hidden.build([(None, m + f), (None, None)])
        self.graph_decoder_z.build([(None, h[0]), (None, None)])
        self.reparameterize.build((None, m))  # see GraphDiffVAENetwork.build
        self.built = True

    def call(self, inputs, training=False):
        x, a = graph_inputs(inputs)
        mu, log_var = self.encode(x, a)
        z = self.reparameterize(mu, log_var) if training else mu
        return self.decode(z, x, a), mu, log_var, self.expression_decoder(z), z

    def encode(self, x, a):
        """(mu, log sigma^2) of every node, from its own and its neighbours' dense codes."""
        h = self.body(x)
        return self.mu([h, a]), self.log_var([h, a])

    def decode(self, z, x, a):
        """Z* = (z + Z') / 2, the graph decoder's node features (for links)."""
        g = self.graph_decoder_hidden([ops.concatenate([z, x], axis=1), a])
        return (z + self.graph_decoder_z([g, a])) / 2.0

    def attention(self, inputs):
        """The attention of the mu layer on each edge (``conv="gat"``), from the dense codes."""
        x, a = inputs
        return self.mu.attention([self.body(x), a])

    @property
    def metrics(self):
        return [*super().metrics, *self.trackers.values()]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Expression reconstruction + MMD + weighted per-cell adjacency reconstruction."""
        z_star, _, _, x_hat, z = y_pred
        expression = x[0]
        n = ops.shape(z)[0]
        mask = losses.cell_mask(n, y)
        cross_entropy = diffvae_losses.binary_cross_entropy(expression, x_hat)
        if mask is None:
            terms = {"reconstruction": ops.mean(cross_entropy)}
            # a random subset of cells against as many prior draws: MMD at a fixed cost per step
            subset = keras.random.shuffle(ops.arange(n), seed=self.mmd_seed)[:self.mmd_samples]
            weights = None
        else:  # a padded step: its cells only, the subset's padding rows weighed out
            terms = {"reconstruction": ops.sum(cross_entropy * mask) / ops.sum(mask)}
            order = keras.random.uniform((n,), seed=self.mmd_seed) + 2.0 * (1.0 - mask)
            subset = ops.argsort(order)[:self.mmd_samples]  # cells first, in random order
            weights = ops.take(mask, subset, axis=0)
        z_subset = ops.take(z, subset, axis=0)
        prior = keras.random.normal(ops.shape(z_subset), seed=self.mmd_seed)
        terms["mmd"] = diffvae_losses.mmd(z_subset, prior, weights=weights)
        graph_cells = (self.graph_cells if self.graph_cells is not None
                       else n if mask is None else ops.mean(ops.cast(y[2][:, 0], "float32")))
        terms["adjacency"] = losses.reconstruction_loss(z_star, y) * ops.cast(graph_cells, "float32")
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        return (terms["reconstruction"] + self.mmd_weight * terms["mmd"]
                + self.graph_weight * terms["adjacency"])

    def get_config(self) -> dict:
        return {**super().get_config(), "n_features": self.n_features,
                "hidden_dims": list(self.hidden_dims), "latent_dim": self.latent_dim,
                "conv": self.conv, "heads": self.heads, "graph_weight": self.graph_weight,
                "mmd_weight": self.mmd_weight, "mmd_samples": self.mmd_samples, "seed": self.seed,
                "graph_cells": self.graph_cells}


class MultitaskDiffVAE(GraphEstimator):
    """DiffVAE and Graph-DiffVAE in one model: a shared encoder over expression and the cell
    graph, DiffVAE's MMD prior, and decoders for both (see :class:`MultitaskNetwork`).

    The same interface as :class:`~graph_diffvae.GraphDiffVAE` (both are
    :class:`~graph_diffvae.estimator.GraphEstimator`: ``fit(adata, adjacency=None, ...)``,
    held-out link metrics, ``predict_links``, ``link_importance`` for ``conv="gat"``, save /
    load); :meth:`transform` returns mu, the cell-type representation (``obsm["X_multitask"]``),
    and :meth:`decoder_weights` DiffVAE's omega, for marker genes.

    Parameters
    ----------
    latent_dim, hidden_dims
        DiffVAE's sizes (paper: 50 and (512, 256)).
    graph, k, use_rep, n_top_genes
        The input graph and features, as for :class:`~graph_diffvae.GraphDiffVAE`.
    conv, heads
        The encoder's graph layers: ``"gcn"`` or ``"gat"`` with ``heads`` heads.
    graph_weight
        Weight of the adjacency term against the expression term, both per cell (1: the joint
        likelihood; 0: DiffVAE with a graph-smoothed encoder).
    mmd_weight, mmd_samples
        Weight of the MMD term, and cells per MMD estimate (a fresh random subset every step).

    Notes
    -----
    Training defaults (:meth:`fit`): 300 epochs with learning rate 1e-3
    (:data:`~diffvae.defaults.MULTITASK_EPOCHS`, ``MULTITASK_LEARNING_RATE``).
    """

    model_type, default_key = "multitask_diffvae", "X_multitask"
    fitted_attributes = ("network_", "node_features_", "latent_")
    network_module = "graph_diffvae.multitask"
    default_epochs = defaults.MULTITASK_EPOCHS
    default_learning_rate = defaults.MULTITASK_LEARNING_RATE

    def __init__(self, latent_dim: int = defaults.LATENT_DIM,
                 hidden_dims: Sequence[int] = defaults.HIDDEN_DIMS, *, graph: str = "pearson",
                 k: int = defaults.GRAPH_K, use_rep: str | None = None,
                 n_top_genes: int | None = None, conv: str = "gcn", heads: int = 1,
                 graph_weight: float = defaults.MULTITASK_GRAPH_WEIGHT, mmd_weight: float = 1.0,
                 mmd_samples: int = defaults.MULTITASK_MMD_SAMPLES) -> None:
        self.latent_dim, self.hidden_dims = latent_dim, hidden_dims
        self.graph, self.k, self.use_rep, self.n_top_genes = graph, k, use_rep, n_top_genes
        self.conv, self.heads = conv, heads
        self.graph_weight, self.mmd_weight, self.mmd_samples = graph_weight, mmd_weight, mmd_samples

    def _check_params(self) -> None:
        positive_int("latent_dim", self.latent_dim)
        positive_ints("hidden_dims", self.hidden_dims)
        super()._check_params()  # mu and log sigma^2 average their heads: any width
        for name in ("graph_weight", "mmd_weight"):
            if getattr(self, name) != 0:
                positive_number(name, getattr(self, name))
        positive_int("mmd_samples", self.mmd_samples)

    def _build_network(self, n_features: int, seed: int | None, n_cells: int) -> keras.Model:
        return MultitaskNetwork(n_features, self.hidden_dims, self.latent_dim, conv=self.conv,
                                heads=self.heads, graph_weight=self.graph_weight,
                                mmd_weight=self.mmd_weight, mmd_samples=self.mmd_samples,
                                seed=seed, graph_cells=n_cells)

    def _keep_outputs(self, node_features: np.ndarray, mu: np.ndarray) -> None:
        self.latent_ = mu

    def _embedding(self) -> np.ndarray:
        return self.latent_

    def decoder_weights(self) -> np.ndarray:
        """omega = the product of the expression decoder's kernels (latent_dim x genes), as
        DiffVAE's: which genes each latent dimension drives."""
        self._check_is_fitted()
        return kernel_product(self.network_.expression_decoder)

    def _save_extra(self, directory: Path) -> None:
        super()._save_extra(directory)
        np.save(directory / _LATENT, self.latent_)

    def _load_extra(self, directory: Path) -> None:
        super()._load_extra(directory)
        self.latent_ = read_file(directory / _LATENT, np.load)
