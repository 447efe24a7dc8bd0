"""Clustering of a representation: k-means with a given k, DBSCAN with a given or automatic eps,
Leiden on a k-nearest-neighbour graph (scanpy's).

Cost with the number of cells N: k-means is linear (above
:data:`~diffvae.defaults.EXACT_CLUSTERING_MAX_CELLS` cells it runs on minibatches); Leiden's
neighbour search is approximate (pynndescent) above a few thousand cells, about N log N; DBSCAN
needs exact neighbours of every cell and is refused above that size.
"""
from __future__ import annotations

import numpy as np

from .. import defaults
from ..checks import positive_number
from ..defaults import CLUSTERERS
from ..errors import InputError

#: the label DBSCAN gives to cells that belong to no cluster
NOISE = -1


def cluster(x: np.ndarray, clusterer: str, *, n_clusters: int | None = None,
            eps: float | None = None, min_samples: int = 5,
            resolution: float = defaults.LEIDEN_RESOLUTION, seed: int | None = 0) -> np.ndarray:
    """Labels of the cells (rows of ``x``) by ``clusterer``: "kmeans" (needs ``n_clusters``),
    "dbscan" (``eps``, ``min_samples``) or "leiden" (``resolution``)."""
    if clusterer == "kmeans":
        return kmeans(x, n_clusters, seed=seed)
    if clusterer == "dbscan":
        return dbscan(x, eps=eps, min_samples=min_samples)
    if clusterer == "leiden":
        return leiden(x, resolution=resolution, seed=seed)
    raise InputError(f"clusterer must be one of {CLUSTERERS}, got {clusterer!r}")


def check_size(clusterer: str, n_cells: int, *, min_samples: int | None = None) -> None:
    """Refuse a clusterer that cannot run on ``n_cells`` cells (called before any training):
    DBSCAN above :data:`~diffvae.defaults.EXACT_CLUSTERING_MAX_CELLS` cells or with
    ``min_samples`` above the number of cells (no cell could be a core point), Leiden on fewer
    cells than its graph has neighbours."""
    if clusterer == "dbscan" and min_samples is not None and min_samples > n_cells:
        raise InputError(f"DBSCAN's min_samples ({min_samples}) is more than the {n_cells} cells: "
                         "no cell could start a cluster; lower --min-samples (min_samples=)")
    if clusterer == "dbscan" and n_cells > defaults.EXACT_CLUSTERING_MAX_CELLS:
        raise InputError(f"DBSCAN needs the exact neighbours of every cell and is not offered above "
                         f"{defaults.EXACT_CLUSTERING_MAX_CELLS:,} cells (got {n_cells:,}); use "
                         "k-means or Leiden")
    if clusterer == "leiden" and n_cells <= defaults.N_NEIGHBORS:
        raise InputError(f"Leiden on a {defaults.N_NEIGHBORS}-neighbour graph needs more than "
                         f"{defaults.N_NEIGHBORS} cells, got {n_cells}")


def kmeans(x: np.ndarray, n_clusters: int, *, seed: int | None = 0, n_init: int = 10) -> np.ndarray:
    """k-means labels 0 .. n_clusters - 1 (scikit-learn, ``n_init`` restarts).

    Above :data:`~diffvae.defaults.EXACT_CLUSTERING_MAX_CELLS` cells, scikit-learn's
    MiniBatchKMeans (batches of 4,096 cells, 3 restarts): each step then costs a batch, not a
    pass over all cells.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    x = np.asarray(x)
    if n_clusters is None or not 1 <= n_clusters <= len(x):
        raise InputError(f"n_clusters must be between 1 and the number of cells ({len(x)}), got {n_clusters}")
    if len(x) > defaults.EXACT_CLUSTERING_MAX_CELLS:
        return MiniBatchKMeans(n_clusters=n_clusters, batch_size=4096, n_init=3,
                               random_state=seed).fit_predict(x)
    return KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit_predict(x)


def leiden(x: np.ndarray, *, resolution: float = defaults.LEIDEN_RESOLUTION,
           n_neighbors: int = defaults.N_NEIGHBORS, seed: int | None = 0) -> np.ndarray:
    """Leiden communities (0, 1, ...) of the ``n_neighbors``-nearest-neighbour graph of ``x``,
    as scanpy builds and cuts it (``sc.pp.neighbors`` on ``x``, ``sc.tl.leiden`` with igraph)."""
    return leiden_resolutions(x, [resolution], n_neighbors=n_neighbors, seed=seed)[resolution]


def leiden_resolutions(x: np.ndarray, resolutions, *, n_neighbors: int = defaults.N_NEIGHBORS,
                       seed: int | None = 0) -> dict[float, np.ndarray]:
    """:func:`leiden` at each of ``resolutions`` on one neighbour graph of ``x`` (built once):
    ``{resolution: communities}``."""
    import anndata as ad
    import pandas as pd
    import scanpy as sc

    x = np.asarray(x, dtype=np.float32)
    for resolution in resolutions:
        positive_number("resolution", resolution)
    if x.ndim != 2 or len(x) <= n_neighbors:
        raise InputError(f"Leiden on a {n_neighbors}-neighbour graph needs a cells x dimensions "
                         f"matrix of more than {n_neighbors} cells, got shape {x.shape}")
    data = ad.AnnData(obs=pd.DataFrame(index=np.arange(len(x)).astype(str)))
    data.obsm["X_rep"] = x
    sc.pp.neighbors(data, n_neighbors=n_neighbors, use_rep="X_rep", random_state=seed or 0)
    found = {}
    for resolution in resolutions:
        sc.tl.leiden(data, resolution=resolution, flavor="igraph", n_iterations=2,
                     directed=False, random_state=seed or 0)
        found[resolution] = data.obs["leiden"].astype(int).to_numpy()
    return found


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

    check_size("dbscan", len(x))
    if eps is None:
        eps = auto_eps(x, min_samples)
    elif eps <= 0:
        raise InputError(f"DBSCAN eps must be positive, got {eps}")
    return DBSCAN(eps=eps, min_samples=min_samples).fit_predict(np.asarray(x))
