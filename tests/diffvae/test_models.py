"""DiffVAE, VAE, AE and PCA (diffvae.models): training, the representation, save / load, seeds, bad
arguments, and the scanpy / scvi-tools habits of transform."""
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA as SklearnPCA

from diffvae import AE, PCA, VAE, DiffVAE, InputError, LatentModel, Preprocessor, get_model
from diffvae.errors import TrainingError

from tests.helpers import TINY, TINY_FIT

FAST = {"epochs": 3, "batch_size": 32, "verbose": 0}


SMALL = {"latent_dim": 4, "hidden_dims": (16, 8)}


@pytest.mark.parametrize("cls", [DiffVAE, VAE, AE])
def test_fit_transform_shapes_and_history(cls, counts_adata):
    model = cls(**SMALL)
    latent = model.fit_transform(counts_adata, key_added=True, **FAST)
    assert latent.shape == (120, 4)
    np.testing.assert_array_equal(counts_adata.obsm[cls.default_key], latent)
    assert (latent >= 0).all()  # mu = ReLU(W x + b), as the paper writes it
    assert len(model.history_) == 3 and {"loss", "val_loss", "reconstruction"} <= set(model.history_)
    recon = model.reconstruct(counts_adata)
    assert recon.shape == (120, 40) and ((recon >= 0) & (recon <= 1)).all()
    assert model.sample(7, seed=0).shape == (7, 40)
    np.testing.assert_array_equal(model.sample(3, seed=1), model.sample(3, seed=1))
    assert model.decoder_weights().shape == (4, 40)


def test_save_load_gives_identical_latent(counts_adata, tmp_path):
    model = DiffVAE(**SMALL, n_top_genes=30).fit(counts_adata, **FAST)
    model.save(tmp_path / "bundle")
    again = LatentModel.load(tmp_path / "bundle")
    assert isinstance(again, DiffVAE) and again.get_params() == model.get_params()
    np.testing.assert_array_equal(again.transform(counts_adata), model.transform(counts_adata))
    np.testing.assert_array_equal(again.decoder_weights(), model.decoder_weights())
    assert again.genes_ == model.genes_ and len(again.genes_) == 30
    pd.testing.assert_frame_equal(again.history_, model.history_, check_dtype=False)
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "bundle")
    model.save(tmp_path / "bundle", overwrite=True)
    with pytest.raises(InputError, match="holds a DiffVAE, not a VAE"):
        VAE.load(tmp_path / "bundle")
    with pytest.raises(InputError, match="not a model bundle"):
        DiffVAE.load(tmp_path)


def test_same_seed_is_bit_identical_other_seed_is_not(counts_adata):
    a = DiffVAE(**SMALL).fit(counts_adata, seed=5, **FAST).transform(counts_adata)
    b = DiffVAE(**SMALL).fit(counts_adata, seed=5, **FAST).transform(counts_adata)
    c = DiffVAE(**SMALL).fit(counts_adata, seed=6, **FAST).transform(counts_adata)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_genes_in_another_order_and_missing_genes(counts_adata):
    model = AE(**SMALL).fit(counts_adata, **FAST)
    shuffled = counts_adata[:, counts_adata.var_names[::-1]].copy()
    np.testing.assert_allclose(model.transform(shuffled), model.transform(counts_adata), rtol=1e-6)
    with pytest.raises(InputError, match=r"3 of the model's 40 genes are missing.*gene_0"):
        model.transform(counts_adata[:, 3:].copy())


def test_dataframe_array_and_sparse_inputs_agree(counts_adata):
    dense = counts_adata.X.toarray()
    model = AE(**SMALL).fit(dense, **FAST)  # unnamed genes are called gene_0, gene_1, ...
    expected = model.transform(dense)
    np.testing.assert_allclose(model.transform(counts_adata.X), expected, rtol=1e-6)
    frame = pd.DataFrame(dense, columns=[f"gene_{i}" for i in range(40)])
    np.testing.assert_allclose(model.transform(frame), expected, rtol=1e-6)
    with pytest.raises(InputError, match="missing"):
        model.transform(frame.rename(columns={"gene_0": "Actb"}))


def test_pca_matches_scikit_learn_and_round_trips(counts_adata, tmp_path):
    model = get_model("pca", latent_dim=5).fit(counts_adata, seed=0, epochs=100, batch_size=7)
    scaled = Preprocessor().fit_transform(counts_adata)
    reference = SklearnPCA(5, random_state=0).fit(scaled)
    latent = model.transform(counts_adata)
    np.testing.assert_allclose(np.abs(latent), np.abs(reference.transform(scaled)), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(np.abs(model.decoder_weights()), np.abs(reference.components_), atol=1e-5)
    np.testing.assert_allclose(model.decode(latent), reference.inverse_transform(reference.transform(scaled)),
                               atol=1e-4)
    model.save(tmp_path / "pca")
    np.testing.assert_array_equal(PCA.load(tmp_path / "pca").transform(counts_adata), latent)
    with pytest.raises(TypeError, match="unexpected arguments"):
        PCA(5).fit(counts_adata, epoch=3)
    with pytest.raises(InputError, match="needs at least 50 cells"):
        PCA(50).fit(counts_adata[:20].copy())


def test_unfitted_and_bad_arguments(counts_adata):
    with pytest.raises(RuntimeError, match="not fitted"):
        DiffVAE().transform(counts_adata)
    with pytest.raises(InputError, match="unknown model 'umap'"):
        get_model("umap")
    with pytest.raises(InputError, match="too few to train"):
        DiffVAE(**SMALL).fit(counts_adata[:2].copy(), **FAST)
    model = AE(**SMALL).fit(counts_adata, **FAST)
    with pytest.raises(InputError, match=r"shape \(n, 4\)"):
        model.decode(np.zeros((3, 5)))


def test_tuned_is_the_study_setting_over_the_paper_defaults():
    from diffvae import defaults

    paper, tuned = DiffVAE().get_params(), DiffVAE.tuned().get_params()
    assert defaults.TUNED_DIFFVAE and set(defaults.TUNED_DIFFVAE) <= set(paper)
    assert tuned == {**paper, **defaults.TUNED_DIFFVAE} and tuned != paper
    assert (paper["mmd_kernel"], paper["mu_activation"], paper["log_var_activation"]) == (
        "infovae", "relu", "relu")  # the constructor stays the paper's
    overridden = DiffVAE.tuned(latent_dim=7, mu_activation="relu").get_params()
    assert overridden == {**tuned, "latent_dim": 7, "mu_activation": "relu"}
    assert get_model("diffvae-tuned", latent_dim=7).get_params() == DiffVAE.tuned(latent_dim=7).get_params()
    with pytest.raises(TypeError):
        DiffVAE.tuned(mmd_kernal="imq")


def test_diffvae_mmd_options_train_save_and_load(counts_adata, tmp_path):
    model = DiffVAE(**SMALL, mmd_kernel="rbf", mmd_weight=10.0, mmd_prior_samples=64,
                    mmd_estimate="unbiased", log_var_activation="linear",
                    mu_activation="linear").fit(counts_adata, **FAST)
    assert np.isfinite(model.history_["mmd"]).all()
    assert (model.transform(counts_adata) < 0).any()  # a linear mu reaches the prior's negative half
    model.save(tmp_path / "b")
    again = DiffVAE.load(tmp_path / "b")
    assert again.get_params() == model.get_params()
    np.testing.assert_array_equal(again.transform(counts_adata), model.transform(counts_adata))
    assert DiffVAE().get_params()["mmd_kernel"] == "infovae"  # the paper's setting by default
    for bad, message in [({"mmd_kernel": "laplace"}, "mmd_kernel must be one of"),
                         ({"mmd_kernel": "rbf", "mmd_kernel_width": 4.0}, "width of the 'infovae'"),
                         ({"mmd_weight": -1.0}, "mmd_weight must be positive"),
                         ({"mmd_prior_samples": 0}, "mmd_prior_samples must be positive"),
                         ({"mmd_estimate": "exact"}, "mmd_estimate must be one of"),
                         ({"log_var_activation": "tanh"}, "log_var_activation must be one of"),
                         ({"mu_activation": "elu"}, "mu_activation must be one of")]:
        with pytest.raises(InputError, match=message):
            DiffVAE(**SMALL, **bad).fit(counts_adata, **FAST)


# -- the API: constructor and fit arguments ---------------------------------------------------
@pytest.mark.parametrize("make, fit, message", [
    (lambda: DiffVAE(latent_dim=0), {}, "latent_dim must be positive"),
    (lambda: DiffVAE(latent_dim=2.5), {}, "latent_dim must be positive"),
    (lambda: DiffVAE(hidden_dims=(8, 0)), {}, "hidden_dims must be positive"),
    (lambda: DiffVAE(hidden_dims=()), {}, "hidden_dims must be a non-empty list"),
    (lambda: DiffVAE(n_top_genes=0), {}, "n_top_genes must be positive"),
    (lambda: DiffVAE(mmd_kernel_width=-1.0), {}, "mmd_kernel_width must be positive"),
    (lambda: DiffVAE(mmd_kernel_width=math.nan), {}, "mmd_kernel_width must be positive"),
    (lambda: VAE(target_sum=0.0), {}, "target_sum must be positive"),
    (lambda: PCA(latent_dim=-3), {}, "latent_dim must be positive"),
    (lambda: AE(**SMALL), {"epochs": 0}, "epochs must be positive"),
    (lambda: AE(**SMALL), {"epochs": -5}, "epochs must be positive"),
    (lambda: AE(**SMALL), {"batch_size": 0}, "batch_size must be positive"),
    (lambda: AE(**SMALL), {"learning_rate": math.nan}, "learning_rate must be positive and finite"),
    (lambda: AE(**SMALL), {"learning_rate": math.inf}, "learning_rate must be positive and finite"),
    (lambda: AE(**SMALL), {"learning_rate": -1e-3}, "learning_rate must be positive and finite"),
    (lambda: AE(**SMALL), {"validation_split": 1.0}, r"validation_split must be in \[0, 1\)"),
    (lambda: AE(**SMALL), {"validation_split": math.nan}, r"validation_split must be in \[0, 1\)"),
])
def test_bad_model_arguments_are_refused_before_training(counts_adata, make, fit, message):
    model = make()
    with pytest.raises(InputError, match=message):
        model.fit(counts_adata, **{"epochs": 1, "verbose": 0, **fit})
    assert not model.is_fitted


def test_sample_needs_a_positive_count(counts_adata):
    model = AE(**TINY).fit(counts_adata, epochs=1, verbose=0)
    for n in (-1, 0, 2.5):
        with pytest.raises(InputError, match="n_cells must be positive"):
            model.sample(n)


# -- training that goes non-finite ------------------------------------------------------------
def test_diverging_training_keeps_nothing(counts_adata, tmp_path):
    model = DiffVAE(**TINY)
    with pytest.raises(TrainingError, match=r"diverged in epoch \d+ .* lower the learning rate \(it was 1e\+09\)"):
        model.fit(counts_adata, epochs=5, learning_rate=1e9, verbose=0)
    assert not model.is_fitted
    with pytest.raises(RuntimeError, match="not fitted"):
        model.save(tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_a_model_with_non_finite_weights_is_not_saved(counts_adata, tmp_path):
    model = AE(**TINY).fit(counts_adata, epochs=1, verbose=0)
    weights = model.network_.get_weights()
    weights[0][0, 0] = np.nan
    model.network_.set_weights(weights)
    with pytest.raises(TrainingError, match="non-finite weights; not saved"):
        model.save(tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_key_added_records_parameters_and_refuses_views(counts_adata):
    model = AE(**TINY).fit(counts_adata, **TINY_FIT)
    latent = model.get_latent_representation(counts_adata, key_added=True)
    np.testing.assert_array_equal(counts_adata.obsm["X_ae"], latent)
    record = counts_adata.uns["ae"]
    assert record["obsm_key"] == "X_ae" and record["params"]["latent_dim"] == 3
    assert "normalize" not in record["params"]  # None is left out: .h5ad cannot store it
    view = counts_adata[:10]
    with pytest.raises(InputError, match=r"view of an AnnData.*adata\[mask\]\.copy\(\)"):
        model.transform(view, key_added=True)
    assert view.is_view  # left as it was
    np.testing.assert_array_equal(model.transform(view), latent[:10])


def test_scanpy_leiden_on_the_stored_representation(counts_adata):
    import scanpy as sc

    from diffvae.analysis import ari

    AE(**TINY).fit_transform(counts_adata, key_added=True, **TINY_FIT)
    sc.pp.neighbors(counts_adata, use_rep="X_ae", n_neighbors=10, random_state=0)
    sc.tl.leiden(counts_adata, flavor="igraph", n_iterations=2, directed=False, random_state=0)
    found = counts_adata.obs["leiden"]
    assert found.nunique() >= 2 and -1 <= ari(counts_adata.obs["celltype"], found) <= 1
    with warnings.catch_warnings():  # scanpy announces that its default flavour will change
        warnings.simplefilter("ignore", FutureWarning)
        sc.tl.leiden(counts_adata, key_added="leiden_default")  # leidenalg, scanpy's default
    assert counts_adata.obs["leiden_default"].nunique() >= 2
