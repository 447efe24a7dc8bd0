"""The paper's identification pipeline (Fig. 1) as one call on a fitted model.

expression -> mu -> 2-D t-SNE -> clusters (k-means or DBSCAN, on the t-SNE as the paper does, or
on mu) -> latent dimensions per cluster -> high-weight genes -> cluster to cell type by marker
genes -> agreement with reference labels, when there are any.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import pandas as pd

from .. import defaults
from .._progress import step
from ..defaults import CLUSTERERS, SPACES
from ..errors import InputError
from . import clustering, embedding, genes, latent_dims, markers as marker_module, metrics


@dataclass
class Identification:
    """Everything the pipeline computed; tables are pandas DataFrames."""

    latent: np.ndarray
    embedding: np.ndarray
    clusters: np.ndarray
    dimension_scores: pd.DataFrame
    top_dimensions: dict
    cluster_genes: pd.DataFrame
    expression: np.ndarray
    genes: list[str]
    markers: dict[str, list[str]] = field(default_factory=dict)
    marker_scores: pd.DataFrame | None = None
    mapping: pd.DataFrame | None = None
    labels: np.ndarray | None = None
    metrics: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    @property
    def cluster_names(self) -> dict:
        """Cluster -> mapped cell type (or the cluster id itself without markers)."""
        if self.mapping is None or self.mapping.empty:
            return {c: str(c) for c in np.unique(self.clusters)}
        names = dict(zip(self.mapping["cluster"], self.mapping["cell_type"]))
        return {c: names.get(c, marker_module.UNKNOWN) for c in np.unique(self.clusters)}

    def confusion(self) -> pd.DataFrame:
        """Clusters x reference labels (needs labels)."""
        return metrics.confusion_table(self.clusters, self.labels)


def identify_cell_types(
    adata: ad.AnnData, model, *, labels: Sequence | None = None,
    clusterer: str = "kmeans", n_clusters: int | None = None, eps: float | None = None,
    min_samples: int = 5, cluster_on: str = "tsne",
    markers: str | Mapping[str, Sequence[str]] | None = None,
    n_dims: int = defaults.N_TOP_DIMENSIONS, n_genes: int = defaults.N_GENES_PER_DIMENSION,
    relative: bool = False, perplexity: float = defaults.PERPLEXITY, tsne_method: str = "opentsne",
    seed: int | None = 0, layer: str | None = None, min_score: float = 0.5,
) -> Identification:
    """Run the paper's pipeline with a fitted ``model`` (DiffVAE or any :class:`~diffvae.LatentModel`).

    ``n_clusters`` defaults to the number of reference types when ``labels`` are given. The paper
    uses k-means on the t-SNE for zebrafish (k = 5) and DBSCAN for the human datasets, 10 top
    dimensions and 3 genes per dimension for zebrafish.
    """
    if clusterer not in CLUSTERERS:
        raise InputError(f"clusterer must be one of {CLUSTERERS}, got {clusterer!r}")
    if cluster_on not in SPACES:
        raise InputError(f"cluster_on must be one of {SPACES}, got {cluster_on!r}")
    labels = None if labels is None else np.asarray(labels).astype(str)
    if clusterer == "kmeans" and n_clusters is None:
        if labels is None:
            raise InputError("k-means needs n_clusters when there are no reference labels")
        n_clusters = len(np.unique(labels))
    with step("representation (mu)"):
        latent = model.transform(adata, layer=layer)
    with step(f"t-SNE of {latent.shape[0]} cells"):
        tsne = embedding.tsne(latent, perplexity=perplexity, seed=seed, method=tsne_method)
    space = tsne if cluster_on == "tsne" else latent
    with step(f"{clusterer} on {'the t-SNE' if cluster_on == 'tsne' else 'mu'}"):
        if clusterer == "kmeans":
            clusters = clustering.kmeans(space, n_clusters, seed=seed)
        else:
            clusters = clustering.dbscan(space, eps=eps, min_samples=min_samples)
    with step("latent dimensions and high-weight genes of each cluster"):
        scores = latent_dims.dimension_scores(latent, clusters, relative=relative)
        top = latent_dims.top_dimensions(scores, n_dims)
        omega = model.decoder_weights()
        gene_names = list(model.genes_)
        per_cluster = genes.cluster_genes(top, omega, gene_names, n_genes)
        expression = model.preprocess(adata, layer=layer)
    result = Identification(latent, tsne, clusters, scores, top, per_cluster, expression,
                            gene_names, labels=labels)
    result.settings = {"clusterer": clusterer, "n_clusters": n_clusters, "eps": eps,
                       "min_samples": min_samples, "cluster_on": cluster_on, "n_dims": n_dims,
                       "n_genes": n_genes, "relative_scores": relative, "perplexity": perplexity,
                       "tsne_method": tsne_method, "seed": seed, "min_score": min_score}
    if markers is not None:
        with step("naming clusters by marker genes"):
            _name_clusters(result, markers, per_cluster, min_score)
    if labels is not None and len(np.unique(labels)) < 2:
        warnings.warn(f"the reference labels hold one type only ({labels[0]!r}): agreement scores "
                      "(ARI, overlap) would say nothing and are left out", UserWarning, stacklevel=2)
    elif labels is not None:
        result.metrics = _agreement(result)
    return result


def _name_clusters(result: Identification, markers, per_cluster: pd.DataFrame,
                   min_score: float) -> None:
    result.markers = marker_module.load_markers(markers)
    high_weight = {c: g["gene"].tolist() for c, g in per_cluster.groupby("cluster")}
    result.marker_scores = marker_module.score_clusters(result.expression, result.genes,
                                                        result.clusters, result.markers, high_weight)
    if result.marker_scores["markers_found"].any():
        result.mapping = marker_module.map_clusters(result.marker_scores, min_score=min_score)
    else:
        listed = [g for gs in result.markers.values() for g in gs]
        warnings.warn(f"none of the {len(listed)} marker genes (for example {listed[:4]}) is "
                      f"among the data's {len(result.genes)} genes; clusters keep their numbers",
                      UserWarning, stacklevel=3)


def _agreement(result: Identification) -> dict:
    clusters, labels = result.clusters, result.labels
    found = {
        "n_cells": int(len(clusters)),
        "n_clusters": int(len(set(clusters.tolist()) - {clustering.NOISE})),
        "n_noise": int(np.sum(clusters == clustering.NOISE)),
        "ari": metrics.ari(labels, clusters),
        "nmi": metrics.nmi(labels, clusters),
        # the best overlap any naming of these clusters could reach: each named by its majority
        "overlap_majority": metrics.overlap(clusters, labels, metrics.majority_mapping(clusters, labels)),
    }
    if result.mapping is not None:
        found["overlap_markers"] = metrics.overlap(clusters, labels, result.cluster_names)
    return found
