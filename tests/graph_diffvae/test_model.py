"""Graph-DiffVAE (graph_diffvae.model, graph_diffvae.estimator): training, held-out links, save /
load, attention, bad arguments."""
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from diffvae import InputError
from graph_diffvae import GraphDiffVAE, graphs
from graph_diffvae.layers import sparse_adjacency

from tests.helpers import planted


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


@pytest.mark.parametrize("fit, message", [
    ({"epochs": 0}, "epochs must be positive"),
    ({"learning_rate": math.nan}, "learning_rate must be positive and finite"),
    ({"negative_ratio": 0.0}, "negative_ratio must be positive"),
    ({"loss": "cosine"}, r"loss must be one of \['auto', 'dense', 'sparse'\], got 'cosine'"),
])
def test_bad_graph_arguments_are_refused(counts_adata, rng, fit, message):
    adjacency = graphs.symmetric_binary(*rng.integers(0, 40, (2, 120)), 40)
    with pytest.raises(InputError, match=message):
        GraphDiffVAE(8, 3).fit(counts_adata[:40].copy(), adjacency=adjacency, **{"verbose": 0, **fit})
    with pytest.raises(InputError, match="k must be positive"):
        GraphDiffVAE(8, 3, k=0).fit(counts_adata[:40].copy(), verbose=0)


def test_graph_models_refuse_a_backend_without_their_layers(monkeypatch, counts_adata):
    from graph_diffvae import estimator

    monkeypatch.setattr(estimator, "keras_backend", lambda: "torch")
    with pytest.raises(InputError, match="run on Keras's tensorflow or jax backend, but "
                       "KERAS_BACKEND is 'torch'"):
        GraphDiffVAE(8, 3).fit(counts_adata, verbose=0)


def test_graph_transform_and_weighted_graphs(counts_adata, rng):
    data = counts_adata[:50].copy()
    weighted = graphs.symmetric_binary(*rng.integers(0, 50, (2, 150)), 50).astype(float)
    weighted.data[:] = rng.uniform(0.1, 1.0, weighted.nnz)
    with pytest.warns(UserWarning, match=r"weights from 0\.1.* unweighted edges"):
        model = GraphDiffVAE(8, 3).fit(data, adjacency=weighted, epochs=2, verbose=0)
    assert set(model.adjacency_.data) == {1.0}
    assert np.array_equal(model.adjacency_.toarray() > 0, weighted.toarray() > 0)
    features = model.transform(data, key_added=True)
    np.testing.assert_array_equal(data.obsm["X_graph_diffvae"], model.node_features_)
    assert features.shape == (50, 3) and data.uns["graph_diffvae"]["params"]["latent_dim"] == 3
    with pytest.raises(InputError, match="fitted on a graph of 50 cells; the data have 60"):
        model.transform(counts_adata[:60].copy())
    assert sp.issparse(weighted) and weighted.data.min() >= 0.1  # the caller's matrix is untouched
