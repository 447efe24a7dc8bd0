"""The paper's input transformation as a fitted, saveable object.

Raw counts (detected, or said with ``normalize=True``) get library-size normalisation and
``log1p``; optionally the ``n_top_genes`` most variable genes are kept (scanpy's "seurat" flavour);
then every gene is Min-Max scaled to [0, 1] with the minimum and maximum seen at fit time, which the
model keeps, so that new data is scaled exactly like the training data.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import InputError, NotFittedError, warn

#: cells per block when statistics are gathered block by block
CHUNK_SIZE = 8192


def check_expression(adata: ad.AnnData, source: str = "data", *, has_raw: bool | None = None) -> None:
    """Refuse matrices the models cannot use, naming the first offending cell and gene.
    ``has_raw``: whether the user's AnnData has ``.raw`` (default: ``adata``'s), for the hint."""
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(f"{source}: empty matrix (shape {adata.n_obs} x {adata.n_vars})")
    names = adata.var_names
    if not names.is_unique:
        dup = names[names.duplicated()].unique()[:5].tolist()
        raise InputError(f"{source}: duplicate gene names, for example {dup}")
    values = adata.X.data if sp.issparse(adata.X) else np.asarray(adata.X)
    if not np.issubdtype(values.dtype, np.number):
        raise InputError(f"{source}: matrix has non-numeric dtype {values.dtype}")
    finite = np.isfinite(values)
    if not finite.all():
        cell, gene = _locate(adata, ~finite)
        bad = values[~finite].flat[0]
        raise InputError(f"{source}: value {bad} (not finite) at cell {cell!r}, gene {gene!r}")
    negative = values < 0
    if negative.any():
        cell, gene = _locate(adata, negative)
        if has_raw is None:
            has_raw = getattr(adata, "raw", None) is not None
        hint = ("; the counts or log-normalised values are in adata.raw: pass "
                "adata.raw.to_adata()" if has_raw else "")
        raise InputError(
            f"{source}: negative value {values[negative].flat[0]:.4g} at cell {cell!r}, gene "
            f"{gene!r}; expected raw counts or log-normalised expression (not z-scores, such "
            f"as scanpy's sc.pp.scale output){hint}"
        )


def _locate(adata: ad.AnnData, mask: np.ndarray) -> tuple[str, str]:
    """Cell and gene names of the first True entry of ``mask`` (dense or sparse .data layout)."""
    if sp.issparse(adata.X):
        coo = adata.X.tocoo()
        k = int(np.flatnonzero(mask)[0])
        return adata.obs_names[coo.row[k]], adata.var_names[coo.col[k]]
    row, col = np.argwhere(mask.reshape(adata.shape))[0]
    return adata.obs_names[row], adata.var_names[col]


def looks_like_counts(matrix) -> bool:
    """True when every value is a non-negative integer and some exceed 1 (so not binary)."""
    values = matrix.data if sp.issparse(matrix) else np.asarray(matrix)
    return bool(values.size and values.max() > 1 and np.all(values == np.round(values)))


class Preprocessor:
    """Fitted transformation from expression to the models' [0, 1] input.

    Parameters
    ----------
    normalize
        ``True``: the data are raw counts; normalise each cell to ``target_sum`` and take
        ``log1p``. ``False``: the data are already log-normalised. ``None`` (default): decide from
        the data (counts are non-negative integers).
    target_sum
        Library size after normalisation; ``None`` uses the median library size of the training
        cells (scanpy's default) and remembers it.
    n_top_genes
        Keep only this many highly variable genes (scanpy's "seurat" flavour); ``None`` keeps all.
    """

    def __init__(
        self,
        normalize: bool | None = None,
        target_sum: float | None = None,
        n_top_genes: int | None = None,
    ) -> None:
        self.normalize = normalize
        self.target_sum = target_sum
        self.n_top_genes = n_top_genes

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, adata: ad.AnnData, *, chunk_size: int = CHUNK_SIZE) -> "Preprocessor":
        """Learn normalisation, gene selection and per-gene minimum and maximum from ``adata``.

        Every statistic comes from passes over blocks of ``chunk_size`` cells, so an AnnData
        opened with ``backed="r"`` is never loaded whole: memory grows with the number of cells
        only by one library size per cell (for the median).
        """
        # pass 1: checks, the kind of data (counts are whole numbers, some above 1), library sizes
        totals, whole, above_one = [], True, False
        has_raw = getattr(adata, "raw", None) is not None
        for block in row_blocks(adata, chunk_size):
            check_expression(block, has_raw=has_raw)
            values = block.X.data if sp.issparse(block.X) else np.asarray(block.X)
            whole = whole and bool(np.all(values == np.round(values)))
            above_one = above_one or bool(values.size and values.max() > 1)
            totals.append(np.asarray(block.X.sum(axis=1), dtype=float).ravel())
        self.normalize_ = (whole and above_one) if self.normalize is None else bool(self.normalize)
        self.target_sum_ = (float(self.target_sum or _median_positive(np.concatenate(totals)))
                            if self.normalize_ else None)
        # pass 2: per-gene range of the log-normalised values, and the moments of their expm1
        # for gene selection
        moments = GeneMoments(adata.n_vars)
        for block in row_blocks(adata, chunk_size):
            moments.update(_dense(self._log_normalise(block.X)))
        genes = np.asarray(adata.var_names.astype(str))
        keep = np.ones(len(genes), dtype=bool)
        if self.n_top_genes is not None and self.n_top_genes < len(genes):
            mean, var = moments.expm1_mean_var()
            keep = top_dispersions(mean, var, self.n_top_genes)
        self.input_genes_, self.genes_ = genes.tolist(), genes[keep].tolist()
        self.min_, self.max_ = moments.min[keep], moments.max[keep]
        return self

    def transform(self, adata: ad.AnnData, *, source: str = "data") -> np.ndarray:
        """Return the scaled float32 matrix (cells x ``genes_``), genes re-ordered to the fit's.

        Values outside the training range are clipped to [0, 1], the support of the Bernoulli
        decoder.
        """
        self._check_fitted()
        check_expression(adata, source)
        matrix = align_genes(adata, self.input_genes_, source)
        if self.normalize is None and self._other_kind(matrix):
            fitted, given = ("raw counts", "log-normalised values") if self.normalize_ else (
                "log-normalised values", "raw counts")
            warn(f"{source}: the model was fitted on {fitted} but these look like "
                 f"{given}; they are treated as {fitted} (pass the same kind of data, e.g. "
                 "adata.layers['counts'] or adata.raw.to_adata())", UserWarning)
        return self.scale_rows(matrix)

    def scale_rows(self, matrix) -> np.ndarray:
        """The scaled float32 rows of a matrix whose columns are ``input_genes_``, the fit's
        genes before selection: each cell is normalised by its library size over all of them,
        as at fit time, before the selected ``genes_`` are kept."""
        log_x = self._log_normalise(matrix)
        if len(self.genes_) != len(self.input_genes_):
            log_x = log_x[:, pd.Index(self.input_genes_).get_indexer(self.genes_)]
        return self._scale(_dense(log_x))

    def fit_transform(self, adata: ad.AnnData) -> np.ndarray:
        """Fit on ``adata`` and return its scaled matrix."""
        return self.fit(adata).transform(adata)

    def inverse_transform(self, scaled: np.ndarray) -> np.ndarray:
        """Map [0, 1] model outputs back to log-normalised expression units."""
        self._check_fitted()
        return np.asarray(scaled) * self._range() + self.min_

    def _other_kind(self, matrix) -> bool:
        """Whether data look unlike the fit's (detected) kind: counts are whole numbers, so a
        fraction means log-normalised data, and whole numbers above 1 mean counts."""
        if self.normalize_:
            values = matrix.data if sp.issparse(matrix) else np.asarray(matrix)
            return not np.all(values == np.round(values))
        return looks_like_counts(matrix)

    # -- saving -----------------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return (JSON-able settings, arrays) that :meth:`from_state` turns back into it."""
        self._check_fitted()
        config = {
            "normalize": self.normalize, "target_sum": self.target_sum,
            "n_top_genes": self.n_top_genes, "normalize_": self.normalize_,
            "target_sum_": self.target_sum_, "genes_": self.genes_,
            "input_genes_": self.input_genes_,
        }
        return config, {"min_": self.min_, "max_": self.max_}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> "Preprocessor":
        """Rebuild a fitted preprocessor saved with :meth:`get_state`."""
        pre = cls(config["normalize"], config["target_sum"], config["n_top_genes"])
        pre.normalize_, pre.target_sum_ = config["normalize_"], config["target_sum_"]
        pre.genes_ = list(config["genes_"])
        # bundles saved by 0.1 did not keep the genes before selection (and normalised new data
        # over the selected genes only)
        pre.input_genes_ = list(config.get("input_genes_", pre.genes_))
        pre.min_, pre.max_ = np.asarray(arrays["min_"]), np.asarray(arrays["max_"])
        return pre

    # -- helpers ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "genes_"):
            raise NotFittedError("this Preprocessor is not fitted yet; call fit() first")

    def _range(self) -> np.ndarray:
        span = self.max_ - self.min_
        # A constant gene has range 0: dividing by 1 maps it to 0 instead of NaN.
        return np.where(span > 0, span, 1.0).astype(np.float32)

    def _scale(self, dense: np.ndarray) -> np.ndarray:
        return np.clip((dense - self.min_) / self._range(), 0.0, 1.0).astype(np.float32)

    def _log_normalise(self, matrix):
        return log_normalize(matrix, self.target_sum_) if self.normalize_ else matrix


def log_normalize(counts, target_sum: float | None = None):
    """``log1p`` of counts scaled to ``target_sum`` per cell (``None``: the median library size).

    Cells without counts stay at 0. Sparse input stays sparse; the result is float32.
    """
    totals = np.asarray(counts.sum(axis=1), dtype=float).ravel()
    if target_sum is None:
        target_sum = median_library_size(counts)
    factors = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
    if sp.issparse(counts):
        scaled = sp.diags(factors.astype(np.float32)) @ sp.csr_matrix(counts, dtype=np.float32)
        return scaled.log1p()
    return np.log1p(np.asarray(counts, dtype=np.float32) * factors[:, None].astype(np.float32))


def median_library_size(counts) -> float:
    """Median total count of the cells that have any (scanpy's default target sum); 1 if none."""
    return _median_positive(np.asarray(counts.sum(axis=1), dtype=float).ravel())


def _median_positive(totals: np.ndarray) -> float:
    return float(np.median(totals[totals > 0])) if (totals > 0).any() else 1.0


def row_blocks(adata: ad.AnnData, chunk_size: int = CHUNK_SIZE):
    """``adata`` as in-memory AnnData blocks of up to ``chunk_size`` consecutive cells (X only),
    read one at a time from disk when ``adata`` is backed."""
    var = pd.DataFrame(index=adata.var_names)
    for start in range(0, adata.n_obs, chunk_size):
        stop = min(start + chunk_size, adata.n_obs)
        yield ad.AnnData(adata.X[start:stop], obs=pd.DataFrame(index=adata.obs_names[start:stop]),
                         var=var)


class GeneMoments:
    """Per-gene minimum, maximum, and sums of expm1(x) and its square, over blocks of cells."""

    def __init__(self, n_genes: int) -> None:
        self.n = 0
        self.min = np.full(n_genes, np.inf, dtype=np.float32)
        self.max = np.full(n_genes, -np.inf, dtype=np.float32)
        self.sum = np.zeros(n_genes)
        self.sum_squares = np.zeros(n_genes)

    def update(self, block: np.ndarray) -> None:
        if not len(block):
            return
        self.n += len(block)
        self.min = np.minimum(self.min, block.min(axis=0))
        self.max = np.maximum(self.max, block.max(axis=0))
        counts = np.expm1(block.astype(np.float64))
        self.sum += counts.sum(axis=0)
        self.sum_squares += np.square(counts).sum(axis=0)

    def expm1_mean_var(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance (ddof 1, as scanpy) of expm1 of the values, per gene."""
        mean = self.sum / self.n
        var = (self.sum_squares - self.n * mean ** 2) / max(self.n - 1, 1)
        return mean, np.maximum(var, 0.0)


def align_genes(adata: ad.AnnData, genes: Sequence[str], source: str = "data"):
    """Return ``adata``'s matrix with columns in the order of ``genes``.

    Extra genes are dropped; missing genes are refused with an error that names some of them.
    """
    names = adata.var_names.astype(str)
    if len(names) == len(genes) and np.array_equal(np.asarray(names), np.asarray(genes)):
        return adata.X
    missing = [g for g in genes if g not in set(names)]
    if missing:
        raise InputError(
            f"{source}: {len(missing)} of the model's {len(genes)} genes are missing, for example "
            f"{missing[:5]} (a model with gene selection normalises each cell over all the genes "
            "it was fitted on, so new data need those too)"
        )
    index = names.get_indexer(list(genes))
    return adata.X[:, index]


def _dense(matrix) -> np.ndarray:
    return (matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)).astype(np.float32)


def highly_variable(log_x, genes, n_top_genes: int) -> np.ndarray:
    """Mask of the ``n_top_genes`` genes with the highest normalised dispersion (Seurat's rule,
    as scanpy's ``highly_variable_genes(flavor="seurat")``) in log-normalised ``log_x``."""
    moments = GeneMoments(len(genes))
    for start in range(0, log_x.shape[0], CHUNK_SIZE):
        moments.update(_dense(log_x[start:start + CHUNK_SIZE]))
    return top_dispersions(*moments.expm1_mean_var(), n_top_genes)


def top_dispersions(mean: np.ndarray, var: np.ndarray, n_top_genes: int,
                    n_bins: int = 20) -> np.ndarray:
    """Mask of the ``n_top_genes`` genes of highest normalised dispersion from the per-gene mean
    and variance of expm1(log-normalised values): log dispersion, standardised within 20 bins of
    log1p(mean), as Seurat and scanpy's "seurat" flavour (a bin holding one gene gives it 1).
    Ranked here: scanpy's own cut-off keeps ties, so it can return more than n genes."""
    mean = np.where(mean == 0, 1e-12, mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        dispersion = var / mean
        dispersion[dispersion == 0] = np.nan
        frame = pd.DataFrame({"dispersion": np.log(dispersion),
                              "bin": pd.cut(np.log1p(mean), bins=n_bins)})
    stats = frame.groupby("bin", observed=True)["dispersion"].agg(avg="mean", dev="std")
    single = stats["dev"].isnull()
    stats.loc[single, "dev"], stats.loc[single, "avg"] = stats.loc[single, "avg"], 0.0
    per_gene = stats.loc[frame["bin"]]
    normalised = (frame["dispersion"].to_numpy() - per_gene["avg"].to_numpy()) / per_gene["dev"].to_numpy()
    keep = np.zeros(len(mean), dtype=bool)
    keep[np.argsort(-np.nan_to_num(normalised, nan=-np.inf), kind="stable")[:n_top_genes]] = True
    return keep
