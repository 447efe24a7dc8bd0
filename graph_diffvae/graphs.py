"""Cell graphs, scipy sparse from end to end (no N x N dense array is ever built).

- :func:`pearson_graph`: the paper's input graph, each cell linked to its ``k`` most
  Pearson-correlated cells (default 1), undirected; correlations are computed in row blocks.
- :func:`knn_graph`: k-nearest neighbours on any representation (PCA, an ``obsm`` entry).

Both search exactly up to :data:`EXACT_NEIGHBOURS_MAX_CELLS` cells (the cost grows as N^2) and
approximately above it, with pynndescent's nearest-neighbour descent (about N log N; scanpy's
neighbour search): the most correlated cell is the nearest one in Euclidean distance between
standardised rows, since ``|z_i - z_j|^2 = 2 - 2 r_ij``.

- :func:`exact_top_products` and :func:`approximate_top_products`: each cell's partners with the
  largest inner products (Graph-DiffVAE's predicted links).
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

#: above this many cells, neighbours are searched approximately (pynndescent)
EXACT_NEIGHBOURS_MAX_CELLS = 50_000
#: principal components (at most) that the "knn" input graph is built on, as scanpy's default
N_COMPONENTS = 50
NEIGHBOUR_METHODS = ("auto", "exact", "approximate")
#: neighbours per cell in pynndescent's search graph: the top-1 partner on paul15 is exact for
#: 99.3 % of cells with 30 (94.0 % with 15, scanpy's number), and within 1e-4 in correlation
SEARCH_NEIGHBOURS = 30


def standardise_rows(x: np.ndarray, block_size: int = 65_536) -> np.ndarray:
    """Rows centred and scaled to unit norm, so that row dot products are Pearson correlations
    (a constant row becomes 0: correlation 0 with every cell); float64 one block at a time."""
    x = np.asarray(x)
    out = np.empty(x.shape, dtype=np.float32)
    for start in range(0, len(x), block_size):
        z = x[start:start + block_size].astype(np.float64)
        z -= z.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        out[start:start + block_size] = np.divide(z, norms, out=np.zeros_like(z), where=norms > 0)
    return out


def check_search(k: int | None, n_cells: int, method: str) -> None:
    """A clear error for a neighbour count outside 1 .. n_cells - 1 (``k=None``: none asked)
    or a ``method`` not in :data:`NEIGHBOUR_METHODS`."""
    if k is not None and not 1 <= k < n_cells:
        raise InputError(f"k must be between 1 and the number of cells - 1 ({n_cells - 1}), got {k}")
    if method not in NEIGHBOUR_METHODS:
        raise InputError(f"method must be one of {NEIGHBOUR_METHODS}, got {method!r}")


def approximate_search(method: str, n_cells: int) -> bool:
    """Whether a neighbour search over ``n_cells`` is approximate under ``method``."""
    check_search(None, n_cells, method)
    return method == "approximate" or (method == "auto" and n_cells > EXACT_NEIGHBOURS_MAX_CELLS)


def approximate_neighbours(x: np.ndarray, k: int, *, seed: int | None = 0) -> np.ndarray:
    """Each row's ``k`` nearest other rows (Euclidean), cells x k indices, nearest first, by
    pynndescent's nearest-neighbour descent (approximate; its graph holds
    :data:`SEARCH_NEIGHBOURS` neighbours per cell, or k + 1 if more, for recall)."""
    from pynndescent import NNDescent

    index = NNDescent(np.asarray(x, dtype=np.float32), metric="euclidean",
                      n_neighbors=max(k + 1, SEARCH_NEIGHBOURS), random_state=seed, low_memory=True)
    return _others(index.neighbor_graph[0], k)


def approximate_top_products(z: np.ndarray, k: int, *, seed: int | None = 0) -> np.ndarray:
    """Each row's ``k`` other rows with the largest z_i . z_j (cells x k, largest first),
    approximately: the nearest Euclidean neighbours of [z_i, 0] among the points
    ``[z_j, sqrt(M^2 - |z_j|^2)]`` (M: the largest norm), whose squared distance is
    ``|z_i|^2 + M^2 - 2 z_i . z_j``, searched with pynndescent."""
    from pynndescent import NNDescent

    z = np.asarray(z, dtype=np.float32)
    norms = np.einsum("ij,ij->i", z, z)
    lift = np.sqrt(np.maximum(norms.max() - norms, 0.0))[:, None]
    n_neighbors = max(k + 1, SEARCH_NEIGHBOURS)
    index = NNDescent(np.hstack([z, lift]), metric="euclidean", n_neighbors=n_neighbors,
                      random_state=seed, low_memory=True)
    # epsilon 0.2 (pynndescent's default 0.1): 99.3 % exact top-1 on Gaussian features of
    # 3,000 cells (95.3 % with 0.1), 91 % of 100,000
    found, _ = index.query(np.hstack([z, np.zeros_like(lift)]), k=n_neighbors, epsilon=0.2)
    return _others(found, k)


def exact_top_products(z: np.ndarray, k: int, *,
                       block_size: int = 2048) -> tuple[np.ndarray, float]:
    """Each row's ``k`` other rows with the largest z_i . z_j (cells x k, largest first),
    exactly, and the share of all pairs it had to score.

    Candidates are scored in blocks in order of decreasing norm, and a block of rows stops as
    soon as none of the rest can beat its k-th best (``z_i . z_j <= |z_i| |z_j|``): the cost is the
    scanned share of N^2, small when norms vary (the best partners have large norms) and all
    of it when every norm is equal. ``block_size`` rows are scored against four times as
    many candidates at a time.
    """
    z = np.asarray(z, dtype=np.float32)
    n = len(z)
    norms = np.sqrt(np.einsum("ij,ij->i", z, z))
    order = np.argsort(-norms, kind="stable")
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    candidates, candidate_norms = z[order], norms[order]
    found = np.empty((n, k), dtype=np.int64)
    scanned = 0
    for start in range(0, n, block_size):
        query = np.arange(start, min(start + block_size, n))
        best = np.full((len(query), k), -np.inf, dtype=np.float32)
        best_at = np.zeros((len(query), k), dtype=np.int64)  # positions in the norm order
        for low in range(0, n, 4 * block_size):
            if np.all(norms[query] * candidate_norms[low] <= best.min(axis=1)):
                break
            scores = z[query] @ candidates[low:low + 4 * block_size].T
            own = (position[query] >= low) & (position[query] < low + scores.shape[1])
            scores[np.flatnonzero(own), position[query][own] - low] = -np.inf  # never itself
            scanned += scores.size
            # the block's best k, one argmax at a time (k is small; a partition of each row
            # costs 20 times an argmax), each taking the place of the row's worst kept one
            each = np.arange(len(query))
            for _ in range(k):
                top = scores.argmax(axis=1)
                value, worst = scores[each, top], best.argmin(axis=1)
                better = value > best[each, worst]
                if not better.any():
                    break
                best[each[better], worst[better]] = value[better]
                best_at[each[better], worst[better]] = low + top[better]
                scores[each, top] = -np.inf
        first = np.argsort(-best, axis=1, kind="stable")
        found[start:start + block_size] = order[np.take_along_axis(best_at, first, axis=1)]
    return found, scanned / max(n * n, 1)


def _others(found: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` entries of each row of ``found`` that are not the row's own cell (usually
    first, though an identical cell may come before it)."""
    others = found != np.arange(len(found))[:, None]
    first = np.argsort(~others, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(found, first, axis=1)


def block_rows(n: int, block_size: int | None) -> int:
    """Rows per block so that a block x n score matrix stays near 2^25 entries (128 MB)."""
    return block_size or max(1, (1 << 25) // max(n, 1))


def top_k_pairs(z: np.ndarray, k: int, *, absolute: bool = False, block_size: int | None = None):
    """For each row i, the k other rows j with the largest z_i . z_j (or ``|z_i . z_j|``), computed
    in row blocks; returns (rows, cols, scores)."""
    n = len(z)
    block_size = block_rows(n, block_size)
    rows, cols, vals = [], [], []
    for start in range(0, n, block_size):
        block = z[start:start + block_size] @ z.T
        if absolute:
            block = np.abs(block)
        idx = np.arange(start, min(start + block_size, n))
        block[idx - start, idx] = -np.inf  # never a cell with itself
        top = np.argpartition(-block, kth=k - 1, axis=1)[:, :k]
        rows.append(np.repeat(idx, k))
        cols.append(top.ravel())
        vals.append(np.take_along_axis(block, top, axis=1).ravel())
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


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

    Exact (``method="exact"``, or "auto" up to :data:`EXACT_NEIGHBOURS_MAX_CELLS` cells): the
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
    are exact (``method="exact"``, or "auto" up to :data:`EXACT_NEIGHBOURS_MAX_CELLS` cells:
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
        vals = np.abs(_row_products(z, rows, cols))
    else:
        rows, cols, vals = top_k_pairs(z, per_row, absolute=True, block_size=block_size)
    pairs = pd.DataFrame({"i": np.minimum(rows, cols), "j": np.maximum(rows, cols), "v": vals})
    pairs = pairs[pairs["i"] != pairs["j"]].drop_duplicates(["i", "j"])
    best = pairs.nlargest(n_edges, "v")
    return symmetric_binary(best["i"].to_numpy(), best["j"].to_numpy(), n)


def _row_products(z: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  block_size: int = 65_536) -> np.ndarray:
    """z_i . z_j for each pair (rows[p], cols[p]), a block of pairs at a time (the gathered
    rows of all pairs at once would be pairs x genes)."""
    return np.concatenate([np.einsum("ij,ij->i", z[rows[s:s + block_size]], z[cols[s:s + block_size]])
                           for s in range(0, len(rows), block_size)] or [np.zeros(0, np.float32)])


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
