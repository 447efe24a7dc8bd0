"""The paper's identification pipeline (Fig. 1) as one call on a fitted model.

expression -> mu -> 2-D t-SNE -> clusters (k-means, DBSCAN or Leiden, on the t-SNE as the paper
does, or on mu) -> latent dimensions per cluster -> their decoder-weight genes, beside each
cluster's differentially expressed genes -> cluster to cell type by marker genes -> agreement
with reference labels, when there are any, beside the same pipeline on PCA of the same input.

The data may be an AnnData in memory or on disk (``backed="r"``, or an .h5ad path): every step
holds at most the N x m representation and the N x (marker genes) expression, never N x genes
(the differential expression test and the PCA baseline's fit read seeded samples of cells).
Above :data:`~diffvae.defaults.TSNE_MAX_CELLS` cells the t-SNE embeds a seeded random sample (for
the figure) and clusters are found on mu; k-means and DBSCAN change as
:mod:`~diffvae.analysis.clustering` says.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import pandas as pd

from .. import defaults
from ..defaults import CLUSTERERS, SPACES
from ..errors import InputError, warn
from ..io import as_anndata, open_h5ad
from ..preprocessing import row_blocks
from ..progress import step
from . import clustering, differential, embedding, genes, latent_dims
from . import markers as marker_module
from . import metrics


@dataclass
class Identification:
    """Everything the pipeline computed; tables are pandas DataFrames.

    ``embedding`` is the t-SNE of the cells ``embedded`` (indices; None: all cells, in order),
    or None when the pipeline ran without it (``embed=False``).
    ``expression`` is the scaled expression (the model's input, cells x ``marker_genes``) of the
    marker genes found among the model's ``genes``. ``cluster_genes`` are the paper's
    decoder-weight genes of each cluster's top latent dimensions (with each gene's rank in the
    cluster's differential expression, ``de_rank``); ``de_ranking`` ranks every gene for every
    cluster (Wilcoxon, one cluster against the rest, on ``de_expression``: the scaled expression
    of every gene for all cells or a sample), ``de_genes`` holds the top ones and
    ``gene_comparison`` what the two lists share. ``purity`` (with labels and markers) says how
    many of each named cluster's cells carry that label; ``unnamed_types`` are the reference
    types the marker set cannot name. ``baseline`` holds the agreement metrics of the same
    pipeline on PCA of the same input (with labels).
    """

    latent: np.ndarray
    embedding: np.ndarray | None
    clusters: np.ndarray
    dimension_scores: pd.DataFrame
    top_dimensions: dict
    cluster_genes: pd.DataFrame
    genes: list[str]
    embedded: np.ndarray | None = None
    expression: np.ndarray | None = None
    marker_genes: list[str] = field(default_factory=list)
    markers: dict[str, list[str]] = field(default_factory=dict)
    marker_scores: pd.DataFrame | None = None
    mapping: pd.DataFrame | None = None
    labels: np.ndarray | None = None
    metrics: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    de_expression: ad.AnnData | None = None
    de_ranking: pd.DataFrame | None = None
    de_genes: pd.DataFrame | None = None
    gene_comparison: pd.DataFrame | None = None
    purity: pd.DataFrame | None = None
    unnamed_types: list[str] = field(default_factory=list)
    baseline: dict = field(default_factory=dict)

    @property
    def cluster_names(self) -> dict:
        """Cluster -> mapped cell type (or the cluster id itself without markers)."""
        return _names(self.clusters, self.mapping)

    def embedded_cells(self, values: np.ndarray | None) -> np.ndarray | None:
        """``values`` (one per cell) for the rows of ``embedding``."""
        if values is None or self.embedded is None:
            return values
        return np.asarray(values)[self.embedded]

    def confusion(self) -> pd.DataFrame:
        """Clusters x reference labels (needs labels)."""
        return metrics.confusion_table(self.clusters, self.labels)


def identify_cell_types(
    adata: ad.AnnData | str, model, *, labels: Sequence | None = None,
    clusterer: str = "kmeans", n_clusters: int | None = None, eps: float | None = None,
    min_samples: int = 5, resolution: float = defaults.LEIDEN_RESOLUTION,
    cluster_on: str = "tsne", markers: str | Mapping[str, Sequence[str]] | None = None,
    n_dims: int = defaults.N_TOP_DIMENSIONS, n_genes: int = defaults.N_GENES_PER_DIMENSION,
    relative: bool = False, perplexity: float = defaults.PERPLEXITY, tsne_method: str = "opentsne",
    tsne_max_cells: int = defaults.TSNE_MAX_CELLS, seed: int | None = 0,
    layer: str | None = None, min_score: float = marker_module.MIN_SCORE,
    min_margin: float = marker_module.MIN_MARGIN, n_de_genes: int = defaults.N_DE_GENES,
    differential: bool = True, baseline: bool = True, embed: bool = True,
) -> Identification:
    """Run the paper's pipeline with a fitted ``model`` (DiffVAE or any :class:`~diffvae.LatentModel`).

    ``adata`` may be in memory, opened with ``backed="r"`` or an .h5ad path. ``n_clusters``
    defaults to the number of reference types when ``labels`` are given. The paper uses k-means
    on the t-SNE for zebrafish (k = 5) and DBSCAN for the human datasets, 10 top dimensions and 3
    genes per dimension for zebrafish. With more than ``tsne_max_cells`` cells the t-SNE embeds
    a seeded random sample of that size (the figure) and clusters are found on mu (a warning
    says so when ``cluster_on="tsne"``).

    ``differential``: rank each cluster's differentially expressed genes (scanpy's Wilcoxon
    test on the scaled expression, of a seeded sample of
    :data:`~diffvae.defaults.DE_MAX_CELLS` cells at most). ``baseline`` (with ``labels``): run
    the same pipeline on PCA of the model's input with the same latent size
    (:func:`~diffvae.models.pca_of_input`) and keep its agreement with the labels. A cluster is
    named by markers as :func:`~diffvae.analysis.map_clusters` says (``min_score``,
    ``min_margin``). ``embed=False`` leaves the t-SNE out (clusters on mu only), for callers
    that need the clusters and their names but not the figure.
    """
    if clusterer not in CLUSTERERS:
        raise InputError(f"clusterer must be one of {CLUSTERERS}, got {clusterer!r}")
    if cluster_on not in SPACES:
        raise InputError(f"cluster_on must be one of {SPACES}, got {cluster_on!r}")
    if not embed and cluster_on == "tsne":
        raise InputError("cluster_on='tsne' needs the t-SNE: use embed=True or cluster_on='latent'")
    backed = open_h5ad(adata)  # a path is opened once, here
    adata = adata if backed is None else backed
    clustering.check_size(clusterer, adata.n_obs, min_samples=min_samples)  # before embedding
    labels = None if labels is None else np.asarray(labels).astype(str)
    if clusterer == "kmeans" and n_clusters is None:
        if labels is None:
            raise InputError("k-means needs n_clusters when there are no reference labels")
        n_clusters = len(np.unique(labels))
    with step("representation (mu)"):
        latent = model.transform(adata, layer=layer)
    embedded = embedding.tsne_sample(len(latent), tsne_max_cells, seed) if embed else None
    if embedded is not None and cluster_on == "tsne":
        warn(f"{len(latent):,} cells: the t-SNE embeds a random sample of "
             f"{tsne_max_cells:,} (the figure), so clusters are found on mu "
             "(cluster_on='latent')", UserWarning)
        cluster_on = "latent"
    tsne = None
    if embed:
        with step(f"t-SNE of {tsne_max_cells if embedded is not None else len(latent)} cells"):
            tsne = embedding.tsne(latent if embedded is None else latent[embedded],
                                  perplexity=perplexity, seed=seed, method=tsne_method)
    with step(f"{clusterer} on {'the t-SNE' if cluster_on == 'tsne' else 'mu'}"):
        clusters = clustering.cluster(tsne if cluster_on == "tsne" else latent, clusterer,
                                      n_clusters=n_clusters, eps=eps, min_samples=min_samples,
                                      resolution=resolution, seed=seed)
    with step("latent dimensions and decoder-weight genes of each cluster"):
        scores = latent_dims.dimension_scores(latent, clusters, relative=relative)
        top = latent_dims.top_dimensions(scores, n_dims)
        gene_names = list(model.genes_)
        per_cluster = genes.cluster_genes(top, model.decoder_weights(), gene_names, n_genes)
    result = Identification(latent, tsne, clusters, scores, top, per_cluster, gene_names,
                            embedded=embedded, labels=labels)
    if differential and len(set(clusters.tolist()) - {clustering.NOISE}) >= 2:
        with step("differentially expressed genes of each cluster"):
            _rank_genes(result, adata, model, layer, n_de_genes, seed)
    result.settings = {"clusterer": clusterer, "n_clusters": n_clusters, "eps": eps,
                       "min_samples": min_samples, "resolution": resolution,
                       "cluster_on": cluster_on, "n_dims": n_dims, "n_genes": n_genes,
                       "relative_scores": relative, "perplexity": perplexity,
                       "tsne_method": tsne_method, "tsne_cells": None if tsne is None else len(tsne),
                       "tsne_max_cells": tsne_max_cells, "seed": seed,
                       "min_score": min_score, "min_margin": min_margin,
                       "n_de_genes": n_de_genes}
    if markers is not None:
        with step("naming clusters by marker genes"):
            _name_clusters(result, adata, model, layer, markers, min_score, min_margin)
    if labels is not None and len(np.unique(labels)) < 2:
        warn(f"the reference labels hold one type only ({labels[0]!r}): agreement scores "
             "(ARI, overlap) would say nothing and are left out", UserWarning)
    elif labels is not None:
        result.metrics = _agreement(clusters, labels, result.mapping)
        if result.mapping is not None:
            result.purity = marker_module.purity(clusters, labels, result.cluster_names)
            result.unnamed_types = marker_module.unnamed_types(labels, result.markers, gene_names)
        if baseline:
            result.baseline = _pca_baseline(result, adata, model, layer)
            result.metrics["pca_baseline"] = result.baseline
    return result


def _rank_genes(result: Identification, adata: ad.AnnData, model, layer: str | None,
                n_genes: int, seed: int | None) -> None:
    result.de_expression = differential.expression_sample(model, adata, result.clusters,
                                                          layer=layer, seed=seed)
    result.de_ranking = differential.rank_genes(result.de_expression)
    result.de_genes = differential.top_de_genes(result.de_ranking, n_genes)
    rank = result.de_ranking.set_index(["cluster", "gene"])["rank"]
    keys = pd.MultiIndex.from_frame(result.cluster_genes[["cluster", "gene"]])
    result.cluster_genes["de_rank"] = rank.reindex(keys).to_numpy()
    result.gene_comparison = differential.compare_gene_lists(result.cluster_genes,
                                                             result.de_genes, result.de_ranking)


def _pca_baseline(result: Identification, adata: ad.AnnData, model,
                  layer: str | None) -> dict:
    """The agreement of the same steps (t-SNE when clustering on it, the same clusterer, the
    same marker naming, on the same marker expression) on PCA(m) of the model's input."""
    from ..models import pca_of_input

    s = result.settings
    with step(f"the same pipeline on PCA({model.latent_dim}) of the same input (the baseline)"):
        pca = pca_of_input(model, adata, layer=layer, seed=s["seed"])
        space = pca.transform(adata, layer=layer)
        with warnings.catch_warnings():  # the model's run said it already
            warnings.simplefilter("ignore", UserWarning)
            if s["cluster_on"] == "tsne":  # every cell: with a sample, clusters are on mu
                space = embedding.tsne(space, perplexity=s["perplexity"], seed=s["seed"],
                                       method=s["tsne_method"])
            clusters = clustering.cluster(space, s["clusterer"], n_clusters=s["n_clusters"],
                                          eps=s["eps"], min_samples=s["min_samples"],
                                          resolution=s["resolution"], seed=s["seed"])
        mapping = None
        if result.marker_scores is not None:
            scores = marker_module.score_clusters(result.expression, result.marker_genes,
                                                  clusters, result.markers)
            mapping = marker_module.map_clusters(scores, min_score=s["min_score"],
                                                 min_margin=s["min_margin"])
    return {"model": f"PCA({model.latent_dim}) of the same input",
            **_agreement(clusters, result.labels, mapping)}


def scaled_expression(model, adata: ad.AnnData, genes: Sequence[str], *,
                      layer: str | None = None) -> np.ndarray:
    """Cells x ``genes`` (among the model's): the model's scaled input, computed block by block
    so that the cells x all-genes matrix never exists, for data in memory or on disk."""
    columns = pd.Index(model.genes_).get_indexer(genes)
    if (columns < 0).any():
        raise InputError(f"gene(s) {[g for g, c in zip(genes, columns) if c < 0][:5]} are not "
                         "among the model's genes")
    data = adata if adata.isbacked else as_anndata(adata, layer=layer)
    blocks = [model.preprocess(block)[:, columns] for block in row_blocks(data)]
    return np.concatenate(blocks) if blocks else np.zeros((0, len(columns)), np.float32)


def _name_clusters(result: Identification, adata: ad.AnnData, model, layer: str | None,
                   markers, min_score: float, min_margin: float) -> None:
    result.markers = marker_module.load_markers(markers)
    present = set(result.genes)
    listed = [g for gs in result.markers.values() for g in gs]
    result.marker_genes = [g for g in dict.fromkeys(listed) if g in present]
    if not result.marker_genes:
        warn(f"none of the {len(listed)} marker genes (for example {listed[:4]}) is "
             f"among the data's {len(result.genes)} genes; clusters keep their numbers",
             UserWarning)
        return
    result.expression = scaled_expression(model, adata, result.marker_genes, layer=layer)
    high_weight = {c: g["gene"].tolist() for c, g in result.cluster_genes.groupby("cluster")}
    result.marker_scores = marker_module.score_clusters(
        result.expression, result.marker_genes, result.clusters, result.markers, high_weight)
    result.mapping = marker_module.map_clusters(result.marker_scores, min_score=min_score,
                                                min_margin=min_margin)


def _names(clusters: np.ndarray, mapping: pd.DataFrame | None) -> dict:
    """Cluster -> its mapped type ("unassigned" when unmapped), or its id without a mapping."""
    if mapping is None or mapping.empty:
        return {c: str(c) for c in np.unique(clusters)}
    names = dict(zip(mapping["cluster"], mapping["cell_type"]))
    return {c: names.get(c, marker_module.UNASSIGNED) for c in np.unique(clusters)}


def _agreement(clusters: np.ndarray, labels: np.ndarray, mapping: pd.DataFrame | None) -> dict:
    found = {
        "n_cells": int(len(clusters)),
        "n_clusters": int(len(set(clusters.tolist()) - {clustering.NOISE})),
        "n_noise": int(np.sum(clusters == clustering.NOISE)),
        "ari": metrics.ari(labels, clusters),
        "nmi": metrics.nmi(labels, clusters),
        # the best overlap any naming of these clusters could reach: each named by its majority
        "overlap_majority": metrics.overlap(clusters, labels, metrics.majority_mapping(clusters, labels)),
    }
    if mapping is not None:
        found["overlap_markers"] = metrics.overlap(clusters, labels, _names(clusters, mapping))
    return found
