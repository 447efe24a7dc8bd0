"""diffvae tune."""
import json

import pandas as pd
import pytest

from diffvae import DiffVAE, LatentModel
from diffvae.cli import tune


def test_tune_small_grid_picks_lowest_validation_loss(tmp_path, counts_csv):
    out = tmp_path / "tune"
    args = ["--data", str(counts_csv), "--out", str(out), "--h1", "8", "--latent-dims", "3",
            "--learning-rates", "1e-2", "1e-4", "--batch-sizes", "32", "--epochs", "3"]
    assert tune.main(args) == 0
    table = pd.read_csv(out / "tuning.csv")
    assert len(table) == 2 and set(table["h2"]) == {16}
    best = pd.read_json(out / "best.json", typ="series")
    assert best["val_loss"] == pytest.approx(table["val_loss"].min())
    model = LatentModel.load(out / "best_model")  # the winner's trained model
    assert model.get_params()["hidden_dims"] in ((16, 8), [16, 8])
    assert model.history_["val_loss"].iloc[-1] == pytest.approx(best["val_loss"])


def test_tune_writes_whole_numbers_that_feed_back(tmp_path, counts_csv):
    args = ["--data", str(counts_csv), "--out", str(tmp_path / "t"), "--h1", "8", "--latent-dims",
            "3", "--learning-rates", "1e-2", "--batch-sizes", "32", "--epochs", "2"]
    assert tune.main(args) == 0
    best = json.loads((tmp_path / "t" / "best.json").read_text())
    assert all(isinstance(best[k], int) for k in ("h1", "h2", "latent_dim", "batch_size", "epochs"))
    DiffVAE(latent_dim=best["latent_dim"], hidden_dims=(best["h2"], best["h1"]))._check_params()


def test_tune_refuses_a_nan_learning_rate_before_reading(tmp_path, capsys):
    status = tune.main(["--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "t"),
                        "--learning-rates", "1e-3", "nan"])
    assert status == 2 and "--learning-rates must be positive and finite, got nan" in capsys.readouterr().err
