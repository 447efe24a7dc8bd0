"""Keras callbacks for graph training."""
from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from .links import link_metrics


class LinkMetrics(keras.callbacks.Callback):
    """After every epoch, the AUC and AP of held-out edges against held-out non-edges, scored
    on the node features Z* that ``embed()`` returns first (every cell's), added to the logs as
    ``val_auc`` and ``val_ap`` (so History, progress bars and EarlyStopping see them).

    Runs whatever the verbosity, so ``history_`` has the same columns for every ``verbose``.
    """

    def __init__(self, embed: Callable[[], tuple[np.ndarray, ...]], edges: np.ndarray,
                 non_edges: np.ndarray) -> None:
        super().__init__()
        self.embed, self.edges, self.non_edges = embed, edges, non_edges

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        z = self.embed()[0]
        if logs is not None:
            logs.update({f"val_{k}": v for k, v in link_metrics(z, self.edges, self.non_edges).items()})


class EpochProgbar(keras.callbacks.Callback):
    """One progress bar over the epochs, with the latest losses: Keras's own bar would print a
    block per epoch when every epoch is a single full-batch step."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.bar = keras.utils.Progbar(self.params["epochs"], unit_name="epoch")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.bar.update(epoch + 1, list((logs or {}).items()), finalize=epoch + 1 == self.params["epochs"])
