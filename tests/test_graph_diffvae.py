"""Graph-DiffVAE: graphs, GCN propagation, losses, link prediction, the command line."""
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

from diffvae import InputError
from diffvae.cli import graph as train
from graph_diffvae import graphs, neighbours
from graph_diffvae.layers import GCNConv, sparse_adjacency
from graph_diffvae.links import split_edges
from graph_diffvae.losses import dense_reconstruction_loss, sparse_reconstruction_loss
from graph_diffvae.model import GraphDiffVAE


@pytest.mark.parametrize("units", [3, 9])  # fewer units than features: A (X W); more: (A X) W
def test_gcn_propagation_equals_numpy(rng, units):
    import tensorflow as tf

    a = graphs.symmetric_binary(*rng.integers(0, 8, (2, 12)), 8)
    x = rng.normal(size=(8, 5)).astype(np.float32)
    layer = GCNConv(units, activation="relu")
    out = layer([tf.constant(x), sparse_adjacency(graphs.normalize(a))]).numpy()
    a_hat = a.toarray() + np.eye(8)
    d = a_hat.sum(1) ** -0.5
    expected = (d[:, None] * a_hat * d[None, :]) @ x @ layer.kernel.numpy() + layer.bias.numpy()
    np.testing.assert_allclose(out, np.maximum(expected, 0.0), rtol=1e-5, atol=1e-6)


def test_pearson_graph_matches_numpy_corrcoef(rng):
    x = rng.normal(size=(50, 20))
    corr = np.corrcoef(x)
    np.fill_diagonal(corr, -np.inf)
    for k in (1, 3):
        expected = np.zeros((50, 50))
        top = np.argsort(-corr, axis=1)[:, :k]
        expected[np.repeat(np.arange(50), k), top.ravel()] = 1
        expected = np.maximum(expected, expected.T)
        np.testing.assert_array_equal(graphs.pearson_graph(x, k, block_size=7).toarray(), expected)


def test_pearson_graph_has_the_edges_of_scikit_learn_correlation_neighbours(rng):
    from sklearn.neighbors import NearestNeighbors

    x = rng.gamma(1.0, 1.0, size=(300, 40))
    for k in (1, 4):
        _, idx = NearestNeighbors(n_neighbors=k, metric="correlation").fit(x).kneighbors()
        expected = graphs.symmetric_binary(np.repeat(np.arange(300), k), idx.ravel(), 300)
        assert (graphs.pearson_graph(x, k) != expected).nnz == 0


def test_approximate_graphs_find_the_exact_neighbours_on_paul15(paul15, monkeypatch):
    from diffvae.preprocessing import Preprocessor
    from sklearn.decomposition import PCA

    x = Preprocessor().fit_transform(paul15)  # real data, 2660 cells
    exact = graphs.pearson_graph(x, 1, method="exact")
    approximate = graphs.pearson_graph(x, 1, method="approximate")
    # the edges found, against the exact ones: pynndescent's recall on real cells
    assert (approximate.multiply(exact)).nnz / exact.nnz > 0.98
    assert abs(approximate.nnz - exact.nnz) / exact.nnz < 0.03
    pcs = PCA(20, random_state=0).fit_transform(x)
    knn_exact, knn_approx = (graphs.knn_graph(pcs, 10, method=m) for m in ("exact", "approximate"))
    assert knn_approx.multiply(knn_exact).nnz / knn_exact.nnz > 0.97
    assert knn_approx.diagonal().sum() == 0
    # the co-expression pairs: approximate candidates give (nearly) the exact top pairs
    co_exact = graphs.coexpression_graph(x, 3000, method="exact")
    co_approximate = graphs.coexpression_graph(x, 3000, method="approximate")
    assert co_approximate.nnz == co_exact.nnz == 6000
    assert co_approximate.multiply(co_exact).nnz / co_exact.nnz > 0.95
    # "auto" is exact up to the threshold and approximate above it
    monkeypatch.setattr(graphs, "EXACT_NEIGHBOURS_MAX_CELLS", 1000)
    assert (graphs.pearson_graph(x, 1) != approximate).nnz == 0
    assert (graphs.coexpression_graph(x, 3000) != co_approximate).nnz == 0
    with pytest.raises(InputError, match="method must be one of"):
        graphs.knn_graph(pcs, 10, method="fast")


@pytest.mark.parametrize("k", [1, 3])
def test_exact_top_products_equal_numpy_and_prune_by_norm(rng, k):
    # SYNTHETIC features; block sizes small so that several blocks of rows and candidates run
    z = (rng.normal(size=(3000, 8)) * rng.uniform(0.2, 3.0, size=(3000, 1))).astype(np.float32)
    scores = z @ z.T
    np.fill_diagonal(scores, -np.inf)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    found, share = neighbours.exact_top_products(z, k, block_size=256)
    np.testing.assert_array_equal(np.take_along_axis(scores, found, axis=1),
                                  np.take_along_axis(scores, expected, axis=1))
    assert (found != np.arange(3000)[:, None]).all()
    assert share < 0.6  # varied norms: most candidates are never scored
    # equal norms: nothing can be pruned, every pair is scored
    unit = z / np.linalg.norm(z, axis=1, keepdims=True)
    assert neighbours.exact_top_products(unit, k, block_size=256)[1] == pytest.approx(1.0, abs=1e-3)


def test_approximate_predicted_links_are_the_largest_inner_products(rng, monkeypatch):
    from graph_diffvae.links import top_partners

    # SYNTHETIC node features with norms that vary, so that the largest inner product is not
    # the nearest point
    z = (rng.normal(size=(3000, 16)) * rng.uniform(0.2, 3.0, size=(3000, 1))).astype(np.float32)
    exact = top_partners(z, 1, method="exact")
    approximate = top_partners(z, 1, method="approximate")
    assert approximate.multiply(exact).nnz / exact.nnz > 0.98
    assert approximate.diagonal().sum() == 0
    # "auto" is the exact search at any size (it beat the approximate one in time and accuracy)
    monkeypatch.setattr(graphs, "EXACT_NEIGHBOURS_MAX_CELLS", 1000)
    assert (top_partners(z, 1) != exact).nnz == 0


def test_coexpression_graph_is_the_top_absolute_correlations(rng):
    x = rng.normal(size=(40, 10))
    corr = np.abs(np.corrcoef(x))
    i, j = np.triu_indices(40, k=1)
    best = np.argsort(-corr[i, j])[:30]
    expected = graphs.symmetric_binary(i[best], j[best], 40).toarray()
    np.testing.assert_array_equal(graphs.coexpression_graph(x, 30, block_size=9).toarray(), expected)


def test_graph_files_and_bad_graphs(tmp_path):
    a = graphs.symmetric_binary(np.array([0, 1]), np.array([1, 2]), 4)
    sp.save_npz(tmp_path / "g.npz", a)
    scipy.io.mmwrite(tmp_path / "g.mtx", a)
    pd.DataFrame({"source": [0, 1], "target": [1, 2]}).to_csv(tmp_path / "g.csv", index=False)
    pd.DataFrame({"source": ["c0", "c1"], "target": ["c1", "c2"]}).to_csv(tmp_path / "n.csv", index=False)
    for name in ("g.npz", "g.mtx", "g.csv", "n.csv"):
        got = graphs.read_graph(tmp_path / name, 4, ["c0", "c1", "c2", "c3"])
        np.testing.assert_array_equal(got.toarray(), a.toarray())
    with pytest.raises(InputError, match=r"shape \(4, 4\) but the data have 5 cells"):
        graphs.read_graph(tmp_path / "g.npz", 5)
    bad = a.copy().astype(float)
    bad.data[0] = -1
    with pytest.raises(InputError, match="negative weights"):
        graphs.check_graph(bad, 4)
    bad.data[0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        graphs.check_graph(bad, 4)
    pd.DataFrame({"source": [0], "target": [9]}).to_csv(tmp_path / "far.csv", index=False)
    with pytest.raises(InputError, match="must lie in 0..3"):
        graphs.read_graph(tmp_path / "far.csv", 4)


def test_sparse_loss_equals_dense_loss_with_every_non_edge(rng):
    import tensorflow as tf

    n = 12
    target = graphs.symmetric_binary(*rng.integers(0, n, (2, 15)), n) + sp.eye(n, format="csr")
    z = tf.constant(rng.normal(size=(n, 4)).astype(np.float32))
    positives = np.stack(target.nonzero(), axis=1)
    negatives = np.stack(np.nonzero(target.toarray() == 0), axis=1)
    dense = float(dense_reconstruction_loss(z, target.toarray()))
    sparse = float(sparse_reconstruction_loss(z, positives, negatives))
    assert sparse == pytest.approx(dense, rel=1e-5)
    # the sampled estimate is unbiased: half of the non-edges, averaged over draws
    draws = [float(sparse_reconstruction_loss(z, positives, negatives[rng.permutation(len(negatives))[:60]]))
             for _ in range(200)]
    assert np.mean(draws) == pytest.approx(dense, rel=0.05)


def test_pair_logits_gradient_equals_numpy(rng):
    import tensorflow as tf

    from graph_diffvae.losses import pair_logits

    z = rng.normal(size=(40, 6)).astype(np.float32)
    pairs = rng.integers(0, 40, size=(300, 2))  # repeated pairs and self pairs included
    weights = rng.normal(size=300).astype(np.float32)
    variable = tf.Variable(z)
    with tf.GradientTape() as tape:
        logits = pair_logits(variable, pairs)
        total = tf.reduce_sum(weights * logits)
    gradient = tape.gradient(total, variable).numpy()
    expected = np.zeros_like(z)
    np.add.at(expected, pairs[:, 0], weights[:, None] * z[pairs[:, 1]])
    np.add.at(expected, pairs[:, 1], weights[:, None] * z[pairs[:, 0]])
    np.testing.assert_allclose(logits.numpy(), np.sum(z[pairs[:, 0]] * z[pairs[:, 1]], axis=1),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-4)


def test_dense_loss_equals_numpy(rng):
    n = 10
    target = (graphs.symmetric_binary(*rng.integers(0, n, (2, 12)), n) + sp.eye(n)).toarray()
    target = np.minimum(target, 1)
    z = rng.normal(size=(n, 3))
    logits = z @ z.T
    p = 1 / (1 + np.exp(-logits))
    pos_weight = (n * n - target.sum()) / target.sum()
    norm = n * n / (2 * (n * n - target.sum()))
    expected = norm * np.mean(-(pos_weight * target * np.log(p) + (1 - target) * np.log(1 - p)))
    assert float(dense_reconstruction_loss(z.astype(np.float32), target)) == pytest.approx(expected, rel=1e-5)


def planted(rng, n=300, communities=6, signal=True):
    """SYNTHETIC stochastic block model whose node features carry the community."""
    group = np.repeat(np.arange(communities), n // communities)
    same = group[:, None] == group[None, :]
    a = np.triu(rng.uniform(size=(n, n)) < np.where(same, 0.12, 0.003), k=1)
    features = rng.gamma(1.0, 1.0, (n, 30))
    features[:, :communities] += 4 * np.eye(communities)[group]
    if not signal:
        features = features[rng.permutation(n)]
    return ad.AnnData(features.astype(np.float32)), sp.csr_matrix(a + a.T)


def test_planted_communities_held_out_auc(rng):
    fit = {"epochs": 150, "learning_rate": 5e-3, "verbose": 0, "seed": 0}
    data, adjacency = planted(rng)
    with_signal = GraphDiffVAE(64, 16).fit(data, adjacency=adjacency, **fit)
    shuffled_data, _ = planted(np.random.default_rng(1234), signal=False)
    shuffled = GraphDiffVAE(64, 16).fit(shuffled_data, adjacency=adjacency, **fit)
    auc, auc_shuffled = with_signal.link_metrics_["test"]["auc"], shuffled.link_metrics_["test"]["auc"]
    print(f"held-out AUC {auc:.3f}, shuffled features {auc_shuffled:.3f}")
    # a perfect community call scores about 0.9 here: a random non-edge joins one community
    # with chance 1/6
    assert auc > 0.75 and auc > auc_shuffled + 0.1


def test_split_edges_holds_out_disjoint_edges_and_non_edges(rng):
    adjacency = graphs.symmetric_binary(*rng.integers(0, 200, (2, 600)), 200)
    train_graph, (valid, valid_neg), (test, test_neg) = split_edges(adjacency, seed=0)
    n_edges = sp.triu(adjacency, 1).nnz
    assert len(test) == int(n_edges * 0.1) and len(valid) == int(n_edges * 0.05)
    assert len(test_neg) == len(test) and len(valid_neg) == len(valid)
    assert sp.triu(train_graph, 1).nnz == n_edges - len(test) - len(valid)
    assert all(train_graph[i, j] == 0 for i, j in test) and all(adjacency[i, j] == 0 for i, j in test_neg)


def test_command_line_on_paul15_as_at_scale(tmp_path, data_dir, paul15, monkeypatch):
    # every step as above its size limits (approximate input graph, links and co-expression
    # pairs; t-SNE of a sample), on real cells
    monkeypatch.setattr(graphs, "EXACT_NEIGHBOURS_MAX_CELLS", 1000)
    out = tmp_path / "out"
    args = ["--dataset", "paul15_tradeseq", "--data-dir", str(data_dir), "--epochs", "30",
            "--learning-rate", "1e-3", "--loss", "sparse", "--tsne-max-cells", "1000",
            "--early-stopping", "5", "--out", str(out), "--quiet"]
    assert train.main(args) == 0
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
    assert train.main(args) == 2
    assert "shape (10, 10) but the data have 2660 cells" in capsys.readouterr().err


def test_save_and_load_give_the_same_network(tmp_path, rng):
    import tensorflow as tf

    data, adjacency = planted(rng, n=60)
    model = GraphDiffVAE(16, 4).fit(data, adjacency=adjacency, epochs=3, verbose=0, evaluate_links=False)
    model.save(tmp_path / "bundle")
    again = GraphDiffVAE.load(tmp_path / "bundle")
    x = tf.constant(model.preprocessor_.transform(data))
    a = sparse_adjacency(graphs.normalize(model.adjacency_))
    np.testing.assert_array_equal(again.network_((x, a))[0].numpy(), model.network_((x, a))[0].numpy())
    assert again.get_params() == model.get_params() and (again.adjacency_ != model.adjacency_).nnz == 0
    assert (tmp_path / "bundle" / "model.keras").exists()


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
        assert train.main(args) == 0
    assert (sp.load_npz(tmp_path / "out" / "input_adjacency.npz") != adjacency).nnz == 0
    assert train.main([*args[:3], "obsp:missing", *args[4:]]) == 2
    assert "no adata.obsp['missing']" in capsys.readouterr().err


def np_graph_attention(x, adjacency, kernel, att_self, att_neigh, bias, concat, slope=0.2):
    """Graph attention by the formulas, node by node (no edge list, no segment sums)."""
    a = (adjacency.toarray() + np.eye(len(x))) > 0
    heads, units = att_self.shape
    h = np.einsum("nf,fhu->nhu", x, kernel)
    out = np.zeros((len(x), heads, units))
    alpha = np.zeros((len(x), len(x), heads))
    for i in range(len(x)):
        neighbours = np.flatnonzero(a[i])
        for k in range(heads):
            e = h[i, k] @ att_self[k] + h[neighbours, k] @ att_neigh[k]
            e = np.where(e > 0, e, slope * e)
            weights = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
            alpha[i, neighbours, k] = weights
            out[i, k] = weights @ h[neighbours, k]
    out = out.reshape(len(x), -1) if concat else out.mean(axis=1)
    return out + bias, alpha


@pytest.mark.parametrize("heads, concat", [(1, True), (3, True), (2, False)])
def test_graph_attention_equals_numpy(rng, heads, concat):
    import tensorflow as tf

    from graph_diffvae.layers import GraphAttention

    n = 9
    adjacency = graphs.symmetric_binary(*rng.integers(0, n, (2, 14)), n)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    layer = GraphAttention(4, heads, concat_heads=concat)
    inputs = [tf.constant(x), sparse_adjacency(graphs.normalize(adjacency))]
    out = layer(inputs).numpy()
    expected, alpha = np_graph_attention(
        x, adjacency, layer.kernel.numpy(), layer.attention_self.numpy(),
        layer.attention_neighbour.numpy(), layer.bias.numpy(), concat)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    edges, weights, _ = layer.attention(inputs)
    edges = edges.numpy()
    np.testing.assert_allclose(weights.numpy(), alpha[edges[:, 0], edges[:, 1]], rtol=1e-4, atol=1e-6)
    again = GraphAttention.from_config(layer.get_config())
    assert (again.units, again.heads, again.concat_heads) == (4, heads, concat)


def test_graph_attention_model_trains_saves_and_weighs_links(tmp_path, rng):
    data, adjacency = planted(rng, n=60)
    model = GraphDiffVAE(16, 4, conv="gat", heads=2).fit(data, adjacency=adjacency, epochs=5,
                                                           learning_rate=5e-3, verbose=0)
    assert np.isfinite(model.history_["loss"]).all() and 0 <= model.link_metrics_["test"]["auc"] <= 1
    links = model.link_importance(data)
    n_directed = (model.adjacency_ != 0).nnz
    assert len(links) == n_directed and (links["target"] != links["source"]).all()
    assert links["attention"].between(0, 1).all()
    assert (links.groupby("target")["attention"].sum() <= 1 + 1e-6).all()  # the self-loop takes the rest
    model.save(tmp_path / "gat")
    again = GraphDiffVAE.load(tmp_path / "gat")
    assert (again.conv, again.heads) == ("gat", 2)
    pd.testing.assert_frame_equal(again.link_importance(data), links)
    with pytest.raises(InputError, match="needs a graph-attention model"):
        GraphDiffVAE(16, 4).fit(data, adjacency=adjacency, epochs=1, verbose=0).link_importance(data)
    with pytest.raises(InputError, match="heads are attention heads"):
        GraphDiffVAE(16, 4, heads=2).fit(data, adjacency=adjacency, epochs=1, verbose=0)
    with pytest.raises(InputError, match="must split evenly over 3 heads"):
        GraphDiffVAE(16, 4, conv="gat", heads=3).fit(data, adjacency=adjacency, epochs=1, verbose=0)


def test_progenitor_attention_mass_by_type():
    from graph_diffvae import evaluation, plots

    labels = np.array(["P", "P", "A", "B", "B"])
    links = pd.DataFrame({"target": [0, 0, 0, 1, 2, 1], "source": [2, 3, 4, 0, 0, 2],
                          "attention": [0.1, 0.2, 0.3, 0.9, 0.5, 0.05]})
    mass = evaluation.progenitor_attention(links, labels, ["P"])
    # cell 0 gives 0.1 to A and 0.2 + 0.3 to B; cell 1's link to cell 0 (a progenitor) is left out
    expected = pd.DataFrame({"A": [0.1, 0.05], "B": [0.5, 0.0]}, index=[0, 1])
    np.testing.assert_allclose(mass.loc[[0, 1], ["A", "B"]].to_numpy(), expected.to_numpy())
    fig = plots.attention_mass(mass, labels)
    assert fig.axes[0].images[0].get_array().shape == (2, 2)


def test_the_report_says_what_it_leaves_out_and_what_attention_can_say(tmp_path):
    """pbmc68k_reduced (real, offline) has no progenitor types; attention on the paper's
    one-neighbour graph has little to choose between."""
    out = tmp_path / "out"
    args = ["--dataset", "pbmc68k_reduced", "--conv", "gat", "--heads", "2", "--epochs", "2",
            "--hidden-dim", "16", "--latent-dim", "4", "--out", str(out), "--quiet"]
    assert train.main(args) == 0
    text = (out / "report.md").read_text()
    assert "Encoder: graph attention with 2 heads" in text and "every attention weight is near 0.5" in text
    assert "No progenitor types are known for these data" in text
    assert not (out / "links_tsne.png").exists() and "(0 shown)" not in text
    share = json.loads((out / "metrics.json").read_text())["same_type_share"]
    explained = "Co-expression links join cells of the same type more often" in text
    assert explained == (share["coexpression"] > share["predicted"])
