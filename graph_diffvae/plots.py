"""Figures of Graph-DiffVAE's links (paper Fig. 4b-e)."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .evaluation import progenitor_crossings

COEXPRESSION_LIMIT = 5000  # the co-expression figure is an N x N image


def _legend_scatter(ax, embedding, labels):
    names = sorted(set(labels.tolist()))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    for i, name in enumerate(names):
        inside = labels == name
        ax.scatter(*embedding[inside].T, s=3, color=cmap(i % cmap.N), label=name, rasterized=True)
    ax.legend(markerscale=3, fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))


def links_on_tsne(embedding: np.ndarray, labels: Sequence, predicted: sp.spmatrix,
                  progenitors: Sequence[str], max_links: int = 300, *,
                  cells: np.ndarray | None = None):
    """Fig. 4b: t-SNE of the node features with predicted progenitor-to-mature links drawn;
    None when no such link is there to draw.

    ``cells``: the cells the rows of ``embedding`` are (a sample, see
    :func:`diffvae.analysis.tsne_sample`); then only links between two of them are drawn.
    """
    labels = np.asarray(labels).astype(str)
    row = np.arange(len(labels))  # each cell's row in the embedding
    if cells is not None:
        row[cells] = np.arange(len(cells))
    cross = progenitor_crossings(predicted, labels, progenitors, cells)[:max_links]
    if not len(cross):
        return None
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    _legend_scatter(ax, embedding, labels if cells is None else labels[cells])
    for i, j in cross:
        ax.plot(*embedding[row[[i, j]]].T, color="black", lw=0.4, alpha=0.5)
    ax.set(xticks=[], yticks=[], xlabel="t-SNE 1", ylabel="t-SNE 2",
           title=f"predicted links between progenitors and other cells ({len(cross)} shown)")
    fig.tight_layout()
    return fig


def _spy(ax, adjacency: sp.spmatrix, order: np.ndarray, title: str):
    reordered = sp.csr_matrix(adjacency)[order][:, order].tocoo()
    ax.scatter(reordered.col, reordered.row, s=0.5, color="white", marker="s", rasterized=True)
    ax.set_facecolor("black")
    ax.set(xlim=(0, adjacency.shape[0]), ylim=(adjacency.shape[0], 0), title=title, xticks=[], yticks=[])


def _type_ticks(ax, labels_sorted: np.ndarray):
    names, starts = np.unique(labels_sorted, return_index=True)
    ax.set_yticks(starts + np.diff(np.append(starts, len(labels_sorted))) / 2, names, fontsize=6)


def adjacency_panels(input_graph: sp.spmatrix, predicted: sp.spmatrix, labels: Sequence,
                     order: np.ndarray):
    """Fig. 4c-d: input and predicted adjacency (white: an edge), cells sorted by type."""
    labels = np.asarray(labels).astype(str)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    _spy(axes[0], input_graph, order, "input links")
    _spy(axes[1], predicted, order, "predicted links")
    for ax in axes:
        _type_ticks(ax, labels[order])
    fig.tight_layout()
    return fig


def attention_mass(mass: pd.DataFrame, labels: Sequence):
    """Progenitors' attention towards the differentiated types (Fig. 4's question, weighted by
    graph attention): each progenitor cell as a row of the heat map (grouped by its own type and
    sorted by the type it attends to most), and the mean per progenitor type."""
    labels = np.asarray(labels).astype(str)
    own = pd.Series(labels[mass.index.to_numpy()], index=mass.index, name="progenitor type")
    order = sorted(mass.index, key=lambda i: (own[i], mass.loc[i].to_numpy().argmax(), -mass.loc[i].max()))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5),
                                      gridspec_kw={"width_ratios": [1.2, 1]})
    image = left.imshow(mass.loc[order].to_numpy(), aspect="auto", cmap="magma", vmin=0,
                        interpolation="nearest")
    left.set_xticks(range(mass.shape[1]), mass.columns, rotation=45, ha="right", fontsize=8)
    left.set(yticks=[], ylabel=f"progenitor cells ({len(mass)})",
             title="attention each progenitor gives to each type")
    fig.colorbar(image, ax=left, label="attention mass")
    means = mass.groupby(own).mean()
    means.T.plot.bar(ax=right, rot=45)
    right.set(ylabel="mean attention mass", xlabel="", title="mean by progenitor type")
    right.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return fig


def coexpression(x: np.ndarray, labels: Sequence, order: np.ndarray):
    """Fig. 4e: ``|Pearson correlation|`` between all cells, sorted by type."""
    labels = np.asarray(labels).astype(str)
    corr = np.abs(np.corrcoef(x[order]))
    fig, ax = plt.subplots(figsize=(6, 5.2))
    image = ax.imshow(corr, cmap="magma", vmin=0, vmax=1, interpolation="nearest", rasterized=True)
    _type_ticks(ax, labels[order])
    ax.set(xticks=[], title="co-expression |Pearson| between cells")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig


def training_curves(history: pd.DataFrame):
    """The training loss and each of its terms per epoch, and the held-out validation links'
    AUC and AP (0.5: chance) after every epoch."""
    from matplotlib.ticker import MaxNLocator

    terms = sorted((c for c in history.columns if not c.startswith("val_")),
                   key=lambda c: c != "loss")  # the total first, then its terms
    links = [c for c in ("val_auc", "val_ap") if c in history]
    n_panels = len(terms) + bool(links)
    fig, axes = plt.subplots(1, n_panels, figsize=(3.6 * n_panels, 3.2), squeeze=False)
    epochs = np.arange(1, len(history) + 1)
    for ax, term in zip(axes[0], terms):
        ax.plot(epochs, history[term])
        ax.set(title="training loss (total)" if term == "loss" else f"loss term: {term}",
               xlabel="epoch")
    if links:
        ax = axes[0][-1]
        for column in links:
            ax.plot(epochs, history[column], label=column[len("val_"):].upper())
        # the held-out split has as many non-edges as edges: chance is 0.5 for both
        ax.axhline(0.5, color="grey", linestyle=":", label="chance")
        ax.set(title="held-out validation links", xlabel="epoch", ylim=(0.4, 1.0))
        ax.legend()
    for ax in axes[0]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig
