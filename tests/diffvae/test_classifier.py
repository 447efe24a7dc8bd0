"""The cell-state classifier (diffvae.classifier)."""
import math

import numpy as np
import pytest

from diffvae import CellStateClassifier, InputError


def test_classifier_reports_held_out_accuracy_and_round_trips(tmp_path, counts_adata):
    from diffvae import Preprocessor

    x = Preprocessor().fit_transform(counts_adata)
    labels = counts_adata.obs["celltype"].astype(str).to_numpy()
    classifier = CellStateClassifier((32, 16)).fit(x, labels, epochs=30, verbose=0, seed=0)
    assert classifier.confusion_.to_numpy().sum() == 24  # 20 % of 120 cells held out
    assert classifier.test_accuracy_ == pytest.approx(np.trace(classifier.confusion_.to_numpy()) / 24)
    assert classifier.test_accuracy_ > 0.6
    classifier.save(tmp_path / "clf")
    again = CellStateClassifier.load(tmp_path / "clf")
    np.testing.assert_array_equal(again.predict_proba(x), classifier.predict_proba(x))
    with pytest.raises(InputError, match="at least 2 cells"):
        CellStateClassifier().fit(x[:3], ["a", "a", "b"], epochs=1, verbose=0)


def test_bad_classifier_arguments(rng):
    x, labels = rng.uniform(size=(20, 4)), np.repeat(["a", "b"], 10)
    for kwargs, message in [({"epochs": 0}, "epochs must be positive"),
                            ({"test_size": 0.0}, r"test_size must be in \(0, 1\)"),
                            ({"learning_rate": math.nan}, "learning_rate must be positive")]:
        with pytest.raises(InputError, match=message):
            CellStateClassifier((4,)).fit(x, labels, verbose=0, **kwargs)
    with pytest.raises(InputError, match="hidden_dims must be positive"):
        CellStateClassifier((4, -1)).fit(x, labels, verbose=0, epochs=1)
