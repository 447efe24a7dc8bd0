"""Shared fixtures. The real data lies in ../shared/data beside the checkout (see README); the
``data_dir`` fixture is in the top-level conftest.py."""
from __future__ import annotations

import fcntl
import os
import warnings

import numpy as np
import pytest


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
    from pathlib import Path

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
def paul15_model(paul15, data_dir, tmp_path_factory, request):
    """DiffVAE trained with the paper's defaults on the real paul15 data, saved as a bundle:
    trained once, by the first worker process that needs it, and loaded by the others and by
    later runs of the same source, data and libraries (pytest's cache folder, as CI's fast and
    slow runs; without the cache plugin, the workers' shared temporary folder)."""
    from diffvae import DiffVAE

    cache = getattr(request.config, "cache", None)
    if cache is not None:
        shared = cache.mkdir("paul15_model") / _training_key(data_dir)
        shared.mkdir(exist_ok=True)
    else:
        shared = tmp_path_factory.getbasetemp()
        if os.environ.get("PYTEST_XDIST_WORKER"):  # the workers share the parent folder
            shared = shared.parent
    path = shared / "paul15_model"
    with open(shared / "paul15_model.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the others wait here while the first one trains
        if not (path / "config.json").exists():
            DiffVAE(latent_dim=50).fit(paul15, epochs=100, seed=0, verbose=0).save(path)
    return DiffVAE.load(path), path


@pytest.fixture(scope="session")
def paul15_file(paul15, tmp_path_factory):
    """The real paul15 data written as .h5ad, for reading from disk."""
    path = tmp_path_factory.mktemp("backed") / "paul15.h5ad"
    paul15.write_h5ad(path)
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
