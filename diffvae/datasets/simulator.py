"""SYNTHETIC data: a seeded simulator of branching differentiation, in memory or written to an
.h5ad in chunks. For unit tests and scaling runs only."""
from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InputError
from .registry import tag_dataset


def synthetic(n_cells: int = 2000, n_genes: int = 500, n_branches: int = 3, *, seed: int = 0,
              progenitor_fraction: float = 0.2, dispersion: float = 5.0) -> ad.AnnData:
    """SYNTHETIC data: a simulated branching differentiation, for unit tests and scaling runs.

    Each cell picks a branch and a pseudotime t ~ U(0, 1). Cells with t below
    ``progenitor_fraction`` are labelled ``"Progenitor"``, the rest ``"Type A"``, ``"Type B"``, ...
    by branch. Every gene has a baseline log-mean; a block of genes per branch rises along that
    branch's pseudotime (log fold change up to 3) and a block of progenitor genes falls. Counts are
    negative binomial (``dispersion`` is its size parameter) around those means times a
    log-normal library size. Returns raw counts; ``obs`` holds celltype, branch and pseudotime.
    """
    if n_cells < 1 or n_genes < n_branches + 1:
        raise InputError(f"synthetic: need n_cells >= 1 and n_genes > n_branches ({n_branches})")
    rng = np.random.default_rng(seed)
    counts, obs = _simulate(n_cells, n_genes, n_branches, rng, rng, progenitor_fraction, dispersion)
    obs.index = [f"cell_{i}" for i in range(n_cells)]
    adata = ad.AnnData(counts, obs=obs,
                       var=pd.DataFrame(index=[f"gene_{i}" for i in range(n_genes)]))
    return tag_dataset(adata, "synthetic")


def write_synthetic(path: str | os.PathLike, n_cells: int, n_genes: int = 2000,
                    n_branches: int = 3, *, chunk_size: int = 10_000, seed: int = 0,
                    log_mean_offset: float = -3.0) -> Path:
    """Write SYNTHETIC counts of :func:`synthetic`'s model to an .h5ad (sparse X) in chunks of
    cells, for scaling runs: memory holds one chunk, whatever ``n_cells`` is. Every chunk shares
    the genes' parameters and draws its own cells; ``log_mean_offset`` lowers every gene's mean
    (the default leaves about 90 % zeros, as in droplet data)."""
    import h5py
    from anndata.io import sparse_dataset, write_elem

    from .._files import atomic_path

    if n_cells < 1 or n_genes < n_branches + 1:
        raise InputError(f"synthetic: need n_cells >= 1 and n_genes > n_branches ({n_branches})")
    obs = []
    with atomic_path(Path(path)) as tmp, h5py.File(tmp, "w") as file:
        for i, start in enumerate(range(0, n_cells, chunk_size)):
            counts, chunk_obs = _simulate(
                min(chunk_size, n_cells - start), n_genes, n_branches,
                np.random.default_rng([seed, i]), np.random.default_rng(seed), 0.2, 5.0,
                log_mean_offset)
            if i == 0:
                write_elem(file, "X", counts)
            else:
                sparse_dataset(file["X"]).append(counts)
            obs.append(chunk_obs)
        obs = pd.concat(obs, ignore_index=True)
        obs.index = [f"cell_{i}" for i in range(n_cells)]
        obs["celltype"] = pd.Categorical(obs["celltype"])
        write_elem(file, "obs", obs)
        write_elem(file, "var", pd.DataFrame(index=[f"gene_{i}" for i in range(n_genes)]))
    return Path(path)


def _simulate(n_cells: int, n_genes: int, n_branches: int, cells: np.random.Generator,
              genes: np.random.Generator, progenitor_fraction: float, dispersion: float,
              log_mean_offset: float = 0.0):
    """Counts (CSR) and obs of :func:`synthetic`'s model: ``cells`` draws what each cell is,
    ``genes`` the genes' parameters (the same generator for both in :func:`synthetic`)."""
    branch = cells.integers(n_branches, size=n_cells)
    t = cells.uniform(size=n_cells)
    progress = np.clip((t - progenitor_fraction) / (1 - progenitor_fraction), 0, None)
    blocks = np.array_split(genes.permutation(n_genes), n_branches + 1)
    log_mean = np.tile(genes.normal(log_mean_offset, 1.0, n_genes), (n_cells, 1))
    for b, block in enumerate(blocks[:n_branches]):
        fold = genes.uniform(1.0, 3.0, len(block))
        on = branch == b
        log_mean[np.ix_(on, block)] += progress[on, None] * fold
    progenitor_genes = blocks[-1]
    log_mean[:, progenitor_genes] += (1 - t)[:, None] * genes.uniform(1.0, 2.0, len(progenitor_genes))
    library = cells.lognormal(0.0, 0.3, n_cells)[:, None]
    mean = np.exp(log_mean) * library
    counts = cells.poisson(cells.gamma(dispersion, mean / dispersion)).astype(np.float32)
    names = [f"Type {chr(ord('A') + b)}" for b in range(n_branches)]
    labels = np.where(t < progenitor_fraction, "Progenitor", np.asarray(names)[branch])
    obs = pd.DataFrame({"celltype": pd.Categorical(labels), "branch": branch, "pseudotime": t})
    return sp.csr_matrix(counts), obs
