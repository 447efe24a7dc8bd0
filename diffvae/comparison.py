"""The paper's comparison of representations (Table 2) as a library: the protocol, its summary
in the paper's layout and a figure; ``diffvae benchmark`` runs it from the command line.

DiffVAE, VAE, AE (same layers) and PCA, latent sizes m in {20, 50, 100}; k-means (k = number of
reference types) and DBSCAN (automatic eps); on the representation itself and on its 2-D t-SNE;
50 repetitions of each cell; scored by ARI (and NMI) against the reference labels. The standard
scanpy pipeline (PCA, neighbour graph, Leiden) is one more row. By default each model is trained
once and the clustering is repeated with a different seed each time (the paper's protocol);
``retrain=True`` trains a fresh model for every repetition.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import defaults
from .analysis import ari, dbscan, leiden, nmi, tsne
from .analysis.clustering import cluster
from .defaults import CLUSTERERS, PAPER_CLUSTERERS, SPACES
from .models import get_model


def cluster_and_score(latent: np.ndarray, labels: np.ndarray, seeds: list[int], *, spaces,
                      clusterers, n_clusters: int, tsne_init: str = "pca") -> list[dict]:
    """Every space x clusterer for repetitions with ``seeds`` on one representation.

    With ``tsne_init="pca"`` the t-SNE hardly depends on its seed, so it is computed once (with
    the first seed) and the repetitions vary the k-means (and Leiden) seed; with ``"random"``
    every repetition gets its own t-SNE. DBSCAN is deterministic: computed once per embedding.
    """
    rows = []
    embedding, dbscan_labels = None, {}
    for seed in seeds:
        for space in spaces:
            if space == "latent":
                x = latent
            else:
                if embedding is None or tsne_init == "random":
                    embedding = tsne(latent, seed=seed, n_jobs=1, init=tsne_init)
                    dbscan_labels.pop(space, None)
                x = embedding
            for clusterer in clusterers:
                if clusterer == "dbscan":
                    if space not in dbscan_labels:
                        dbscan_labels[space] = dbscan(x)
                    found = dbscan_labels[space]
                else:
                    found = cluster(x, clusterer, n_clusters=n_clusters, seed=seed)
                rows.append({"seed": seed, "space": space, "clusterer": clusterer,
                             "ari": ari(labels, found), "nmi": nmi(labels, found),
                             "n_clusters": len(set(found.tolist()) - {-1})})
    return rows


def scanpy_pca(adata, *, seed: int, n_top_genes: int | None = 2000):
    """scanpy's standard preprocessing of a copy of ``adata``: normalise (counts) + log1p, HVGs,
    scale, PCA(50) in ``obsm["X_pca"]``; returns the copy."""
    import scanpy as sc

    from .preprocessing import looks_like_counts

    data = adata.copy()
    if looks_like_counts(data.X):
        sc.pp.normalize_total(data)
        sc.pp.log1p(data)
    if n_top_genes and data.n_vars > n_top_genes:
        sc.pp.highly_variable_genes(data, n_top_genes=n_top_genes, subset=True)
    if hasattr(data.X, "toarray"):
        data.X = data.X.toarray()  # scaling centres the genes: the matrix becomes dense anyway
    sc.pp.scale(data, max_value=10)
    sc.pp.pca(data, n_comps=min(50, min(data.shape) - 1), random_state=seed)
    return data


def scanpy_leiden(adata, labels: np.ndarray, *, seed: int, n_top_genes: int | None = 2000) -> dict:
    """The standard scanpy pipeline: :func:`scanpy_pca`, 15-NN graph, Leiden (igraph) at
    resolution 1; scored like the other rows."""
    found = leiden(scanpy_pca(adata, seed=seed, n_top_genes=n_top_genes).obsm["X_pca"], seed=seed)
    return {"space": "pca+knn", "clusterer": "leiden", "ari": ari(labels, found),
            "nmi": nmi(labels, found), "n_clusters": len(set(found.tolist()))}


def run_protocol(adata, labels, *, models=("diffvae", "vae", "ae", "pca"),
                 latent_dims=defaults.BENCHMARK_LATENT_DIMS, clusterers=PAPER_CLUSTERERS, spaces=SPACES,
                 repetitions: int = defaults.BENCHMARK_REPETITIONS, retrain: bool = False,
                 epochs: int = defaults.EPOCHS, seed: int = 0, tsne_init: str = "pca", n_jobs: int = -1,
                 scanpy_row: bool = True, progress: bool = True) -> pd.DataFrame:
    """Every run of the protocol as a table (model, latent_dim, repetition, seed, space,
    clusterer, ari, nmi, n_clusters). Repetition r uses seed ``seed + r``. The wall time of each
    phase (training, clustering, scanpy) is in ``table.attrs["seconds"]``."""
    from joblib import Parallel, delayed

    labels = np.asarray(labels).astype(str)
    n_clusters = len(np.unique(labels))
    seeds = [seed + r for r in range(repetitions)]
    # One model per (model, m), or one per repetition with retrain; each job clusters one
    # representation for the repetitions that use it.
    seconds = {}
    start = time.perf_counter()
    jobs = []
    fits = [(name, m, rep) for name in models for m in latent_dims
            for rep in (seeds if retrain else [None])]
    for name, m, rep in tqdm(fits, desc="training", unit="model", disable=not progress):
        latent = get_model(name, latent_dim=m).fit(adata, epochs=epochs,
                                                    seed=seed if rep is None else rep,
                                                    verbose=0).transform(adata)
        use = [rep] if rep is not None else seeds
        groups = [[s] for s in use] if tsne_init == "random" else [use]
        jobs += [((name, m), group, latent) for group in groups]
    seconds["training"] = time.perf_counter() - start
    start = time.perf_counter()
    tasks = (delayed(cluster_and_score)(latent, labels, group, spaces=spaces, clusterers=clusterers,
                                        n_clusters=n_clusters, tsne_init=tsne_init)
             for _, group, latent in jobs)
    results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    rows = []
    for (key, _, _), found in tqdm(zip(jobs, results), total=len(jobs), desc="clustering",
                                   unit="job", disable=not progress):
        rows += [{"model": key[0], "latent_dim": key[1], "repetition": row["seed"] - seed, **row}
                 for row in found]
    seconds["clustering"] = time.perf_counter() - start
    start = time.perf_counter()
    if scanpy_row:
        for s in tqdm(seeds, desc="scanpy", unit="run", disable=not progress):
            rows.append({"model": "scanpy", "latent_dim": 50, "repetition": s - seed, "seed": s,
                         **scanpy_leiden(adata, labels, seed=s)})
        seconds["scanpy"] = time.perf_counter() - start
    table = pd.DataFrame(rows)
    table.attrs["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    return table


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd of ARI and NMI per model, m, clusterer and space."""
    keys = ["model", "latent_dim", "clusterer", "space"]
    summary = runs.groupby(keys, sort=False)[["ari", "nmi"]].agg(["mean", "std"])
    summary.columns = [f"{a}_{b}" for a, b in summary.columns]
    return summary.reset_index()


def paper_layout(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows model (m), columns clusterer / space, cells 'mean +/- sd' of ARI (Table 2's layout)."""
    cells = summary.assign(
        row=summary["model"] + " (m=" + summary["latent_dim"].astype(str) + ")",
        column=summary["clusterer"] + " / " + summary["space"],
        value=[f"{m:.3f} ± {s:.3f}" for m, s in zip(summary["ari_mean"], summary["ari_std"].fillna(0))])
    order = [f"{c} / {s}" for c in CLUSTERERS for s in (*SPACES, "pca+knn")]
    table = cells.pivot(index="row", columns="column", values="value")
    table = table.reindex(index=list(dict.fromkeys(cells["row"])),
                          columns=[c for c in order if c in table.columns])
    return table.fillna("-").rename_axis(index="model", columns=None)


def plot_runs(runs: pd.DataFrame, title: str | None = None):
    """Box plots of ARI by model and m, one panel per clusterer / space, at most two panels a
    row; ``title`` above them (for example, that the runs are a smoke test)."""
    import math

    import matplotlib.pyplot as plt

    panels = list(dict.fromkeys(zip(runs["clusterer"], runs["space"])))
    n_cols = min(2, len(panels))
    n_rows = math.ceil(len(panels) / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(5.2 * n_cols, 4.2 * n_rows), squeeze=False,
                             sharey=True)
    for ax, (clusterer, space) in zip(axes.flat, panels):
        part = runs[(runs["clusterer"] == clusterer) & (runs["space"] == space)]
        groups = list(dict.fromkeys(zip(part["model"], part["latent_dim"])))
        ax.boxplot([part.loc[(part["model"] == g) & (part["latent_dim"] == m), "ari"] for g, m in groups])
        ax.set_xticks(range(1, len(groups) + 1), [f"{g}\nm={m}" for g, m in groups], fontsize=7,
                      rotation=90)
        ax.set(title=f"{clusterer} on {space}")
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("ARI against reference labels")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
