"""diffvae train."""
import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from diffvae import DiffVAE, LatentModel
from diffvae.cli import train
from diffvae.stopping import best_epoch

from tests.helpers import QUICK


def test_train_writes_bundle_latent_history_and_figure(tmp_path, counts_csv):
    out = tmp_path / "out"
    assert train.main(["--data", str(counts_csv), "--out", str(out), "--model-name", "m", *QUICK]) == 0
    latent = pd.read_csv(out / "latent.csv", index_col=0)
    assert latent.shape == (120, 3) and latent.index[0] == "cell_0" and latent.index.name == "cell"
    stored = ad.read_h5ad(out / "latent.h5ad")
    np.testing.assert_allclose(stored.obsm["X_diffvae"], latent.to_numpy(), rtol=1e-6)
    model = LatentModel.load(out / "m")
    np.testing.assert_allclose(model.transform(stored), latent.to_numpy(), rtol=1e-6)
    assert len(pd.read_csv(out / "history.csv")) == 2
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_train_pca_on_a_ge_mvg_style_file(tmp_path, rng):
    values = rng.gamma(1.0, 1.0, (40, 12))
    np.savetxt(tmp_path / "GE_mvg.csv", values, delimiter=",")
    (tmp_path / "genes.txt").write_text("\n".join(f"g{i}" for i in range(12)))
    out = tmp_path / "out"
    args = ["--data", str(tmp_path / "GE_mvg.csv"), "--genes", str(tmp_path / "genes.txt"),
            "--model", "pca", "--latent-dim", "5", "--out", str(out)]
    assert train.main(args) == 0
    assert LatentModel.load(out / "pca").genes_ == [f"g{i}" for i in range(12)]
    assert not (out / "history.csv").exists()


# -- the commands: options checked before reading data or training ----------------------------
@pytest.mark.parametrize("extra, message", [
    (["--learning-rate", "nan"], "--learning-rate must be positive and finite, got nan"),
    (["--learning-rate", "inf"], "--learning-rate must be positive and finite"),
    (["--epochs", "0"], "--epochs must be positive"),
    (["--epochs", "-5"], "--epochs must be positive"),
    (["--batch-size", "0"], "--batch-size must be positive"),
    (["--hidden-dims", "8", "0"], "--hidden-dims must be positive"),
    (["--n-top-genes", "0"], "--n-top-genes must be positive"),
    (["--validation-split", "1.5"], r"--validation-split must be in \[0, 1\)"),
    (["--validation-split", "nan"], r"--validation-split must be in \[0, 1\)"),
])
def test_train_refuses_bad_options_before_reading(tmp_path, capsys, extra, message):
    # the data file does not exist: a refused option must be found before it is read
    status = train.main(["--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o"),
                         *QUICK, *extra])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert re.search(message, err), err
    assert not (tmp_path / "o").exists()


def test_train_diverging_writes_no_bundle(tmp_path, capsys, counts_csv):
    out = tmp_path / "out"
    status = train.main(["--data", str(counts_csv), "--out", str(out), *QUICK,
                         "--learning-rate", "1e9", "--epochs", "5"])
    assert status == 2 and "diverged" in capsys.readouterr().err
    assert not (out / "diffvae").exists() and not (out / "latent.csv").exists()


def test_train_command_says_how_training_ended(tmp_path, counts_csv, capsys):
    args = ["--data", str(counts_csv), "--epochs", "4", "--latent-dim", "3", "--hidden-dims",
            "8", "4", "--batch-size", "32", "--quiet", "--out", str(tmp_path / "out")]
    assert train.main([*args, "--early-stopping"]) == 0
    printed = capsys.readouterr().out
    history = pd.read_csv(tmp_path / "out" / "history.csv")
    assert f"Early stopping: the validation loss was best at epoch {best_epoch(history)}" in printed
    assert train.main([*args, "--early-stopping", "2", "--validation-split", "0"]) == 2
    assert "--early-stopping watches the validation loss" in capsys.readouterr().err


def test_train_command_from_disk(tmp_path, counts_file, counts_adata):
    from diffvae.cli import train

    out = tmp_path / "out"
    args = ["--data", str(counts_file), "--backed", "--latent-dim", "4", "--hidden-dims", "16",
            "--epochs", "3", "--batch-size", "32", "--out", str(out), "--quiet"]
    assert train.main(args) == 0
    stored = ad.read_h5ad(out / "latent.h5ad")
    assert stored.n_vars == 0 and list(stored.obs_names) == list(counts_adata.obs_names)
    model = DiffVAE.load(out / "diffvae")
    np.testing.assert_allclose(stored.obsm["X_diffvae"], model.transform(counts_adata), rtol=1e-5, atol=1e-6)
    assert train.main(["--dataset", "synthetic", "--backed", "--out", str(out)]) == 2
