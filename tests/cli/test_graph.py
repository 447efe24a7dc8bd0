"""diffvae graph: Graph-DiffVAE, graph attention, the multitask model, subgraphs from disk."""
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from diffvae.cli import graph as graph_cli
from graph_diffvae import GraphDiffVAE, MultitaskDiffVAE, graphs, neighbours

from tests.helpers import planted


@pytest.mark.approximate_search
@pytest.mark.slow(minutes=1.5)
def test_command_line_on_paul15_as_at_scale(tmp_path, data_dir, paul15, monkeypatch):
    # every step as above its size limits (approximate input graph, links and co-expression
    # pairs; t-SNE of a sample), on real cells
    monkeypatch.setattr(neighbours, "EXACT_NEIGHBOURS_MAX_CELLS", 1000)
    out = tmp_path / "out"
    args = ["--dataset", "paul15_tradeseq", "--data-dir", str(data_dir), "--epochs", "30",
            "--learning-rate", "1e-3", "--loss", "sparse", "--tsne-max-cells", "1000",
            "--early-stopping", "5", "--out", str(out), "--quiet"]
    assert graph_cli.main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    history = pd.read_csv(out / "history.csv")
    assert metrics["best_epoch"] == int(np.argmax(history["val_auc"].to_numpy())) + 1
    assert len(history) <= 30 and {"loss", "reconstruction", "kl", "val_auc", "val_ap"} <= set(history)
    assert (f"Early stopping: the validation AUC was best at epoch {metrics['best_epoch']}"
            in (out / "report.md").read_text())
    assert metrics["tsne_cells"] == 1000 and metrics["n_cells"] == 2660
    assert "random sample of 1,000 cells" in (out / "report.md").read_text()
    assert metrics["link_prediction"]["test"]["auc"] > 0.6
    shares = metrics["same_type_share"]
    assert shares["input"] > shares["chance"] and shares["predicted"] > shares["chance"]
    assert set(metrics["progenitor_links"]["predicted"]) <= set(paul15.obs["celltype"])
    lineage = metrics["progenitor_partner_lineage_weights"]["input"]
    assert set(lineage) == {"weight_lineage1", "weight_lineage2"} and all(0 <= v <= 1 for v in lineage.values())
    stored = ad.read_h5ad(out / "graph_diffvae.h5ad")
    np.testing.assert_array_equal(stored.obsm["X_graph_diffvae"], np.load(out / "node_features.npy"))
    assert "X_tsne" not in stored.obsm  # the sample's t-SNE is the figure's only
    assert (sp.load_npz(out / "input_adjacency.npz") != stored.obsp["input_graph"]).nnz == 0
    for name in ("links_tsne.png", "adjacency.png", "coexpression.png", "training.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    model = GraphDiffVAE.load(out / "graph_diffvae")
    np.testing.assert_array_equal(model.node_features_, stored.obsm["X_graph_diffvae"])


def test_command_line_refuses_a_bad_graph(tmp_path, data_dir, capsys):
    sp.save_npz(tmp_path / "g.npz", sp.eye(10, format="csr"))
    args = ["--dataset", "paul15_tradeseq", "--data-dir", str(data_dir), "--graph",
            str(tmp_path / "g.npz"), "--out", str(tmp_path / "out")]
    assert graph_cli.main(args) == 2
    assert "shape (10, 10) but the data have 2660 cells" in capsys.readouterr().err


def test_knn_graph_on_an_obsm_representation_and_obsp_adjacency(tmp_path, rng, capsys):
    data, adjacency = planted(rng, n=60)
    data.obsm["X_rep"] = rng.normal(size=(60, 5))
    model = GraphDiffVAE(8, 2, graph="knn", k=3, use_rep="X_rep").fit(
        data, epochs=1, verbose=0, evaluate_links=False)
    np.testing.assert_array_equal(model.adjacency_.toarray(), graphs.knn_graph(data.obsm["X_rep"], 3).toarray())
    data.obsp["given"] = adjacency
    data.write_h5ad(tmp_path / "d.h5ad")
    args = ["--data", str(tmp_path / "d.h5ad"), "--graph", "obsp:given", "--epochs", "2",
            "--hidden-dim", "8", "--latent-dim", "2", "--out", str(tmp_path / "out"), "--quiet"]
    with pytest.warns(UserWarning, match="perplexity 30.0 is too large for 60 cells; using 19.7"):
        assert graph_cli.main(args) == 0
    assert (sp.load_npz(tmp_path / "out" / "input_adjacency.npz") != adjacency).nnz == 0
    assert graph_cli.main([*args[:3], "obsp:missing", *args[4:]]) == 2
    assert "no adata.obsp['missing']" in capsys.readouterr().err


def test_the_report_says_what_it_leaves_out_and_what_attention_can_say(tmp_path):
    """pbmc68k_reduced (real, offline) has no progenitor types; attention on the paper's
    one-neighbour graph has little to choose between."""
    out = tmp_path / "out"
    args = ["--dataset", "pbmc68k_reduced", "--conv", "gat", "--heads", "2", "--epochs", "2",
            "--hidden-dim", "16", "--latent-dim", "4", "--out", str(out), "--quiet"]
    assert graph_cli.main(args) == 0
    text = (out / "report.md").read_text()
    assert "Encoder: graph attention with 2 heads" in text and "every attention weight is near 0.5" in text
    assert "No progenitor types are known for these data" in text
    assert not (out / "links_tsne.png").exists() and "(0 shown)" not in text
    metrics = json.loads((out / "metrics.json").read_text())
    share = metrics["same_type_share"]
    explained = "Co-expression links join cells of the same type more often" in text
    assert explained == (share["coexpression"] > share["predicted"])
    # the baselines beside the model: PCA with the representation's size, of the same input
    assert f"| PCA(4) neighbours (baseline) | {share['pca_neighbours']:.3f} |" in text
    assert f"| PCA(4) of the same input (baseline) | {metrics['pca_kmeans_ari']:.3f} |" in text


@pytest.mark.approximate_search
def test_command_line_from_disk_in_subgraphs_on_paul15(tmp_path, paul15, monkeypatch):
    """Real cells: ``diffvae graph --backed --batch-size`` with graph attention, every step as
    above its size limits (graph from a streamed PCA, co-expression of a sample, t-SNE of a
    sample); the matrix is never loaded and the outputs are those of an in-memory run's kind."""
    from diffvae.cli import graph as graph_cli

    data = paul15.copy()
    data.X = sp.csr_matrix(data.X)
    data.write_h5ad(tmp_path / "paul15.h5ad")
    monkeypatch.setattr(neighbours, "EXACT_NEIGHBOURS_MAX_CELLS", 1000)
    monkeypatch.setattr(ad.AnnData, "to_memory", lambda self: pytest.fail("matrix loaded"))
    out = tmp_path / "out"
    args = ["--data", str(tmp_path / "paul15.h5ad"), "--backed", "--batch-size", "700",
            "--conv", "gat", "--epochs", "10", "--learning-rate", "1e-3",
            "--tsne-max-cells", "1000", "--out", str(out), "--quiet"]
    assert graph_cli.main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["batch_size"] == 700 and metrics["coexpression_cells"] == 1000
    assert metrics["tsne_cells"] == 1000 and metrics["link_prediction"]["test"]["auc"] > 0.6
    shares = metrics["same_type_share"]
    assert min(shares["input"], shares["predicted"], shares["coexpression"]) > shares["chance"]
    report = (out / "report.md").read_text()
    assert "subgraphs of about 700 cells" in report and "random sample of 1,000 cells, with" in report
    stored = ad.read_h5ad(out / "graph_diffvae.h5ad")
    assert stored.X is None and stored.n_obs == paul15.n_obs  # the matrix stays in the input
    links = pd.read_csv(out / "link_importance.csv")
    assert len(links) == 2 * sp.triu(stored.obsp["input_graph"], 1).nnz
    assert (links.groupby("target")["attention"].sum() <= 1 + 1e-5).all()


def test_command_line_multitask(tmp_path, rng):
    data, _ = planted(rng, n=120)
    data.obs["cell_type"] = pd.Categorical(np.repeat([f"t{i}" for i in range(6)], 20))
    data.obs_names = [f"cell{i}" for i in range(120)]
    data.var_names = [f"gene{i}" for i in range(30)]
    path = tmp_path / "planted.h5ad"
    data.write_h5ad(path)
    out = tmp_path / "out"
    args = ["--data", str(path), "--label-key", "cell_type", "--progenitors", "t0", "--multitask",
            "--conv", "gat", "--heads", "2", "--graph", "knn", "--k", "5", "--latent-dim", "4",
            "--epochs", "5", "--graph-weight", "0.5", "--out", str(out), "--quiet"]
    assert graph_cli.main(args) == 0
    model = MultitaskDiffVAE.load(out / "multitask_diffvae")
    assert (model.conv, model.heads, model.graph_weight, model.latent_dim) == ("gat", 2, 0.5, 4)
    stored = ad.read_h5ad(out / "graph_diffvae.h5ad")
    np.testing.assert_array_equal(stored.obsm["X_multitask"], model.latent_)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "multitask_diffvae" and 0 <= metrics["kmeans_ari"] <= 1
    assert (out / "link_importance.csv").exists() and (out / "progenitor_attention.png").exists()


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_command_line_refuses_a_bad_batch_size_before_reading(tmp_path, capsys, value):
    from diffvae.cli import graph as graph_cli

    with pytest.raises(SystemExit) as stopped:
        graph_cli.main(["--data", str(tmp_path / "absent.h5ad"), "--batch-size", value,
                        "--out", str(tmp_path / "out")])
    assert stopped.value.code == 2
    assert f"expected a positive number of cells, 'auto' or 'full', got '{value}'" in capsys.readouterr().err
