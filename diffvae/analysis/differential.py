"""Differentially expressed genes of each cluster, beside the paper's decoder-weight genes.

The paper's genes of a cluster are those with the largest decoder weights (omega) on the latent
dimensions that encode it: what the model uses, not necessarily what sets the cluster apart. The
standard answer to "which genes distinguish this cluster" is a one-against-the-rest test; here
scanpy's ``rank_genes_groups`` (Wilcoxon rank-sum, Benjamini-Hochberg) on the same scaled
expression the model reads, so that the two lists can be compared gene by gene.

Cost: the test reads the scaled expression of every gene for the cells tested, so above
``max_cells`` cells it runs on a seeded random sample of that many (cells x genes floats).
"""
from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd

from .. import defaults
from ..errors import InputError
from .clustering import NOISE
from .embedding import tsne_sample

MAX_PVAL = 0.05  # Benjamini-Hochberg adjusted
DE_COLUMNS = ["cluster", "rank", "gene", "wilcoxon_score", "pval_adj", "mean_in_cluster",
              "mean_elsewhere"]


def expression_sample(model, adata: ad.AnnData, clusters: Sequence, *, layer: str | None = None,
                      max_cells: int = defaults.DE_MAX_CELLS,
                      seed: int | None = 0) -> ad.AnnData:
    """The model's scaled input of every gene with ``obs["cluster"]``, for all cells or, above
    ``max_cells``, a seeded random sample of them (read from disk when ``adata`` is backed)."""
    clusters = np.asarray(clusters)
    cells = tsne_sample(adata.n_obs, max_cells, seed)
    data = adata if cells is None else adata[cells]
    if adata.isbacked:
        data = data.to_memory()
    x = model.preprocess(data, layer=layer)
    kept = clusters if cells is None else clusters[cells]
    obs = pd.DataFrame({"cluster": pd.Categorical(kept.astype(str))},
                       index=np.asarray(data.obs_names))
    return ad.AnnData(np.asarray(x, dtype=np.float32), obs=obs,
                      var=pd.DataFrame(index=list(model.genes_)))


def rank_genes(expression: ad.AnnData) -> pd.DataFrame:
    """Every gene ranked for every cluster of ``expression.obs["cluster"]`` against the other
    cells (scanpy's Wilcoxon test); DBSCAN noise and clusters of one cell are not tested.

    Sets ``expression.uns["rank_genes_groups"]`` (for scanpy's plots) and returns a long table
    with :data:`DE_COLUMNS` (rank 1 = most up in the cluster).
    """
    import scanpy as sc

    sizes = expression.obs["cluster"].value_counts()
    groups = [g for g in expression.obs["cluster"].cat.categories
              if g != str(NOISE) and sizes[g] >= 2]
    if not groups or len(sizes) < 2:
        raise InputError("differential expression needs two or more clusters")
    sc.tl.rank_genes_groups(expression, "cluster", groups=groups, reference="rest",
                            method="wilcoxon", n_genes=expression.n_vars, use_raw=False)
    table = sc.get.rank_genes_groups_df(expression, group=groups)
    if "group" not in table:  # one group: scanpy leaves the column out
        table.insert(0, "group", groups[0])
    table["rank"] = table.groupby("group", observed=True).cumcount() + 1
    x = np.asarray(expression.X)
    columns = pd.Index(expression.var_names)
    inside, elsewhere = [], []
    for group, rows in table.groupby("group", observed=True, sort=False):
        member = (expression.obs["cluster"] == group).to_numpy()
        genes = columns.get_indexer(rows["names"])
        inside.append(pd.Series(x[member][:, genes].mean(axis=0), index=rows.index))
        elsewhere.append(pd.Series(x[~member][:, genes].mean(axis=0), index=rows.index))
    table["mean_in_cluster"] = pd.concat(inside)
    table["mean_elsewhere"] = pd.concat(elsewhere)
    cluster = table["group"].astype(str)
    if cluster.str.fullmatch(r"-?\d+").all():  # the pipeline's integer cluster ids
        cluster = cluster.astype(int)
    return pd.DataFrame({"cluster": cluster, "rank": table["rank"],
                         "gene": table["names"].astype(str), "wilcoxon_score": table["scores"],
                         "pval_adj": table["pvals_adj"],
                         "mean_in_cluster": table["mean_in_cluster"],
                         "mean_elsewhere": table["mean_elsewhere"]})[DE_COLUMNS]


def top_de_genes(ranking: pd.DataFrame, n_genes: int = defaults.N_DE_GENES,
                 max_pval: float = MAX_PVAL) -> pd.DataFrame:
    """Each cluster's ``n_genes`` best-ranked genes that are up in it (positive score) with an
    adjusted p-value below ``max_pval``."""
    up = ranking[(ranking["rank"] <= n_genes) & (ranking["wilcoxon_score"] > 0)
                 & (ranking["pval_adj"] < max_pval)]
    return up.reset_index(drop=True)


def compare_gene_lists(weight_genes: pd.DataFrame, de: pd.DataFrame,
                       ranking: pd.DataFrame) -> pd.DataFrame:
    """Per cluster: the decoder-weight genes (``weight_genes``, from
    :func:`~diffvae.analysis.cluster_genes`), the top DE genes (``de``, from
    :func:`top_de_genes`), the genes on both lists, and the median DE rank of the decoder-weight
    genes in that cluster (``ranking``: out of every gene; small = they also distinguish it)."""
    rank = ranking.set_index(["cluster", "gene"])["rank"].to_dict()
    rows = []
    for cluster, group in weight_genes.groupby("cluster", sort=True):
        weighted = group["gene"].tolist()
        top = de.loc[de["cluster"] == cluster, "gene"].tolist()
        shared = [g for g in weighted if g in top]
        ranks = np.array([rank.get((cluster, g), np.nan) for g in weighted], dtype=float)
        rows.append({"cluster": cluster, "decoder_weight_genes": len(weighted),
                     "de_genes": len(top), "shared": len(shared),
                     "shared_genes": " ".join(shared),
                     "median_de_rank_of_weight_genes": (float(np.nanmedian(ranks))
                                                        if np.isfinite(ranks).any() else np.nan)})
    return pd.DataFrame(rows)
