"""Shared fixtures. The real data lies in ../shared/data beside the checkout (see README); the
``data_dir`` fixture is in the top-level conftest.py."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import computed_once


@pytest.fixture(scope="session")
def paul15(data_dir):
    """The real Paul et al. 2015 myeloid data (2660 cells x 240 genes, raw counts)."""
    from diffvae import datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return datasets.paul15_tradeseq(data_dir=data_dir, download=False)


def _training_key(data_dir) -> str:
    """A digest of everything a trained model depends on: the package's source, the data and
    the versions of the numerical libraries."""
    import hashlib
    from importlib.metadata import version

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    files = sorted([*root.glob("diffvae/**/*.py"), *root.glob("graph_diffvae/**/*.py"),
                    *(data_dir / "paul15_tradeseq").glob("*")])
    for path in files:
        digest.update(path.name.encode() + path.read_bytes())
    for package in ("tensorflow", "keras", "numpy", "scipy", "scikit-learn"):
        digest.update(version(package).encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def run_tmp(tmp_path_factory) -> Path:
    """A folder shared by every worker process of this run (pytest-xdist's workers each have
    their own temporary folder inside it), for results that one of them computes for all."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def paul15_model(paul15, data_dir, run_tmp, request):
    """DiffVAE trained with the paper's defaults on the real paul15 data, saved as a bundle:
    trained once, by the first worker process that needs it, and loaded by the others and by
    later runs of the same source, data and libraries (pytest's cache folder, as CI's fast and
    slow runs; without the cache plugin, the run's shared temporary folder)."""
    from diffvae import DiffVAE

    cache = getattr(request.config, "cache", None)
    shared = (cache.mkdir("paul15_model") / _training_key(data_dir) if cache is not None
              else run_tmp / "paul15_model")
    with computed_once(shared):
        path = shared / "paul15_model"
        if not (path / "config.json").exists():
            DiffVAE(latent_dim=50).fit(paul15, epochs=100, seed=0, verbose=0).save(path)
    return DiffVAE.load(path), path


@pytest.fixture(scope="session")
def paul15_file(paul15, tmp_path_factory):
    """The real paul15 data written as .h5ad, for reading from disk."""
    path = tmp_path_factory.mktemp("backed") / "paul15.h5ad"
    paul15.write_h5ad(path)
    return path


@pytest.fixture(scope="session")
def paul15_sample_file(paul15, tmp_path_factory):
    """A seeded sample of 1,000 of the real paul15 cells as .h5ad (labels in obs["celltype"]),
    for checks of plumbing and repeatability rather than of results on the whole data."""
    sample = np.sort(np.random.default_rng(0).choice(paul15.n_obs, 1000, replace=False))
    path = tmp_path_factory.mktemp("sample") / "paul15_sample.h5ad"
    paul15[sample].write_h5ad(path)
    return path


@pytest.fixture
def counts_adata():
    """SYNTHETIC small count matrix (120 cells x 40 genes) for fast unit tests."""
    from diffvae import datasets

    return datasets.synthetic(n_cells=120, n_genes=40, n_branches=2, seed=3)


@pytest.fixture
def counts_file(tmp_path, counts_adata):
    """The SYNTHETIC counts_adata (120 cells x 40 genes) written as .h5ad, sparse."""
    path = tmp_path / "counts.h5ad"
    counts_adata.write_h5ad(path)
    return path


@pytest.fixture
def counts_csv(tmp_path, counts_adata):
    """The SYNTHETIC counts_adata as a CSV file with cell and gene names."""
    import pandas as pd

    path = tmp_path / "counts.csv"
    pd.DataFrame(counts_adata.X.toarray(), index=counts_adata.obs_names,
                 columns=counts_adata.var_names).to_csv(path)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
