"""The paper's cell-state classifier: expression -> Dense 256, 512, 256 (ReLU) -> softmax.

Trained on mature cells only (Adam 1e-3, batch 128, 300 epochs by default) on the same [0, 1]
scale as DiffVAE's input and output, so that it can classify decoded (perturbed) cells. A
stratified held-out share of the cells gives the accuracy and confusion table it reports.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._batching import apply_in_batches
from ._files import atomic_path
from .errors import InputError

_CONFIG, _NETWORK = "config.json", "model.keras"


class CellStateClassifier:
    """A dense softmax classifier of cell types from [0, 1]-scaled expression.

    Parameters
    ----------
    hidden_dims
        Hidden layer sizes (paper: 256, 512, 256).
    """

    def __init__(self, hidden_dims: Sequence[int] = (256, 512, 256)) -> None:
        self.hidden_dims = tuple(int(h) for h in hidden_dims)

    def fit(self, x: np.ndarray, labels: Sequence, *, epochs: int = 300, batch_size: int = 128,
            learning_rate: float = 1e-3, test_size: float = 0.2, seed: int | None = 0,
            verbose: str | int = "auto") -> "CellStateClassifier":
        """Train on a stratified ``1 - test_size`` share; score the rest.

        Sets ``classes_``, ``test_accuracy_``, ``confusion_`` (held-out cells, true label x
        predicted label) and ``history_``.
        """
        import keras
        from sklearn.model_selection import train_test_split

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
        self.network_ = _build(x.shape[1], self.hidden_dims, len(self.classes_))
        self.network_.compile(optimizer=keras.optimizers.Adam(learning_rate),
                              loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                              jit_compile=True)
        history = self.network_.fit(x[train], y[train], validation_data=(x[test], y[test]),
                                    epochs=epochs, batch_size=batch_size, verbose=verbose)
        self.history_ = pd.DataFrame(history.history).rename_axis("epoch")
        predicted = self.predict(x[test])
        self.test_accuracy_ = float(np.mean(predicted == labels[test]))
        self.confusion_ = pd.crosstab(
            pd.Series(labels[test], name="true"), pd.Series(predicted, name="predicted")
        ).reindex(index=self.classes_, columns=self.classes_, fill_value=0)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (cells x ``classes_``)."""
        network = self._fitted()
        return apply_in_batches(network, np.asarray(x, dtype=np.float32))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The most probable class of each cell."""
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]

    def save(self, path: str | Path, *, overwrite: bool = False) -> None:
        """Write the classifier (a directory) atomically."""
        network = self._fitted()
        config = {"hidden_dims": list(self.hidden_dims), "classes": self.classes_.tolist(),
                  "test_accuracy": self.test_accuracy_}
        with atomic_path(path, overwrite=overwrite) as tmp:
            tmp.mkdir()
            (tmp / _CONFIG).write_text(json.dumps(config, indent=2))
            network.save(tmp / _NETWORK)

    @classmethod
    def load(cls, path: str | Path) -> "CellStateClassifier":
        """Load a classifier written by :meth:`save`."""
        import keras

        path = Path(path)
        if not (path / _CONFIG).exists():
            raise InputError(f"{path}: not a classifier bundle (no {_CONFIG})")
        config = json.loads((path / _CONFIG).read_text())
        classifier = cls(config["hidden_dims"])
        classifier.classes_ = np.asarray(config["classes"])
        classifier.test_accuracy_ = config["test_accuracy"]
        classifier.network_ = keras.saving.load_model(path / _NETWORK)
        return classifier

    def _fitted(self):
        if not hasattr(self, "network_"):
            raise RuntimeError("this CellStateClassifier is not fitted yet; call fit() first")
        return self.network_


def _build(n_genes: int, hidden_dims: Sequence[int], n_classes: int):
    import keras
    from keras import layers

    x = keras.Input(shape=(n_genes,), name="expression")
    h = x
    for i, units in enumerate(hidden_dims):
        h = layers.Dense(units, activation="relu", name=f"dense_{i}")(h)
    out = layers.Dense(n_classes, activation="softmax", name="cell_state")(h)
    return keras.Model(x, out, name="cell_state_classifier")
