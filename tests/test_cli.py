"""``diffvae train`` and ``diffvae tune``: outputs and clear errors."""
import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from diffvae import LatentModel
from diffvae.cli import train, tune

QUICK = ["--epochs", "2", "--latent-dim", "3", "--hidden-dims", "8", "4", "--batch-size", "32",
         "--quiet"]



def test_train_writes_bundle_latent_history_and_figure(tmp_path, counts_csv):
    out = tmp_path / "out"
    assert train.main(["--data", str(counts_csv), "--out", str(out), "--model-name", "m", *QUICK]) == 0
    latent = pd.read_csv(out / "latent.csv", index_col=0)
    assert latent.shape == (120, 3) and latent.index[0] == "cell_0"
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


def _write(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


@pytest.mark.parametrize("content, expected", [
    (None, "no such file"),
    ("1,2,3\n4,x,6\n7,8,9\n", "non-numeric value 'x' at row 2, column 2"),
    ("1,2,3\n4,nan,6\n7,8,9\n", "not finite"),
    ("1,2,3\n4,-5,6\n7,8,9\n", "negative value -5"),
    ("", "the file is empty"),
    ("1,2,3\n4,5,6\n", "too few to train"),
    ("a,b,a\n1,2,3\n4,5,6\n", "duplicate gene names"),
])
def test_bad_input_gives_one_clear_line(tmp_path, capsys, content, expected):
    path = str(tmp_path / "missing.csv") if content is None else _write(tmp_path, "in.csv", content)
    status = train.main(["--data", path, "--out", str(tmp_path / "out"), *QUICK])
    err = capsys.readouterr().err
    assert status == 2
    assert expected in err and err.startswith("diffvae train: error:") and err.count("\n") == 1


def test_bad_options_are_refused_before_reading(tmp_path, capsys):
    assert train.main(["--data", "x.csv", "--out", str(tmp_path), "--latent-dim", "0"]) == 2
    assert "--latent-dim must be positive" in capsys.readouterr().err


def test_command_line_exit_status_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "diffvae", "train", "--data", str(tmp_path / "nope.h5ad"),
         "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "nope.h5ad: no such file" in result.stderr


def test_tune_small_grid_picks_lowest_validation_loss(tmp_path, counts_csv):
    out = tmp_path / "tune"
    args = ["--data", str(counts_csv), "--out", str(out), "--h1", "8", "--latent-dims", "3",
            "--learning-rates", "1e-2", "1e-4", "--batch-sizes", "32", "--epochs", "3"]
    assert tune.main(args) == 0
    table = pd.read_csv(out / "tuning.csv")
    assert len(table) == 2 and set(table["h2"]) == {16}
    best = pd.read_json(out / "best.json", typ="series")
    assert best["val_loss"] == pytest.approx(table["val_loss"].min())
