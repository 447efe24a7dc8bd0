"""The manifest of a command's output folder (diffvae.cli.manifest)."""
import json

from diffvae.cli import train

from tests.helpers import QUICK


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


def test_a_second_run_into_a_used_folder_leaves_only_its_own_files(tmp_path, counts_csv):
    from diffvae.cli.manifest import MANIFEST, check_outputs

    out = tmp_path / "out"
    assert train.main(["--data", str(counts_csv), "--out", str(out), *QUICK,
                       "--model-name", "first"]) == 0
    assert (out / "first" / "model.keras").exists()
    assert train.main(["--data", str(counts_csv), "--out", str(out), *QUICK, "--model", "pca",
                       "--model-name", "second"]) == 0
    listed = set(json.loads((out / MANIFEST).read_text())["files"])
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {MANIFEST}
    assert on_disk == listed and not (out / "first").exists()  # the first run's bundle is gone
    assert check_outputs(out) == []
