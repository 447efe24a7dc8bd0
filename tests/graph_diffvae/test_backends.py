"""The graph layers and models on both Keras backends: the keras.ops sparse product against
Spektral's on TensorFlow, and whole trainings on JAX against TensorFlow (each backend in its
own process, since Keras picks its backend at import)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from graph_diffvae import graphs
from graph_diffvae.layers import GCNConv, sparse_adjacency

from tests.helpers import finish


@pytest.mark.parametrize("units", [3, 9])  # both product orders: A (X W) and (A X) W
def test_keras_ops_product_gives_spektrals_outputs_and_gradients(rng, units):
    """The product JAX runs (keras.ops.matmul of the sparse adjacency) against Spektral's, which
    TensorFlow runs, on the same layer: equal outputs and gradients to float tolerance."""
    import tensorflow as tf
    from keras import ops

    a = sparse_adjacency(graphs.normalize(graphs.symmetric_binary(*rng.integers(0, 30, (2, 80)), 30)))
    x = tf.constant(rng.normal(size=(30, 5)).astype(np.float32))
    layer = GCNConv(units, activation="relu")
    layer([x, a])

    def keras_ops_layer(x):
        product = (ops.matmul(ops.matmul(a, x), layer.kernel) if units > 5
                   else ops.matmul(a, ops.matmul(x, layer.kernel)))
        return ops.relu(product + layer.bias)

    results = []
    for forward in (lambda x: layer([x, a]), keras_ops_layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = forward(x)
            loss = tf.reduce_sum(out * tf.range(out.shape[1], dtype=tf.float32))
        results.append([out, *tape.gradient(loss, [x, layer.kernel, layer.bias])])
    for spektral, keras_ops in zip(*results):  # (keras.ops may give IndexedSlices gradients)
        np.testing.assert_allclose(tf.convert_to_tensor(keras_ops).numpy(),
                                   tf.convert_to_tensor(spektral).numpy(), rtol=1e-5, atol=1e-6)


SCRIPT = """
import json, sys
sys.path.insert(0, {root!r})  # the checkout, for tests.helpers
import numpy as np, keras
from graph_diffvae import GraphDiffVAE, MultitaskDiffVAE
from tests.helpers import planted
assert keras.backend.backend() == {backend!r}
data, adjacency = planted(np.random.default_rng(0), n=600)
found = {{}}
fit = {{"adjacency": adjacency, "epochs": 60, "learning_rate": 5e-3, "verbose": 0, "seed": 0}}
for name, model, batch_size in (("gcn", GraphDiffVAE(64, 16), None),
                                ("gat", GraphDiffVAE(64, 16, conv="gat", heads=2), None),
                                ("multitask", MultitaskDiffVAE(16, (64, 32)), None),
                                ("gcn_subgraphs", GraphDiffVAE(64, 16), 300),
                                ("multitask_subgraphs", MultitaskDiffVAE(16, (64, 32)), 300)):
    model.fit(data, batch_size=batch_size, **fit)
    found[name] = {{"loss": float(model.history_["loss"].iloc[-1]),
                   "first_loss": float(model.history_["loss"].iloc[0]),
                   "auc": model.link_metrics_["test"]["auc"]}}
print(json.dumps(found))
"""


def _train(*backends: str) -> list[dict]:
    """The trainings of SCRIPT on each backend, each in its own process, all at once."""
    root = str(Path(__file__).resolve().parents[2])
    processes = [subprocess.Popen([sys.executable, "-c", SCRIPT.format(backend=backend, root=root)],
                                  env={**os.environ, "KERAS_BACKEND": backend,
                                       "TF_CPP_MIN_LOG_LEVEL": "3"},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for backend in backends]
    return [json.loads(output.strip().splitlines()[-1]) for output in finish(processes)]


@pytest.mark.slow(minutes=2)
def test_graph_models_train_on_jax_as_on_tensorflow():
    """The same trainings (seed 0; each backend draws its own random numbers) on JAX and on
    TensorFlow, full batch and in subgraphs (padded to fixed sizes on JAX): the final training
    loss within 5 % and the held-out AUC within 0.05."""
    tensorflow, jax = _train("tensorflow", "jax")
    print(json.dumps({"tensorflow": tensorflow, "jax": jax}, indent=1))
    for name in tensorflow:
        assert jax[name]["loss"] < jax[name]["first_loss"]
        assert jax[name]["loss"] == pytest.approx(tensorflow[name]["loss"], rel=0.05), name
        assert jax[name]["auc"] == pytest.approx(tensorflow[name]["auc"], abs=0.05), name
