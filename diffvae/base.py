"""The base of every estimator: parameters, the fitted check and the one bundle format.

A bundle is a folder written atomically (a failed save leaves the target untouched)::

    config.json        {"model": type, "module": where the class lives, "format": 2,
                        "version": package version, "params": constructor arguments,
                        "attributes": JSON-able fitted attributes, "preprocessing": settings}
    preprocessing.npz  the fitted Preprocessor's arrays (when the estimator has one)
    model.keras        the Keras network (when the estimator has one)
    history.csv        per-epoch losses (when trained by epochs)
    ...                whatever else the estimator stores (:meth:`_save_extra`)

``BaseEstimator.load(path)`` (or any subclass's ``load``) reads the stored type and returns an
estimator of that class; a subclass's ``load`` refuses a bundle of another type. Parameters
follow scikit-learn (``get_params`` / ``set_params``, so ``sklearn.base.clone`` works), the
fitted check follows scvi-tools' ``_check_if_trained``.
"""
from __future__ import annotations

import importlib
import inspect
import json
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ._files import atomic_path
from ._version import __version__
from .errors import InputError, NotFittedError, TrainingError

#: bundle layout version; bundles of format 1 (diffvae 0.1) have the same files minus "format"
FORMAT = 2
CONFIG, PREPROCESSING, NETWORK, HISTORY = (
    "config.json", "preprocessing.npz", "model.keras", "history.csv")
# where load may import an estimator class from (never an arbitrary module named in a file)
_PACKAGES = ("diffvae", "graph_diffvae")
_REGISTRY: dict[str, type["BaseEstimator"]] = {}


class BaseEstimator:
    """Parameters, fitted check and save / load shared by every model of the package.

    Subclasses set ``model_type`` (the name stored in bundles) and ``fitted_attributes`` (what
    ``fit`` sets), take their parameters as keyword arguments of ``__init__`` stored unchanged
    under the same names (scikit-learn's rule), and add their own state with
    :meth:`_save_extra` / :meth:`_load_extra`.
    """

    model_type: ClassVar[str]
    #: where ``transform(adata, key_added=True)`` stores the representation in ``adata.obsm``
    default_key: ClassVar[str]
    #: attributes that exist once the estimator is fitted
    fitted_attributes: ClassVar[tuple[str, ...]] = ()
    #: fitted attributes stored in config.json (JSON-able values)
    json_attributes: ClassVar[tuple[str, ...]] = ()
    #: module that registers the custom Keras classes of ``network_`` (None: built-in layers)
    network_module: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "model_type" in cls.__dict__:
            _REGISTRY[cls.model_type] = cls

    # -- parameters (scikit-learn) ------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments, as scikit-learn's ``get_params`` (``deep`` has no effect:
        no parameter is itself an estimator)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> "BaseEstimator":
        """Set constructor arguments, as scikit-learn's ``set_params``; refits are up to you."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; "
                                 f"parameters: {valid}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- the fitted check ---------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has run (or the estimator was loaded from a bundle)."""
        return all(hasattr(self, name) for name in self.fitted_attributes)

    def _check_is_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() first")

    # -- results into AnnData (scanpy) ----------------------------------------------------------
    def get_latent_representation(self, adata=None, **kwargs) -> np.ndarray:
        """``transform`` under scvi-tools' name (for the models that have a representation)."""
        return self.transform(adata, **kwargs)

    def _store(self, data, values: np.ndarray, key_added: str | bool) -> None:
        """``data.obsm[key] = values`` (key: ``default_key`` or the string given) and, as scanpy
        records ``uns["pca"]``, ``data.uns[model_type]`` = parameters, version and key."""
        import anndata as ad

        if not isinstance(data, ad.AnnData):
            raise InputError("key_added needs AnnData input")
        if data.is_view:
            raise InputError("key_added cannot write into a view of an AnnData (adata[mask]): "
                             "pass adata[mask].copy(), or keep the returned array")
        key = self.default_key if key_added is True else str(key_added)
        data.obsm[key] = values
        params = {k: v for k, v in _jsonable(self.get_params()).items() if v is not None}
        data.uns[self.model_type] = {"params": params, "version": __version__,
                                     "backend": keras_backend(), "obsm_key": key}

    # -- saving -------------------------------------------------------------------------------
    def save(self, path: str | Path, *, overwrite: bool = False) -> None:
        """Write the bundle (a folder) atomically: a failed save leaves ``path`` untouched. A model
        with non-finite weights is refused."""
        self._check_is_fitted()
        if getattr(self, "network_", None) is not None and not finite_weights(self.network_):
            raise TrainingError(f"this {type(self).__name__} has non-finite weights; not saved")
        config = {"model": self.model_type, "module": type(self).__module__, "format": FORMAT,
                  "version": __version__, "backend": keras_backend(),
                  "params": _jsonable(self.get_params()),
                  "attributes": _jsonable({k: getattr(self, k) for k in self.json_attributes
                                           if hasattr(self, k)})}
        preprocessor = getattr(self, "preprocessor_", None)
        if preprocessor is not None:
            config["preprocessing"], pre_arrays = preprocessor.get_state()
        with atomic_path(path, overwrite=overwrite) as tmp:
            tmp.mkdir()
            (tmp / CONFIG).write_text(json.dumps(config, indent=2))
            if preprocessor is not None:
                np.savez(tmp / PREPROCESSING, **pre_arrays)
            if getattr(self, "network_", None) is not None:
                self.network_.save(tmp / NETWORK)
            if getattr(self, "history_", None) is not None:
                self.history_.to_csv(tmp / HISTORY)
            self._save_extra(tmp)

    @classmethod
    def load(cls, path: str | Path) -> "BaseEstimator":
        """Load a bundle written by :meth:`save`, as the class stored in it.

        ``BaseEstimator.load`` (and ``LatentModel.load`` for the expression models) accept any
        model type; a concrete class's ``load`` refuses a bundle of another type.
        """
        from .preprocessing import Preprocessor

        path = Path(path)
        config = read_config(path)
        model_cls = _stored_class(path, config)
        if not issubclass(model_cls, cls):
            raise InputError(f"{path} holds a {model_cls.__name__}, not a {cls.__name__}")
        # JSON has no tuples: parameters such as hidden_dims come back as lists
        model = model_cls(**{k: tuple(v) if isinstance(v, list) else v
                             for k, v in config["params"].items()})
        for name, value in config.get("attributes", {}).items():
            setattr(model, name, value)
        if "preprocessing" in config:
            arrays = read_arrays(path / PREPROCESSING)
            model.preprocessor_ = Preprocessor.from_state(config["preprocessing"], arrays)
        if (path / NETWORK).exists():
            if model_cls.network_module:  # registers the network's custom Keras classes
                importlib.import_module(model_cls.network_module)
            model.network_ = read_file(path / NETWORK, _load_keras)
            if not finite_weights(model.network_):
                raise InputError(f"{path}: the model has non-finite weights (a training that "
                                 "diverged?); train it again")
        if (path / HISTORY).exists():
            model.history_ = read_file(path / HISTORY, lambda f: pd.read_csv(f, index_col="epoch"))
        model._load_extra(path)
        try:
            model._check_is_fitted()
        except NotFittedError:
            missing = " or ".join(name for name in (PREPROCESSING, NETWORK)
                                  if not (path / name).exists()) or "fitted state"
            raise InputError(f"{path}: incomplete bundle, no {missing}; save the model "
                             "again") from None
        return model

    # -- for subclasses -----------------------------------------------------------------------
    def _save_extra(self, directory: Path) -> None:
        """Write state beyond preprocessing, network and history into ``directory``."""

    def _load_extra(self, directory: Path) -> None:
        """Read what :meth:`_save_extra` wrote."""


def fit_network(network, *args, callbacks: list | None = None, **fit_kwargs) -> pd.DataFrame:
    """``network.fit(*args, ...)`` (compiled), stopping at the first non-finite loss (Keras's
    ``TerminateOnNaN``); returns the per-epoch history. Training that went non-finite raises
    :class:`~diffvae.errors.TrainingError`, so no diverged model is ever kept."""
    import keras

    callbacks = [*(callbacks or []), keras.callbacks.TerminateOnNaN()]
    build_optimizer(network)
    history = pd.DataFrame(network.fit(*args, callbacks=callbacks, **fit_kwargs).history)
    if not (np.isfinite(history["loss"]).all() and finite_weights(network)):
        rate = float(keras.ops.convert_to_numpy(network.optimizer.learning_rate))
        raise TrainingError(
            f"training diverged in epoch {len(history)} (loss {history['loss'].iloc[-1]}); nothing "
            f"was kept: lower the learning rate (it was {rate:g})")
    return history.rename_axis("epoch")


def build_optimizer(network) -> None:
    """Make the compiled optimizer's variables before training, once every layer of ``network``
    holds its weights. On TensorFlow, Keras otherwise makes them while tracing the first
    training step, and TensorFlow, seeing variables created, traces that step a second time:
    the time of a short fit goes mostly to tracing (docs/benchmarks.md, "Training speed").
    Other backends build the optimizer before tracing themselves."""
    import keras

    if keras.backend.backend() != "tensorflow" or network.optimizer.built:
        return
    if all(layer.built for layer in _all_layers(network)):
        network.optimizer.build(network.trainable_variables)


def _all_layers(model):
    """The layers of a Keras model and of the models nested in it."""
    import keras

    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def keras_backend() -> str:
    """The Keras backend that computes (results are repeatable per backend and machine)."""
    import keras

    return keras.backend.backend()


def finite_weights(network) -> bool:
    """Whether every weight of a Keras model is finite."""
    return all(np.isfinite(w).all() for w in network.get_weights())


def read_config(path: Path) -> dict[str, Any]:
    """A bundle's config.json, with a clear error for a missing or damaged one."""
    if not (path / CONFIG).exists():
        raise InputError(f"{path}: not a model bundle (no {CONFIG})")
    try:
        config = json.loads((path / CONFIG).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path / CONFIG}: damaged bundle file ({exc})") from None
    if not isinstance(config, dict) or "model" not in config or "params" not in config:
        raise InputError(f"{path}: made by an older version of diffvae (0.1 saved classifiers "
                         "without a model type) or by another program; train it again")
    if config.get("format", 1) > FORMAT:
        raise InputError(f"{path}: made by diffvae {config.get('version')}, newer than this "
                         f"{__version__}; upgrade diffvae to load it")
    return config


def _stored_class(path: Path, config: dict[str, Any]) -> type[BaseEstimator]:
    model_type = config["model"]
    module = config.get("module") or _FORMAT1_MODULES.get(model_type)
    if model_type not in _REGISTRY and module and module.split(".")[0] in _PACKAGES:
        importlib.import_module(module)  # registers the class (e.g. graph_diffvae.model)
    if model_type not in _REGISTRY:
        raise InputError(f"{path}: unknown model type {model_type!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[model_type]


# bundles of format 1 did not say where their class lives
_FORMAT1_MODULES = {"graph_diffvae": "graph_diffvae.model"}


def read_arrays(file: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file of a bundle (see :func:`_read` for errors)."""

    def reader(f):
        with np.load(f) as arrays:
            return dict(arrays)

    return read_file(file, reader)


def read_file(file: Path, reader):
    """Read one bundle file, turning a missing or damaged file into an error that names it."""
    if not file.exists():
        raise InputError(f"{file.parent}: incomplete bundle, {file.name} is missing")
    try:
        return reader(file)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{file}: damaged bundle file ({type(exc).__name__}: {exc})") from None


def _load_keras(file: Path):
    import keras

    return keras.saving.load_model(file)


def _jsonable(value):
    """Tuples as lists and numpy scalars as Python numbers, so that config.json can hold them."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
