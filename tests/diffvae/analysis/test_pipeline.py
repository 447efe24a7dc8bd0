"""The identification pipeline as one call (diffvae.analysis.pipeline), in memory and from disk."""
import logging

import numpy as np
import pandas as pd
import pytest

from diffvae import AE
from diffvae.analysis import majority_mapping
from diffvae.analysis.markers import MIN_MARGIN
from diffvae.analysis.pipeline import identify_cell_types
from diffvae.errors import InputError

from tests.helpers import TINY, TINY_FIT

MYELOID = {"Monocytes", "Neutrophils"}


def test_marker_mapping_names_the_paul15_clusters(paul15, paul15_model):
    model, _ = paul15_model
    labels = paul15.obs["celltype"].astype(str).to_numpy()
    result = identify_cell_types(paul15, model, labels=labels, markers="mouse_myeloid", seed=0,
                                 baseline=False)  # the baseline: the from-disk test below
    names = result.cluster_names
    majority = majority_mapping(result.clusters, labels)
    table = result.confusion()
    print(pd.concat([table, pd.Series(names, name="named")], axis=1).to_string())
    print(result.metrics)
    calls = result.mapping.set_index("cluster")
    for cluster, label in majority.items():
        if label == "Erythrocyte":
            assert names[cluster] == "Erythrocyte", cluster
        if label in MYELOID:
            # the markers point to the myeloid side; a close call between the two myeloid types
            # is left unassigned (min_margin), never given to another lineage
            call = calls.loc[cluster]
            assert call["best_type"] in MYELOID, cluster
            close_myeloid_call = call["runner_up"] in MYELOID and call["margin"] < MIN_MARGIN
            assert names[cluster] in MYELOID or close_myeloid_call, cluster
    for cluster, name in names.items():
        if name == "Erythrocyte":
            assert majority[cluster] == "Erythrocyte", cluster
    # the cluster that holds most neutrophils is named Neutrophils
    assert names[table["Neutrophils"].idxmax()] == "Neutrophils"
    assert result.metrics["overlap_markers"] > 0.4 and result.metrics["ari"] > 0.2


def test_markers_absent_from_the_data_leave_clusters_unnamed(paul15, paul15_model):
    model, _ = paul15_model
    labels = paul15.obs["celltype"].astype(str).to_numpy()
    with pytest.warns(UserWarning, match="none of the 29 marker genes .* among the data's 240"):
        result = identify_cell_types(paul15, model, labels=labels, markers="human_hspc",
                                     cluster_on="latent", n_clusters=7, seed=0,
                                     differential=False, baseline=False, embed=False)
    assert result.mapping is None and "overlap_markers" not in result.metrics
    assert result.cluster_names == {c: str(c) for c in np.unique(result.clusters)}
    assert result.metrics["n_clusters"] == 7
    # the three optional steps left out when asked
    assert result.baseline == {} and "pca_baseline" not in result.metrics
    assert result.de_genes is None and "de_rank" not in result.cluster_genes
    assert result.embedding is None and result.settings["tsne_cells"] is None
    # clustering on the t-SNE needs it
    with pytest.raises(InputError, match="cluster_on='tsne' needs the t-SNE"):
        identify_cell_types(paul15, model, n_clusters=7, embed=False)


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
    baseline = disk.metrics.pop("pca_baseline")
    assert baseline.pop("model") == memory.metrics.pop("pca_baseline").pop("model")
    assert baseline == pytest.approx(memory.baseline) and disk.metrics == pytest.approx(memory.metrics)
    pd.testing.assert_frame_equal(disk.de_genes, memory.de_genes)


def test_each_analysis_step_is_logged_with_its_time(counts_adata, caplog):
    model = AE(**TINY).fit(counts_adata, **TINY_FIT)
    with caplog.at_level(logging.INFO, logger="diffvae"):
        identify_cell_types(counts_adata, model, labels=counts_adata.obs["celltype"],
                            perplexity=10, markers={"A": ["gene_1"], "B": ["gene_2"]})
    steps = [r.getMessage() for r in caplog.records if r.name == "diffvae"]
    assert [s.split(":")[0] for s in steps] == [
        "representation (mu)", "t-SNE of 120 cells", "kmeans on the t-SNE",
        "latent dimensions and decoder-weight genes of each cluster",
        "differentially expressed genes of each cluster", "naming clusters by marker genes",
        "the same pipeline on PCA(3) of the same input (the baseline)"]
    assert all(s.endswith(" s") for s in steps)
