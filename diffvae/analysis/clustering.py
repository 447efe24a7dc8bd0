"""Clustering of a representation: k-means with a given k, DBSCAN with a given or automatic eps."""
from __future__ import annotations

import numpy as np

from ..errors import InputError

#: the label DBSCAN gives to cells that belong to no cluster
NOISE = -1


def kmeans(x: np.ndarray, n_clusters: int, *, seed: int | None = 0, n_init: int = 10) -> np.ndarray:
    """k-means labels 0 .. n_clusters - 1 (scikit-learn, ``n_init`` restarts)."""
    from sklearn.cluster import KMeans

    x = np.asarray(x)
    if not 1 <= n_clusters <= len(x):
        raise InputError(f"n_clusters must be between 1 and the number of cells ({len(x)}), got {n_clusters}")
    return KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit_predict(x)


def auto_eps(x: np.ndarray, min_samples: int = 5) -> float:
    """DBSCAN radius at the knee of the sorted k-distance curve (k = ``min_samples``).

    The knee is the point of the curve farthest from the straight line joining its ends (the
    "kneedle" rule): beyond it, distances grow fast, so cells there are sparse (noise).
    """
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(x)
    if len(x) <= min_samples:
        raise InputError(f"DBSCAN with min_samples={min_samples} needs more than {min_samples} cells")
    distances, _ = NearestNeighbors(n_neighbors=min_samples + 1).fit(x).kneighbors(x)
    curve = np.sort(distances[:, -1])
    t = np.linspace(0.0, 1.0, len(curve))
    span = curve[-1] - curve[0]
    if span <= 0:
        return float(curve[0]) or 1e-12
    height = (curve - curve[0]) / span
    return float(curve[int(np.argmax(t - height))])


def dbscan(x: np.ndarray, *, eps: float | None = None, min_samples: int = 5) -> np.ndarray:
    """DBSCAN labels (0, 1, ... and :data:`NOISE` for unclustered cells); ``eps=None``: :func:`auto_eps`."""
    from sklearn.cluster import DBSCAN

    if eps is None:
        eps = auto_eps(x, min_samples)
    elif eps <= 0:
        raise InputError(f"DBSCAN eps must be positive, got {eps}")
    return DBSCAN(eps=eps, min_samples=min_samples).fit_predict(np.asarray(x))
