"""diffvae benchmark."""
import json

import pandas as pd
import pytest

from diffvae.cli import benchmark


@pytest.mark.slow
def test_same_seed_gives_identical_tables(tmp_path, paul15_sample_file):
    args = ["--data", str(paul15_sample_file), "--label-key", "celltype", "--quick",
            "--models", "diffvae", "pca", "--n-jobs", "2"]
    outputs = []
    for name in ("a", "b"):
        assert benchmark.main([*args, "--out", str(tmp_path / name)]) == 0
        outputs.append(pd.read_csv(tmp_path / name / "runs.csv"))
    pd.testing.assert_frame_equal(*outputs)
    runs = outputs[0]
    assert set(runs["model"]) == {"diffvae", "pca", "scanpy"}
    assert len(runs) == 2 * 2 * 2 * 2 + 2  # models x repetitions x spaces x clusterers + scanpy
    assert runs["ari"].between(-1, 1).all()
    settings = json.loads((tmp_path / "a" / "settings.json").read_text())
    assert settings["mode"].startswith("trained once") and settings["repetitions"] == 2
    summary = (tmp_path / "a" / "summary.md").read_text()
    assert "diffvae (m=20)" in summary and "scanpy (m=50)" in summary
    assert (tmp_path / "a" / "ari.png").read_bytes()[:4] == b"\x89PNG"


def test_tuned_adds_the_tuned_diffvae_as_a_row(tmp_path, counts_adata):
    counts_adata.write_h5ad(tmp_path / "x.h5ad")
    args = ["--data", str(tmp_path / "x.h5ad"), "--quick", "--models", "pca", "--tuned",
            "--no-scanpy", "--spaces", "latent", "--clusterers", "kmeans", "--n-jobs", "1",
            "--out", str(tmp_path / "out")]
    assert benchmark.main(args) == 0
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert list(dict.fromkeys(runs["model"])) == ["pca", "diffvae-tuned"]
    assert len(runs) == 2 * 2 and runs["ari"].between(-1, 1).all()  # models x repetitions
    # a --quick run says everywhere that it is a smoke test
    assert runs["mode"].str.endswith("; quick smoke test").all()
    assert "**Smoke test** (`--quick`" in (tmp_path / "out" / "summary.md").read_text()


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
