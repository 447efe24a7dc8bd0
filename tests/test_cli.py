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
    model = LatentModel.load(out / "best_model")  # the winner's trained model
    assert model.get_params()["hidden_dims"] in ((16, 8), [16, 8])
    assert model.history_["val_loss"].iloc[-1] == pytest.approx(best["val_loss"])


COMMANDS = ["train", "tune", "identify", "perturb", "benchmark", "graph"]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help_and_its_default_in_plain_text(name):
    import importlib

    parser = importlib.import_module(f"diffvae.cli.{name}").build_parser()
    options = {a.option_strings[0]: a for a in parser._actions if a.option_strings}
    assert {"--seed", "--out", "--quiet"} <= set(options)
    assert all(a.help for a in options.values()), [o for o, a in options.items() if not a.help]
    text = parser.format_help()
    assert "offline: pbmc68k_reduced, synthetic" in " ".join(text.split())
    assert "``" not in text and "::" not in text and ":class:" not in text
    formatter = parser._get_formatter()
    for option, action in options.items():  # a value to default to is shown, once
        shown = formatter._expand_help(action)
        if action.default not in (None, False) and not action.required and option != "-h":
            assert "default" in shown or "paper:" in shown, (option, shown)
            assert shown.count("default") <= 1, (option, shown)


def test_seed_below_zero_is_refused_before_reading(tmp_path, capsys):
    assert train.main(["--data", str(tmp_path / "absent.csv"), "--seed", "-1",
                       "--out", str(tmp_path / "out")]) == 2
    assert "--seed must be 0 or more, got -1" in capsys.readouterr().err


def test_interrupt_ends_with_one_line_and_no_manifest(tmp_path, counts_csv, capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "load_input", interrupted)
    out = tmp_path / "out"
    assert train.main(["--data", str(counts_csv), "--out", str(out), *QUICK]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "diffvae train: interrupted" in err and "Traceback" not in err
    assert not (out / "manifest.json").exists()


def test_a_closed_pipe_ends_without_a_traceback():
    """``diffvae --help | head -1``: the reader goes away before the output is written."""
    process = subprocess.Popen([sys.executable, "-m", "diffvae", "--help"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    err = process.stderr.read().decode()
    process.wait()
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_warnings_point_at_the_users_line_and_read_as_one_line_on_the_command_line(rng):
    import warnings

    from diffvae.analysis import tsne
    from diffvae.cli.common import command

    with pytest.warns(UserWarning, match="perplexity 30.0 is too large for 20 cells") as caught:
        tsne(rng.normal(size=(20, 3)), seed=0)
    assert caught[0].filename == __file__  # this line, not the package's
    seen = {}

    @command("demo")
    def demo(argv):
        seen["line"] = warnings.formatwarning("slow", UserWarning, "diffvae/x.py", 3)
        return 0

    plain = warnings.formatwarning
    assert demo([]) == 0 and seen["line"] == "diffvae demo: warning: slow\n"
    assert warnings.formatwarning is plain  # restored after the command


def test_every_option_has_one_spelling_and_the_original_codes_name_from_one_table():
    import importlib

    from diffvae.cli import COMMANDS
    from diffvae.cli.common import ORIGINAL_OPTIONS

    for name in COMMANDS:
        parser = importlib.import_module(f"diffvae.cli.{name}").build_parser()
        for action in parser._actions:
            flags = [f for f in action.option_strings if f not in ("-h", "--help")]
            if flags:
                assert flags == [flags[0], *([ORIGINAL_OPTIONS[flags[0]]] if flags[0] in ORIGINAL_OPTIONS
                                             else [])], (name, flags)
                assert "_" not in flags[0], (name, flags)
