"""Graph-DiffVAE (paper Fig. 4): a graph VAE whose encoder and decoder are GCN layers.

Encoder: GCN(512, ReLU) -> GCN mu (50, linear) and GCN log sigma^2 (50, linear); z = mu + eps *
sigma. Decoder: GCN(512, ReLU) on [Z | X] -> GCN Z' (50) -> Z* = (Z + Z') / 2; the probability
of a link i-j is sigmoid(z*_i . z*_j). Loss: Bernoulli log-likelihood of the adjacency (with
self-loops) with Kipf & Welling's positive-class weighting and normalisation, plus the KL term
scaled per node. Trained full batch with Adam (paper: 200 epochs, learning rate 1e-4).

Two reconstruction losses that agree: ``"dense"`` scores all N^2 pairs; ``"sparse"`` scores the
edges and a sample of non-edges (weighted to estimate the same sum), never materialising N x N,
for large graphs. With every non-edge "sampled" the two are equal (tested).
TensorFlow backend only (Spektral).
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import scipy.sparse as sp
import tensorflow as tf

from diffvae import defaults
from diffvae._checks import check_training, choice, optional, positive_int, positive_number
from diffvae._progress import keras_verbose
from diffvae.base import BaseEstimator, fit_network, read_file
from diffvae.errors import InputError
from diffvae.io import as_anndata
from diffvae.preprocessing import Preprocessor

from . import graphs
from .callbacks import EpochProgbar, LinkMetrics
from .layers import sparse_adjacency
from .links import link_metrics, sample_non_edges, split_edges, top_partners
from .network import CONVS, GraphDiffVAENetwork

DENSE_LIMIT = 5000  # above this many cells "auto" uses the sparse loss
GRAPHS = ("pearson", "knn", "precomputed")
_ADJACENCY, _NODE_FEATURES = "adjacency.npz", "node_features.npy"


class GraphDiffVAE(BaseEstimator):
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
    """

    model_type, default_key = "graph_diffvae", "X_graph_diffvae"
    fitted_attributes = ("network_", "node_features_")
    json_attributes = ("link_metrics_",)
    network_module = "graph_diffvae.network"

    def __init__(self, hidden_dim: int = defaults.GRAPH_HIDDEN_DIM,
                 latent_dim: int = defaults.GRAPH_LATENT_DIM, *, graph: str = "pearson",
                 k: int = defaults.GRAPH_K, use_rep: str | None = None,
                 n_top_genes: int | None = None, conv: str = "gcn", heads: int = 1) -> None:
        self.hidden_dim, self.latent_dim = hidden_dim, latent_dim
        self.graph, self.k, self.use_rep, self.n_top_genes = graph, k, use_rep, n_top_genes
        self.conv, self.heads = conv, heads

    def build_graph(self, x: np.ndarray, representation: np.ndarray | None = None) -> sp.csr_matrix:
        """The input graph the settings describe, on the scaled expression ``x`` (or, for
        ``"knn"``, on ``representation`` when given)."""
        if self.graph == "pearson":
            return graphs.pearson_graph(x, self.k)
        if self.graph == "knn" and representation is not None:
            return graphs.knn_graph(representation, self.k)
        if self.graph == "knn":
            from sklearn.decomposition import PCA

            n_comps = min(50, *x.shape) - 1
            return graphs.knn_graph(PCA(n_comps, random_state=0).fit_transform(x), self.k)
        if self.graph == "precomputed":
            raise InputError("graph='precomputed' needs the graph: pass adjacency= to fit")
        raise InputError(f"graph must be one of {GRAPHS}, got {self.graph!r}")

    def fit(self, data, *, adjacency=None, epochs: int = defaults.GRAPH_EPOCHS,
            learning_rate: float = defaults.GRAPH_LEARNING_RATE, seed: int | None = 0,
            loss: str = "auto", negative_ratio: float = 1.0, evaluate_links: bool = True,
            callbacks: list | None = None, verbose: str | int = "auto",
            layer: str | None = None) -> "GraphDiffVAE":
        """Train on the cells of ``data`` and the graph (built, or ``adjacency``) with
        ``keras.Model.fit``, full batch: one step per epoch.

        With ``evaluate_links`` (default) 10 % of the edges are held out for testing and 5 % for
        validation (each with as many sampled non-edges); the validation AUC and AP are logged
        after every epoch (``val_auc``, ``val_ap``, whatever ``verbose`` is) and
        ``link_metrics_`` holds both splits' at the end; the model trains on the remaining
        graph. ``loss``: "dense", "sparse" or "auto" (sparse above 5000 cells); the sparse loss
        samples ``negative_ratio`` non-edges per edge each epoch. ``callbacks`` are Keras
        callbacks (``EarlyStopping(monitor="val_auc", mode="max")``, ``TerminateOnNaN``, ...);
        ``verbose``: 0 silent, 1 one progress bar over the epochs, 2 one line per epoch, "auto"
        (default) 1 on a terminal or in a notebook and 2 otherwise.
        Sets ``adjacency_`` (input graph), ``node_features_`` (Z*, cells x latent_dim),
        ``mu_`` and ``history_``.
        """
        check_backend()
        if loss not in ("auto", "dense", "sparse"):
            raise InputError(f"loss must be 'auto', 'dense' or 'sparse', got {loss!r}")
        self._check_params()
        check_training(epochs, learning_rate)
        positive_number("negative_ratio", negative_ratio)
        adata = as_anndata(data, layer=layer)
        self.preprocessor_ = Preprocessor(n_top_genes=self.n_top_genes)
        x = self.preprocessor_.fit_transform(adata)
        n = len(x)
        representation = None
        if self.use_rep is not None:
            if not hasattr(data, "obsm") or self.use_rep not in data.obsm:
                raise InputError(f"use_rep={self.use_rep!r} needs AnnData with that obsm entry")
            representation = np.asarray(data.obsm[self.use_rep])
        self.adjacency_ = (self.build_graph(x, representation) if adjacency is None
                           else graphs.check_graph(adjacency, n, "adjacency"))
        if self.adjacency_.nnz == 0:
            raise InputError("the input graph has no edges")
        train = self.adjacency_
        if evaluate_links:
            train, validation, test = split_edges(self.adjacency_, seed=seed)
        if seed is not None:
            keras.utils.set_random_seed(seed)
        loss = ("sparse" if n > DENSE_LIMIT else "dense") if loss == "auto" else loss
        inputs = (keras.ops.convert_to_tensor(x), sparse_adjacency(graphs.normalize(train)))
        network = self._build_network(x.shape[1], seed)
        network.compile(optimizer=keras.optimizers.Adam(learning_rate),
                        jit_compile=False)  # sparse matmuls: no XLA
        steps = _training_data(inputs, train, loss, negative_ratio, np.random.default_rng(seed))
        callbacks = ([LinkMetrics(inputs, *validation)] if evaluate_links else []) + list(callbacks or [])
        verbose = keras_verbose(verbose)
        if verbose == 1:
            callbacks.append(EpochProgbar())
        self.history_ = fit_network(network, steps, epochs=epochs, steps_per_epoch=1,
                                    shuffle=False, callbacks=callbacks,
                                    verbose=2 if verbose == 2 else 0)
        self.network_ = network
        z, mu = network(inputs, training=False)[:2]
        self.node_features_, self.mu_ = keras.ops.convert_to_numpy(z), keras.ops.convert_to_numpy(mu)
        if evaluate_links:
            self.link_metrics_ = {"test": link_metrics(self.node_features_, *test),
                                  "validation": link_metrics(self.node_features_, *validation),
                                  "n_test_edges": int(len(test[0])),
                                  "n_validation_edges": int(len(validation[0]))}
        return self

    def transform(self, adata=None, *, key_added: str | bool | None = None) -> np.ndarray:
        """The node features Z* (cells x ``latent_dim``) of the cells the model was fitted on.

        A graph model embeds the cells of its own graph (it is transductive): ``adata`` must hold
        those cells, in the same order. ``key_added=True`` stores the features in
        ``adata.obsm["X_graph_diffvae"]`` (a string: under that key) and the parameters in
        ``adata.uns["graph_diffvae"]``.
        """
        self._check_is_fitted()
        if adata is not None and getattr(adata, "n_obs", len(adata)) != len(self.node_features_):
            raise InputError(f"the model was fitted on a graph of {len(self.node_features_)} cells; "
                             f"the data have {getattr(adata, 'n_obs', len(adata))} (a graph model "
                             "embeds the cells of its own graph only)")
        if key_added:
            if adata is None:
                raise InputError("key_added needs the AnnData of the fitted cells")
            self._store(adata, self._embedding(), key_added)
        return self._embedding()

    def _embedding(self) -> np.ndarray:
        return self.node_features_

    def link_importance(self, data, *, layer: str | None = None) -> pd.DataFrame:
        """For a graph-attention model (``conv="gat"``): every link of the input graph, each
        direction, with the attention that the first encoder layer gives it (mean over heads):
        how much cell ``target`` listens to cell ``source``. ``data``: the fitted cells.

        Columns: target, source (cell indices), attention; each target's attentions, with the
        self-loop left out, sum to at most 1.
        """
        self._check_is_fitted()
        if self.conv != "gat":
            raise InputError("link_importance needs a graph-attention model (conv='gat')")
        x = self.preprocessor_.transform(as_anndata(data, layer=layer))
        if len(x) != self.adjacency_.shape[0]:
            raise InputError(f"the model was fitted on {self.adjacency_.shape[0]} cells; the data "
                             f"have {len(x)}")
        inputs = [tf.constant(x), sparse_adjacency(graphs.normalize(self.adjacency_))]
        edges, alpha, _ = self.network_.attention(inputs)
        edges, alpha = edges.numpy(), alpha.numpy().mean(axis=1)
        links = edges[:, 0] != edges[:, 1]
        return pd.DataFrame({"target": edges[links, 0], "source": edges[links, 1],
                             "attention": alpha[links]})

    def _check_params(self) -> None:
        """Refuse constructor arguments that cannot work (called by ``fit``, before any work)."""
        positive_int("hidden_dim", self.hidden_dim)
        positive_int("latent_dim", self.latent_dim)
        positive_int("k", self.k)
        optional(positive_int, "n_top_genes", self.n_top_genes)
        self._check_attention(self.hidden_dim)

    def _check_attention(self, width: int | None = None) -> None:
        """``conv`` and ``heads``, with the ``width`` of a layer whose heads are concatenated."""
        choice("conv", self.conv, CONVS)
        if positive_int("heads", self.heads) > 1 and self.conv != "gat":
            raise InputError("heads are attention heads: they need conv='gat'")
        if width is not None and width % self.heads:
            raise InputError(f"hidden width {width} must split evenly over {self.heads} heads")

    def _build_network(self, n_features: int, seed: int | None) -> keras.Model:
        return GraphDiffVAENetwork(n_features, self.hidden_dim, self.latent_dim, seed=seed,
                                   conv=self.conv, heads=self.heads)

    def predict_links(self, k: int = 1) -> sp.csr_matrix:
        """Each cell linked to its ``k`` most probable partners by the trained decoder."""
        self._check_is_fitted()
        return top_partners(self.node_features_, k)

    def _save_extra(self, directory: Path) -> None:
        sp.save_npz(directory / _ADJACENCY, self.adjacency_)
        np.save(directory / _NODE_FEATURES, self.node_features_)

    def _load_extra(self, directory: Path) -> None:
        self.adjacency_ = read_file(directory / _ADJACENCY, sp.load_npz).tocsr()
        self.node_features_ = read_file(directory / _NODE_FEATURES, np.load)
        if self.graph == "given":  # bundles of format 1 named a given adjacency so
            self.graph = "precomputed"


def check_backend() -> None:
    """Graph-DiffVAE's GCN layers are Spektral's, which run on TensorFlow only."""
    from diffvae.base import keras_backend

    if keras_backend() != "tensorflow":
        raise InputError(f"Graph-DiffVAE needs Keras's TensorFlow backend (its GCN layers are "
                         f"Spektral's), but KERAS_BACKEND is {keras_backend()!r}: unset it or set "
                         "KERAS_BACKEND=tensorflow")


def _training_data(inputs, train: sp.csr_matrix, loss: str, negative_ratio: float,
                   rng: np.random.Generator):
    """The endless input pipeline of full-batch training: every step gets ``inputs`` and the
    target, either the dense adjacency with self-loops or (its ones as pairs, a fresh uniform
    sample of its zeros) drawn from ``rng`` in order, so a seed fixes every epoch's sample."""
    n = train.shape[0]
    target = (train + sp.eye(n, format="csr")).tocsr()
    target.data[:] = 1.0
    steps = tf.data.Dataset.from_tensors(inputs).repeat()
    if loss == "dense":
        targets = tf.data.Dataset.from_tensors(tf.constant(target.toarray(), tf.float32)).repeat()
        return tf.data.Dataset.zip(steps, targets)
    positives = np.stack(target.nonzero(), axis=1).astype(np.int64)
    n_negative = max(1, int(round(negative_ratio * len(positives))))

    def negatives():
        while True:
            yield sample_non_edges(target, n_negative, rng)

    sampled = tf.data.Dataset.from_generator(
        negatives, output_signature=tf.TensorSpec((n_negative, 2), tf.int64))
    targets = tf.data.Dataset.zip(tf.data.Dataset.from_tensors(positives).repeat(), sampled)
    return tf.data.Dataset.zip(steps, targets)
