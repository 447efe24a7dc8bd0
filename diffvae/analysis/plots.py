"""Figures of the identification pipeline (paper Fig. 1b-e), as matplotlib figures."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from .markers import UNASSIGNED


def _scatter_by(ax, embedding: np.ndarray, groups: Sequence, title: str, colours: Mapping) -> None:
    groups = np.asarray(groups).astype(str)
    for name in sorted(set(groups.tolist()), key=list(colours).index):
        inside = groups == name
        ax.scatter(embedding[inside, 0], embedding[inside, 1], s=4, color=colours[name],
                   label=f"{name} ({inside.sum()})", rasterized=True)
    ax.set(title=title, xlabel="t-SNE 1", ylabel="t-SNE 2", xticks=[], yticks=[])
    ax.legend(markerscale=3, fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))


def _palette(names: Sequence[str]) -> dict[str, tuple]:
    """One colour per name: tab20's ten strong colours first, then its ten light ones, then
    evenly spaced hues; an unnamed cluster ("unassigned") is grey."""
    names = [n for n in names if n != UNASSIGNED]
    if len(names) <= 20:
        tab20 = plt.get_cmap("tab20")
        order = [*range(0, 20, 2), *range(1, 20, 2)]
        colours = {name: tab20(order[i]) for i, name in enumerate(names)}
    else:
        colours = {name: plt.get_cmap("hsv")(i / len(names)) for i, name in enumerate(names)}
    return {**colours, UNASSIGNED: (0.7, 0.7, 0.7, 1.0)}


def _write_ids(ax, embedding: np.ndarray, clusters: np.ndarray) -> None:
    """Each cluster's id at the median of its cells, so the map reads like the tables."""
    for c in np.unique(clusters):
        x, y = np.median(embedding[clusters == c], axis=0)
        ax.text(x, y, str(c), fontsize=8, weight="bold", ha="center", va="center",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7})


def tsne_panels(embedding: np.ndarray, clusters: Sequence, labels: Sequence | None = None,
                cluster_names: Mapping | None = None):
    """t-SNE by cluster, by the type each cluster was named (with ``cluster_names``) and by the
    reference labels (if given).

    Every cluster has its own colour and its id written on the map. In the other two panels a
    colour is a cell type, the same in both, so a named cluster can be checked against the
    labels at a glance; a type only one of them has gets a colour the other does not use.
    """
    clusters = np.asarray(clusters)
    ids = np.unique(clusters).tolist()
    panels = [("clusters", [str(c) for c in clusters.tolist()], _palette([str(c) for c in ids]))]
    types = []
    if cluster_names:
        types += [str(cluster_names[c]) for c in ids]
    if labels is not None:
        types += np.asarray(labels).astype(str).tolist()
    type_colours = _palette(sorted(set(types)))
    if cluster_names:
        assigned = [str(cluster_names[c]) for c in clusters.tolist()]
        panels.append(("type assigned to each cluster (marker genes)", assigned, type_colours))
    if labels is not None:
        panels.append(("reference labels", labels, type_colours))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    for ax, (title, groups, colours) in zip(axes[0], panels):
        _scatter_by(ax, embedding, groups, title, colours)
    _write_ids(axes[0, 0], embedding, clusters)
    fig.tight_layout()
    return fig


def values_on_embedding(embedding: np.ndarray, values: Mapping[str, Sequence[float]], *,
                        ncols: int = 4, cmap: str = "viridis"):
    """One panel per named continuous value (a gene, a FACS channel, pseudotime) on the 2-D
    embedding, as ``sc.pl.embedding(color=[...])``; NaN (no measurement) is drawn grey."""
    names = list(values)
    ncols = max(1, min(ncols, len(names)))
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.2 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        colour = np.asarray(values[name], dtype=float)
        known = np.isfinite(colour)
        ax.scatter(*embedding[~known].T, s=3, color="lightgrey", rasterized=True)
        points = ax.scatter(*embedding[known].T, s=3, c=colour[known], cmap=cmap, rasterized=True)
        fig.colorbar(points, ax=ax, shrink=0.8)
        ax.set(title=name, xticks=[], yticks=[])
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def dimension_heatmap(scores: pd.DataFrame, top_dims: Mapping, *, relative: bool = False):
    """Clusters x latent dimensions: share of each dimension's extreme cells in each cluster;
    the cluster's top dimensions are outlined."""
    fig, ax = plt.subplots(figsize=(max(6, 0.16 * scores.shape[1] + 2), 0.45 * len(scores) + 1.6))
    image = ax.imshow(scores.to_numpy(), aspect="auto", cmap="viridis")
    for row, cluster in enumerate(scores.index):
        for dim in top_dims.get(cluster, []):
            col = scores.columns.get_loc(dim)
            ax.add_patch(plt.Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, color="red", lw=1))
    ax.set_yticks(range(len(scores)), [str(c) for c in scores.index])
    step = max(1, scores.shape[1] // 25)
    ax.set_xticks(range(0, scores.shape[1], step), [str(c) for c in scores.columns[::step]])
    ax.set(xlabel="latent dimension", ylabel="cluster",
           title="extreme cells of each dimension in each cluster (red: top dimensions)")
    fig.colorbar(image, ax=ax, label="enrichment over chance" if relative else "% of D_k in cluster")
    fig.tight_layout()
    return fig


def cluster_genes_plot(genes: pd.DataFrame, n_genes: int = 8):
    """Per cluster, its most often listed decoder-weight genes (bar = number of the cluster's
    top latent dimensions listing the gene); with a ``de_rank`` column, genes that are also
    among the cluster's top :data:`~diffvae.defaults.N_DE_GENES` differentially expressed
    genes are orange."""
    from .. import defaults

    clusters = list(dict.fromkeys(genes["cluster"]))
    cols = min(4, len(clusters))
    rows = int(np.ceil(len(clusters) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows + 0.6), squeeze=False)
    for ax, cluster in zip(axes.flat, clusters):
        top = genes[genes["cluster"] == cluster].head(n_genes)[::-1]
        shared = (top["de_rank"] <= defaults.N_DE_GENES if "de_rank" in top
                  else np.zeros(len(top), bool))
        ax.barh(top["gene"], top["n_dimensions"],
                color=np.where(shared, "tab:orange", "tab:blue"))
        ax.set(title=f"cluster {cluster}", xlabel="top dimensions listing it")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: whole numbers
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(clusters):]:
        ax.axis("off")
    title = "decoder-weight genes of each cluster's top latent dimensions (the paper's genes)"
    if "de_rank" in genes:
        title += (f"\norange: also among the cluster's top {defaults.N_DE_GENES} "
                  "differentially expressed genes")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _cluster_dotplot(expression: np.ndarray, genes: Sequence[str], clusters: Sequence,
                     var_names: Mapping[str, Sequence[str]], cluster_names: Mapping | None,
                     title: str):
    """scanpy's dot plot of ``var_names`` (group -> genes) per cluster ("id: name" rows): dot
    size the fraction of cells above the gene's minimum, colour the mean scaled expression
    rescaled to [0, 1] across clusters, with both legends."""
    import anndata as ad
    import scanpy as sc

    clusters = np.asarray(clusters)
    rows = [f"{c}: {cluster_names[c]}" if cluster_names else str(c) for c in clusters.tolist()]
    order = [f"{c}: {cluster_names[c]}" if cluster_names else str(c) for c in np.unique(clusters)]
    obs = pd.DataFrame({"cluster": pd.Categorical(rows, categories=order)},
                       index=[str(i) for i in range(len(rows))])
    data = ad.AnnData(np.asarray(expression, dtype=np.float32), obs=obs,
                      var=pd.DataFrame(index=list(genes)))
    n_genes = sum(map(len, var_names.values()))
    plot = sc.pl.dotplot(data, dict(var_names), groupby="cluster", standard_scale="var",
                         figsize=(0.4 * n_genes + 4, 0.35 * len(order) + 2.4),
                         colorbar_title="mean scaled expression\n(rescaled per gene)",
                         size_title="fraction of cells\nexpressing", show=False, return_fig=True)
    plot.make_figure()
    plot.fig.suptitle(title, y=1.02)  # above the gene groups' brackets
    return plot.fig


def marker_dotplot(expression: np.ndarray, genes: Sequence[str], clusters: Sequence,
                   markers: Mapping[str, Sequence[str]], cluster_names: Mapping | None = None):
    """scanpy's dot plot of the marker genes (grouped by cell type) per cluster; the colour is
    the quantity the cluster names come from."""
    present = set(genes)
    var_names = {t: [g for g in gs if g in present] for t, gs in markers.items()}
    var_names = {t: gs for t, gs in var_names.items() if gs}
    return _cluster_dotplot(expression, genes, clusters, var_names, cluster_names,
                            "marker genes of each cell type, per cluster")


def de_dotplot(expression, de_genes: pd.DataFrame, cluster_names: Mapping | None = None,
               n_genes: int = 3):
    """scanpy's dot plot of each cluster's top ``n_genes`` differentially expressed genes
    (``de_genes``, from :func:`~diffvae.analysis.differential.top_de_genes`) in every cluster;
    ``expression`` is the AnnData the test ran on (``obs["cluster"]``)."""
    clusters = expression.obs["cluster"].astype(str).to_numpy()
    ids = {str(c): c for c in de_genes["cluster"].unique()}
    kept = np.array([c in ids for c in clusters])  # DBSCAN noise and single cells untested
    labels = np.array([ids[c] for c in clusters[kept]], dtype=object)
    var_names, seen = {}, set()
    for cluster, group in de_genes.groupby("cluster", sort=True):
        picked = [g for g in group.sort_values("rank")["gene"] if g not in seen][:n_genes]
        seen.update(picked)
        if picked:
            var_names[str(cluster)] = picked
    return _cluster_dotplot(np.asarray(expression.X)[kept], list(expression.var_names), labels,
                            var_names, cluster_names,
                            f"top {n_genes} differentially expressed genes of each cluster "
                            "(Wilcoxon, cluster vs rest)")


def confusion_plot(table: pd.DataFrame, row_names: Mapping | None = None):
    """Clusters (rows) against reference labels (columns), coloured by share of the row."""
    share = table.div(table.sum(axis=1), axis=0)
    fig, ax = plt.subplots(figsize=(0.7 * table.shape[1] + 3, 0.45 * table.shape[0] + 2))
    ax.imshow(share.to_numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (i, j), count in np.ndenumerate(table.to_numpy()):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                color="white" if share.iat[i, j] > 0.6 else "black")
    rows = [f"{c}: {row_names[c]}" if row_names else str(c) for c in table.index]
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=45, ha="right", fontsize=8)
    ax.set(xlabel="reference label", ylabel="cluster", title="clusters against reference labels")
    fig.tight_layout()
    return fig


def conversion_tsne(embedding: np.ndarray, source: np.ndarray, converted: Mapping,
                    targets: Sequence[str], lambdas: Sequence[float],
                    states: Sequence | None = None):
    """Paper Fig. 3: t-SNE with, per target (rows) and lambda (columns), the source cells that
    the classifier calls the target after the shift in red, the other source cells dark grey
    and, with ``states`` (each cell's state), the row's target population in blue.

    Column titles name lambda, row labels the target and each panel's corner its count, so that
    no text runs into another at any number of panels."""
    import textwrap

    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(len(targets), len(lambdas), squeeze=False, layout="constrained",
                             figsize=(2.4 * len(lambdas) + 1.2, 2.3 * len(targets) + 1.0))
    source_xy = embedding[source]
    states = None if states is None else np.asarray(states).astype(str)
    for row, target in enumerate(targets):
        for col, lam in enumerate(lambdas):
            ax = axes[row, col]
            hit = converted[(target, float(lam))]
            ax.scatter(embedding[:, 0], embedding[:, 1], s=2, color="lightgrey", rasterized=True)
            if states is not None:
                inside = states == target
                ax.scatter(embedding[inside, 0], embedding[inside, 1], s=2, color="tab:blue",
                           alpha=0.5, rasterized=True)
            ax.scatter(source_xy[~hit, 0], source_xy[~hit, 1], s=3, color="dimgrey",
                       rasterized=True)
            ax.scatter(source_xy[hit, 0], source_xy[hit, 1], s=5, color="tab:red", rasterized=True)
            ax.set(xticks=[], yticks=[])
            ax.text(0.02, 0.98, f"{hit.sum()}/{len(hit)}", transform=ax.transAxes, fontsize=8,
                    va="top", bbox={"fc": "white", "ec": "none", "alpha": 0.7, "pad": 1})
            if row == 0:
                ax.set_title(f"lambda {lam:g}", fontsize=9)
            if col == 0:
                ax.set_ylabel(textwrap.fill(str(target), 18), fontsize=8)
    handles = [Line2D([], [], ls="", marker="o", color=c, label=name) for c, name in (
        ("tab:red", "source cells called the row's target"), ("dimgrey", "other source cells"),
        *([("tab:blue", "the row's target cells")] if states is not None else []),
        ("lightgrey", "all other cells"))]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8,
               frameon=False)
    fig.suptitle("source cells converted to each target (rows) by lambda (columns)", fontsize=10)
    return fig


def conversion_curves(table: pd.DataFrame):
    """Converted fraction against lambda per target: targeted (solid) and random (dashed)
    dimensions, and the PCA baseline (dotted) where the table has it."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    cmap = plt.get_cmap("tab10")
    for i, (target, group) in enumerate(table.groupby("target", sort=False)):
        for kind, style in (("targeted", "-"), ("random", "--"), ("PCA baseline", ":")):
            part = group[group["dimensions"] == kind]
            if len(part):
                ax.plot(part["lambda"], part["fraction"], style, marker="o", ms=3, color=cmap(i % 10),
                        label=f"{target} ({kind})")
    ax.set(xlabel="lambda (shift in standard deviations)", ylabel="fraction of source cells converted",
           ylim=(-0.02, 1.02), title="conversion: targeted (solid) vs random (dashed) dimensions;"
           "\nthe same shift on PCA of the same input (dotted)")
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.tight_layout()
    return fig


def flip_distribution(needed: pd.DataFrame, n_genes: int):
    """Number of genes each converted cell needed changed, per target (box and points)."""
    targets = list(dict.fromkeys(needed["target"]))
    fig, ax = plt.subplots(figsize=(1.4 * max(len(targets), 2) + 2, 4))
    data = [needed.loc[needed["target"] == t, "n_genes"].to_numpy() for t in targets]
    ax.boxplot(data, showfliers=False)
    rng = np.random.default_rng(0)
    for i, values in enumerate(data, start=1):
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(values)), values, s=6, alpha=0.6)
    ax.set_xticks(range(1, len(targets) + 1),
                  [f"{t}\n({len(d)} cells)" for t, d in zip(targets, data)], fontsize=8)
    ax.set(ylabel=f"genes changed to flip the class (of {n_genes})",
           title="genes needed to flip each converted cell")
    fig.tight_layout()
    return fig
