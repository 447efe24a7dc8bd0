"""What predicted links mean biologically: do they join cells of the same type, and where do
progenitors link to?"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from diffvae.analysis import ari, kmeans

from .graphs import coexpression_graph, knn_graph

if TYPE_CHECKING:
    from .model import GraphDiffVAE


def edge_list(adjacency: sp.spmatrix) -> np.ndarray:
    """Undirected edges (i < j) of an adjacency, as rows (i, j)."""
    upper = sp.triu(adjacency, k=1).tocoo()
    return np.stack([upper.row, upper.col], axis=1)


def progenitor_crossings(adjacency: sp.spmatrix, labels: Sequence, progenitors: Sequence[str],
                         cells: np.ndarray | None = None) -> np.ndarray:
    """The undirected edges (rows (i, j)) that join a progenitor to a cell of another type;
    with ``cells`` (a sample's indices) only those between two of them."""
    labels = np.asarray(labels).astype(str)
    edges = edge_list(adjacency)
    if cells is not None:
        edges = edges[np.isin(edges, cells).all(axis=1)]
    is_prog = np.isin(labels, progenitors)
    return edges[is_prog[edges[:, 0]] != is_prog[edges[:, 1]]]


def same_type_share(adjacency: sp.spmatrix, labels: Sequence) -> float:
    """Share of the undirected edges that join two cells with the same label."""
    labels = np.asarray(labels).astype(str)
    edges = edge_list(adjacency)
    return float(np.mean(labels[edges[:, 0]] == labels[edges[:, 1]])) if len(edges) else float("nan")


def progenitor_partners(adjacency: sp.spmatrix, labels: Sequence, progenitors: Sequence[str]) -> np.ndarray:
    """For every link between a progenitor and a non-progenitor cell, the non-progenitor's index."""
    labels = np.asarray(labels).astype(str)
    edges = edge_list(adjacency)
    ends = np.concatenate([edges, edges[:, ::-1]])  # both directions: progenitor -> other
    keep = np.isin(labels[ends[:, 0]], progenitors) & ~np.isin(labels[ends[:, 1]], progenitors)
    return ends[keep, 1]


def progenitor_links(adjacency: sp.spmatrix, labels: Sequence, progenitors: Sequence[str]) -> pd.Series:
    """Links from progenitor cells to cells of every non-progenitor type, as shares (sum 1)."""
    partners = progenitor_partners(adjacency, labels, progenitors)
    counts = pd.Series(np.asarray(labels).astype(str)[partners]).value_counts()
    return (counts / counts.sum()).rename("share") if counts.sum() else counts.astype(float)


def partner_lineages(adjacency: sp.spmatrix, labels: Sequence, progenitors: Sequence[str],
                     lineages: pd.DataFrame) -> pd.Series:
    """Mean of each lineage-weight column over the non-progenitor cells that progenitors link to."""
    return lineages.iloc[progenitor_partners(adjacency, labels, progenitors)].mean()


def progenitor_attention(links: pd.DataFrame, labels: Sequence,
                         progenitors: Sequence[str]) -> pd.DataFrame:
    """For each progenitor cell (rows, by cell index), its attention mass towards each
    differentiated type (columns): the sum of the attention (from
    :meth:`GraphDiffVAE.link_importance`) it gives to its neighbours of that type. Progenitors
    without a differentiated neighbour are left out."""
    labels = np.asarray(labels).astype(str)
    target, source = links["target"].to_numpy(), links["source"].to_numpy()
    keep = np.isin(labels[target], progenitors) & ~np.isin(labels[source], progenitors)
    table = pd.crosstab(pd.Series(target[keep], name="progenitor"),
                        pd.Series(labels[source[keep]], name="cell_type"),
                        values=links["attention"].to_numpy()[keep], aggfunc="sum")
    return table.fillna(0.0)


def biological_metrics(model: GraphDiffVAE, x: np.ndarray, predicted: sp.csr_matrix,
                       labels: np.ndarray, progenitors: Sequence[str], seed: int,
                       lineages: pd.DataFrame | None = None, *,
                       cells: np.ndarray | None = None, k: int = 1) -> dict:
    """What a fitted model's links mean: same-type share of links (predicted, input, a
    co-expression graph of the scaled expression ``x`` with as many edges per cell, each cell's
    ``k`` nearest neighbours in PCA of ``x`` with the representation's size, chance), the
    progenitor split (and the mean lineage weights of progenitors' partners, when ``lineages``
    holds per-cell lineage weights) and the k-means ARI of the representation
    (``model.transform()``) beside that of the same PCA. ``cells``: the cells whose rows ``x``
    holds, when a sample (the co-expression and PCA graphs are then among them)."""
    from sklearn.decomposition import PCA

    labels = np.asarray(labels)
    n_edges = edge_list(predicted).shape[0]
    if cells is not None:
        n_edges = max(1, int(round(n_edges * len(cells) / len(labels))))
    known = labels if cells is None else labels[cells]
    coexpression = coexpression_graph(x, n_edges, seed=seed)
    representation = model.transform()
    m = min(representation.shape[1], *x.shape)
    pca = PCA(m, random_state=seed).fit_transform(x)
    found = {
        "same_type_share": {
            "predicted": same_type_share(predicted, labels),
            "input": same_type_share(model.adjacency_, labels),
            "coexpression": same_type_share(coexpression, known),
            "pca_neighbours": same_type_share(knn_graph(pca, k, seed=seed), known),
            "chance": float(sum((n / len(labels)) ** 2 for n in pd.Series(labels).value_counts())),
        },
        "kmeans_ari": ari(labels, kmeans(representation, len(set(labels)), seed=seed)),
        "pca_dims": m,
        "pca_kmeans_ari": ari(known, kmeans(pca, len(set(known)), seed=seed)),
    }
    if progenitors:
        found["progenitor_links"] = {
            "predicted": progenitor_links(predicted, labels, progenitors).to_dict(),
            "input": progenitor_links(model.adjacency_, labels, progenitors).to_dict(),
        }
        if lineages is not None and len(lineages.columns):
            found["progenitor_partner_lineage_weights"] = {
                name: partner_lineages(graph, labels, progenitors, lineages).to_dict()
                for name, graph in (("predicted", predicted), ("input", model.adjacency_))}
    return found
