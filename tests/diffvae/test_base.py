"""The estimator base: parameters, the fitted check and one bundle format for every model."""
import json

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from diffvae import AE, PCA, VAE, DiffVAE, InputError, LatentModel
from diffvae.base import BaseEstimator
from diffvae.classifier import CellStateClassifier
from diffvae.errors import NotFittedError
from graph_diffvae import GraphDiffVAE, graphs

from tests.helpers import TINY, TINY_FIT


def small_graph(rng, n=40):
    return graphs.symmetric_binary(*rng.integers(0, n, (2, 3 * n)), n)


@pytest.mark.parametrize("estimator", [
    DiffVAE(latent_dim=7, hidden_dims=(16, 8), mmd_kernel_width=2.0, n_top_genes=30),
    VAE(latent_dim=4), AE(), PCA(latent_dim=5, normalize=False),
    CellStateClassifier((32, 16)), GraphDiffVAE(64, 8, graph="knn", k=3)])
def test_scikit_learn_parameters_and_clone(estimator):
    params = estimator.get_params(deep=True)
    copy = clone(estimator)
    assert type(copy) is type(estimator) and copy.get_params() == params and copy is not estimator
    assert repr(estimator).startswith(type(estimator).__name__ + "(")
    first = next(iter(params))
    estimator.set_params(**{first: 11})
    assert estimator.get_params()[first] == 11
    with pytest.raises(ValueError, match="has no parameter 'n_layers'"):
        estimator.set_params(n_layers=3)


def test_vae_and_ae_have_no_mmd_parameter():
    assert "mmd_kernel_width" in DiffVAE().get_params()
    assert "mmd_kernel_width" not in VAE().get_params() | AE().get_params()


@pytest.mark.parametrize("estimator", [DiffVAE(), PCA(), CellStateClassifier(), GraphDiffVAE()])
def test_one_fitted_check(estimator, tmp_path):
    assert not estimator.is_fitted
    with pytest.raises(NotFittedError, match=f"this {type(estimator).__name__} is not fitted yet"):
        estimator.save(tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_unfitted_methods_raise_the_same_error():
    model = DiffVAE()
    for call in (lambda: model.genes_, model.decoder_weights, lambda: model.sample(2),
                 lambda: model.decode(np.zeros((1, 50)))):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()
    with pytest.raises(NotFittedError):
        GraphDiffVAE().predict_links()
    with pytest.raises(NotFittedError):
        CellStateClassifier().predict(np.zeros((2, 3)))


@pytest.fixture(scope="module")
def fitted():
    """One fitted model of every type (SYNTHETIC data), trained once for the module."""
    from diffvae import datasets

    counts = datasets.synthetic(n_cells=120, n_genes=40, n_branches=2, seed=3)  # = counts_adata
    x = DiffVAE(**TINY).fit(counts, **TINY_FIT)
    return {"diffvae": x, "pca": PCA(3).fit(counts),
            "cell_state_classifier": CellStateClassifier((8,)).fit(
                x.preprocess(counts), counts.obs["celltype"], epochs=2, verbose=0),
            "graph_diffvae": GraphDiffVAE(8, 3).fit(counts[:40].copy(),
                                                    adjacency=small_graph(np.random.default_rng(1234)),
                                                    epochs=2, verbose=0, evaluate_links=False)}


@pytest.fixture
def bundles(tmp_path, fitted):
    """Each fitted model saved afresh for the test, which may damage its files."""
    for name, model in fitted.items():
        model.save(tmp_path / name)
    return {name: (model, tmp_path / name) for name, model in fitted.items()}


def test_one_load_dispatches_on_the_stored_type(bundles):
    for name, (model, path) in bundles.items():
        config = json.loads((path / "config.json").read_text())
        assert config["model"] == name and config["format"] == 2 and "version" in config
        loaded = BaseEstimator.load(path)
        assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
        assert type(model).load(path).is_fitted
    classifier, path = bundles["cell_state_classifier"]
    again = CellStateClassifier.load(path)
    np.testing.assert_array_equal(again.classes_, classifier.classes_)
    assert again.test_accuracy_ == classifier.test_accuracy_
    np.testing.assert_array_equal(again.confusion_.to_numpy(), classifier.confusion_.to_numpy())


@pytest.mark.parametrize("loader, stored, message", [
    (DiffVAE, "graph_diffvae", "holds a GraphDiffVAE, not a DiffVAE"),
    (LatentModel, "cell_state_classifier", "holds a CellStateClassifier, not a LatentModel"),
    (GraphDiffVAE, "diffvae", "holds a DiffVAE, not a GraphDiffVAE"),
    (CellStateClassifier, "pca", "holds a PCA, not a CellStateClassifier"),
    (VAE, "diffvae", "holds a DiffVAE, not a VAE")])
def test_the_wrong_type_is_refused(bundles, loader, stored, message):
    with pytest.raises(InputError, match=message):
        loader.load(bundles[stored][1])


def test_damaged_and_incomplete_bundles_name_the_file(bundles):
    path = bundles["diffvae"][1]
    keras_file = path / "model.keras"
    keras_file.write_bytes(keras_file.read_bytes()[:100])
    with pytest.raises(InputError, match=r"model\.keras: damaged bundle file"):
        DiffVAE.load(path)
    (path / "preprocessing.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputError, match=r"preprocessing\.npz: damaged bundle file"):
        DiffVAE.load(path)
    (path / "preprocessing.npz").unlink()
    with pytest.raises(InputError, match=r"incomplete bundle, preprocessing\.npz is missing"):
        DiffVAE.load(path)
    (path / "config.json").write_text('{"model": "diffvae", "par')
    with pytest.raises(InputError, match=r"config\.json: damaged bundle file"):
        DiffVAE.load(path)
    graph_path = bundles["graph_diffvae"][1]
    (graph_path / "adjacency.npz").unlink()
    with pytest.raises(InputError, match=r"adjacency\.npz is missing"):
        GraphDiffVAE.load(graph_path)


def test_bundles_of_the_previous_format(bundles, counts_adata):
    """diffvae 0.1 wrote the same files without "format", "module" and "attributes" (its
    Graph-DiffVAE called a given adjacency graph="given"); its classifier named no model type."""
    for name in ("diffvae", "graph_diffvae"):
        model, path = bundles[name]
        config = json.loads((path / "config.json").read_text())
        old = {"model": name, "version": "0.1.0", "params": config["params"],
               "preprocessing": config["preprocessing"]}
        if name == "graph_diffvae":
            old["params"]["graph"] = "given"
        (path / "config.json").write_text(json.dumps(old))
        loaded = BaseEstimator.load(path)
        assert type(loaded) is type(model)
    np.testing.assert_array_equal(BaseEstimator.load(bundles["diffvae"][1]).transform(counts_adata),
                                  bundles["diffvae"][0].transform(counts_adata))
    assert GraphDiffVAE.load(bundles["graph_diffvae"][1]).graph == "precomputed"
    path = bundles["cell_state_classifier"][1]
    (path / "config.json").write_text(json.dumps({"hidden_dims": [8], "classes": ["a", "b"],
                                                  "test_accuracy": 1.0}))
    with pytest.raises(InputError, match="made by an older version of diffvae"):
        CellStateClassifier.load(path)
    config = json.loads((bundles["pca"][1] / "config.json").read_text())
    (bundles["pca"][1] / "config.json").write_text(json.dumps({**config, "format": 99, "version": "9.0"}))
    with pytest.raises(InputError, match="made by diffvae 9.0, newer than this"):
        PCA.load(bundles["pca"][1])


def test_graph_history_has_the_same_columns_whatever_verbose(counts_adata, rng, capsys):
    data, adjacency = counts_adata[:60].copy(), small_graph(rng, 60)
    runs = [GraphDiffVAE(8, 3).fit(data, adjacency=adjacency, epochs=3, verbose=v, learning_rate=1e-2)
            for v in (0, 1, 2)]
    for run in runs:
        assert set(run.history_) == {"loss", "reconstruction", "kl", "val_auc", "val_ap"}
        assert run.history_["val_auc"].between(0, 1).all()
    # the same seed trains the same model at every verbosity
    np.testing.assert_array_equal(runs[0].node_features_, runs[2].node_features_)
    np.testing.assert_allclose(runs[0].history_["loss"], runs[0].history_["reconstruction"]
                               + runs[0].history_["kl"], rtol=1e-5)


def test_graph_training_takes_keras_callbacks(counts_adata, rng):
    import keras

    stop = keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=0)
    model = GraphDiffVAE(8, 3).fit(counts_adata[:60].copy(), adjacency=small_graph(rng, 60),
                                   epochs=50, learning_rate=0.5, verbose=0,
                                   callbacks=[stop, keras.callbacks.TerminateOnNaN()])
    assert len(model.history_) < 50
    assert sp.issparse(model.adjacency_)


def test_a_bundle_without_its_network_names_the_missing_file(bundles):
    path = bundles["diffvae"][1]
    (path / "model.keras").unlink()
    with pytest.raises(InputError, match=r"incomplete bundle, no model.keras; save the model again"):
        DiffVAE.load(path)



def test_training_traces_the_training_step_once(counts_adata, monkeypatch):
    """The optimizer is built before ``fit``: TensorFlow traces DiffVAE's loss once for training
    and once for validation (with Keras building it during the first trace, the training step
    is traced twice), and the trained model is the same as with Keras building it."""
    import keras

    from diffvae import base
    from diffvae.networks import LatentAutoencoder

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the second trace is TensorFlow's")
    traces = []
    compute_loss = LatentAutoencoder.compute_loss

    def counted(self, *args, **kwargs):
        traces.append(kwargs.get("training"))
        return compute_loss(self, *args, **kwargs)

    monkeypatch.setattr(LatentAutoencoder, "compute_loss", counted)
    early = DiffVAE(**TINY).fit(counts_adata, seed=0, **TINY_FIT)
    assert len(traces) == 2
    monkeypatch.setattr(base, "build_optimizer", lambda network: None)
    keras_built = DiffVAE(**TINY).fit(counts_adata, seed=0, **TINY_FIT)
    assert len(traces) == 5  # Keras's way: the training step twice, validation once
    np.testing.assert_array_equal(early.transform(counts_adata), keras_built.transform(counts_adata))
