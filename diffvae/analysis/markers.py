"""Mapping clusters to cell types from marker genes (the paper's last identification step).

Shipped marker sets: ``zebrafish_blood`` (the paper's), ``mouse_myeloid`` (well-known markers
present among paul15_tradeseq's 240 genes), ``human_blood`` (present in pbmc68k_reduced) and
``human_hspc`` (lineage markers of human bone-marrow progenitors, for the human_blood dataset).
Users pass their own as a dict (cell type -> genes) or a CSV with columns ``cell_type,gene``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

MARKER_SETS = ("zebrafish_blood", "mouse_myeloid", "human_blood", "human_hspc")
UNASSIGNED = "unassigned"
MIN_SCORE = 0.5
MIN_MARGIN = 0.1


def load_markers(source: str | os.PathLike | Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Marker genes by cell type, from a shipped set's name, a CSV file or a dict."""
    if isinstance(source, Mapping):
        return {str(k): [str(g) for g in v] for k, v in source.items()}
    if str(source) in MARKER_SETS:
        with resources.files("diffvae").joinpath(f"markers/{source}.csv").open() as handle:
            table = pd.read_csv(handle)
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"markers: {source} is neither a file nor one of {MARKER_SETS}")
        table = pd.read_csv(path)
        if not {"cell_type", "gene"} <= set(table.columns):
            raise InputError(f"{path}: a marker CSV needs columns cell_type and gene, has {list(table.columns)}")
    return {t: group["gene"].astype(str).tolist() for t, group in table.groupby("cell_type", sort=False)}


def score_clusters(expression: np.ndarray, genes: Sequence[str], clusters: Sequence,
                   markers: Mapping[str, Sequence[str]],
                   high_weight: Mapping | None = None) -> pd.DataFrame:
    """Score every (cluster, cell type) pair.

    ``expression`` is cells x genes in [0, 1] (the models' scaled input). Columns of the result:
    cluster, cell_type, markers_found (how many of the type's markers are among ``genes``),
    mean_expression (mean scaled expression of those markers in the cluster), score (the same
    with every marker's cluster means rescaled to [0, 1] across clusters, as a dot plot's
    ``standard_scale="var"``: 1 when each marker peaks in this cluster; so that a highly
    expressed marker does not outweigh a specific one), and weight_overlap (share of the found
    markers among the cluster's high-weight genes, when ``high_weight`` maps cluster -> genes).
    """
    expression = np.asarray(expression)
    clusters = np.asarray(clusters)
    ids = np.unique(clusters)
    means = np.stack([expression[clusters == c].mean(axis=0) for c in ids])
    span = np.ptp(means, axis=0)
    rescaled = np.divide(means - means.min(axis=0), span, out=np.zeros_like(means), where=span > 0)
    index = {g: i for i, g in enumerate(genes)}
    rows = []
    for cell_type, type_markers in markers.items():
        found = [g for g in type_markers if g in index]
        columns = [index[g] for g in found]
        for row, cluster in enumerate(ids):
            mean = float(means[row, columns].mean()) if found else np.nan
            score = float(rescaled[row, columns].mean()) if found else np.nan
            share = np.nan
            if found and high_weight is not None:
                share = len(set(high_weight.get(cluster, ())) & set(found)) / len(found)
            rows.append((cluster, cell_type, len(found), mean, score, share))
    return pd.DataFrame(rows, columns=["cluster", "cell_type", "markers_found", "mean_expression",
                                       "score", "weight_overlap"])


def map_clusters(scores: pd.DataFrame, *, min_score: float = MIN_SCORE,
                 min_margin: float = MIN_MARGIN) -> pd.DataFrame:
    """Assign each cluster the cell type with the highest score, or ``"unassigned"``.

    The rule: a cluster is named by its best-scoring type when that score is at least
    ``min_score`` (the type's markers are, on average, in the upper half of their range across
    clusters) and at least ``min_margin`` above the runner-up's (the call is clear); otherwise it
    is "unassigned". Returns one row per cluster with the call, the best type and its scores,
    the runner-up type and score, the margin between them and, for unassigned clusters, why.
    """
    columns = ["cluster", "cell_type", "best_type", "score", "mean_expression", "weight_overlap",
               "runner_up", "runner_up_score", "margin", "reason"]
    rows = []
    for cluster, group in scores.dropna(subset=["score"]).groupby("cluster", sort=True):
        ranked = group.sort_values("score", ascending=False, kind="stable")
        best = ranked.iloc[0]
        second = ranked.iloc[1] if len(ranked) > 1 else None
        margin = best["score"] - (0.0 if second is None else second["score"])
        reason = ""
        if best["score"] < min_score:
            reason = f"best score {best['score']:.2f} < {min_score}"
        elif margin < min_margin:
            reason = f"{best['cell_type']} only {margin:.2f} above {second['cell_type']}"
        rows.append({"cluster": cluster, "cell_type": UNASSIGNED if reason else best["cell_type"],
                     "best_type": best["cell_type"],
                     "score": best["score"], "mean_expression": best["mean_expression"],
                     "weight_overlap": best["weight_overlap"],
                     "runner_up": None if second is None else second["cell_type"],
                     "runner_up_score": np.nan if second is None else second["score"],
                     "margin": margin, "reason": reason})
    return pd.DataFrame(rows, columns=columns)


def purity(clusters, labels, names: Mapping) -> pd.DataFrame:
    """How pure each cluster is with respect to reference ``labels``: per cluster its cells,
    the type it is named (``names``: cluster -> type), the share of its cells whose label is
    that type (``purity``; NaN when the name is not among the labels, e.g. "unassigned"), and
    its most common label with that label's share."""
    table = pd.crosstab(pd.Series(np.asarray(clusters), name="cluster"),
                        pd.Series(np.asarray(labels).astype(str), name="label"))
    rows = []
    for cluster, counts in table.iterrows():
        name = str(names.get(cluster, UNASSIGNED))
        total = counts.sum()
        rows.append({"cluster": cluster, "cells": int(total), "cell_type": name,
                     "purity": counts[name] / total if name in counts.index else np.nan,
                     "majority_label": counts.idxmax(), "majority_share": counts.max() / total})
    return pd.DataFrame(rows)


def unnamed_types(labels, markers: Mapping[str, Sequence[str]], genes: Sequence[str]) -> list[str]:
    """Reference types the marker set cannot name: not among its types, or none of whose
    markers is among ``genes``."""
    present = set(genes)
    nameable = {t for t, gs in markers.items() if present & set(gs)}
    return sorted(set(np.asarray(labels).astype(str).tolist()) - nameable)
