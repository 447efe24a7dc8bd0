"""Readers that turn the expression formats users have into AnnData (cells x genes).

Supported: ``.h5ad``; CSV/TSV with or without a header row and cell-id column (including the
original code's ``GE_mvg.csv``: cells x genes, no header, genes from a separate list);
``.npz`` (a scipy sparse matrix from ``scipy.sparse.save_npz`` or a numpy archive with ``X``);
``.npy``; and in memory AnnData, pandas DataFrames, numpy arrays and scipy sparse matrices.
"""
from __future__ import annotations

import csv
import gzip
import os
import re
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import InputError, warn

PathLike = str | os.PathLike
_TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": None, ".tab": "\t"}


def read(
    path: PathLike,
    *,
    genes: PathLike | Sequence[str] | None = None,
    sep: str | None = None,
) -> ad.AnnData:
    """Read an expression matrix (cells x genes) from a file.

    Parameters
    ----------
    path
        ``.h5ad``, ``.csv``/``.tsv``/``.txt`` (optionally gzipped), ``.npz`` or ``.npy``.
    genes
        Gene names for files without them (a list, or a file with one name per line, or a CSV
        whose first column holds them). Required for a headerless table or a bare matrix if you
        want real names; otherwise genes are called ``gene_0``, ``gene_1``, ...
    sep
        Field separator for text tables; guessed from the suffix (or sniffed) when omitted.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    suffixes = [s.lower() for s in path.suffixes]
    last = suffixes[-2] if suffixes and suffixes[-1] == ".gz" and len(suffixes) > 1 else (
        suffixes[-1] if suffixes else "")
    if last == ".h5ad":
        try:
            adata = ad.read_h5ad(path)
        except Exception as exc:  # anndata raises many types for a corrupt file
            raise InputError(f"{path}: not a readable .h5ad file ({exc})") from exc
        if genes is not None:
            adata.var_names = _gene_names(genes, adata.n_vars, path)
        return adata
    if last not in (*_TABLE_SUFFIXES, ".npz", ".npy"):
        raise InputError(
            f"{path}: unknown file type {last or '(no suffix)'}; "
            "use .h5ad, .csv, .tsv, .txt, .npz or .npy"
        )
    try:
        if last in _TABLE_SUFFIXES:
            adata = _read_table(path, sep if sep is not None else _TABLE_SUFFIXES[last])
        else:
            matrix = _read_npz(path) if last == ".npz" else _as_2d(np.load(path, allow_pickle=False), path)
            adata = ad.AnnData(matrix, var=_default_var(matrix.shape[1]))
    except InputError:
        raise
    except (ValueError, EOFError, OSError, UnicodeDecodeError, zlib.error, zipfile.BadZipFile,
            pd.errors.ParserError) as exc:  # truncated, compressed wrongly, pickled objects...
        raise InputError(f"{path}: cannot be read as a {last} matrix ({type(exc).__name__}: "
                         f"{str(exc)[:150]})") from None
    if genes is not None:
        adata.var_names = _gene_names(genes, adata.n_vars, path)
    return adata


def open_h5ad(data) -> ad.AnnData | None:
    """``data`` as a backed AnnData if it is a path to an .h5ad or already backed, else None."""
    if isinstance(data, ad.AnnData):
        return data if data.isbacked else None
    if not isinstance(data, (str, Path)):
        return None
    path = Path(data)
    if path.suffix != ".h5ad":
        raise InputError(f"{path}: only .h5ad files are read from disk; load other files with "
                         "diffvae.io.read")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        backed = ad.read_h5ad(path, backed="r")
    except Exception as exc:  # h5py and anndata raise many kinds
        raise InputError(f"{path}: not a readable .h5ad file ({exc})") from exc
    try:
        has_x = backed.X is not None
    except KeyError:  # h5py: no such dataset
        has_x = False
    if not has_x:
        raise InputError(f"{path}: no X matrix; only X is read from disk (write the matrix to "
                         "use as X, or load the file into memory and pick a layer)")
    return backed


def no_layer_on_disk(layer: str | None) -> None:
    """Refuse ``layer=`` for data read from disk (only X is streamed)."""
    if layer is not None:
        raise InputError("layer= is not read from an .h5ad on disk: write the layer as X of its "
                         "own file, or load the data into memory")


def as_anndata(data, *, layer: str | None = None) -> ad.AnnData:
    """Wrap in-memory data as AnnData without copying the matrix where possible.

    ``data`` may be AnnData (``layer`` picks ``adata.layers[layer]`` instead of ``X``), a pandas
    DataFrame with genes as columns, a numpy array or a scipy sparse matrix (cells x genes).
    """
    if isinstance(data, ad.AnnData):
        if layer is None:
            if data.X is None:
                raise InputError("the AnnData has no X matrix" + (
                    f"; use one of its layers ({', '.join(data.layers)}) with layer= (--layer)"
                    if len(data.layers) else ""))
            return data
        if layer not in data.layers:
            raise InputError(f"AnnData has no layer {layer!r}; layers: {list(data.layers)}")
        return ad.AnnData(data.layers[layer], obs=data.obs[[]], var=data.var[[]])
    if isinstance(data, pd.DataFrame):
        values = data.to_numpy()
        if not np.issubdtype(values.dtype, np.number):
            bad = [c for c in data.columns if not pd.api.types.is_numeric_dtype(data[c])]
            raise InputError(f"DataFrame column(s) {bad[:5]} are not numeric")
        return ad.AnnData(
            values.astype(np.float32),
            obs=pd.DataFrame(index=data.index.astype(str)),
            var=pd.DataFrame(index=data.columns.astype(str)),
        )
    if sp.issparse(data):
        return ad.AnnData(sp.csr_matrix(data, dtype=np.float32), var=_default_var(data.shape[1]))
    if isinstance(data, np.ndarray) or isinstance(data, list):
        matrix = _as_2d(np.asarray(data), "array")
        return ad.AnnData(matrix, var=_default_var(matrix.shape[1]))
    raise InputError(
        f"cannot use data of type {type(data).__name__}; pass AnnData, a pandas DataFrame, "
        "a numpy array or a scipy sparse matrix"
    )


def read_gene_list(path: PathLike) -> list[str]:
    """Read gene names: one per line, or the first column of a CSV with a header row."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such gene list file")
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if lines and ("," in lines[0] or "\t" in lines[0]):
        table = pd.read_csv(path, sep=None, engine="python", dtype=str)
        return table.iloc[:, 0].tolist()
    return lines


def _default_var(n_genes: int) -> pd.DataFrame:
    return pd.DataFrame(index=[f"gene_{i}" for i in range(n_genes)])


def _gene_names(genes, n_vars: int, source) -> list[str]:
    names = read_gene_list(genes) if isinstance(genes, (str, os.PathLike)) else list(genes)
    if len(names) != n_vars:
        raise InputError(
            f"{source}: the matrix has {n_vars} genes (columns) but the gene list has "
            f"{len(names)} names"
        )
    return [str(n) for n in names]


def _as_2d(matrix: np.ndarray, source) -> np.ndarray:
    if matrix.ndim != 2:
        raise InputError(f"{source}: expected a 2-D cells x genes matrix, got shape {matrix.shape}")
    if not np.issubdtype(matrix.dtype, np.number):
        raise InputError(f"{source}: matrix has non-numeric dtype {matrix.dtype}")
    return matrix.astype(np.float32, copy=False)


def _read_npz(path: Path):
    try:
        return sp.load_npz(path).tocsr().astype(np.float32)
    except (ValueError, KeyError):
        pass
    with np.load(path, allow_pickle=False) as archive:
        if "X" in archive:
            return _as_2d(archive["X"], path)
        keys = list(archive.keys())
    raise InputError(f"{path}: .npz holds neither a scipy sparse matrix nor an array 'X' (keys: {keys})")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_table(path: Path, sep: str | None) -> ad.AnnData:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        head = [handle.readline() for _ in range(2)]
    if not head[0].strip():
        raise InputError(f"{path}: the file is empty")
    if sep is None:
        try:
            sep = csv.Sniffer().sniff(head[0], delimiters=",\t; ").delimiter
        except csv.Error:
            sep = ","
    first = next(csv.reader([head[0]], delimiter=sep))
    second = next(csv.reader([head[1]], delimiter=sep)) if head[1].strip() else first
    # A header row has non-numeric names after the (possible) cell-id column; a cell-id column
    # holds non-numeric text in the first data row.
    has_index = not _is_number(second[0])
    has_header = any(not _is_number(x) for x in first[1 if has_index else 0:]) or (
        len(first) == len(second) - 1)
    table = pd.read_csv(
        path, sep=sep, header=0 if has_header else None, index_col=0 if has_index else None,
        low_memory=False,
    )
    if table.shape[0] == 0 or table.shape[1] == 0:
        raise InputError(f"{path}: no data rows or columns")
    numeric = table.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() & table.notna()
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise InputError(
            f"{path}: non-numeric value {table.iat[row, col]!r} at row {row + 1 + has_header}, "
            f"column {col + 1 + has_index} ({table.columns[col]})"
        )
    obs = pd.DataFrame(index=table.index.astype(str))
    if has_header:
        # pandas renames repeated column names ("a", "a.1"); keep the file's own names so that
        # duplicate genes are refused instead of silently renamed.
        names = first[1:] if has_index and len(first) == len(second) else first
        columns = names if len(names) == table.shape[1] else table.columns
        var = pd.DataFrame(index=pd.Index(columns).astype(str))
    else:
        var = _default_var(table.shape[1])
    _warn_if_transposed(path, obs.index, var.index, table.shape)
    return ad.AnnData(numeric.to_numpy(dtype=np.float32), obs=obs, var=var)


# gene symbols (Gata1, CD34, HLA-DRA, MT-CO1) or Ensembl ids; cell ids such as "cell_0" or
# barcodes ("AAACCTGAGCATCATC-1") do not match
_GENE_LIKE = re.compile(r"^(ENS[A-Z]*G\d{6,}(\.\d+)?|(?![ACGT]{8})[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*)$")


def _warn_if_transposed(path: Path, row_names: pd.Index, column_names: pd.Index,
                        shape: tuple[int, int]) -> None:
    """Warn when a table looks like genes x cells: more rows than columns (genomes have more
    genes than most files have cells), row names that look like genes and column names that do
    not. Cells must be the rows."""
    n_rows, n_cols = shape
    if n_rows <= n_cols:
        return
    gene_like = [name for name in row_names if _GENE_LIKE.match(name)]
    genes_as_columns = sum(bool(_GENE_LIKE.match(name)) for name in column_names)
    if len(gene_like) >= 0.8 * n_rows and genes_as_columns < 0.5 * n_cols:
        warn(f"{path}: read as {n_rows} cells x {n_cols} genes, but the cell (row) names "
             f"look like genes ({', '.join(gene_like[:3])}, ...): is the file genes x "
             "cells? Cells must be the rows (transpose it)", UserWarning)
