"""Subgraph minibatches (Cluster-GCN) and block-by-block embedding of the graph models."""
import numpy as np
import pytest
import scipy.sparse as sp

from diffvae import InputError, defaults
from graph_diffvae import GraphDiffVAE, MultitaskDiffVAE, graphs, losses, subgraphs
from graph_diffvae.layers import sparse_adjacency
from graph_diffvae.multitask import MultitaskNetwork
from graph_diffvae.network import GraphDiffVAENetwork

from tests.helpers import planted


def numpy_normalized(a: np.ndarray) -> np.ndarray:
    a_hat = a + np.eye(len(a))
    d = a_hat.sum(1) ** -0.5
    return d[:, None] * a_hat * d[None, :]


def ring_of_cliques(n_cliques=12, size=25, seed=0) -> sp.csr_matrix:
    """SYNTHETIC graph of dense groups joined in a ring by single edges: a good cut exists."""
    rng = np.random.default_rng(seed)
    blocks = [np.triu(rng.uniform(size=(size, size)) < 0.4, 1) for _ in range(n_cliques)]
    a = sp.block_diag(blocks).tolil()
    for c in range(n_cliques):
        a[c * size, ((c + 1) % n_cliques) * size + 1] = 1
    a = sp.csr_matrix(a)
    return graphs.symmetric_binary(*a.nonzero(), a.shape[0])


def test_partition_is_balanced_and_cuts_fewer_edges_than_chance():
    a = ring_of_cliques()
    part = subgraphs.partition(a, 12, seed=0)
    sizes = np.bincount(part, minlength=12)
    assert len(part) == a.shape[0] and sizes.min() >= 0.8 * sizes.mean()
    rows, cols = sp.triu(a, 1).nonzero()
    cut = np.mean(part[rows] != part[cols])
    chance = np.mean(np.random.default_rng(0).permutation(part)[rows] != part[cols])
    assert cut < 0.1 < 0.5 < chance
    assert np.array_equal(part, subgraphs.partition(a, 12, seed=0))


def test_each_epoch_visits_every_cell_once_with_the_subgraphs_edges(rng):
    a = ring_of_cliques()
    x = rng.normal(size=(a.shape[0], 4)).astype(np.float32)
    batches = subgraphs.SubgraphBatches(a, lambda rows: x[rows], 100, seed=3, parts_per_batch=4)
    assert len(batches) == 3 and sorted(batches.cell_order()) == list(range(a.shape[0]))
    steps = batches.steps()
    seen = []
    dense = a.toarray()
    for _ in range(len(batches)):
        (x_s, a_s), (positives, negatives) = next(steps)
        # the step's cells, recovered from their features
        nodes = np.array([np.flatnonzero((x == row).all(axis=1))[0] for row in x_s])
        seen.extend(nodes)
        sub = dense[np.ix_(nodes, nodes)]
        np.testing.assert_allclose(sp.csr_matrix((a_s.values.numpy(), a_s.indices.numpy().T),
                                                 shape=sub.shape).toarray(),
                                   numpy_normalized(sub), rtol=1e-6)
        target = np.minimum(sub + np.eye(len(nodes)), 1)
        assert sorted(map(tuple, positives)) == sorted(zip(*np.nonzero(target)))
        assert len(negatives) == len(positives) and not target[negatives[:, 0], negatives[:, 1]].any()
    assert sorted(seen) == list(range(a.shape[0]))  # one epoch: every cell exactly once
    again = subgraphs.SubgraphBatches(a, lambda rows: x[rows], 100, seed=3, parts_per_batch=4)
    first, repeat = next(subgraphs.SubgraphBatches(a, lambda rows: x[rows], 100, seed=3,
                                                   parts_per_batch=4).steps()), next(again.steps())
    assert np.array_equal(first[1][1], repeat[1][1])  # the same seed samples the same pairs


@pytest.mark.parametrize("n", [600, 2400])
def test_a_steps_size_follows_the_batch_size_not_the_graph(rng, n):
    adjacency = graphs.knn_graph(rng.normal(size=(n, 5)), 5)
    batches = subgraphs.SubgraphBatches(adjacency, lambda rows: np.zeros((len(rows), 1)), 200)
    sizes = [len(next(batches.steps())[0][0]) for _ in range(len(batches))]
    assert max(sizes) <= 1.25 * 200 and np.mean(sizes) == pytest.approx(200, rel=0.25)


@pytest.mark.parametrize("network", [
    GraphDiffVAENetwork(6, 16, 4, seed=0),
    GraphDiffVAENetwork(6, 16, 4, seed=0, conv="gat", heads=2),
    MultitaskNetwork(6, (16, 8), 4, seed=0),
    MultitaskNetwork(6, (16, 8), 4, seed=0, conv="gat", heads=2)])
def test_embedding_in_blocks_equals_the_whole_graph_forward_pass(rng, network):
    import tensorflow as tf

    a = graphs.normalize(graphs.knn_graph(rng.normal(size=(300, 3)), 4))
    x = rng.uniform(size=(300, 6)).astype(np.float32)
    z, mu = network((tf.constant(x), sparse_adjacency(a)))[:2]
    z_blocks, mu_blocks = subgraphs.embed_in_blocks(network, lambda rows: x[rows], a,
                                                    rng.permutation(300), block_size=37)
    np.testing.assert_allclose(mu_blocks, mu.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z_blocks, z.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("estimator", [GraphDiffVAE(64, 16), MultitaskDiffVAE(16, (64, 32))])
def test_minibatch_training_predicts_held_out_links_as_full_batch_does(rng, estimator):
    data, adjacency = planted(rng, n=900)
    fit = {"adjacency": adjacency, "epochs": 30, "learning_rate": 5e-3, "verbose": 0, "seed": 0}
    full = estimator.fit(data, batch_size=None, **fit).link_metrics_["test"]
    history = estimator.fit(data, batch_size=300, **fit).history_
    mini = estimator.link_metrics_["test"]
    print(f"held-out AUC full batch {full['auc']:.3f}, subgraphs {mini['auc']:.3f}")
    assert mini["auc"] > 0.75 and mini["auc"] > full["auc"] - 0.05
    assert mini["ap"] > full["ap"] - 0.05
    assert {"val_auc", "val_ap"} <= set(history.columns) and len(history) == 30
    assert estimator.transform().shape == (900, 16)


def test_batch_size_auto_switches_to_subgraphs_above_the_threshold(rng, monkeypatch):
    made = []
    monkeypatch.setattr(subgraphs.SubgraphBatches, "dataset",
                        lambda self, n: _record(made, self, n))
    data, adjacency = planted(rng, n=300)
    fit = {"adjacency": adjacency, "epochs": 1, "verbose": 0, "evaluate_links": False}
    GraphDiffVAE(16, 4).fit(data, **fit)
    assert made == []  # 300 cells: full batch
    monkeypatch.setattr(defaults, "GRAPH_FULL_BATCH_MAX_CELLS", 200)
    monkeypatch.setattr(defaults, "GRAPH_BATCH_SIZE", 100)
    GraphDiffVAE(16, 4).fit(data, **fit)
    assert made == [3]  # 300 cells in subgraphs of about 100


_DATASET = subgraphs.SubgraphBatches.dataset


def _record(made: list, batches, n_features: int):
    """SubgraphBatches.dataset, noting how many steps an epoch has."""
    made.append(len(batches))
    return _DATASET(batches, n_features)


@pytest.mark.parametrize("fit, message", [
    ({"batch_size": 0}, r"batch_size must be positive \(a whole number\), got 0"),
    ({"batch_size": 64, "loss": "dense"}, "subgraph minibatches .* score sampled non-edges"),
])
def test_bad_batch_arguments_are_refused(rng, fit, message):
    data, adjacency = planted(rng, n=60)
    with pytest.raises(InputError, match=message):
        GraphDiffVAE(8, 3).fit(data, adjacency=adjacency, verbose=0, **fit)


@pytest.mark.parametrize("network", [
    GraphDiffVAENetwork(6, 16, 4, seed=0), GraphDiffVAENetwork(6, 16, 4, seed=0, conv="gat", heads=2),
    MultitaskNetwork(6, (16, 8), 4, seed=0, mmd_weight=0.0)])
def test_a_padded_step_has_the_loss_of_the_step_it_pads(rng, network):
    """The fixed-size steps JAX trains on: zero rows, entries and pairs on a padding row, and
    counts; the network's loss on them equals its loss on the plain step."""
    a = graphs.knn_graph(rng.normal(size=(400, 3)), 4)
    x = rng.uniform(size=(400, 6)).astype(np.float32)
    plain = subgraphs.SubgraphBatches(a, lambda rows: x[rows], 150, seed=1)
    padded = subgraphs.SubgraphBatches(a, lambda rows: x[rows], 150, seed=1, pad=True)
    (x_plain, a_plain), target = next(plain.steps())
    (x_pad, entries, values), padded_target = next(padded.steps())
    n = len(x_plain)
    assert padded_target[2].tolist() == [[n, len(target[0]), len(target[1])]]
    assert len(x_pad) % 64 == 0 and len(x_pad) > n and not x_pad[n:].any()
    assert (entries < len(x_pad)).all() and len(entries) == len(values) >= a_plain.indices.shape[0]
    losses = []
    for inputs, y in (((x_plain, a_plain), target), ((x_pad, entries, values), padded_target)):
        outputs = network(inputs, training=False)
        losses.append(float(network.compute_loss(inputs, y, outputs)))
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)


def test_every_padded_step_has_one_shape(rng):
    """JAX compiles a padded step once: the bounds hold for every step of several epochs."""
    a = graphs.knn_graph(rng.normal(size=(700, 3)), 6)
    batches = subgraphs.SubgraphBatches(a, lambda rows: np.zeros((len(rows), 2), np.float32), 160,
                                        seed=2, pad=True)
    steps = batches.steps()
    shapes = {tuple(array.shape for array in (*inputs, *target))
              for inputs, target in (next(steps) for _ in range(3 * len(batches)))}
    assert len(shapes) == 1


def test_data_parallel_steps_share_each_steps_parts_out_over_the_devices(rng):
    """Two devices: one process's step is what two processes of a device each make (so two
    processes train as one process on two devices), rows and pairs numbered in the whole step; over an epoch the devices see every cell once; and the network
    on the step, a graph of two disjoint subgraphs, gives each subgraph's own outputs and the
    mean of their losses."""
    network = GraphDiffVAENetwork(6, 16, 4, seed=0)
    a = graphs.knn_graph(rng.normal(size=(500, 3)), 4)
    x = rng.uniform(size=(500, 6)).astype(np.float32)
    both = subgraphs.SubgraphBatches(a, lambda rows: x[rows], 200, seed=1, shards=(0, 2, 2))
    each = [subgraphs.SubgraphBatches(a, lambda rows: x[rows], 200, seed=1, shards=(d, 1, 2))
            for d in range(2)]
    assert len(both) == len(each[0]) and both.sizes == each[1].sizes
    n_rows = both.sizes[0]
    steps, device_steps = both.steps(), [e.steps() for e in each]
    seen = []
    for _ in range(len(both)):
        (x_step, entries, values), (positives, negatives, counts) = next(steps)
        per_device = [next(s) for s in device_steps]
        np.testing.assert_array_equal(x_step, np.concatenate([d[0][0] for d in per_device]))
        np.testing.assert_array_equal(entries, np.concatenate([d[0][1] for d in per_device]))
        np.testing.assert_array_equal(values, np.concatenate([d[0][2] for d in per_device]))
        np.testing.assert_array_equal(positives, np.concatenate([d[1][0] for d in per_device]))
        np.testing.assert_array_equal(negatives, np.concatenate([d[1][1] for d in per_device]))
        np.testing.assert_array_equal(counts, np.concatenate([d[1][2] for d in per_device]))
        for d in range(2):  # pairs stay inside their device's rows
            for pairs in (positives, negatives):
                mine = pairs[d * len(pairs) // 2:(d + 1) * len(pairs) // 2]
                assert ((mine >= d * n_rows) & (mine < (d + 1) * n_rows)).all()
            rows = x_step[d * n_rows:d * n_rows + counts[d, 0]]
            seen.extend(np.flatnonzero((x == row).all(axis=1))[0] for row in rows)
    assert sorted(seen) == list(range(500))
    inputs, target = (x_step, entries, values), (positives, negatives, counts)
    z = network(inputs, training=False)[0].numpy()
    shard_losses = []
    for d in range(2):
        rows = slice(d * n_rows, (d + 1) * n_rows)
        pick = lambda pairs: pairs[d * len(pairs) // 2:(d + 1) * len(pairs) // 2] - d * n_rows  # noqa: E731
        mine = ((x_step[rows], pick(entries), values[d * len(values) // 2:(d + 1) * len(values) // 2]),
                (pick(positives), pick(negatives), counts[d:d + 1]))
        np.testing.assert_allclose(z[rows], network(mine[0], training=False)[0].numpy(),
                                   rtol=1e-5, atol=1e-6)
        shard_losses.append(float(losses.reconstruction_loss(network(mine[0])[0], mine[1])))
    step_loss = float(losses.reconstruction_loss(network(inputs)[0], target))
    assert step_loss == pytest.approx(np.mean(shard_losses), rel=1e-5)


def test_data_parallel_training_needs_a_seed(rng):
    a = graphs.knn_graph(rng.normal(size=(100, 3)), 4)
    with pytest.raises(InputError, match="data-parallel graph training needs a seed"):
        subgraphs.SubgraphBatches(a, lambda rows: rows, 50, seed=None, shards=(0, 1, 2))
