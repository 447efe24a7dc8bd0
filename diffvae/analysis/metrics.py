"""Agreement between clusters and reference labels (ARI, NMI, the paper's overlap, confusion) and
how well clusters separate without labels (silhouette)."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

from .clustering import NOISE


def ari(labels, clusters) -> float:
    """Adjusted Rand index (scikit-learn)."""
    return float(adjusted_rand_score(np.asarray(labels).astype(str), np.asarray(clusters).astype(str)))


def nmi(labels, clusters) -> float:
    """Normalised mutual information (scikit-learn, arithmetic mean)."""
    return float(normalized_mutual_info_score(np.asarray(labels).astype(str),
                                              np.asarray(clusters).astype(str)))


def majority_mapping(clusters, labels) -> dict:
    """Each cluster -> the reference label most of its cells carry."""
    table = confusion_table(clusters, labels)
    return {cluster: table.loc[cluster].idxmax() for cluster in table.index}


def overlap(clusters, labels, mapping: Mapping) -> float:
    """The paper's overlap: the share of cells whose cluster maps to their own reference type.

    ``mapping`` is cluster -> cell type (from marker genes, or :func:`majority_mapping`); cells of
    unmapped clusters (DBSCAN noise, "unassigned") count as wrong.
    """
    clusters, labels = np.asarray(clusters), np.asarray(labels).astype(str)
    mapped = np.array([str(mapping.get(c, "")) for c in clusters.tolist()])
    return float(np.mean(mapped == labels))


def confusion_table(clusters, labels) -> pd.DataFrame:
    """Cells per cluster (rows) and reference label (columns)."""
    return pd.crosstab(pd.Series(np.asarray(clusters), name="cluster"),
                       pd.Series(np.asarray(labels).astype(str), name="label"))


def silhouette(latent, clusters) -> float:
    """Mean silhouette width of ``clusters`` in ``latent`` (scikit-learn, Euclidean).

    Noise cells (:data:`~diffvae.analysis.clustering.NOISE`) are left out; NaN with fewer than two
    clusters. Near 1: compact, well-separated clusters; near 0: a continuum cut into pieces (what
    the paper reports for the human hematopoietic cells).
    """
    latent, clusters = np.asarray(latent), np.asarray(clusters)
    kept = clusters != NOISE
    if len(np.unique(clusters[kept])) < 2:
        return float("nan")
    return float(silhouette_score(latent[kept], clusters[kept]))
