"""Latent perturbations that move cells towards a target type (paper Fig. 2 and 3).

For a target type, its top dimensions (those whose extreme cells lie most in the target, see
:mod:`diffvae.analysis.latent_dims`) are shifted by lambda times each dimension's standard
deviation, the result is decoded and classified. Controls the paper lacks: lambda = 0 (decoding
alone) and the same shift along random dimensions. For converted cells, the smallest number of
top-changed genes that flips the classifier's call is found (the paper's "genes to change").
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import defaults
from .analysis import dimension_scores, top_dimensions
from .errors import InputError


def target_dimensions(latent: np.ndarray, groups: Sequence, targets: Sequence[str],
                      n_dims: int = defaults.PERTURBATION_N_DIMS) -> dict[str, list[int]]:
    """Each target's ``n_dims`` latent dimensions with the highest paper score (% of D_k in it)."""
    if not 1 <= n_dims <= np.shape(latent)[1]:
        raise InputError(f"n_dims must be between 1 and the latent size {np.shape(latent)[1]}, "
                         f"got {n_dims}")
    groups = np.asarray(groups).astype(str)
    missing = [t for t in targets if t not in set(groups.tolist())]
    if missing:
        raise InputError(f"no cells of target type(s) {missing}; types: {sorted(set(groups))}")
    top = top_dimensions(dimension_scores(latent, groups), n_dims)
    return {t: top[t] for t in targets}


def shift(latent: np.ndarray, dims: Sequence[int], lam: float, sd: np.ndarray) -> np.ndarray:
    """Copy of ``latent`` with each dimension in ``dims`` moved by ``lam * sd[dim]``."""
    shifted = np.array(latent, dtype=np.float32, copy=True)
    dims = list(dims)
    shifted[:, dims] += lam * np.asarray(sd, dtype=np.float32)[dims]
    return shifted


def conversions(decode: Callable[[np.ndarray], np.ndarray], predict: Callable[[np.ndarray], np.ndarray],
                source_latent: np.ndarray, target_dims: Mapping[str, Sequence[int]],
                lambdas: Sequence[float], sd: np.ndarray, *, n_random: int = 5,
                seed: int | None = 0) -> tuple[pd.DataFrame, dict]:
    """Count source cells classified as each target after shifting its dimensions by each lambda.

    ``decode`` maps latent codes to expression, ``predict`` expression to type names. The
    random-dimension control draws ``n_random`` sets of as many dimensions (seeded) per target and
    lambda and reports their mean count. Returns the table (target, lambda, dimensions
    "targeted"/"random", n_source, n_converted, fraction) and, per (target, lambda), the boolean
    mask of converted source cells along the targeted dimensions.
    """
    if not np.isfinite(np.asarray(lambdas, dtype=float)).all():
        raise InputError(f"lambdas must be finite numbers, got {list(lambdas)}")
    rng = np.random.default_rng(seed)
    n_source, n_latent = source_latent.shape
    rows, converted = [], {}
    for target, dims in target_dims.items():
        for lam in lambdas:
            hit = predict(decode(shift(source_latent, dims, lam, sd))) == target
            converted[(target, float(lam))] = hit
            rows.append((target, float(lam), "targeted", n_source, float(hit.sum())))
            random_counts = [
                np.sum(predict(decode(shift(source_latent, rng.choice(n_latent, len(dims), replace=False),
                                            lam, sd))) == target)
                for _ in range(n_random)]
            if n_random:
                rows.append((target, float(lam), "random", n_source, float(np.mean(random_counts))))
    table = pd.DataFrame(rows, columns=["target", "lambda", "dimensions", "n_source", "n_converted"])
    table["fraction"] = table["n_converted"] / table["n_source"]
    return table, converted


def genes_to_flip(x: np.ndarray, y: np.ndarray, predict: Callable[[np.ndarray], np.ndarray],
                  target: str) -> np.ndarray:
    """For each cell, the fewest genes, taken in order of ``|y - x|``, whose values set to y make
    ``predict`` call the cell ``target`` (all others kept as in x); -1 if even y is not.

    ``x`` (cells x genes) is the cells' expression, ``y`` their perturbed reconstruction. Every
    prefix length 0..genes is classified in one batch per cell.
    """
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y, dtype=np.float32)
    if x.shape != y.shape:
        raise InputError(f"x {x.shape} and y {y.shape} differ in shape")
    n_genes = x.shape[1]
    # row k of `prefix` is True for the k genes that change most
    prefix = np.arange(n_genes)[None, :] < np.arange(n_genes + 1)[:, None]
    needed = np.full(len(x), -1)
    for i in range(len(x)):
        order = np.argsort(-np.abs(y[i] - x[i]), kind="stable")
        candidates = np.empty((n_genes + 1, n_genes), dtype=np.float32)
        candidates[:, order] = np.where(prefix, y[i, order], x[i, order])
        hits = np.flatnonzero(predict(candidates) == target)
        if hits.size:
            needed[i] = hits[0]
    return needed


def flip_gene_summary(x: np.ndarray, y: np.ndarray, needed: np.ndarray,
                      genes: Sequence[str]) -> pd.DataFrame:
    """How often each gene is among the genes a cell needed changed, and in which direction.

    Columns: gene, n_up, n_down (cells where y > x / y < x for that gene), n_cells, mean_change
    (mean y - x over those cells); sorted by n_cells, most frequent first.
    """
    x, y = np.asarray(x), np.asarray(y)
    change = y - x
    rows: dict[int, list[float]] = {}
    for i, k in enumerate(needed):
        if k <= 0:
            continue
        for g in np.argsort(-np.abs(change[i]), kind="stable")[:k]:
            rows.setdefault(int(g), []).append(float(change[i, g]))
    table = pd.DataFrame(
        [(genes[g], sum(c > 0 for c in v), sum(c < 0 for c in v), len(v), float(np.mean(v)))
         for g, v in rows.items()],
        columns=["gene", "n_up", "n_down", "n_cells", "mean_change"])
    return table.sort_values(["n_cells", "gene"], ascending=[False, True], ignore_index=True)


def flip_analysis(decode: Callable[[np.ndarray], np.ndarray],
                  predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, latent: np.ndarray,
                  dims: Mapping[str, Sequence[int]], lam: float, sd: np.ndarray,
                  genes: Sequence[str], cells: Sequence[str] | None = None,
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper's "genes to change" for every target at one ``lam`` (Fig. 3's gene counts).

    ``x`` and ``latent`` are the source cells' expression and latent codes. For each target, the
    codes are shifted along ``dims[target]`` and decoded; the cells the classifier calls the
    target after the shift but not from their own expression (those need no gene changed) go
    through :func:`genes_to_flip`. Returns ``(needed, flip_genes)``: needed has one row per such
    cell (target, cell, n_genes, fraction_of_genes); flip_genes is :func:`flip_gene_summary` per
    target, with a target column.
    """
    x, latent = np.asarray(x), np.asarray(latent)
    cells = np.asarray(cells if cells is not None else np.arange(len(x)).astype(str))
    own_call = predict(x)
    needed_rows, summaries = [], []
    for target, target_dims in dims.items():
        y = decode(shift(latent, target_dims, lam, sd))
        hit = (predict(y) == target) & (own_call != target)
        needed = genes_to_flip(x[hit], y[hit], predict, target)
        needed_rows += [(target, c, int(k), k / x.shape[1]) for c, k in zip(cells[hit], needed)]
        summaries.append(flip_gene_summary(x[hit], y[hit], needed, genes).assign(target=target))
    needed_table = pd.DataFrame(needed_rows, columns=["target", "cell", "n_genes",
                                                      "fraction_of_genes"]).astype(
        {"n_genes": int, "fraction_of_genes": float})
    found = [summary for summary in summaries if len(summary)]  # pandas warns on empty frames
    flip_genes = (pd.concat(found, ignore_index=True) if found
                  else summaries[0] if summaries else pd.DataFrame())
    return needed_table, flip_genes


def towards(latent: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """+1 or -1 per dimension: the direction from the source cells' mean to the target cells'
    (boolean masks). PCA's axes have no sign, so its baseline shifts each one this way."""
    direction = np.sign(latent[target].mean(axis=0) - latent[source].mean(axis=0))
    return np.where(direction == 0, 1.0, direction)


def converted_by_decoding(table: pd.DataFrame,
                          share: float = defaults.PERTURBATION_DECODING_FLAG) -> pd.Series:
    """The targets (index) and their share of source cells converted at lambda = 0, decoding
    alone without a shift (:func:`conversions`' table), where that share is above ``share``:
    for them the conversions say more about the decoder and the classifier than about the
    perturbation."""
    at_zero = table[(table["lambda"] == 0) & (table["dimensions"] == "targeted")]
    shares = (at_zero["n_converted"] / at_zero["n_source"]).set_axis(at_zero["target"])
    return shares[shares > share].rename("share converted at lambda 0")
