"""The graph layers (graph_diffvae.layers): the GCN shim and graph attention against numpy."""
import numpy as np
import pytest

from graph_diffvae import graphs
from graph_diffvae.layers import GCNConv, sparse_adjacency


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
