"""Graph-DiffVAE (paper Fig. 4): a graph VAE whose encoder and decoder are GCN layers.

Encoder: GCN(512, ReLU) -> GCN mu (50, linear) and GCN log sigma^2 (50, linear); z = mu + eps *
sigma. Decoder: GCN(512, ReLU) on [Z | X] -> GCN Z' (50) -> Z* = (Z + Z') / 2; the probability
of a link i-j is sigmoid(z*_i . z*_j). Loss: Bernoulli log-likelihood of the adjacency (with
self-loops) with Kipf & Welling's positive-class weighting and normalisation, plus the KL term
scaled per node. Trained full batch with Adam (paper: 200 epochs, learning rate 1e-4), or on
subgraph minibatches for graphs too large for one step (:mod:`graph_diffvae.subgraphs`).

Two reconstruction losses that agree: ``"dense"`` scores all N^2 pairs; ``"sparse"`` scores the
edges and a sample of non-edges (weighted to estimate the same sum), never materialising N x N,
for large graphs. With every non-edge "sampled" the two are equal (tested).
Runs on Keras's TensorFlow backend (Spektral's GCN product) and on JAX (keras.ops).
"""
from __future__ import annotations

import keras

from diffvae import defaults
from diffvae.checks import positive_int
from diffvae.errors import InputError

from .estimator import GraphEstimator
from .network import GraphDiffVAENetwork


class GraphDiffVAE(GraphEstimator):
    """Graph-DiffVAE with a scikit-learn / scvi-tools style interface.

    Parameters
    ----------
    hidden_dim, latent_dim
        GCN widths (paper: 512 and 50).
    graph, k, use_rep
        Input graph: ``"pearson"`` (each cell to its ``k`` most correlated cells; paper: k = 1),
        ``"knn"`` (k nearest neighbours on ``adata.obsm[use_rep]``, or on the scaled
        expression's top 50 principal components) or ``"precomputed"`` (pass ``adjacency=`` to
        :meth:`fit`, for example ``adata.obsp["connectivities"]``; a given adjacency is used
        whatever ``graph`` says).
    n_top_genes
        Keep this many highly variable genes as node features (default: all).
    conv, heads
        The encoder's graph layers: ``"gcn"`` (the paper's) or ``"gat"``, graph attention with
        ``heads`` heads (the paper's future work); see :meth:`link_importance`.

    Notes
    -----
    Training (:meth:`fit`): the paper's 200 full-batch epochs with learning rate 1e-4;
    :meth:`transform` returns the node features Z* (``obsm["X_graph_diffvae"]``).
    """

    model_type, default_key = "graph_diffvae", "X_graph_diffvae"
    network_module = "graph_diffvae.network"
    default_epochs, default_learning_rate = defaults.GRAPH_EPOCHS, defaults.GRAPH_LEARNING_RATE

    def __init__(self, hidden_dim: int = defaults.GRAPH_HIDDEN_DIM,
                 latent_dim: int = defaults.GRAPH_LATENT_DIM, *, graph: str = "pearson",
                 k: int = defaults.GRAPH_K, use_rep: str | None = None,
                 n_top_genes: int | None = None, conv: str = "gcn", heads: int = 1) -> None:
        self.hidden_dim, self.latent_dim = hidden_dim, latent_dim
        self.graph, self.k, self.use_rep, self.n_top_genes = graph, k, use_rep, n_top_genes
        self.conv, self.heads = conv, heads

    def _check_params(self) -> None:
        positive_int("hidden_dim", self.hidden_dim)
        positive_int("latent_dim", self.latent_dim)
        super()._check_params()
        if self.hidden_dim % self.heads:  # the hidden layer concatenates its heads
            raise InputError(f"hidden width {self.hidden_dim} must split evenly over "
                             f"{self.heads} heads")

    def _build_network(self, n_features: int, seed: int | None, n_cells: int) -> keras.Model:
        return GraphDiffVAENetwork(n_features, self.hidden_dim, self.latent_dim, seed=seed,
                                   conv=self.conv, heads=self.heads)
