"""The Table 2 protocol (diffvae.comparison)."""
import numpy as np
import pandas as pd
import pytest

from diffvae import comparison


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


def test_the_ari_figure_lays_its_panels_out_two_a_row():
    import io

    from PIL import Image

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


def test_scanpy_pca_is_scanpys_standard_preprocessing_of_a_copy(counts_adata):
    """Against the same steps written out with numpy and scikit-learn: normalise to the median
    total, log1p, HVGs, scale (clipped at 10), PCA; the caller's matrix is left as it was."""
    from sklearn.decomposition import PCA

    before = counts_adata.X.copy()
    data = comparison.scanpy_pca(counts_adata, seed=0, n_top_genes=30)
    assert (counts_adata.X != before).nnz == 0
    assert data.n_vars == 30 and data.obsm["X_pca"].shape == (120, 29)
    x = counts_adata[:, data.var_names].X.toarray().astype(np.float64)
    totals = counts_adata.X.toarray().sum(axis=1, keepdims=True)
    x = np.log1p(x / totals * np.median(totals))
    x = np.clip((x - x.mean(axis=0)) / x.std(axis=0, ddof=1), None, 10)
    expected = PCA(29).fit_transform(x)
    # components agree up to sign
    found = data.obsm["X_pca"]
    for i in range(5):
        r = np.corrcoef(found[:, i], expected[:, i])[0, 1]
        assert abs(r) > 0.999, (i, r)
