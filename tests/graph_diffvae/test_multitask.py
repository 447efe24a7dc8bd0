"""The multitask model (DiffVAE + Graph-DiffVAE in one): its loss against numpy, training, the
estimator API (save / load / transform / decoder weights / link importance) and the CLI."""
import numpy as np
import pytest
import scipy.sparse as sp

from diffvae import InputError
from diffvae.base import BaseEstimator
from graph_diffvae import MultitaskDiffVAE, graphs
from graph_diffvae.layers import sparse_adjacency
from graph_diffvae.multitask import MultitaskNetwork

from tests.helpers import planted

FAST = {"epochs": 5, "learning_rate": 5e-3, "verbose": 0}


def numpy_bce(x, x_hat, eps=1e-7):
    x_hat = np.clip(x_hat, eps, 1 - eps)
    return -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)).sum(axis=1).mean()


def numpy_adjacency_loss(z, target):
    n, p = len(z), 1 / (1 + np.exp(-z @ z.T))
    pos_weight = (n * n - target.sum()) / target.sum()
    norm = n * n / (2 * (n * n - target.sum()))
    return norm * np.mean(-(pos_weight * target * np.log(p) + (1 - target) * np.log(1 - p)))


@pytest.mark.parametrize("conv, graph_cells", [("gcn", None), ("gat", None), ("gcn", 500)])
def test_loss_equals_numpy(rng, conv, graph_cells):
    """Without the (random) MMD term, the loss is the expression's BCE + graph_weight x N x
    the adjacency loss, each computed here in numpy from the network's outputs; N is the step's
    cells, or ``graph_cells`` (a subgraph of a larger graph) when given."""
    import tensorflow as tf

    n = 12
    adjacency = graphs.symmetric_binary(*rng.integers(0, n, (2, 20)), n)
    target = np.minimum((adjacency + sp.eye(n)).toarray(), 1).astype(np.float32)
    x = rng.uniform(size=(n, 7)).astype(np.float32)
    network = MultitaskNetwork(7, (8, 4), 3, conv=conv, heads=2, graph_weight=0.3, mmd_weight=0.0,
                               graph_cells=graph_cells)
    inputs = (tf.constant(x), sparse_adjacency(graphs.normalize(adjacency)))
    outputs = network(inputs)
    z_star, x_hat = outputs[0].numpy(), outputs[3].numpy()
    loss = float(network.compute_loss(inputs, tf.constant(target), outputs))
    expected = numpy_bce(x, x_hat) + 0.3 * (graph_cells or n) * numpy_adjacency_loss(z_star, target)
    assert loss == pytest.approx(expected, rel=1e-5)
    assert float(network.trackers["mmd"].result()) >= 0  # tracked, though weighted 0


def test_fit_save_load_and_the_estimator_api(tmp_path, rng):
    data, adjacency = planted(rng, n=90)
    model = MultitaskDiffVAE(6, (16, 8), mmd_samples=32).fit(data, adjacency=adjacency, seed=0, **FAST)
    history = model.history_
    assert {"reconstruction", "mmd", "adjacency", "val_auc", "val_ap"} <= set(history.columns)
    assert np.isfinite(history["loss"]).all()
    latent = model.transform(data, key_added=True)
    assert latent.shape == (90, 6) and model.node_features_.shape == (90, 6)
    np.testing.assert_array_equal(data.obsm["X_multitask"], latent)
    assert data.uns["multitask_diffvae"]["params"]["graph_weight"] == 1.0
    # omega: the product of the expression decoder's kernels, here recomputed in numpy
    kernels = [layer.kernel.numpy() for layer in model.network_.expression_decoder.layers
               if hasattr(layer, "kernel")]
    np.testing.assert_allclose(model.decoder_weights(),
                               kernels[0] @ kernels[1] @ kernels[2], rtol=1e-4, atol=1e-6)
    assert model.decoder_weights().shape == (6, 30)

    model.save(tmp_path / "bundle")
    again = BaseEstimator.load(tmp_path / "bundle")
    assert isinstance(again, MultitaskDiffVAE) and again.get_params() == model.get_params()
    np.testing.assert_array_equal(again.transform(data), latent)
    np.testing.assert_array_equal(again.node_features_, model.node_features_)
    np.testing.assert_allclose(again.decoder_weights(), model.decoder_weights())
    assert (again.adjacency_ != model.adjacency_).nnz == 0

    # the same seed gives the same model
    same = MultitaskDiffVAE(6, (16, 8), mmd_samples=32).fit(data, adjacency=adjacency, seed=0, **FAST)
    np.testing.assert_array_equal(same.transform(data), latent)


def test_attention_encoder_weighs_links(rng):
    data, adjacency = planted(rng, n=60)
    model = MultitaskDiffVAE(4, (16,), conv="gat", heads=3).fit(data, adjacency=adjacency, **FAST)
    links = model.link_importance(data)
    assert len(links) == (model.adjacency_ != 0).nnz and links["attention"].between(0, 1).all()
    assert (links.groupby("target")["attention"].sum() <= 1 + 1e-6).all()


def test_expression_and_graph_both_shape_the_latent(rng):
    """The adjacency term matters: trained on the same cells, a model that weighs it predicts
    held-out links better than one that ignores it (graph_weight=0)."""
    data, adjacency = planted(rng, n=240)
    fit = {"adjacency": adjacency, "epochs": 120, "learning_rate": 5e-3, "verbose": 0, "seed": 0}
    joint = MultitaskDiffVAE(8, (32,)).fit(data, **fit)
    expression_only = MultitaskDiffVAE(8, (32,), graph_weight=0).fit(data, **fit)
    auc, auc_without = (m.link_metrics_["test"]["auc"] for m in (joint, expression_only))
    print(f"held-out AUC {auc:.3f}, without the adjacency term {auc_without:.3f}")
    assert auc > 0.75 and auc > auc_without + 0.05


@pytest.mark.parametrize("params, message", [
    ({"graph_weight": -1}, "graph_weight must be positive"),
    ({"heads": 2}, "heads are attention heads"),
    ({"conv": "sage"}, "conv must be one of"),
    ({"hidden_dims": (16, 0)}, "hidden_dims"),
    ({"mmd_samples": 0}, "mmd_samples must be positive"),
])
def test_bad_parameters_are_refused_before_training(rng, params, message):
    data, adjacency = planted(rng, n=30)
    with pytest.raises(InputError, match=message):
        MultitaskDiffVAE(4, **{"hidden_dims": (8,), **params}).fit(data, adjacency=adjacency, **FAST)


def test_transform_refuses_other_cells(rng):
    data, adjacency = planted(rng, n=60)
    model = MultitaskDiffVAE(4, (8,)).fit(data, adjacency=adjacency, **FAST)
    with pytest.raises(InputError, match="fitted on a graph of 60 cells"):
        model.transform(data[:10].copy())
