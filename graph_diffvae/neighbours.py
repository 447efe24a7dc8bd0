"""Neighbour search: each cell's most similar cells, exactly in row blocks or approximately.

- Exact: blocks of row products (:func:`top_k_pairs`), cost N^2 x features, never N x N at once.
- Approximate, above :data:`EXACT_NEIGHBOURS_MAX_CELLS` cells: pynndescent's nearest-neighbour
  descent (about N log N; scanpy's neighbour search). The most correlated cell is the nearest
  one in Euclidean distance between standardised rows (:func:`standardise_rows`), since
  ``|z_i - z_j|^2 = 2 - 2 r_ij``.
- Largest inner products (Graph-DiffVAE's predicted links): :func:`exact_top_products`, which
  stops scanning once no candidate can do better, and :func:`approximate_top_products`.
"""
from __future__ import annotations

import numpy as np

from diffvae.errors import InputError

#: above this many cells, neighbours are searched approximately (pynndescent)
EXACT_NEIGHBOURS_MAX_CELLS = 50_000
NEIGHBOUR_METHODS = ("auto", "exact", "approximate")
#: neighbours per cell in pynndescent's search graph: twice scanpy's 15, for the recall of the
#: top-1 partner (measured on the benchmarks page)
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
    # epsilon 0.2, wider than pynndescent's default 0.1, for the recall of the top partner
    # (measured on the benchmarks page)
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


def row_products(z: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  block_size: int = 65_536) -> np.ndarray:
    """z_i . z_j for each pair (rows[p], cols[p]), a block of pairs at a time (the gathered
    rows of all pairs at once would be pairs x genes)."""
    return np.concatenate([np.einsum("ij,ij->i", z[rows[s:s + block_size]], z[cols[s:s + block_size]])
                           for s in range(0, len(rows), block_size)] or [np.zeros(0, np.float32)])
