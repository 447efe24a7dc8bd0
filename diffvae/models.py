"""Estimators with one interface: DiffVAE, the paper's baselines (VAE, AE) and PCA.

``fit`` / ``transform`` / ``fit_transform`` as in scikit-learn, ``save`` / ``load`` of a bundle
holding the network, the fitted preprocessing, the gene list and the hyperparameters as in
scvi-tools. Swapping ``DiffVAE`` for ``VAE``, ``AE`` or ``PCA`` changes nothing else.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from . import defaults, stopping
from ._batching import (apply_in_batches, jit_compile, sequence_input, steps_per_execution,
                        training_input, validation_input)
from .base import BaseEstimator, fit_network, read_arrays
from .checks import (check_training, choice, fraction, optional, positive_int, positive_ints,
                     positive_number)
from .distributed import process_shard
from .errors import InputError
from .io import as_anndata, no_layer_on_disk, open_h5ad
from .preprocessing import Preprocessor, row_blocks
from .progress import keras_verbose


class LatentModel(BaseEstimator):
    """Base class: preprocessing and the latent interface. Use a subclass.

    Parameters
    ----------
    latent_dim
        Size m of the representation (paper: 50 for blood cells, 100 for pancreas).
    normalize, target_sum, n_top_genes
        Preprocessing, see :class:`diffvae.preprocessing.Preprocessor`.
    """

    fitted_attributes = ("preprocessor_",)

    def __init__(self, latent_dim: int = defaults.LATENT_DIM, *, normalize: bool | None = None,
                 target_sum: float | None = None, n_top_genes: int | None = None) -> None:
        self.latent_dim = latent_dim
        self.normalize = normalize
        self.target_sum = target_sum
        self.n_top_genes = n_top_genes

    @property
    def genes_(self) -> list[str]:
        """Genes the model was fitted on, in the order of its input and output columns."""
        self._check_is_fitted()
        return self.preprocessor_.genes_

    # -- the latent interface ---------------------------------------------------------------
    def fit(self, data, **kwargs) -> "LatentModel":
        """Fit preprocessing and model on ``data`` (AnnData, DataFrame, array or sparse matrix)."""
        raise NotImplementedError

    def transform(self, data, *, layer: str | None = None,
                  key_added: str | bool | None = None) -> np.ndarray:
        """Return the representation (cells x ``latent_dim``; mu for the variational models).

        With AnnData, ``key_added=True`` also stores it in ``adata.obsm[default_key]`` (for
        DiffVAE ``"X_diffvae"``), a string stores it under that key, and the model's parameters
        are recorded in ``adata.uns[model_type]`` (as scanpy records ``uns["pca"]``).
        """
        backed = open_h5ad(data)
        if backed is None:
            latent = self._encode(self._scaled(data, layer))
        else:  # block by block from disk: only the N x m result is held
            self._check_is_fitted()
            no_layer_on_disk(layer)
            latent = np.concatenate([self._encode(self.preprocessor_.transform(block))
                                     for block in row_blocks(backed)])
        if key_added:
            self._store(data, latent, key_added)
        return latent

    def fit_transform(self, data, *, layer: str | None = None,
                      key_added: str | bool | None = None, **fit_kwargs) -> np.ndarray:
        """``fit`` then ``transform`` on the same data."""
        return self.fit(data, layer=layer, **fit_kwargs).transform(
            data, layer=layer, key_added=key_added)

    def preprocess(self, data, *, layer: str | None = None) -> np.ndarray:
        """The model's input for ``data``: expression after the fitted preprocessing, in [0, 1]."""
        return self._scaled(data, layer)

    def reconstruct(self, data, *, layer: str | None = None) -> np.ndarray:
        """Decode each cell's representation: expression in the model's [0, 1] scale."""
        return self.decode(self.transform(data, layer=layer))

    def decode(self, latent: np.ndarray) -> np.ndarray:
        """Decode arbitrary latent vectors (n x ``latent_dim``) to [0, 1]-scaled expression."""
        self._check_is_fitted()
        latent = np.asarray(latent, dtype=np.float32)
        if latent.ndim != 2 or latent.shape[1] != self.latent_dim:
            raise InputError(
                f"latent vectors must have shape (n, {self.latent_dim}), got {latent.shape}")
        return self._decode(latent)

    def sample(self, n_cells: int, *, seed: int | None = None) -> np.ndarray:
        """Generate ``n_cells`` artificial cells by decoding draws from the prior."""
        self._check_is_fitted()
        positive_int("n_cells", n_cells)
        rng = np.random.default_rng(seed)
        return self.decode(self._prior_sample(rng, n_cells))

    def decoder_weights(self) -> np.ndarray:
        """omega (latent_dim x genes): how each latent dimension weighs each gene.

        For the networks, omega = W0 . W1 . W2, the product of the decoder's kernels (paper);
        for PCA, the principal axes.
        """
        raise NotImplementedError

    # -- for subclasses ---------------------------------------------------------------------
    def _check_params(self) -> None:
        """Refuse constructor arguments that cannot work (called by ``fit``, before any work)."""
        positive_int("latent_dim", self.latent_dim)
        optional(positive_int, "n_top_genes", self.n_top_genes)
        optional(positive_number, "target_sum", self.target_sum)

    def _fit_preprocessor(self, data, layer: str | None) -> np.ndarray | None:
        """Fit the preprocessing; return the scaled data, or None for data on disk (backed
        AnnData or an .h5ad path), whose statistics come from passes over blocks of cells."""
        self.preprocessor_ = Preprocessor(self.normalize, self.target_sum, self.n_top_genes)
        backed = open_h5ad(data)
        if backed is not None:
            no_layer_on_disk(layer)
            self.preprocessor_.fit(backed)
            return None
        return self.preprocessor_.fit_transform(as_anndata(data, layer=layer))

    def _scaled(self, data, layer: str | None) -> np.ndarray:
        self._check_is_fitted()
        return self.preprocessor_.transform(as_anndata(data, layer=layer))

    def _encode(self, scaled: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _decode(self, latent: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _prior_sample(self, rng: np.random.Generator, n_cells: int) -> np.ndarray:
        return rng.standard_normal((n_cells, self.latent_dim)).astype(np.float32)


class _NeuralModel(LatentModel):
    """A :class:`~diffvae.networks.LatentAutoencoder` behind the estimator interface."""

    objective: ClassVar[str]
    fitted_attributes = ("preprocessor_", "network_")
    network_module = "diffvae.networks"

    def __init__(self, latent_dim: int = defaults.LATENT_DIM,
                 hidden_dims: Sequence[int] = defaults.HIDDEN_DIMS, *,
                 normalize: bool | None = None, target_sum: float | None = None,
                 n_top_genes: int | None = None) -> None:
        super().__init__(latent_dim, normalize=normalize, target_sum=target_sum,
                         n_top_genes=n_top_genes)
        self.hidden_dims = hidden_dims

    def fit(self, data, *, epochs: int = defaults.EPOCHS, batch_size: int = defaults.BATCH_SIZE,
            learning_rate: float = defaults.LEARNING_RATE,
            validation_split: float = defaults.VALIDATION_SPLIT, seed: int | None = 0,
            early_stopping: int | None = None, callbacks: list | None = None,
            verbose: str | int = "auto", layer: str | None = None) -> "_NeuralModel":
        """Train with Adam on a random ``1 - validation_split`` share of the cells.

        ``data`` may also be an AnnData opened with ``backed="r"`` or the path of an .h5ad:
        then the matrix stays on disk and every minibatch is read and scaled on the fly
        (:mod:`diffvae.streaming`).
        ``seed`` fixes the split, the initial weights, the batch order and the sampling noise:
        the same seed gives the same model on the same machine. ``early_stopping``: a number of
        epochs (patience): training stops when the validation loss has not improved for that
        many, and the weights of its best epoch are kept (:func:`diffvae.stopping.early_stopping`;
        None, the default, trains all ``epochs``, as the paper). ``callbacks`` are Keras callbacks
        (``CSVLogger``, ...); ``verbose`` is Keras's ("auto": a progress bar on
        a terminal or in a notebook, one line per epoch in a log file).
        The per-epoch losses are kept in ``history_`` (a DataFrame).
        """
        import keras  # deferred: importing Keras starts its backend

        from .streaming import MinibatchSequence

        self._check_params()
        check_training(epochs, learning_rate, batch_size)
        fraction("validation_split", validation_split)
        if early_stopping is not None and validation_split == 0:
            raise InputError("early_stopping watches the validation loss: set validation_split "
                             "above 0")
        stop = stopping.early_stopping(early_stopping)  # checked before any data is read
        backed = open_h5ad(data)  # opened once, here; None for data in memory
        scaled = self._fit_preprocessor(data if backed is None else backed, layer)
        n_cells = len(scaled) if backed is None else backed.n_obs
        train_rows, valid_rows = split_rows(n_cells, validation_split, seed)
        train_rows, valid_rows, batch_size = _this_process(train_rows, valid_rows, batch_size)
        if seed is not None:  # first: tf.data's shuffle takes the global seed when built
            keras.utils.set_random_seed(seed)
        if backed is not None:  # minibatches read from disk as training goes
            n_genes = len(self.preprocessor_.genes_)
            train, batches = sequence_input(MinibatchSequence(
                backed, self.preprocessor_, train_rows, batch_size, shuffle=True, seed=seed), n_genes)
            valid = (sequence_input(MinibatchSequence(
                backed, self.preprocessor_, valid_rows, batch_size), n_genes)[0]
                if len(valid_rows) else None)
        else:
            train, batches = training_input(scaled[train_rows], batch_size, seed=seed)
            valid = validation_input(scaled[valid_rows], batch_size) if len(valid_rows) else None
        network = self._build_network(len(self.preprocessor_.genes_), seed)
        network.compile(optimizer=keras.optimizers.Adam(learning_rate),
                        jit_compile=jit_compile(epochs, len(train_rows), batch_size),
                        steps_per_execution=steps_per_execution(batches.get("steps_per_epoch")))
        self.history_ = fit_network(
            network, train, validation_data=valid, epochs=epochs,
            callbacks=[*(callbacks or []), *stop],
            verbose=keras_verbose(verbose), **batches)
        self.network_ = network  # only a model that trained to finite weights is kept
        return self

    def _check_params(self) -> None:
        super()._check_params()
        positive_ints("hidden_dims", self.hidden_dims)

    def decoder_weights(self) -> np.ndarray:
        self._check_is_fitted()
        return self.network_.decoder_weights()

    def _build_network(self, n_genes: int, seed: int | None):
        from .networks import LatentAutoencoder

        return LatentAutoencoder(n_genes, self.latent_dim, self.hidden_dims, self.objective,
                                 seed=seed, name=self.model_type, **self._network_options())

    def _network_options(self) -> dict:
        """Options of the network beyond its sizes (DiffVAE's MMD)."""
        return {}

    def _encode(self, scaled: np.ndarray) -> np.ndarray:
        return apply_in_batches(self.network_.encoder, scaled)

    def _decode(self, latent: np.ndarray) -> np.ndarray:
        return apply_in_batches(self.network_.decoder, latent)


class DiffVAE(_NeuralModel):
    """DiffVAE (Bica et al. 2020): an MMD-VAE whose mean latent code is the representation.

    Loss = summed binary cross-entropy over genes + ``mmd_weight`` x MMD(q(z) || N(0, I)).
    The defaults are the paper's (its code's): InfoVAE's kernel exp(-||x - y||^2 / width),
    width = ``mmd_kernel_width`` or latent_dim^2, weight 1, as many prior samples as cells in
    the batch, the biased estimate, mu = ReLU(W x + b) and log sigma^2 = ReLU(W' x + b').

    Parameters beyond the sizes and preprocessing
    ---------------------------------------------
    mmd_kernel
        ``"infovae"`` (paper), ``"rbf"`` (trVAE's sum of Gaussians over 19 bandwidths) or
        ``"imq"`` (the Wasserstein auto-encoder's inverse multiquadratics, C = 2 m s for
        s in 0.1 ... 10); see :func:`diffvae.losses.kernel_matrix`.
    mmd_kernel_width
        Width of the ``"infovae"`` kernel (default latent_dim^2).
    mmd_weight
        Weight of the MMD term (paper: 1; the Wasserstein auto-encoder uses 10).
    mmd_prior_samples
        Prior samples per batch (default: as many as cells in the batch, the paper's code).
    mmd_estimate
        ``"biased"`` (paper: the V-statistic) or ``"unbiased"`` (leaves out the i = j terms).
    log_var_activation
        ``"relu"`` (paper: sigma >= 1) or ``"linear"``.
    mu_activation
        ``"relu"`` (paper: mu >= 0, so half of N(0, I), which the MMD term pulls towards, is out
        of reach) or ``"linear"``.

    Examples
    --------
    >>> model = DiffVAE(latent_dim=50).fit(adata, epochs=100, seed=0)   # doctest: +SKIP
    >>> model.transform(adata, key_added=True)  # adata.obsm["X_diffvae"]  # doctest: +SKIP
    """

    model_type, default_key, objective = "diffvae", "X_diffvae", "mmd"

    def __init__(self, latent_dim: int = defaults.LATENT_DIM,
                 hidden_dims: Sequence[int] = defaults.HIDDEN_DIMS, *,
                 mmd_kernel: str = "infovae", mmd_kernel_width: float | None = None,
                 mmd_weight: float = 1.0, mmd_prior_samples: int | None = None,
                 mmd_estimate: str = "biased", log_var_activation: str = "relu",
                 mu_activation: str = "relu", normalize: bool | None = None,
                 target_sum: float | None = None, n_top_genes: int | None = None) -> None:
        super().__init__(latent_dim, hidden_dims, normalize=normalize, target_sum=target_sum,
                         n_top_genes=n_top_genes)
        self.mmd_kernel = mmd_kernel
        self.mmd_kernel_width = mmd_kernel_width
        self.mmd_weight = mmd_weight
        self.mmd_prior_samples = mmd_prior_samples
        self.mmd_estimate = mmd_estimate
        self.log_var_activation = log_var_activation
        self.mu_activation = mu_activation

    @classmethod
    def tuned(cls, **overrides) -> "DiffVAE":
        """DiffVAE with the MMD study's recommended options (:data:`diffvae.defaults.TUNED_DIFFVAE`,
        chosen by one rule across datasets; ``benchmarks/mmd_study.py``), ``overrides`` on top.

        The constructor's defaults stay the paper's; this is the setting to use when the aim is
        the best clustering of cell types rather than reproducing the paper.

        >>> DiffVAE.tuned(latent_dim=20).fit(adata, seed=0)   # doctest: +SKIP
        """
        return cls(**{**defaults.TUNED_DIFFVAE, **overrides})

    def _check_params(self) -> None:
        from .losses import KERNELS

        super()._check_params()
        choice("mmd_kernel", self.mmd_kernel, KERNELS)
        optional(positive_number, "mmd_kernel_width", self.mmd_kernel_width)
        if self.mmd_kernel_width is not None and self.mmd_kernel != "infovae":
            raise InputError(f"mmd_kernel_width sets the width of the 'infovae' kernel; the "
                             f"{self.mmd_kernel!r} kernel sums fixed scales")
        if self.mmd_weight != 0:
            positive_number("mmd_weight", self.mmd_weight)
        optional(positive_int, "mmd_prior_samples", self.mmd_prior_samples)
        choice("mmd_estimate", self.mmd_estimate, ("biased", "unbiased"))
        choice("log_var_activation", self.log_var_activation, ("relu", "linear"))
        choice("mu_activation", self.mu_activation, ("relu", "linear"))

    def _network_options(self) -> dict:
        return {"mmd_kernel": self.mmd_kernel, "mmd_kernel_width": self.mmd_kernel_width,
                "mmd_weight": self.mmd_weight, "mmd_prior_samples": self.mmd_prior_samples,
                "mmd_unbiased": self.mmd_estimate == "unbiased",
                "log_var_activation": self.log_var_activation, "mu_activation": self.mu_activation}


class VAE(_NeuralModel):
    """The paper's standard VAE baseline: DiffVAE's layers with a KL term instead of MMD."""

    model_type, default_key, objective = "vae", "X_vae", "kl"


class AE(_NeuralModel):
    """The paper's plain autoencoder baseline: DiffVAE's layers, no noise, squared error."""

    model_type, default_key, objective = "ae", "X_ae", "mse"


class PCA(LatentModel):
    """PCA of the [0, 1]-scaled expression behind the same interface as the networks.

    ``fit`` accepts the networks' training arguments (epochs, batch size, ...) and ignores them,
    so that comparisons swap one class name; ``seed`` seeds the randomised SVD solver.
    """

    model_type, default_key = "pca", "X_pca_diffvae"
    fitted_attributes = ("preprocessor_", "pca_")
    _TRAINING_ARGS = {"epochs", "batch_size", "learning_rate", "validation_split", "callbacks",
                      "verbose", "early_stopping"}
    _ARRAYS = "pca.npz"

    def fit(self, data, *, seed: int | None = 0, layer: str | None = None, **training_args) -> "PCA":
        """Fit preprocessing and ``latent_dim`` principal components."""
        from sklearn.decomposition import PCA as SklearnPCA

        unknown = set(training_args) - self._TRAINING_ARGS
        if unknown:
            raise TypeError(f"PCA.fit() got unexpected arguments {sorted(unknown)}")
        self._check_params()
        if open_h5ad(data) is not None:
            raise InputError("PCA reads the data into memory: pass adata.to_memory() (the "
                             "neural models train from disk)")
        scaled = self._fit_preprocessor(data, layer)
        if min(scaled.shape) < self.latent_dim:
            raise InputError(
                f"PCA with {self.latent_dim} components needs at least {self.latent_dim} cells "
                f"and genes; the data have {scaled.shape[0]} cells x {scaled.shape[1]} genes")
        self.pca_ = SklearnPCA(n_components=self.latent_dim, random_state=seed).fit(scaled)
        return self

    def decoder_weights(self) -> np.ndarray:
        self._check_is_fitted()
        return self.pca_.components_.copy()

    def _encode(self, scaled: np.ndarray) -> np.ndarray:
        return self.pca_.transform(scaled).astype(np.float32)

    def _decode(self, latent: np.ndarray) -> np.ndarray:
        return self.pca_.inverse_transform(latent).astype(np.float32)

    def _prior_sample(self, rng: np.random.Generator, n_cells: int) -> np.ndarray:
        # Scores are uncorrelated with the explained variances: a Gaussian with those variances.
        scale = np.sqrt(self.pca_.explained_variance_)
        return (rng.standard_normal((n_cells, self.latent_dim)) * scale).astype(np.float32)

    def _save_extra(self, directory: Path) -> None:
        np.savez(directory / self._ARRAYS, components_=self.pca_.components_,
                 mean_=self.pca_.mean_, explained_variance_=self.pca_.explained_variance_)

    def _load_extra(self, directory: Path) -> None:
        from sklearn.decomposition import PCA as SklearnPCA

        self.pca_ = SklearnPCA(n_components=self.latent_dim)
        for key, value in read_arrays(directory / self._ARRAYS).items():
            setattr(self.pca_, key, value)
        self.pca_.n_components_ = self.latent_dim
        self.pca_.whiten = False


MODELS: dict[str, type[LatentModel]] = {m.model_type: m for m in (DiffVAE, VAE, AE, PCA)}


#: the name that :func:`get_model` (and so ``diffvae benchmark --models``) gives DiffVAE.tuned()
TUNED = "diffvae-tuned"
MODEL_NAMES = (*MODELS, TUNED)


def get_model(name: str, **params) -> LatentModel:
    """Create a model by name (``"diffvae"``, ``"vae"``, ``"ae"``, ``"pca"``, or
    ``"diffvae-tuned"`` for :meth:`DiffVAE.tuned`)."""
    if name == TUNED:
        return DiffVAE.tuned(**params)
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; choose from {sorted(MODEL_NAMES)}")
    return MODELS[name](**params)


def pca_of_input(model: LatentModel, data, *, layer: str | None = None,
                 max_cells: int = defaults.BASELINE_MAX_CELLS, seed: int | None = 0) -> PCA:
    """PCA with ``model``'s latent size of ``model``'s own input (same genes, same scaling):
    the baseline the reports set beside a model. Fitted on the cells of ``data`` (in memory, on
    disk or an .h5ad path) or, above ``max_cells``, on a seeded random sample of them; its
    ``transform`` then reads every cell block by block."""
    from sklearn.decomposition import PCA as SklearnPCA

    from .analysis.embedding import tsne_sample  # the seeded sample every step draws

    model._check_is_fitted()
    backed = open_h5ad(data)
    data = data if backed is None else backed
    cells = tsne_sample(data.n_obs if hasattr(data, "n_obs") else data.shape[0], max_cells, seed)
    if cells is not None:
        data = data[cells]
    if getattr(data, "isbacked", False):
        data = data.to_memory()
    scaled = model.preprocess(data, layer=layer)
    if min(scaled.shape) < model.latent_dim:
        raise InputError(f"a PCA baseline of {model.latent_dim} components needs at least as many "
                         f"cells and genes; the data have {scaled.shape[0]} x {scaled.shape[1]}")
    baseline = PCA(model.latent_dim)
    baseline.preprocessor_ = model.preprocessor_
    baseline.pca_ = SklearnPCA(n_components=model.latent_dim, random_state=seed).fit(scaled)
    return baseline


def split_rows(n_cells: int, validation_split: float, seed: int | None):
    """Random train / validation split of the cells (the paper: 80 / 20), as row indices."""
    n_valid = int(round(n_cells * validation_split))
    if validation_split > 0 and n_valid == 0 or n_cells - n_valid < 2:
        raise InputError(
            f"{n_cells} cells are too few to train with validation_split={validation_split}: "
            "at least 2 training cells and 1 validation cell are needed")
    order = np.random.default_rng(seed).permutation(n_cells)
    return order[n_valid:], order[:n_valid]


def _this_process(train_rows: np.ndarray, valid_rows: np.ndarray, batch_size: int):
    """The rows and per-process batch size of this process when training data-parallel over
    several processes (:mod:`diffvae.distributed`): every process takes an equal share of each
    split, and ``batch_size`` stays the global batch."""
    index, count = process_shard()
    if count == 1:
        return train_rows, valid_rows, batch_size
    if batch_size % count:
        raise InputError(f"batch_size {batch_size} must split evenly over {count} processes")
    import keras

    keras.distribution.distribution().auto_shard_dataset = False  # each process reads its own
    train_rows = train_rows[:len(train_rows) // count * count][index::count]
    valid_rows = valid_rows[:len(valid_rows) // count * count][index::count]
    return train_rows, valid_rows, batch_size // count
