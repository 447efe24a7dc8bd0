"""The paper's cell-state classifier: expression -> Dense 256, 512, 256 (ReLU) -> softmax.

Trained on mature cells only (Adam 1e-3, batch 128, 300 epochs by default) on the same [0, 1]
scale as DiffVAE's input and output, so that it can classify decoded (perturbed) cells. A
stratified held-out share of the cells gives the accuracy and confusion table it reports.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import defaults
from ._batching import (apply_in_batches, jit_compile, steps_per_execution, training_input,
                        validation_input)
from .base import BaseEstimator, fit_network
from .checks import check_training, fraction, positive_ints
from .errors import InputError
from .progress import keras_verbose

_CONFUSION = "confusion.csv"


class CellStateClassifier(BaseEstimator):
    """A dense softmax classifier of cell types from [0, 1]-scaled expression.

    Parameters
    ----------
    hidden_dims
        Hidden layer sizes (paper: 256, 512, 256).
    """

    model_type = "cell_state_classifier"
    fitted_attributes = ("network_", "classes_")
    json_attributes = ("classes_", "test_accuracy_")

    def __init__(self, hidden_dims: Sequence[int] = defaults.CLASSIFIER_HIDDEN_DIMS) -> None:
        self.hidden_dims = hidden_dims

    def fit(self, x: np.ndarray, labels: Sequence, *, epochs: int = defaults.CLASSIFIER_EPOCHS,
            batch_size: int = defaults.BATCH_SIZE, learning_rate: float = defaults.LEARNING_RATE,
            test_size: float = 0.2, seed: int | None = 0,
            verbose: str | int = "auto") -> "CellStateClassifier":
        """Train on a stratified ``1 - test_size`` share; score the rest.

        Sets ``classes_``, ``test_accuracy_``, ``confusion_`` (held-out cells, true label x
        predicted label) and ``history_``.
        """
        import keras
        from sklearn.model_selection import train_test_split

        positive_ints("hidden_dims", self.hidden_dims)
        check_training(epochs, learning_rate, batch_size)
        fraction("test_size", test_size, low_open=True)
        x = np.asarray(x, dtype=np.float32)
        labels = np.asarray(labels).astype(str)
        if len(x) != len(labels):
            raise InputError(f"{len(x)} cells but {len(labels)} labels")
        self.classes_ = np.unique(labels)
        if len(self.classes_) < 2:
            raise InputError(f"the classifier needs at least 2 cell types, got {self.classes_.tolist()}")
        counts = pd.Series(labels).value_counts()
        if counts.min() < 2:
            raise InputError(f"every type needs at least 2 cells; {counts.idxmin()!r} has {counts.min()}")
        y = np.searchsorted(self.classes_, labels)
        train, test = train_test_split(np.arange(len(x)), test_size=test_size, stratify=y,
                                       random_state=seed)
        if seed is not None:
            keras.utils.set_random_seed(seed)
        network = _build(x.shape[1], self.hidden_dims, len(self.classes_))
        data, batches = training_input(x[train], batch_size, y=y[train], seed=seed)
        network.compile(optimizer=keras.optimizers.Adam(learning_rate),
                        loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                        jit_compile=jit_compile(epochs, len(train), batch_size),
                        steps_per_execution=steps_per_execution(batches.get("steps_per_epoch")))
        self.history_ = fit_network(
            network, data, validation_data=validation_input(x[test], batch_size, y=y[test]),
            epochs=epochs, verbose=keras_verbose(verbose), **batches)
        self.network_ = network
        predicted = self.predict(x[test])
        self.test_accuracy_ = float(np.mean(predicted == labels[test]))
        self.confusion_ = pd.crosstab(
            pd.Series(labels[test], name="true"), pd.Series(predicted, name="predicted")
        ).reindex(index=self.classes_, columns=self.classes_, fill_value=0)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (cells x ``classes_``)."""
        self._check_is_fitted()
        return apply_in_batches(self.network_, np.asarray(x, dtype=np.float32))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The most probable class of each cell."""
        self._check_is_fitted()
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]

    def _save_extra(self, directory: Path) -> None:
        if hasattr(self, "confusion_"):
            self.confusion_.to_csv(directory / _CONFUSION)

    def _load_extra(self, directory: Path) -> None:
        self.classes_ = np.asarray(self.classes_)  # stored as a JSON list
        if (directory / _CONFUSION).exists():
            self.confusion_ = pd.read_csv(directory / _CONFUSION, index_col="true")
            self.confusion_.columns.name = "predicted"


def _build(n_genes: int, hidden_dims: Sequence[int], n_classes: int):
    import keras
    from keras import layers

    x = keras.Input(shape=(n_genes,), name="expression")
    h = x
    for i, units in enumerate(hidden_dims):
        h = layers.Dense(int(units), activation="relu", name=f"dense_{i}")(h)
    out = layers.Dense(n_classes, activation="softmax", name="cell_state")(h)
    return keras.Model(x, out, name="cell_state_classifier")
