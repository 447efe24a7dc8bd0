"""Cell graphs, scipy sparse from end to end (no N x N dense array is ever built).

- :func:`pearson_graph`: the paper's input graph, each cell linked to its ``k`` most
  Pearson-correlated cells (default 1), undirected; correlations are computed in row blocks.
- :func:`knn_graph`: k-nearest neighbours on any representation (PCA, an ``obsm`` entry).
- :func:`coexpression_graph`: the cell pairs of highest ``|Pearson correlation|`` (Fig. 4e).

All search exactly up to :data:`~graph_diffvae.neighbours.EXACT_NEIGHBOURS_MAX_CELLS` cells (the
cost grows as N^2) and approximately above it (:mod:`graph_diffvae.neighbours`).

- :func:`read_graph`: a user's adjacency (``.npz``, ``.mtx`` or an edge-list CSV).
- :func:`normalize`: D^-1/2 (A + I) D^-1/2, the GCN propagation matrix (Spektral ``gcn_filter``).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from diffvae.errors import InputError, warn

from .neighbours import (approximate_neighbours, approximate_search, check_search, row_products,
                         standardise_rows, top_k_pairs)

#: principal components (at most) that the "knn" input graph is built on, as scanpy's default
N_COMPONENTS = 50


def symmetric_binary(rows, cols, n: int) -> sp.csr_matrix:
    """Undirected unweighted adjacency from (row, col) pairs, without self-loops."""
    a = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, n))
    a = a.maximum(a.T).tocsr()
    a.setdiag(0)
    a.eliminate_zeros()
    a.data[:] = 1.0
    return a


def pearson_graph(x: np.ndarray, k: int = 1, *, block_size: int | None = None,
                  method: str = "auto", seed: int | None = 0) -> sp.csr_matrix:
    """Each cell linked to its ``k`` most (positively) Pearson-correlated cells, undirected.

    Exact (``method="exact"``, or "auto" up to :data:`~graph_diffvae.neighbours.EXACT_NEIGHBOURS_MAX_CELLS` cells): the
    edges of scikit-learn's ``NearestNeighbors(metric="correlation")`` (tested), computed here
    as blocks of row dot products of standardised rows: the same top-k serves the
    inner-product and ``|r|`` graphs, and a cell with constant expression (undefined correlation,
    NaN distances in scikit-learn) counts as correlation 0 with every cell. Approximate
    ("approximate", or "auto" above that size): :func:`approximate_neighbours` of the
    standardised rows (``seed`` seeds it)."""
    x = np.asarray(x)
    check_search(k, len(x), method)
    z = standardise_rows(x)
    if approximate_search(method, len(x)):
        cols = approximate_neighbours(z, k, seed=seed).ravel()
        return symmetric_binary(np.repeat(np.arange(len(x)), k), cols, len(x))
    rows, cols, _ = top_k_pairs(z, k, block_size=block_size)
    return symmetric_binary(rows, cols, len(x))


def coexpression_graph(x: np.ndarray, n_edges: int, *, block_size: int | None = None,
                       method: str = "auto", seed: int | None = 0) -> sp.csr_matrix:
    """The ``n_edges`` cell pairs with the highest ``|Pearson correlation|`` (the paper's Fig. 4e
    co-expression matrix thresholded to a given number of edges), undirected.

    Candidates are each cell's top ceil(4 n_edges / n) partners; the global top pairs are chosen
    among them (exact unless one cell holds more of the top pairs than that). The candidates
    are exact (``method="exact"``, or "auto" up to :data:`~graph_diffvae.neighbours.EXACT_NEIGHBOURS_MAX_CELLS` cells:
    blocks of row products, cost N^2 x genes) or approximate (above: each cell's most
    positively correlated cells by :func:`approximate_neighbours`, about N log N, so the rare
    strongly anti-correlated pairs are left out).
    """
    x = np.asarray(x)
    n = len(x)
    per_row = int(min(n - 1, max(1, np.ceil(4 * n_edges / n))))
    z = standardise_rows(x)
    if approximate_search(method, n):
        rows = np.repeat(np.arange(n), per_row)
        cols = approximate_neighbours(z, per_row, seed=seed).ravel()
        vals = np.abs(row_products(z, rows, cols))
    else:
        rows, cols, vals = top_k_pairs(z, per_row, absolute=True, block_size=block_size)
    pairs = pd.DataFrame({"i": np.minimum(rows, cols), "j": np.maximum(rows, cols), "v": vals})
    pairs = pairs[pairs["i"] != pairs["j"]].drop_duplicates(["i", "j"])
    best = pairs.nlargest(n_edges, "v")
    return symmetric_binary(best["i"].to_numpy(), best["j"].to_numpy(), n)


def knn_graph(representation: np.ndarray, k: int = 15, *, method: str = "auto",
              seed: int | None = 0) -> sp.csr_matrix:
    """k-nearest-neighbour graph (Euclidean) on a representation, undirected: exact
    (scikit-learn) or approximate (:func:`approximate_neighbours`) as ``method`` says (see
    :func:`pearson_graph`)."""
    from sklearn.neighbors import NearestNeighbors

    representation = np.asarray(representation)
    n = len(representation)
    check_search(k, n, method)
    if approximate_search(method, n):
        cols = approximate_neighbours(representation, k, seed=seed)
    else:
        _, idx = NearestNeighbors(n_neighbors=k + 1).fit(representation).kneighbors(representation)
        cols = idx[:, 1:]
    return symmetric_binary(np.repeat(np.arange(n), k), cols.ravel(), n)


def read_graph(path: str | os.PathLike, n_cells: int,
               cell_names: Sequence[str] | None = None) -> sp.csr_matrix:
    """A user's adjacency: ``.npz`` (scipy sparse), ``.mtx`` (Matrix Market) or an edge-list
    ``.csv`` (columns source, target: cell indices or, with ``cell_names``, names)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such graph file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        a = sp.load_npz(path)
    elif suffix == ".mtx":
        import scipy.io

        a = sp.csr_matrix(scipy.io.mmread(path))
    elif suffix in (".csv", ".tsv"):
        edges = pd.read_csv(path, sep="," if suffix == ".csv" else "\t")
        if edges.shape[1] < 2:
            raise InputError(f"{path}: an edge list needs two columns (source, target)")
        ends = [edges.iloc[:, 0], edges.iloc[:, 1]]
        if cell_names is not None and not all(pd.api.types.is_integer_dtype(e) for e in ends):
            index = pd.Index([str(c) for c in cell_names])
            if not index.is_unique:
                repeated = index[index.duplicated()].unique()[:3].tolist()
                raise InputError(f"{path}: the edge list names cells, but cell names repeat in the "
                                 f"data (for example {repeated}); give cell indices instead")
            ends = [index.get_indexer(e.astype(str)) for e in ends]
            if any((e < 0).any() for e in ends):
                raise InputError(f"{path}: the edge list names cells that are not in the data")
        ends = [np.asarray(e) for e in ends]
        if any(not np.issubdtype(e.dtype, np.integer) for e in ends):
            raise InputError(f"{path}: edge ends must be cell indices (or names of cells)")
        if any(((e < 0) | (e >= n_cells)).any() for e in ends):
            raise InputError(f"{path}: edge ends must lie in 0..{n_cells - 1}")
        a = sp.csr_matrix((np.ones(len(edges), dtype=np.float32), (ends[0], ends[1])),
                          shape=(n_cells, n_cells))
    else:
        raise InputError(f"{path}: unknown graph format {suffix}; use .npz, .mtx or .csv")
    return check_graph(a, n_cells, str(path))


def check_graph(a, n_cells: int, source: str = "graph") -> sp.csr_matrix:
    """Refuse adjacencies of the wrong size or with negative / non-finite weights; return it
    undirected, unweighted and without self-loops (they are added at normalisation). Weights
    other than 1 (such as scanpy's ``obsp["connectivities"]``) are announced with a warning:
    Graph-DiffVAE models the binary adjacency, as the paper does."""
    a = sp.csr_matrix(a)
    if a.shape != (n_cells, n_cells):
        raise InputError(f"{source}: adjacency has shape {a.shape} but the data have {n_cells} cells")
    if not np.isfinite(a.data).all():
        raise InputError(f"{source}: adjacency holds NaN or infinite weights")
    if (a.data < 0).any():
        raise InputError(f"{source}: adjacency holds negative weights (min {a.data.min():g})")
    weights = a.data[a.data != 0]
    if len(weights) and not np.all(weights == 1):
        warn(f"{source}: the adjacency has weights from {weights.min():.3g} to "
             f"{weights.max():.3g}; Graph-DiffVAE uses its {len(weights)} non-zero entries as "
             "unweighted edges (the paper's binary adjacency)", UserWarning)
    rows, cols = a.nonzero()
    return symmetric_binary(rows, cols, n_cells)


def normalize(a: sp.spmatrix) -> sp.csr_matrix:
    """D^-1/2 (A + I) D^-1/2 with Spektral's ``gcn_filter`` (self-loops added here)."""
    from spektral.utils import gcn_filter

    return sp.csr_matrix(gcn_filter(sp.csr_matrix(a, dtype=np.float32), symmetric=True),
                         dtype=np.float32)
