"""Held-out edges and link metrics (graph_diffvae.links)."""
import scipy.sparse as sp

from graph_diffvae import graphs
from graph_diffvae.links import split_edges


def test_split_edges_holds_out_disjoint_edges_and_non_edges(rng):
    adjacency = graphs.symmetric_binary(*rng.integers(0, 200, (2, 600)), 200)
    train_graph, (valid, valid_neg), (test, test_neg) = split_edges(adjacency, seed=0)
    n_edges = sp.triu(adjacency, 1).nnz
    assert len(test) == int(n_edges * 0.1) and len(valid) == int(n_edges * 0.05)
    assert len(test_neg) == len(test) and len(valid_neg) == len(valid)
    assert sp.triu(train_graph, 1).nnz == n_edges - len(test) - len(valid)
    assert all(train_graph[i, j] == 0 for i, j in test) and all(adjacency[i, j] == 0 for i, j in test_neg)
