"""The Table 2 protocol: scoring through the protocol's code path, and repeatable tables."""
import json

import numpy as np
import pandas as pd
import pytest

from diffvae import comparison
from diffvae.cli import benchmark


@pytest.fixture
def separable(rng):
    """SYNTHETIC representation whose 4 groups are far apart, with their labels."""
    labels = np.repeat(["a", "b", "c", "d"], 60)
    latent = np.eye(4)[np.searchsorted(["a", "b", "c", "d"], labels)] * 10 + rng.normal(0, 0.3, (240, 4))
    return latent, labels


def test_perfect_clustering_scores_one_and_shuffled_labels_near_zero(separable, rng):
    latent, labels = separable
    rows = comparison.cluster_and_score(latent, labels, [0, 1], spaces=["latent", "tsne"],
                                       clusterers=["kmeans", "dbscan"], n_clusters=4)
    assert len(rows) == 8
    assert all(r["ari"] == pytest.approx(1.0) for r in rows if r["clusterer"] == "kmeans")
    assert all(r["ari"] > 0.9 for r in rows)  # DBSCAN may leave a few border cells as noise
    shuffled = comparison.cluster_and_score(latent, rng.permutation(labels), [0], spaces=["latent"],
                                           clusterers=["kmeans"], n_clusters=4)
    assert abs(shuffled[0]["ari"]) < 0.03


def test_tsne_is_computed_once_with_pca_init_and_per_seed_with_random(separable, monkeypatch):
    latent, labels = separable
    calls = []
    real = comparison.tsne
    monkeypatch.setattr(comparison, "tsne", lambda x, **kw: calls.append(kw) or real(x, **kw))
    comparison.cluster_and_score(latent, labels, [0, 1, 2], spaces=["tsne"], clusterers=["kmeans"],
                                n_clusters=4)
    assert len(calls) == 1
    comparison.cluster_and_score(latent, labels, [0, 1, 2], spaces=["tsne"], clusterers=["kmeans"],
                                n_clusters=4, tsne_init="random")
    assert [c["seed"] for c in calls[1:]] == [0, 1, 2]


def test_paper_layout():
    runs = pd.DataFrame({"model": ["diffvae"] * 4, "latent_dim": [20] * 4, "clusterer": ["kmeans"] * 4,
                         "space": ["latent", "latent", "tsne", "tsne"], "ari": [0.5, 0.7, 0.2, 0.2],
                         "nmi": [0.1] * 4})
    layout = comparison.paper_layout(comparison.summarise(runs))
    assert layout.loc["diffvae (m=20)", "kmeans / latent"] == "0.600 ± 0.141"
    assert list(layout.columns) == ["kmeans / latent", "kmeans / tsne"]


@pytest.mark.slow
def test_same_seed_gives_identical_tables(tmp_path, data_dir):
    args = ["--dataset", "paul15_tradeseq", "--data-dir", str(data_dir), "--quick",
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


def test_the_ari_figure_lays_its_panels_out_two_a_row():
    from PIL import Image
    import io

    runs = pd.DataFrame([{"model": "pca", "latent_dim": 20, "clusterer": c, "space": s,
                          "ari": a} for c in ("kmeans", "dbscan", "leiden")
                         for s in ("latent", "tsne") for a in (0.4, 0.5)])
    figure = comparison.plot_runs(runs, "SMOKE TEST")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    width, height = Image.open(buffer).size
    assert len([ax for ax in figure.axes if ax.get_visible()]) == 6
    assert width < 1.5 * height  # three rows of two panels, not a strip
    assert figure._suptitle.get_text() == "SMOKE TEST"


def test_protocol_clusters_with_leiden_when_asked(separable):
    latent, labels = separable
    rows = comparison.cluster_and_score(latent, labels, [0, 1], spaces=["latent"],
                                        clusterers=["leiden", "kmeans"], n_clusters=4)
    assert [r["clusterer"] for r in rows] == ["leiden", "kmeans"] * 2
    assert all(r["ari"] == 1.0 and r["n_clusters"] == 4 for r in rows)
