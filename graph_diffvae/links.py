"""Links between cells: sampling non-edges, GAE's held-out split, link scores and metrics,
and the most probable partners of each cell."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from diffvae.errors import InputError

from . import graphs, neighbours


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


def top_partners(z: np.ndarray, k: int = 1, *, method: str = "auto",
                 seed: int | None = 0) -> sp.csr_matrix:
    """Predicted links: each cell to the ``k`` other cells with the largest z_i . z_j (the most
    probable links), undirected.

    ``"exact"`` and ``"auto"``: :func:`~graph_diffvae.neighbours.exact_top_products` (blocks of
    candidates in order of decreasing norm, stopped when none can do better; never N x N at
    once), at every size: exact, and faster than pynndescent's query at scale
    (``benchmarks/link_search.py``; figures in the documentation's benchmarks page). ``"approximate"``: pynndescent
    (:func:`~graph_diffvae.neighbours.approximate_top_products`), ``seed`` seeding it.
    """
    z = np.asarray(z)
    n = len(z)
    neighbours.check_search(k, n, method)
    if method == "approximate":
        cols = neighbours.approximate_top_products(z, k, seed=seed)
    else:
        cols = neighbours.exact_top_products(z, k)[0]
    return graphs.symmetric_binary(np.repeat(np.arange(n), k), cols.ravel(), n)
