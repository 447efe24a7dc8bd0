"""Feeding Keras models numpy arrays in batches (diffvae._batching)."""
import keras
import numpy as np
import pytest

from diffvae._batching import (
    STEPS_PER_EXECUTION, XLA_MIN_STEPS, jit_compile, steps_per_execution, training_input,
    validation_input
)


def test_steps_per_execution_is_the_largest_divisor_up_to_the_cap():
    assert steps_per_execution(None) == STEPS_PER_EXECUTION
    for n in range(1, 40):
        steps = steps_per_execution(n)
        assert n % steps == 0 and 1 <= steps <= STEPS_PER_EXECUTION
        assert not any(n % d == 0 for d in range(steps + 1, STEPS_PER_EXECUTION + 1))


def epochs_of(data, steps: int, n_epochs: int) -> list[np.ndarray]:
    """The row ids (column 0) each epoch's batches hold, drawn from ONE iterator as Keras does."""
    iterator = iter(data)
    return [np.concatenate([next(iterator).numpy()[:, 0] for _ in range(steps)])
            for _ in range(n_epochs)]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the tf.data pipeline")
def test_training_input_gives_every_row_once_per_epoch_in_a_seeded_new_order():
    x = np.column_stack([np.arange(300), np.ones(300)]).astype(np.float32)  # SYNTHETIC row ids
    data, fit_kwargs = training_input(x, 64, seed=5)
    assert fit_kwargs == {"shuffle": False, "steps_per_epoch": 5}  # 4 full batches + 44 rows
    epochs = epochs_of(data, 5, 3)
    for ids in epochs:
        np.testing.assert_array_equal(np.sort(ids), np.arange(300))
    assert not np.array_equal(epochs[0], epochs[1])
    again = epochs_of(training_input(x, 64, seed=5)[0], 5, 3)
    for ids, same in zip(epochs, again):
        np.testing.assert_array_equal(ids, same)
    other = epochs_of(training_input(x, 64, seed=6)[0], 5, 1)
    assert not np.array_equal(epochs[0], other[0])


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the tf.data pipeline")
def test_validation_input_is_one_pass_in_order():
    x = np.arange(100, dtype=np.float32).reshape(50, 2)
    batches = [b.numpy() for b in validation_input(x, 16)]
    assert [len(b) for b in batches] == [16, 16, 16, 2]
    np.testing.assert_array_equal(np.concatenate(batches), x)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the tf.data pipeline")
def test_targets_stay_with_their_rows_in_training_and_validation_input():
    x = np.column_stack([np.arange(300), np.ones(300)]).astype(np.float32)  # SYNTHETIC row ids
    y = np.arange(300) * 7
    data, fit_kwargs = training_input(x, 64, y=y, seed=5)
    iterator = iter(data)
    seen = []
    for _ in range(fit_kwargs["steps_per_epoch"]):
        rows, targets = (t.numpy() for t in next(iterator))
        np.testing.assert_array_equal(targets, rows[:, 0].astype(int) * 7)
        seen.append(rows[:, 0])
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.arange(300))
    batches = [(r.numpy(), t.numpy()) for r, t in validation_input(x[:50], 16, y=y[:50])]
    np.testing.assert_array_equal(np.concatenate([t for _, t in batches]), y[:50])


def test_only_long_fits_are_xla_compiled_on_tensorflow():
    tensorflow = keras.backend.backend() == "tensorflow"
    # 10 epochs x ceil(1000 / 128) = 80 steps; 200 epochs x 8 = 1,600 steps
    assert jit_compile(10, 1000, 128) is (not tensorflow)
    assert jit_compile(200, 1000, 128) is True
    steps_at_threshold = XLA_MIN_STEPS // 8
    assert jit_compile(steps_at_threshold, 1000, 128) is True
    assert jit_compile(steps_at_threshold - 1, 1000, 128) is (not tensorflow)
