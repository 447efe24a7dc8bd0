"""diffvae identify."""
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from diffvae import AE, DiffVAE, InputError, LatentModel, defaults
from diffvae.analysis import clustering
from diffvae.cli import identify

from tests.helpers import TINY


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
    assert set(mapping["cell_type"]) <= {"Erythrocyte", "Monocytes", "Neutrophils", "unassigned"}
    report = (out / "report.md").read_text()
    for figure in identify.FIGURES:
        assert (out / figure).read_bytes()[:4] == b"\x89PNG" and f"]({figure})" in report
    assert f"{metrics['ari']:.3f}" in report and "DiffVAE, the paper's options" in report
    # purity recounted from clusters.csv; unassigned clusters have none
    for _, row in mapping.iterrows():
        labels = clusters.loc[clusters["cluster"] == row["cluster"], "reference_label"]
        expected = np.mean(labels == row["cell_type"]) if row["cell_type"] != "unassigned" else np.nan
        np.testing.assert_allclose(row["purity"], expected)
        assert row["cells"] == len(labels)
    assert "at least 0.5 and at least 0.1 above the runner-up's" in report
    # paul15's types without mouse_myeloid markers are listed
    missing = sorted(set(clusters["reference_label"]) - {"Erythrocyte", "Monocytes", "Neutrophils"})
    assert f"so no cluster can be called them: {', '.join(missing)}." in report
    # the baseline: PCA(50) of the same input, in metrics.json and the report
    baseline = metrics["pca_baseline"]
    assert baseline["model"] == "PCA(50) of the same input" and baseline["n_clusters"] == 7
    assert f"| PCA(50) of the same input | {baseline['ari']:.3f} |" in report
    # DE genes: significant, up in their cluster, and their ranks agree with the weight table
    de = pd.read_csv(out / "de_genes.csv")
    assert (de["pval_adj"] < 0.05).all() and (de["mean_in_cluster"] > de["mean_elsewhere"]).all()
    weights = pd.read_csv(out / "decoder_weight_genes.csv")
    both = weights.merge(de, on=["cluster", "gene"])
    np.testing.assert_array_equal(both["de_rank"], both["rank"])
    lists = pd.read_csv(out / "gene_lists.csv").set_index("cluster")
    for cluster, group in both.groupby("cluster"):
        assert set(lists.loc[cluster, "shared_genes"].split()) == set(group["gene"])
    assert "Decoder-weight genes are the paper's 'high-weight genes'" in report


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
    # human_blood names 6 of pbmc68k's 10 types: the other four are listed, not hidden
    report = (out / "report.md").read_text()
    assert ("so no cluster can be called them: CD34+, CD4+/CD25 T Reg, CD4+/CD45RA+/CD25- Naive "
            "T, CD8+/CD45RA+ Naive Cytotoxic.") in report
    assert f"| PCA(50) of the same input | {metrics['pca_baseline']['ari']:.3f} |" in report
    de = pd.read_csv(out / "de_genes.csv")
    assert -1 not in set(de["cluster"])  # DBSCAN's noise is not a cluster to test
    assert set(de["cluster"]) <= set(clusters["cluster"]) and (de["pval_adj"] < 0.05).all()


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


def test_identify_command_backed_writes_annotations_without_the_matrix(paul15_model, paul15_file,
                                                                        tmp_path):
    _, bundle = paul15_model
    out = tmp_path / "out"
    args = ["--data", str(paul15_file), "--backed", "--model", str(bundle), "--label-key",
            "celltype", "--markers", "mouse_myeloid", "--clusterer", "leiden",
            "--tsne-max-cells", "500", "--out", str(out), "--quiet"]
    with pytest.warns(UserWarning, match="2,660 cells: the t-SNE embeds a random sample of 500"):
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
    model = AE(**TINY).fit(counts_adata, epochs=1, verbose=0)
    model.save(tmp_path / "bundle")
    weights = model.network_.get_weights()
    weights[0][:] = np.nan
    model.network_.set_weights(weights)
    model.network_.save(tmp_path / "bundle" / "model.keras")  # as a diverged run would leave it
    status = identify.main(["--data", str(counts_csv), "--model", str(tmp_path / "bundle"),
                            "--n-clusters", "2", "--out", str(tmp_path / "o")])
    assert status == 2 and "non-finite weights" in capsys.readouterr().err


def test_dbscan_with_more_min_samples_than_cells_is_refused_before_training(tmp_path, capsys,
                                                                            counts_csv):
    status = identify.main(["--data", str(counts_csv), "--clusterer", "dbscan", "--min-samples",
                            "500", "--out", str(tmp_path / "o"), "--quiet"])
    assert status == 2
    assert "DBSCAN's min_samples (500) is more than the 120 cells" in capsys.readouterr().err
    assert not (tmp_path / "o" / "model").exists()  # refused before any training
