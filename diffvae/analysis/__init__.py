"""The paper's analysis pipeline, one function per step, for any latent matrix.

Works on DiffVAE's mu, a baseline's representation, Graph-DiffVAE's node features or any
``adata.obsm`` entry: t-SNE (:func:`tsne`, of a sample at scale: :func:`tsne_sample`),
clustering (:func:`kmeans`, :func:`dbscan`, :func:`leiden`, :func:`leiden_resolutions`),
agreement with reference labels (:func:`ari`, :func:`nmi`, :func:`overlap`,
:func:`confusion_table`) and without them
(:func:`silhouette`), the latent dimensions that encode each cluster (:func:`dimension_scores`,
:func:`top_dimensions`), high-weight genes (:func:`high_weight_genes`, :func:`cluster_genes`),
and the mapping of clusters to cell types by marker genes (:func:`load_markers`,
:func:`score_clusters`, :func:`map_clusters`, :func:`purity`, :func:`unnamed_types`).
Differentially expressed genes are in :mod:`diffvae.analysis.differential`, figures in
:mod:`diffvae.analysis.plots`.
"""
from .clustering import NOISE, auto_eps, dbscan, kmeans, leiden, leiden_resolutions
from .embedding import tsne, tsne_sample
from .genes import cluster_genes, high_weight_genes
from .latent_dims import dimension_scores, extreme_cells, top_dimensions
from .markers import (MARKER_SETS, UNASSIGNED, load_markers, map_clusters, purity, score_clusters,
                      unnamed_types)
from .metrics import ari, confusion_table, majority_mapping, nmi, overlap, silhouette

__all__ = ["MARKER_SETS", "NOISE", "UNASSIGNED", "ari", "auto_eps", "cluster_genes",
           "confusion_table", "dbscan", "dimension_scores", "extreme_cells", "high_weight_genes",
           "kmeans", "leiden", "leiden_resolutions", "load_markers", "majority_mapping",
           "map_clusters", "nmi", "overlap", "purity", "score_clusters", "silhouette",
           "top_dimensions", "tsne", "tsne_sample", "unnamed_types"]
