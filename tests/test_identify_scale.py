"""Identification on data on disk and above the size thresholds: Leiden, minibatch k-means, the
t-SNE sample, streamed marker expression. Real paul15 data written to an .h5ad; blobs where the
clustering alone is tested are SYNTHETIC."""
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score

from diffvae import defaults
from diffvae.analysis import clustering
from diffvae.analysis.pipeline import identify_cell_types
from diffvae.cli import identify
from diffvae.errors import InputError


def blobs(n_per: int = 150, k: int = 4, seed: int = 0):
    """SYNTHETIC: k well-separated Gaussian blobs in 10 dimensions, and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(k, 10))
    labels = np.repeat(np.arange(k), n_per)
    return (centres[labels] + rng.normal(size=(len(labels), 10))).astype(np.float32), labels


def test_leiden_finds_separated_blobs_and_repeats_with_its_seed():
    x, labels = blobs()
    found = clustering.cluster(x, "leiden", seed=3)
    assert adjusted_rand_score(labels, found) == 1.0
    np.testing.assert_array_equal(found, clustering.leiden(x, seed=3))
    # a higher resolution cuts the same graph into more communities
    assert len(np.unique(clustering.leiden(x, resolution=20.0))) > 4
    with pytest.raises(InputError, match="resolution"):
        clustering.leiden(x, resolution=0)


def test_kmeans_switches_to_minibatches_and_dbscan_is_refused_above_the_threshold(monkeypatch):
    x, labels = blobs()
    monkeypatch.setattr(defaults, "EXACT_CLUSTERING_MAX_CELLS", 500)
    found = clustering.kmeans(x, 4, seed=1)
    expected = MiniBatchKMeans(n_clusters=4, batch_size=4096, n_init=3, random_state=1).fit_predict(x)
    np.testing.assert_array_equal(found, expected)
    assert adjusted_rand_score(labels, found) == 1.0
    with pytest.raises(InputError, match=r"DBSCAN .* above 500 cells \(got 600\)"):
        clustering.dbscan(x)
    assert set(clustering.dbscan(x[:400]).tolist()) - {clustering.NOISE} == {0, 1, 2}  # below: as before


@pytest.fixture(scope="module")
def paul15_file(paul15, tmp_path_factory):
    path = tmp_path_factory.mktemp("backed") / "paul15.h5ad"
    paul15.write_h5ad(path)
    return path


def test_identify_from_disk_equals_in_memory_with_a_tsne_sample(paul15, paul15_model, paul15_file):
    model, _ = paul15_model
    labels = paul15.obs["celltype"].astype(str).to_numpy()
    options = dict(labels=labels, markers="mouse_myeloid", tsne_max_cells=1000, seed=0)
    with pytest.warns(UserWarning, match="2,660 cells: the t-SNE embeds a random sample of 1,000"):
        memory = identify_cell_types(paul15, model, **options)
    disk = identify_cell_types(str(paul15_file), model, cluster_on="latent", **options)
    assert memory.settings["cluster_on"] == "latent" and memory.settings["tsne_cells"] == 1000
    np.testing.assert_allclose(disk.latent, memory.latent, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(disk.clusters, memory.clusters)
    np.testing.assert_array_equal(disk.embedded, memory.embedded)
    assert disk.embedding.shape == (1000, 2) and len(np.unique(disk.embedded)) == 1000
    # the streamed marker expression against the whole scaled matrix computed at once
    columns = [list(model.genes_).index(g) for g in disk.marker_genes]
    np.testing.assert_allclose(disk.expression, model.preprocess(paul15)[:, columns], atol=1e-6)
    pd.testing.assert_frame_equal(disk.mapping, memory.mapping)
    assert disk.metrics == pytest.approx(memory.metrics)


def test_identify_command_backed_writes_annotations_without_the_matrix(paul15_model, paul15_file,
                                                                        tmp_path):
    _, bundle = paul15_model
    out = tmp_path / "out"
    args = ["--data", str(paul15_file), "--backed", "--model", str(bundle), "--label-key",
            "celltype", "--markers", "mouse_myeloid", "--clusterer", "leiden",
            "--tsne-max-cells", "500", "--out", str(out), "--quiet"]
    assert identify.main(args) == 0
    annotated = ad.read_h5ad(out / "identified.h5ad")
    assert annotated.X is None and annotated.shape == (2660, 240)
    assert annotated.obsm["X_diffvae"].shape == (2660, 50) and "X_tsne" not in annotated.obsm
    cells = pd.read_csv(out / "clusters.csv", index_col=0)
    assert cells["tsne_1"].notna().sum() == 500
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_clusters"] == cells["cluster"].nunique() >= 3 and metrics["ari"] > 0.2
    report = (out / "report.md").read_text()
    assert "Leiden on the 15-nearest-neighbour graph" in report and "sample of 500 cells" in report
    assert identify.main(["--dataset", "paul15_tradeseq", "--backed", "--out", str(out)]) == 2


def test_a_clusterer_too_big_for_the_data_is_refused_before_training(paul15_file, tmp_path,
                                                                     monkeypatch, capsys):
    monkeypatch.setattr(defaults, "EXACT_CLUSTERING_MAX_CELLS", 1000)
    out = tmp_path / "out"
    args = ["--data", str(paul15_file), "--backed", "--clusterer", "dbscan", "--epochs", "1",
            "--out", str(out), "--quiet"]
    assert identify.main(args) == 2
    assert "DBSCAN needs the exact neighbours" in capsys.readouterr().err
    assert not (out / "model").exists()  # nothing was trained
    with pytest.raises(InputError, match="Leiden on a 15-neighbour graph needs more than 15"):
        clustering.check_size("leiden", 10)
