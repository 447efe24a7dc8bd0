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

import json
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from diffvae._files import atomic_path
from diffvae.errors import InputError
from diffvae.io import as_anndata
from diffvae.preprocessing import Preprocessor

from . import graphs

DENSE_LIMIT = 5000  # above this many cells "auto" uses the sparse loss


def build_network(n_features: int, hidden_dim: int = 512, latent_dim: int = 50, seed: int | None = None):
    """The Keras model: inputs (X, A_norm) -> (Z*, mu, log sigma^2); z = mu unless training."""
    from .network import GraphDiffVAENetwork

    return GraphDiffVAENetwork(n_features, hidden_dim, latent_dim, seed=seed)


def loss_weights(n_cells: int, n_positive: int) -> tuple[float, float]:
    """Kipf & Welling's (pos_weight, norm) for an adjacency with ``n_positive`` ones of N^2."""
    total = float(n_cells) ** 2
    return (total - n_positive) / n_positive, total / (2.0 * (total - n_positive))


def dense_reconstruction_loss(z, target):
    """norm * mean over all N^2 pairs of the positive-weighted binary cross-entropy of
    sigmoid(z z^T) against ``target`` (dense 0/1 adjacency with self-loops)."""
    import tensorflow as tf

    n_positive = float(np.asarray(target).sum())
    pos_weight, norm = loss_weights(int(np.shape(target)[0]), n_positive)
    logits = tf.matmul(z, z, transpose_b=True)
    return norm * tf.reduce_mean(tf.nn.weighted_cross_entropy_with_logits(
        labels=tf.constant(target, dtype=tf.float32), logits=logits, pos_weight=pos_weight))


def sparse_reconstruction_loss(z, positives, negatives, n_cells: int, n_non_edges: int):
    """The same loss from the ``positives`` (all ones of the target, as (i, j) rows) and a sample
    of ``negatives``, each sampled pair standing for n_non_edges / len(negatives) pairs."""
    import tensorflow as tf

    pos_weight, norm = loss_weights(n_cells, len(positives))

    def logits(pairs):
        return tf.reduce_sum(tf.gather(z, pairs[:, 0]) * tf.gather(z, pairs[:, 1]), axis=1)

    # weighted BCE: pos_weight * softplus(-l) for ones, softplus(l) for zeros
    positive_sum = pos_weight * tf.reduce_sum(tf.nn.softplus(-logits(positives)))
    negative_sum = tf.reduce_sum(tf.nn.softplus(logits(negatives))) * (n_non_edges / len(negatives))
    return norm * (positive_sum + negative_sum) / float(n_cells) ** 2


def kl_per_node(mu, log_var):
    """KL(q(z|X, A) || N(0, I)) averaged over nodes and divided by N (GAE's scaling)."""
    import tensorflow as tf

    n = tf.cast(tf.shape(mu)[0], tf.float32)
    kl = -0.5 * tf.reduce_mean(tf.reduce_sum(1.0 + log_var - tf.square(mu) - tf.exp(log_var), axis=1))
    return kl / n


def sample_non_edges(target: sp.csr_matrix, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` ordered pairs (i, j) that are zeros of ``target``, uniformly (rejection sampling)."""
    n_cells = target.shape[0]
    found = np.zeros((0, 2), dtype=np.int64)
    while len(found) < n:
        pairs = rng.integers(0, n_cells, size=(2 * (n - len(found)) + 16, 2))
        keep = np.asarray(target[pairs[:, 0], pairs[:, 1]]).ravel() == 0
        found = np.concatenate([found, pairs[keep]])
    return found[:n]


def split_edges(adjacency: sp.csr_matrix, *, test: float = 0.10, validation: float = 0.05,
                seed: int | None = 0):
    """GAE's link-prediction split: hold out ``test`` and ``validation`` shares of the undirected
    edges, each with as many sampled non-edges. Returns the training adjacency and the
    (edges, non_edges) pairs of validation and test."""
    rng = np.random.default_rng(seed)
    upper = sp.triu(adjacency, k=1).tocoo()
    edges = np.stack([upper.row, upper.col], axis=1)
    order = rng.permutation(len(edges))
    n_test, n_valid = int(np.floor(len(edges) * test)), int(np.floor(len(edges) * validation))
    if n_test == 0 or n_valid == 0:
        raise InputError(f"the graph has {len(edges)} edges: too few to hold out test and validation edges")
    test_edges, valid_edges = edges[order[:n_test]], edges[order[n_test:n_test + n_valid]]
    train_edges = edges[order[n_test + n_valid:]]
    train = graphs.symmetric_binary(train_edges[:, 0], train_edges[:, 1], adjacency.shape[0])
    full = adjacency + sp.eye(adjacency.shape[0], format="csr")
    negatives = sample_non_edges(full, n_test + n_valid, rng)
    negatives = negatives[negatives[:, 0] != negatives[:, 1]]
    return train, (valid_edges, negatives[n_test:n_test + n_valid]), (test_edges, negatives[:n_test])


def link_scores(z: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """sigmoid(z_i . z_j) for each pair."""
    return 1.0 / (1.0 + np.exp(-np.einsum("ij,ij->i", z[pairs[:, 0]], z[pairs[:, 1]])))


def link_metrics(z: np.ndarray, edges: np.ndarray, non_edges: np.ndarray) -> dict:
    """AUC and average precision of held-out edges against sampled non-edges."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores = np.concatenate([link_scores(z, edges), link_scores(z, non_edges)])
    truth = np.concatenate([np.ones(len(edges)), np.zeros(len(non_edges))])
    return {"auc": float(roc_auc_score(truth, scores)), "ap": float(average_precision_score(truth, scores))}


def top_partners(z: np.ndarray, k: int = 1, *, block_size: int | None = None) -> sp.csr_matrix:
    """Predicted links: each cell to the ``k`` other cells with the largest z_i . z_j (the most
    probable links), undirected; computed in row blocks, never N x N at once."""
    rows, cols, _ = graphs.top_k_pairs(np.asarray(z), k, block_size=block_size)
    return graphs.symmetric_binary(rows, cols, len(z))


class GraphDiffVAE:
    """Graph-DiffVAE with a scikit-learn / scvi-tools style interface.

    Parameters
    ----------
    hidden_dim, latent_dim
        GCN widths (paper: 512 and 50).
    graph, k, use_rep
        Input graph: ``"pearson"`` (each cell to its ``k`` most correlated cells; paper: k = 1)
        or ``"knn"`` (k nearest neighbours on ``adata.obsm[use_rep]``, or on the scaled
        expression's top 50 principal components); or pass ``adjacency=`` to :meth:`fit` (for
        example ``adata.obsp["connectivities"]``).
    n_top_genes
        Keep this many highly variable genes as node features (default: all).
    """

    def __init__(self, hidden_dim: int = 512, latent_dim: int = 50, *, graph: str = "pearson",
                 k: int = 1, use_rep: str | None = None, n_top_genes: int | None = None) -> None:
        self.hidden_dim, self.latent_dim = hidden_dim, latent_dim
        self.graph, self.k, self.use_rep, self.n_top_genes = graph, k, use_rep, n_top_genes

    def get_params(self) -> dict:
        return {"hidden_dim": self.hidden_dim, "latent_dim": self.latent_dim, "graph": self.graph,
                "k": self.k, "use_rep": self.use_rep, "n_top_genes": self.n_top_genes}

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
        raise InputError(f"graph must be 'pearson' or 'knn' (or pass adjacency=), got {self.graph!r}")

    def fit(self, data, *, adjacency=None, epochs: int = 200, learning_rate: float = 1e-4,
            seed: int | None = 0, loss: str = "auto", negative_ratio: float = 1.0,
            evaluate_links: bool = True, verbose: int = 1, layer: str | None = None) -> "GraphDiffVAE":
        """Train on the cells of ``data`` and the graph (built, or ``adjacency``).

        With ``evaluate_links`` (default) 10 % of the edges are held out for testing and 5 % for
        validation (each with as many sampled non-edges) and ``link_metrics_`` holds their AUC
        and AP; the model then trains on the remaining graph. ``loss``: "dense", "sparse" or
        "auto" (sparse above 5000 cells); the sparse loss samples ``negative_ratio`` non-edges
        per edge each epoch. Sets ``adjacency_`` (input graph), ``node_features_`` (Z*, cells x
        latent_dim), ``mu_`` and ``history_``.
        """
        import keras
        import tensorflow as tf

        from .layers import sparse_adjacency

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
        rng = np.random.default_rng(seed)
        train = self.adjacency_
        if evaluate_links:
            train, self._validation, self._test = split_edges(self.adjacency_, seed=seed)
        if seed is not None:
            keras.utils.set_random_seed(seed)
        loss = ("sparse" if n > DENSE_LIMIT else "dense") if loss == "auto" else loss
        target = (train + sp.eye(n, format="csr")).tocsr()
        target.data[:] = 1.0
        positives = np.stack(target.nonzero(), axis=1).astype(np.int64)
        n_non_edges = n * n - len(positives)
        dense_target = target.toarray() if loss == "dense" else None
        self.network_ = build_network(x.shape[1], self.hidden_dim, self.latent_dim, seed)
        features, a_norm = tf.constant(x), sparse_adjacency(graphs.normalize(train))
        optimizer = keras.optimizers.Adam(learning_rate)

        @tf.function(jit_compile=False)  # sparse matmuls: no XLA
        def step(negatives):
            with tf.GradientTape() as tape:
                z, mu, log_var = self.network_(features, a_norm, training=True)
                if dense_target is not None:
                    reconstruction = dense_reconstruction_loss(z, dense_target)
                else:
                    reconstruction = sparse_reconstruction_loss(z, positives, negatives, n, n_non_edges)
                kl = kl_per_node(mu, log_var)
                total = reconstruction + kl
            variables = self.network_.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
            return total, reconstruction, kl

        n_negative = max(1, int(round(negative_ratio * len(positives))))
        progress = keras.utils.Progbar(epochs, verbose=verbose, unit_name="epoch")
        rows = []
        for epoch in range(epochs):
            negatives = (sample_non_edges(target, n_negative, rng) if dense_target is None
                         else np.zeros((1, 2), dtype=np.int64))
            values = [float(v) for v in step(tf.constant(negatives))]
            rows.append(dict(zip(("loss", "reconstruction", "kl"), values)))
            if evaluate_links and (epoch == epochs - 1 or verbose):
                z = self._embed(features, a_norm)
                rows[-1].update({f"val_{k}": v for k, v in link_metrics(z, *self._validation).items()})
            progress.update(epoch + 1, [(k, v) for k, v in rows[-1].items()])
        self.history_ = pd.DataFrame(rows).rename_axis("epoch")
        self.node_features_ = self._embed(features, a_norm)
        self.mu_ = self.network_(features, a_norm)[1].numpy()
        if evaluate_links:
            self.link_metrics_ = {"test": link_metrics(self.node_features_, *self._test),
                                  "validation": link_metrics(self.node_features_, *self._validation),
                                  "n_test_edges": int(len(self._test[0])),
                                  "n_validation_edges": int(len(self._validation[0]))}
        return self

    def _embed(self, features, a_norm) -> np.ndarray:
        return self.network_(features, a_norm)[0].numpy()

    def predict_links(self, k: int = 1) -> sp.csr_matrix:
        """Each cell linked to its ``k`` most probable partners by the trained decoder."""
        return top_partners(self._fitted(), k)

    def _fitted(self) -> np.ndarray:
        if not hasattr(self, "node_features_"):
            raise RuntimeError("this GraphDiffVAE is not fitted yet; call fit() first")
        return self.node_features_

    def save(self, path: str | Path, *, overwrite: bool = False) -> None:
        """Bundle: weights, settings, preprocessing, gene list, input graph and node features."""
        from diffvae._version import __version__

        self._fitted()
        pre_config, pre_arrays = self.preprocessor_.get_state()
        config = {"model": "graph_diffvae", "version": __version__, "params": self.get_params(),
                  "preprocessing": pre_config}
        with atomic_path(path, overwrite=overwrite) as tmp:
            tmp.mkdir()
            (tmp / "config.json").write_text(json.dumps(config, indent=2))
            np.savez(tmp / "preprocessing.npz", **pre_arrays)
            self.network_.save(tmp / "model.keras")
            sp.save_npz(tmp / "adjacency.npz", self.adjacency_)
            np.save(tmp / "node_features.npy", self.node_features_)

    @classmethod
    def load(cls, path: str | Path) -> "GraphDiffVAE":
        """Load a bundle written by :meth:`save`."""
        import keras

        from . import network  # noqa: F401  registers the custom classes

        path = Path(path)
        if not (path / "config.json").exists():
            raise InputError(f"{path}: not a Graph-DiffVAE bundle (no config.json)")
        config = json.loads((path / "config.json").read_text())
        model = cls(**config["params"])
        with np.load(path / "preprocessing.npz") as arrays:
            model.preprocessor_ = Preprocessor.from_state(config["preprocessing"], dict(arrays))
        model.adjacency_ = sp.load_npz(path / "adjacency.npz").tocsr()
        model.node_features_ = np.load(path / "node_features.npy")
        model.network_ = keras.saving.load_model(path / "model.keras")
        return model
