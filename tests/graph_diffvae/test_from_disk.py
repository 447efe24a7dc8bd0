"""The graph models trained with the expression on disk (a backed .h5ad): the same results as
in memory, and the input graphs at scale without the whole matrix in memory."""
import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from diffvae.preprocessing import Preprocessor
from graph_diffvae import GraphDiffVAE, MultitaskDiffVAE, graphs, neighbours


@pytest.mark.parametrize("estimator, batch_size", [
    (GraphDiffVAE(16, 4, graph="knn", k=3), 40), (MultitaskDiffVAE(4, (16, 8), k=2), 40),
    (GraphDiffVAE(16, 4, k=2), None)])
def test_training_from_disk_equals_training_in_memory(counts_file, counts_adata, estimator,
                                                      batch_size):
    fit = {"epochs": 3, "verbose": 0, "seed": 0, "batch_size": batch_size}
    memory = estimator.fit(counts_adata, **fit)
    z, metrics = memory.node_features_, memory.link_metrics_
    adjacency = memory.adjacency_
    disk = type(estimator)(**estimator.get_params()).fit(ad.read_h5ad(counts_file, backed="r"), **fit)
    assert (disk.adjacency_ != adjacency).nnz == 0
    np.testing.assert_allclose(disk.node_features_, z, rtol=1e-5, atol=1e-6)
    for split in ("test", "validation"):
        assert disk.link_metrics_[split] == pytest.approx(metrics[split])


@pytest.mark.approximate_search
@pytest.mark.slow  # a minute or more
def test_input_graphs_from_disk_above_the_exact_size_on_paul15(tmp_path, paul15, monkeypatch):
    """Real cells: with the exact-search limit lowered below paul15's size, the graphs are built
    from a streamed PCA of the file. The kNN graph agrees with the in-memory one as well as
    scikit-learn's own randomized PCA does (paul15's trailing components are nearly tied, so
    no PCA solver repeats the exact 49-component neighbours); the Pearson partners found among
    the standardised rows' components are nearly as correlated as the exact best."""
    from sklearn.decomposition import PCA

    path = tmp_path / "paul15.h5ad"
    ad.AnnData(sp.csr_matrix(paul15.X), var=paul15.var[[]]).write_h5ad(path)
    x = Preprocessor().fit_transform(paul15)
    exact_knn = GraphDiffVAE(graph="knn", k=5).build_graph(x)
    randomized = graphs.knn_graph(PCA(49, svd_solver="randomized", random_state=1).fit_transform(x), 5)
    z = neighbours.standardise_rows(x)
    cells, best, best_r = neighbours.top_k_pairs(z, 1)  # each cell's exact most correlated cell
    monkeypatch.setattr(neighbours, "EXACT_NEIGHBOURS_MAX_CELLS", 1000)
    fit = {"epochs": 1, "verbose": 0, "batch_size": 1024, "evaluate_links": False}
    knn = GraphDiffVAE(16, 4, graph="knn", k=5).fit(str(path), **fit).adjacency_
    pearson = GraphDiffVAE(16, 4).fit(str(path), **fit).adjacency_
    full_batch = GraphDiffVAE(16, 4).fit(str(path), **{**fit, "batch_size": None}).adjacency_
    assert (full_batch != pearson).nnz == 0  # the graph does not depend on the training mode
    overlap = exact_knn.multiply(knn).nnz / exact_knn.nnz
    baseline = exact_knn.multiply(randomized).nnz / exact_knn.nnz
    # the found partner of each cell: its most correlated neighbour in the approximate graph
    found_r = np.array([np.max(z[pearson[i].indices] @ z[i]) for i in range(len(z))])
    random_r = np.einsum("ij,ij->i", z, z[np.random.default_rng(0).permutation(len(z))])
    print(f"kNN edges shared {overlap:.3f} (randomized PCA {baseline:.3f}); Pearson partners: exact "
          f"{np.mean(found_r >= best_r - 1e-6):.3f}, median r {np.median(found_r):.3f} against the "
          f"best {np.median(best_r):.3f} and a random cell's {np.median(random_r):.3f}")
    assert overlap >= baseline
    assert np.median(found_r) > 0.9 * np.median(best_r) > np.median(random_r) + 0.2
