"""Early stopping and the note on how training ended (diffvae.stopping)."""
import keras
import numpy as np
import pandas as pd
import pytest

from diffvae import DiffVAE, InputError
from diffvae.stopping import best_epoch, training_note
from graph_diffvae import GraphDiffVAE

from tests.helpers import planted


def overfitting(n_epochs=100, best=56):
    """A history whose validation loss falls to 303.8 at epoch ``best``, then climbs to 319.5."""
    val = np.r_[np.linspace(400, 303.8, best), np.linspace(304, 319.5, n_epochs - best)]
    return pd.DataFrame({"loss": np.linspace(500, 100, n_epochs), "val_loss": val})


def test_the_best_epoch_and_the_note_say_what_the_history_shows():
    history = overfitting()
    assert best_epoch(history) == 56 == int(np.argmin(history["val_loss"].to_numpy())) + 1
    note = training_note(history, 100)
    assert note.startswith("The validation loss was best at epoch 56 of 100 (303.8)")
    assert "5.2% higher (319.5)" in note and "got worse on held-out data after epoch 56" in note
    # a last epoch within 1 % of the best is not called worse
    close = pd.DataFrame({"loss": [3.0, 2.0, 1.0], "val_loss": [310.0, 303.8, 305.0]})
    assert training_note(close, 3) == ("The validation loss was best at epoch 2 of 3 (303.8); the "
                                       "last epoch is within 1% of it.")
    stopped = training_note(history.iloc[:66], 100, early_stopping=True)
    assert stopped == ("Early stopping: the validation loss was best at epoch 56 (303.8); training "
                       "stopped at epoch 66 of 100 and kept the weights of epoch 56.")
    auc = pd.DataFrame({"loss": [3.0, 2.0, 1.0], "val_auc": [0.80, 0.90, 0.85]})
    assert best_epoch(auc, "val_auc") == 2
    assert "0.050 lower (0.85)" in training_note(auc, 3, "val_auc")
    assert training_note(pd.DataFrame({"loss": [1.0, 0.5]}), 2) is None  # no validation
    assert training_note(auc.iloc[:2], 2, "val_auc") == ("The validation AUC was best at the "
                                                         "last epoch (2 of 2, 0.9).")


class Weights(keras.callbacks.Callback):
    """The network's weights at the end of every epoch."""

    def on_train_begin(self, logs=None):
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append([w.copy() for w in self.model.get_weights()])


def test_diffvae_stops_early_and_keeps_the_best_epochs_weights(counts_adata):
    seen = Weights()
    model = DiffVAE(latent_dim=3, hidden_dims=(16, 8)).fit(
        counts_adata, epochs=80, batch_size=16, learning_rate=1e-2, early_stopping=3,
        callbacks=[seen], verbose=0)
    history = model.history_
    best = best_epoch(history)
    print(history["val_loss"].round(2).tolist())
    assert len(history) == best + 3 < 80  # stopped 3 epochs without improvement after the best
    for kept, at_best in zip(model.network_.get_weights(), seen.epochs[best - 1]):
        np.testing.assert_array_equal(kept, at_best)


def test_graph_models_stop_on_the_validation_auc(rng):
    data, adjacency = planted(rng, n=120)
    seen = Weights()
    model = GraphDiffVAE(16, 4).fit(data, adjacency=adjacency, epochs=40, learning_rate=2e-2,
                                    early_stopping=2, callbacks=[seen], verbose=0)
    best = best_epoch(model.history_, "val_auc")
    assert best == int(np.argmax(model.history_["val_auc"].to_numpy())) + 1
    assert len(model.history_) == best + 2 < 40
    for kept, at_best in zip(model.network_.get_weights(), seen.epochs[best - 1]):
        np.testing.assert_array_equal(kept, at_best)
    # and the held-out metrics are those of the kept weights
    assert model.link_metrics_["validation"]["auc"] == pytest.approx(
        model.history_["val_auc"].iloc[best - 1], abs=1e-9)
    with pytest.raises(InputError, match="early_stopping watches the held-out links' AUC"):
        GraphDiffVAE(16, 4).fit(data, adjacency=adjacency, early_stopping=2, evaluate_links=False)


@pytest.mark.parametrize("fit, message", [
    ({"early_stopping": 3, "validation_split": 0.0}, "early_stopping watches the validation loss"),
    ({"early_stopping": 0}, r"early_stopping must be positive"),
])
def test_bad_early_stopping_is_refused(counts_adata, fit, message):
    with pytest.raises(InputError, match=message):
        DiffVAE(latent_dim=3, hidden_dims=(8, 4)).fit(counts_adata, epochs=2, verbose=0, **fit)
