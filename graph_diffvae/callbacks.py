"""Keras callbacks for full-batch graph training (one step per epoch)."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from .links import link_metrics


class LinkMetrics(keras.callbacks.Callback):
    """After every epoch, the AUC and AP of held-out edges against held-out non-edges, added to
    the logs as ``val_auc`` and ``val_ap`` (so History, progress bars and EarlyStopping see them).

    Runs whatever the verbosity, so ``history_`` has the same columns for every ``verbose``.
    """

    def __init__(self, inputs, edges: np.ndarray, non_edges: np.ndarray) -> None:
        super().__init__()
        self.inputs, self.edges, self.non_edges = inputs, edges, non_edges

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        z = ops.convert_to_numpy(self.model(self.inputs, training=False)[0])
        if logs is not None:
            logs.update({f"val_{k}": v for k, v in link_metrics(z, self.edges, self.non_edges).items()})


class EpochProgbar(keras.callbacks.Callback):
    """One progress bar over the epochs, with the latest losses: Keras's own bar would print a
    block per epoch when every epoch is a single full-batch step."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.bar = keras.utils.Progbar(self.params["epochs"], unit_name="epoch")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.bar.update(epoch + 1, list((logs or {}).items()), finalize=epoch + 1 == self.params["epochs"])
