"""diffvae perturb."""
import ast
import json

import numpy as np
import pandas as pd
import pytest

from diffvae.cli import perturb

from tests.helpers import PROGENITORS


def _run(out, bundle, data: list[str], *extra):
    args = [*data, "--model", str(bundle), "--source", *PROGENITORS, "--out", str(out), "--quiet",
            *extra]
    assert perturb.main(args) == 0
    return pd.read_csv(out / "conversions.csv")


@pytest.mark.slow(minutes=2)
def test_perturb_paul15_progenitors(paul15_model, tmp_path, data_dir):
    _, bundle = paul15_model
    table = _run(tmp_path / "out", bundle,
                 ["--dataset", "paul15_tradeseq", "--data-dir", str(data_dir)])
    metrics = json.loads((tmp_path / "out" / "classifier_metrics.json").read_text())
    targeted = table[table["dimensions"] == "targeted"]
    mean_fraction = targeted.groupby("lambda")["fraction"].mean()
    print(f"held-out accuracy {metrics['held_out_accuracy']:.3f}")
    print(table.pivot_table(index=["target", "dimensions"], columns="lambda", values="n_converted"))
    assert metrics["held_out_accuracy"] > 0.8
    assert set(targeted["target"]) == {"Basophils", "Erythrocyte", "Megakaryocytes", "Monocytes", "Neutrophils"}
    assert (np.diff(mean_fraction.to_numpy()) >= 0).all()  # never falls as lambda grows
    # lambda = 0 is decoding alone: the same count along targeted and random dimensions
    at_zero = table[table["lambda"] == 0].pivot(index="target", columns="dimensions", values="n_converted")
    np.testing.assert_array_equal(at_zero["targeted"], at_zero["random"])
    needed = pd.read_csv(tmp_path / "out" / "genes_to_flip.csv")
    assert (needed["n_genes"] >= 1).all() and (needed["n_genes"] <= 240).all()
    for name in ("conversions_tsne.png", "conversion_curves.png", "genes_to_flip.png"):
        assert (tmp_path / "out" / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_perturb_is_repeatable_with_a_seed(paul15_model, paul15_sample_file, tmp_path):
    _, bundle = paul15_model
    data = ["--data", str(paul15_sample_file), "--label-key", "celltype"]
    quick = ("--lambdas", "0", "1", "2", "--n-random", "2", "--classifier-epochs", "20",
             "--targets", "Erythrocyte", "Monocytes", "--sd-from", "source")
    first = _run(tmp_path / "a", bundle, data, *quick)
    second = _run(tmp_path / "b", bundle, data, *quick)
    pd.testing.assert_frame_equal(first, second)


def test_perturb_errors(paul15_model, tmp_path, data_dir, capsys):
    _, bundle = paul15_model
    args = ["--dataset", "paul15_tradeseq", "--data-dir", str(data_dir), "--model", str(bundle),
            "--source", "HSPC", "--out", str(tmp_path)]
    assert perturb.main(args) == 2
    assert "unknown cell type(s) ['HSPC']" in capsys.readouterr().err


@pytest.mark.slow  # a minute or more
def test_perturb_with_named_clusters_as_types(paul15_model, tmp_path, data_dir, capsys):
    _, bundle = paul15_model
    args = ["--dataset", "paul15_tradeseq", "--data-dir", str(data_dir), "--model", str(bundle),
            "--groups", "cluster", "--lambdas", "0", "1", "--n-random", "1",
            "--classifier-epochs", "10", "--out", str(tmp_path), "--quiet"]
    # the group names: marker-named clusters and "cluster <i>" for the unnamed, listed by the error
    assert perturb.main([*args, "--source", "no such type"]) == 2
    types = ast.literal_eval(capsys.readouterr().err.split("types: ")[1].strip())
    named = [t for t in types if not t.startswith("cluster ")]
    assert named and set(named) <= {"Erythrocyte", "Monocytes", "Neutrophils"}, types
    source = ([t for t in types if t.startswith("cluster ")] or named)[-1]
    targets = [named[0], *[t for t in types if t not in (source, named[0])][:1]]
    assert perturb.main([*args, "--source", source, "--targets", *targets]) == 0
    table = pd.read_csv(tmp_path / "conversions.csv")
    assert set(table["target"]) == set(targets)


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
