"""Cell graphs (graph_diffvae.graphs): the paper's Pearson graph, kNN, co-expression, files."""
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

from diffvae import InputError
from graph_diffvae import graphs, neighbours


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


@pytest.mark.approximate_search
def test_approximate_graphs_find_the_exact_neighbours_on_paul15(paul15, monkeypatch):
    from sklearn.decomposition import PCA

    from diffvae.preprocessing import Preprocessor

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
    monkeypatch.setattr(neighbours, "EXACT_NEIGHBOURS_MAX_CELLS", 1000)
    assert (graphs.pearson_graph(x, 1) != approximate).nnz == 0
    assert (graphs.coexpression_graph(x, 3000) != co_approximate).nnz == 0
    with pytest.raises(InputError, match="method must be one of"):
        graphs.knn_graph(pcs, 10, method="fast")


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


def test_an_edge_list_by_name_needs_unique_cell_names(tmp_path):
    pd.DataFrame({"source": ["c0", "c1"], "target": ["c1", "c2"]}).to_csv(tmp_path / "e.csv", index=False)
    with pytest.raises(InputError, match=r"cell names repeat in the data \(for example \['c0'\]\)"):
        graphs.read_graph(tmp_path / "e.csv", 3, ["c0", "c0", "c2"])
