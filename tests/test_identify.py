"""The identification pipeline and ``diffvae identify`` on real data."""
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from diffvae import DiffVAE, LatentModel
from diffvae.cli import identify
from diffvae.analysis import majority_mapping
from diffvae.analysis.pipeline import identify_cell_types

MYELOID = {"Monocytes", "Neutrophils"}


def test_marker_mapping_names_the_paul15_clusters(paul15, paul15_model):
    model, _ = paul15_model
    labels = paul15.obs["celltype"].astype(str).to_numpy()
    result = identify_cell_types(paul15, model, labels=labels, markers="mouse_myeloid", seed=0)
    names = result.cluster_names
    majority = majority_mapping(result.clusters, labels)
    table = result.confusion()
    print(pd.concat([table, pd.Series(names, name="named")], axis=1).to_string())
    print(result.metrics)
    for cluster, label in majority.items():
        if label == "Erythrocyte":
            assert names[cluster] == "Erythrocyte", cluster
        if label in MYELOID:
            assert names[cluster] in MYELOID, cluster
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
                                     cluster_on="latent", n_clusters=7, seed=0)
    assert result.mapping is None and "overlap_markers" not in result.metrics
    assert result.cluster_names == {c: str(c) for c in np.unique(result.clusters)}
    assert result.metrics["n_clusters"] == 7


def test_identify_command_on_paul15_with_a_saved_model(paul15_model, tmp_path, data_dir):
    _, bundle = paul15_model
    out = tmp_path / "out"
    args = ["--dataset", "paul15_tradeseq", "--data-dir", str(data_dir), "--model", str(bundle),
            "--cluster-on", "latent", "--out", str(out)]
    assert identify.main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_clusters"] == 7 and 0.35 < metrics["ari"] <= 1
    clusters = pd.read_csv(out / "clusters.csv", index_col=0)
    annotated = ad.read_h5ad(out / "identified.h5ad")
    assert annotated.obsm["X_diffvae"].shape == (2660, 50) and annotated.obsm["X_tsne"].shape == (2660, 2)
    np.testing.assert_array_equal(annotated.obs["diffvae_cluster"].astype(int), clusters["cluster"])
    mapping = pd.read_csv(out / "mapping.csv")
    assert set(mapping["cell_type"]) <= {"Erythrocyte", "Monocytes", "Neutrophils", "unknown"}
    report = (out / "report.md").read_text()
    for figure in identify.FIGURES:
        assert (out / figure).read_bytes()[:4] == b"\x89PNG" and f"]({figure})" in report
    assert f"{metrics['ari']:.3f}" in report and "DiffVAE, the paper's options" in report


def test_identify_command_trains_the_tuned_diffvae_on_pbmc68k_offline(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--dataset", "pbmc68k_reduced", "--epochs", "5", "--clusterer", "dbscan",
            "--out", str(out), "--quiet", "--tuned"]
    assert identify.main(args) == 0
    assert LatentModel.load(out / "model").get_params() == DiffVAE.tuned().get_params()
    assert "mu_activation='linear'" in (out / "report.md").read_text()
    with pytest.raises(SystemExit):  # argparse: exit status 2 and its usage line
        identify.main([*args, "--model", str(out / "model")])
    assert "argument --model: not allowed with argument --tuned" in capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    clusters = pd.read_csv(out / "clusters.csv", index_col=0)
    assert metrics["n_noise"] == int((clusters["cluster"] == -1).sum())
    assert metrics["n_clusters"] == clusters.loc[clusters["cluster"] >= 0, "cluster"].nunique() >= 2


def test_identify_errors(tmp_path, capsys, counts_adata):
    path = tmp_path / "x.h5ad"
    del counts_adata.uns["diffvae_dataset"]  # a user's file: no known label column
    counts_adata.write_h5ad(path)
    status = identify.main(["--data", str(path), "--out", str(tmp_path / "o"), "--epochs", "1",
                            "--quiet"])
    assert status == 2 and "k-means needs --n-clusters" in capsys.readouterr().err
    status = identify.main(["--data", str(path), "--label-key", "cell_type", "--epochs", "1",
                            "--out", str(tmp_path / "o"), "--quiet"])
    assert status == 2 and "no obs column 'cell_type'" in capsys.readouterr().err
