"""Shared fixtures. The real data lies in ../shared/data beside the checkout (see README)."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

DATA_DIR = Path(os.environ["DIFFVAE_DATA_DIR"])  # set by the conftest.py at the top


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder with the mirrored real datasets; the tests need it."""
    if not (DATA_DIR / "paul15_tradeseq").is_dir():
        pytest.fail(f"real data not found in {DATA_DIR}; set DIFFVAE_DATA_DIR")
    return DATA_DIR


@pytest.fixture(scope="session")
def paul15(data_dir):
    """The real Paul et al. 2015 myeloid data (2660 cells x 240 genes, raw counts)."""
    from diffvae import datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return datasets.paul15_tradeseq(data_dir=data_dir, download=False)


@pytest.fixture(scope="session")
def paul15_model(paul15, tmp_path_factory):
    """DiffVAE trained with the paper's defaults on the real paul15 data, saved as a bundle."""
    from diffvae import DiffVAE

    model = DiffVAE(latent_dim=50).fit(paul15, epochs=100, seed=0, verbose=0)
    path = tmp_path_factory.mktemp("models") / "paul15"
    model.save(path)
    return model, path


@pytest.fixture
def counts_adata():
    """SYNTHETIC small count matrix (120 cells x 40 genes) for fast unit tests."""
    from diffvae import datasets

    return datasets.synthetic(n_cells=120, n_genes=40, n_branches=2, seed=3)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
