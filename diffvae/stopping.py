"""When training stops learning: early stopping, the best epoch, and a plain sentence for a
report when the last epoch is clearly worse than the best.

Every model watches one validation figure: the validation loss (DiffVAE and the dense models,
the cell-state classifier; lower is better) or the held-out links' AUC (the graph models; higher
is better).
"""
from __future__ import annotations

import pandas as pd

from .checks import positive_int

#: how much worse (relative, for a loss; absolute, for an AUC) the last epoch must be than the
#: best for a report to say the model got worse after its best epoch
WORSE_LOSS_SHARE, WORSE_AUC = 0.01, 0.01


def early_stopping(patience: int | None, monitor: str = "val_loss") -> list:
    """``[keras.callbacks.EarlyStopping]`` on ``monitor``: training stops after ``patience``
    epochs without a better value, and the weights of the best epoch are kept at the end
    (whether or not it stopped early); ``[]`` for ``patience`` None. ``monitor`` is
    ``"val_loss"`` (lower is better) or ``"val_auc"`` (higher is better)."""
    if patience is None:
        return []
    import keras

    positive_int("early_stopping", patience)
    return [keras.callbacks.EarlyStopping(monitor=monitor, mode=_mode(monitor), patience=patience,
                                          restore_best_weights=True)]


def best_epoch(history: pd.DataFrame, monitor: str = "val_loss") -> int | None:
    """The epoch (from 1) with the best ``monitor`` in ``history``; None without that column."""
    if monitor not in history or history[monitor].isna().all():
        return None
    values = history[monitor].reset_index(drop=True)
    return int(values.idxmin() if _mode(monitor) == "min" else values.idxmax()) + 1


def training_note(history: pd.DataFrame, epochs: int, monitor: str = "val_loss", *,
                  early_stopping: bool = False) -> str | None:
    """A sentence for a report on how training of ``epochs`` epochs ended: the best epoch of
    ``monitor``, and with ``early_stopping``, where training stopped and whose weights it kept
    (the best epoch's); without, whether the last epoch is clearly worse than the best (by
    :data:`WORSE_LOSS_SHARE` of a loss, :data:`WORSE_AUC` of an AUC), that is, whether the
    model got worse on held-out data after its best epoch. None without a validation figure."""
    best = best_epoch(history, monitor)
    if best is None:
        return None
    values = history[monitor].reset_index(drop=True)
    top, last = float(values.iloc[best - 1]), float(values.iloc[-1])
    name = "validation loss" if monitor == "val_loss" else f"validation {monitor[4:].upper()}"
    if early_stopping:
        ended = (f"training stopped at epoch {len(values)} of {epochs}" if len(values) < epochs
                 else f"training ran all {epochs} epochs")
        return (f"Early stopping: the {name} was best at epoch {best} ({top:.4g}); {ended} and "
                f"kept the weights of epoch {best}.")
    worse = (last > top * (1 + WORSE_LOSS_SHARE) if _mode(monitor) == "min"
             else last < top - WORSE_AUC)
    if not worse:
        if best == len(values):
            return f"The {name} was best at the last epoch ({best} of {epochs}, {top:.4g})."
        close = f"within {WORSE_LOSS_SHARE:.0%}" if _mode(monitor) == "min" else f"within {WORSE_AUC}"
        return (f"The {name} was best at epoch {best} of {epochs} ({top:.4g}); the last epoch "
                f"is {close} of it.")
    change = (f"{last / top - 1:.1%} higher" if _mode(monitor) == "min"
              else f"{top - last:.3f} lower")
    return (f"The {name} was best at epoch {best} of {epochs} ({top:.4g}); at the last epoch "
            f"it is {change} ({last:.4g}): the model got worse on held-out data after epoch "
            f"{best}. Early stopping (`--early-stopping`; `early_stopping=` in `fit`) stops "
            "there and keeps that epoch's weights.")


def _mode(monitor: str) -> str:
    return "max" if monitor.endswith(("auc", "ap", "accuracy")) else "min"
