"""Bad or edge input: every case ends in one clear line naming the problem (exit status 2 from
the commands, ``InputError`` from the API), checked before any training, and leaves no model
that looks trained. SYNTHETIC data (tests/conftest.py)."""
import json
import math
import os
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from diffvae import AE, PCA, VAE, CellStateClassifier, DiffVAE, InputError
from diffvae.cli import graph, identify, train, tune
from diffvae.errors import TrainingError
from graph_diffvae import GraphDiffVAE, graphs

SMALL = {"latent_dim": 3, "hidden_dims": (8, 4)}
QUICK = ["--epochs", "2", "--latent-dim", "3", "--hidden-dims", "8", "4", "--batch-size", "32",
         "--quiet"]



# -- the API: constructor and fit arguments ---------------------------------------------------
@pytest.mark.parametrize("make, fit, message", [
    (lambda: DiffVAE(latent_dim=0), {}, "latent_dim must be positive"),
    (lambda: DiffVAE(latent_dim=2.5), {}, "latent_dim must be positive"),
    (lambda: DiffVAE(hidden_dims=(8, 0)), {}, "hidden_dims must be positive"),
    (lambda: DiffVAE(hidden_dims=()), {}, "hidden_dims must be a non-empty list"),
    (lambda: DiffVAE(n_top_genes=0), {}, "n_top_genes must be positive"),
    (lambda: DiffVAE(mmd_kernel_width=-1.0), {}, "mmd_kernel_width must be positive"),
    (lambda: DiffVAE(mmd_kernel_width=math.nan), {}, "mmd_kernel_width must be positive"),
    (lambda: VAE(target_sum=0.0), {}, "target_sum must be positive"),
    (lambda: PCA(latent_dim=-3), {}, "latent_dim must be positive"),
    (lambda: AE(**SMALL), {"epochs": 0}, "epochs must be positive"),
    (lambda: AE(**SMALL), {"epochs": -5}, "epochs must be positive"),
    (lambda: AE(**SMALL), {"batch_size": 0}, "batch_size must be positive"),
    (lambda: AE(**SMALL), {"learning_rate": math.nan}, "learning_rate must be positive and finite"),
    (lambda: AE(**SMALL), {"learning_rate": math.inf}, "learning_rate must be positive and finite"),
    (lambda: AE(**SMALL), {"learning_rate": -1e-3}, "learning_rate must be positive and finite"),
    (lambda: AE(**SMALL), {"validation_split": 1.0}, r"validation_split must be in \[0, 1\)"),
    (lambda: AE(**SMALL), {"validation_split": math.nan}, r"validation_split must be in \[0, 1\)"),
])
def test_bad_model_arguments_are_refused_before_training(counts_adata, make, fit, message):
    model = make()
    with pytest.raises(InputError, match=message):
        model.fit(counts_adata, **{"epochs": 1, "verbose": 0, **fit})
    assert not model.is_fitted


@pytest.mark.parametrize("fit, message", [
    ({"epochs": 0}, "epochs must be positive"),
    ({"learning_rate": math.nan}, "learning_rate must be positive and finite"),
    ({"negative_ratio": 0.0}, "negative_ratio must be positive"),
    ({"loss": "cosine"}, r"loss must be one of \['auto', 'dense', 'sparse'\], got 'cosine'"),
])
def test_bad_graph_arguments_are_refused(counts_adata, rng, fit, message):
    adjacency = graphs.symmetric_binary(*rng.integers(0, 40, (2, 120)), 40)
    with pytest.raises(InputError, match=message):
        GraphDiffVAE(8, 3).fit(counts_adata[:40].copy(), adjacency=adjacency, **{"verbose": 0, **fit})
    with pytest.raises(InputError, match="k must be positive"):
        GraphDiffVAE(8, 3, k=0).fit(counts_adata[:40].copy(), verbose=0)


def test_bad_classifier_arguments(rng):
    x, labels = rng.uniform(size=(20, 4)), np.repeat(["a", "b"], 10)
    for kwargs, message in [({"epochs": 0}, "epochs must be positive"),
                            ({"test_size": 0.0}, r"test_size must be in \(0, 1\)"),
                            ({"learning_rate": math.nan}, "learning_rate must be positive")]:
        with pytest.raises(InputError, match=message):
            CellStateClassifier((4,)).fit(x, labels, verbose=0, **kwargs)
    with pytest.raises(InputError, match="hidden_dims must be positive"):
        CellStateClassifier((4, -1)).fit(x, labels, verbose=0, epochs=1)


def test_sample_needs_a_positive_count(counts_adata):
    model = AE(**SMALL).fit(counts_adata, epochs=1, verbose=0)
    for n in (-1, 0, 2.5):
        with pytest.raises(InputError, match="n_cells must be positive"):
            model.sample(n)


# -- training that goes non-finite ------------------------------------------------------------
def test_diverging_training_keeps_nothing(counts_adata, tmp_path):
    model = DiffVAE(**SMALL)
    with pytest.raises(TrainingError, match=r"diverged in epoch \d+ .* lower the learning rate \(it was 1e\+09\)"):
        model.fit(counts_adata, epochs=5, learning_rate=1e9, verbose=0)
    assert not model.is_fitted
    with pytest.raises(RuntimeError, match="not fitted"):
        model.save(tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_a_model_with_non_finite_weights_is_not_saved(counts_adata, tmp_path):
    model = AE(**SMALL).fit(counts_adata, epochs=1, verbose=0)
    weights = model.network_.get_weights()
    weights[0][0, 0] = np.nan
    model.network_.set_weights(weights)
    with pytest.raises(TrainingError, match="non-finite weights; not saved"):
        model.save(tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


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


@pytest.mark.parametrize("command", [train, identify, graph])
def test_an_output_path_that_is_a_file_is_refused_first(tmp_path, capsys, counts_csv, command):
    blocker = tmp_path / "results.txt"
    blocker.write_text("keep me")
    status = command.main(["--data", str(counts_csv), "--out", str(blocker / "run"), "--quiet"])
    assert status == 2 and "is a file, not a folder" in capsys.readouterr().err
    assert blocker.read_text() == "keep me"


def test_an_unwritable_output_folder_is_refused_first(tmp_path, capsys, counts_csv):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        status = train.main(["--data", str(counts_csv), "--out", str(locked / "run"), *QUICK])
        assert status == 2 and "cannot write in" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_tune_writes_whole_numbers_that_feed_back(tmp_path, counts_csv):
    args = ["--data", str(counts_csv), "--out", str(tmp_path / "t"), "--h1", "8", "--latent-dims",
            "3", "--learning-rates", "1e-2", "--batch-sizes", "32", "--epochs", "2"]
    assert tune.main(args) == 0
    best = json.loads((tmp_path / "t" / "best.json").read_text())
    assert all(isinstance(best[k], int) for k in ("h1", "h2", "latent_dim", "batch_size", "epochs"))
    DiffVAE(latent_dim=best["latent_dim"], hidden_dims=(best["h2"], best["h1"]))._check_params()


# -- the output set as a whole ----------------------------------------------------------------
def test_a_finished_run_writes_a_manifest_last(tmp_path, counts_csv):
    from diffvae.cli.manifest import MANIFEST, check_outputs

    out = tmp_path / "out"
    assert train.main(["--data", str(counts_csv), "--out", str(out), *QUICK]) == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["command"] == "diffvae train" and "--data" in manifest["arguments"]
    assert {"latent.csv", "latent.h5ad", "history.csv", "loss.png", "diffvae/config.json",
            "diffvae/model.keras"} <= set(manifest["files"])
    assert check_outputs(out) == []
    (out / "latent.csv").write_text("edited")
    assert check_outputs(out) == [f"{out / 'latent.csv'}: changed since the run"]


def test_a_run_that_does_not_finish_leaves_no_manifest(tmp_path, counts_csv, monkeypatch, caplog):
    from diffvae.cli.manifest import check_outputs

    out = tmp_path / "out"
    assert train.main(["--data", str(counts_csv), "--out", str(out), *QUICK]) == 0

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # as if stopped while writing figures

    monkeypatch.setattr(train, "save_figure", crash)
    assert train.main(["--data", str(counts_csv), "--out", str(out), *QUICK, "--seed", "1"]) == 130
    assert check_outputs(out) == [f"{out}: no manifest.json; the run that wrote it did not finish"]
    monkeypatch.undo()
    with caplog.at_level("WARNING", logger="diffvae"):
        assert train.main(["--data", str(counts_csv), "--out", str(out), *QUICK]) == 0
    assert "an earlier run there did not finish" in caplog.text and check_outputs(out) == []


# -- data that look wrong but may be right: warnings ------------------------------------------
def test_log_data_given_to_a_counts_model_is_announced(counts_adata):
    import scanpy as sc

    model = AE(**SMALL).fit(counts_adata, epochs=1, verbose=0)
    logged = counts_adata.copy()
    sc.pp.normalize_total(logged)
    sc.pp.log1p(logged)
    with pytest.warns(UserWarning, match="fitted on raw counts but these look like log-normalised"):
        model.transform(logged)


def test_a_genes_by_cells_table_is_announced(tmp_path, rng):
    from diffvae import read

    table = pd.DataFrame(rng.poisson(2, (30, 8)), index=[f"Gene{i}" for i in range(30)],
                         columns=[f"cell_{i}" for i in range(8)])
    table.to_csv(tmp_path / "genes_by_cells.csv")
    with pytest.warns(UserWarning, match=r"read as 30 cells x 8 genes, but the cell \(row\) names look"):
        read(tmp_path / "genes_by_cells.csv")
    table.T.to_csv(tmp_path / "cells_by_genes.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read(tmp_path / "cells_by_genes.csv").shape == (8, 30)


def test_single_class_labels_give_no_agreement_score(counts_adata):
    from diffvae.analysis.pipeline import identify_cell_types

    model = AE(**SMALL).fit(counts_adata, epochs=1, verbose=0)
    with pytest.warns(UserWarning, match="one type only"):
        result = identify_cell_types(counts_adata, model, labels=["T"] * 120, n_clusters=2,
                                     perplexity=10)
    assert result.metrics == {}


def test_graph_models_refuse_a_backend_without_their_layers(monkeypatch, counts_adata):
    from graph_diffvae import estimator

    monkeypatch.setattr(estimator, "keras_backend", lambda: "torch")
    with pytest.raises(InputError, match="run on Keras's tensorflow or jax backend, but "
                       "KERAS_BACKEND is 'torch'"):
        GraphDiffVAE(8, 3).fit(counts_adata, verbose=0)


@pytest.mark.parametrize("extra, message", [
    (["--lambdas", "nan", "1"], "lambda values must be finite"),
    (["--n-dims", "8"], "--n-dims 8 leaves no other dimension of the latent size 8"),
    (["--classifier-epochs", "0"], "--classifier-epochs must be positive"),
    (["--n-random", "-1"], "--n-random must be 0 or more"),
])
def test_perturb_refuses_bad_options_before_reading(tmp_path, capsys, extra, message):
    from diffvae.cli import perturb

    status = perturb.main(["--data", str(tmp_path / "nope.csv"), "--source", "A", "--latent-dim",
                           "8", "--out", str(tmp_path / "o"), *extra])
    assert status == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--n-dims", "60"], "--n-dims 60 is more than the latent size 50"),
    (["--perplexity", "-1"], "--perplexity must be positive"),
    (["--eps", "0"], "--eps must be positive"),
    (["--min-samples", "0"], "--min-samples must be positive"),
    (["--n-clusters", "0"], "--n-clusters must be positive"),
    (["--markers", "martian_blood"], "martian_blood is neither a file nor one of"),
    (["--epochs", "0"], "--epochs must be positive"),
])
def test_identify_refuses_bad_options_before_reading(tmp_path, capsys, extra, message):
    status = identify.main(["--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o"),
                            *extra])
    assert status == 2 and message in capsys.readouterr().err


def test_identify_refuses_too_many_clusters_before_training(tmp_path, capsys, counts_csv):
    status = identify.main(["--data", str(counts_csv), "--n-clusters", "500", "--out",
                            str(tmp_path / "o")])
    assert status == 2 and "--n-clusters 500 needs more cells than clusters" in capsys.readouterr().err
    assert not (tmp_path / "o" / "model").exists()


def test_a_model_with_non_finite_weights_is_refused_by_identify(tmp_path, capsys, counts_csv,
                                                                counts_adata):
    model = AE(**SMALL).fit(counts_adata, epochs=1, verbose=0)
    model.save(tmp_path / "bundle")
    weights = model.network_.get_weights()
    weights[0][:] = np.nan
    model.network_.set_weights(weights)
    model.network_.save(tmp_path / "bundle" / "model.keras")  # as a diverged run would leave it
    status = identify.main(["--data", str(counts_csv), "--model", str(tmp_path / "bundle"),
                            "--n-clusters", "2", "--out", str(tmp_path / "o")])
    assert status == 2 and "non-finite weights" in capsys.readouterr().err


def test_unreadable_files_name_the_file(tmp_path, rng):
    from diffvae import read

    np.save(tmp_path / "objects.npy", np.array([[1, "a"], [2, None]], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match=r"objects\.npy: cannot be read as a \.npy matrix"):
        read(tmp_path / "objects.npy")
    pd.DataFrame(rng.poisson(2, (200, 10))).to_csv(tmp_path / "whole.csv.gz")
    data = (tmp_path / "whole.csv.gz").read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.csv\.gz: cannot be read .*EOFError"):
        read(tmp_path / "cut.csv.gz")


def test_an_edge_list_by_name_needs_unique_cell_names(tmp_path):
    pd.DataFrame({"source": ["c0", "c1"], "target": ["c1", "c2"]}).to_csv(tmp_path / "e.csv", index=False)
    with pytest.raises(InputError, match=r"cell names repeat in the data \(for example \['c0'\]\)"):
        graphs.read_graph(tmp_path / "e.csv", 3, ["c0", "c0", "c2"])


def test_tune_refuses_a_nan_learning_rate_before_reading(tmp_path, capsys):
    status = tune.main(["--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "t"),
                        "--learning-rates", "1e-3", "nan"])
    assert status == 2 and "--learning-rates must be positive and finite, got nan" in capsys.readouterr().err


def test_an_existing_file_as_out_is_refused_and_kept(tmp_path, capsys, counts_csv):
    (tmp_path / "out").write_text("keep me")
    assert train.main(["--data", str(counts_csv), "--out", str(tmp_path / "out"), *QUICK]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "out").read_text() == "keep me"


@pytest.mark.parametrize("labels, extra, message", [
    (["T"] * 120, [], "holds one type only ('T')"),
    (None, ["--n-jobs", "0"], "--n-jobs must be a number of processes"),
])
def test_benchmark_refuses_meaningless_settings(tmp_path, capsys, counts_adata, labels, extra,
                                                message):
    from diffvae.cli import benchmark

    if labels is not None:
        counts_adata.obs["celltype"] = labels
    counts_adata.write_h5ad(tmp_path / "d.h5ad")
    status = benchmark.main(["--data", str(tmp_path / "d.h5ad"), "--label-key", "celltype",
                             "--quick", "--out", str(tmp_path / "b"), *extra])
    assert status == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "b" / "runs.csv").exists()
