"""Which latent dimensions encode each cluster (the paper's Fig. 1c).

For dimension k with mean mu_k and standard deviation sd_k over all cells, D_k is the set of cells
with z_k >= mu_k + sd_k or z_k <= mu_k - sd_k (both tails, as the paper defines it). A cluster's
score on dimension k is the percentage of D_k that lies in the cluster (the paper's score).
Because that favours large clusters, ``relative=True`` divides it by the cluster's share of all
cells (an enrichment: 1 means "as often as chance").
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import defaults
from ..errors import InputError


def extreme_cells(latent: np.ndarray) -> np.ndarray:
    """Boolean cells x dims: is the cell in D_k, at least one standard deviation from the mean."""
    latent = np.asarray(latent, dtype=np.float64)
    mean, sd = latent.mean(axis=0), latent.std(axis=0)
    # A constant dimension (a ReLU unit that never fires) has an empty D_k.
    return (sd > 0) & ((latent >= mean + sd) | (latent <= mean - sd))


def dimension_scores(latent: np.ndarray, clusters: Sequence, *, relative: bool = False) -> pd.DataFrame:
    """Clusters x dimensions: percentage of D_k in each cluster (0 where D_k is empty).

    Dimensions are numbered from 0, columns of ``latent``.
    """
    latent = np.asarray(latent)
    clusters = np.asarray(clusters)
    if latent.ndim != 2 or len(latent) != len(clusters):
        raise InputError(f"latent {latent.shape} and clusters ({len(clusters)}) do not match")
    extreme = extreme_cells(latent)
    sizes = extreme.sum(axis=0)
    ids = np.unique(clusters)
    counts = np.stack([extreme[clusters == c].sum(axis=0) for c in ids])
    scores = 100.0 * np.divide(counts, sizes, out=np.zeros(counts.shape), where=sizes > 0)
    if relative:
        share = np.array([np.mean(clusters == c) for c in ids])[:, None]
        scores = scores / (100.0 * share)
    return pd.DataFrame(scores, index=pd.Index(ids, name="cluster"),
                        columns=pd.RangeIndex(latent.shape[1], name="dimension"))


def top_dimensions(scores: pd.DataFrame, n: int = defaults.N_TOP_DIMENSIONS) -> dict:
    """Cluster -> its ``n`` highest-scoring dimensions, best first (ties: lower index first)."""
    return {cluster: [int(d) for d in scores.columns[np.argsort(-row.to_numpy(), kind="stable")[:n]]]
            for cluster, row in scores.iterrows()}
