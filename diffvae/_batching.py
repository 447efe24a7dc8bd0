"""Feeding Keras models numpy arrays in batches: training input and batched application."""
from __future__ import annotations

import numpy as np

#: training steps per compiled call at most (an epoch of up to this many steps is one call): fewer
#: Python round trips per epoch on the TensorFlow backend (docs/benchmarks.md, "Training speed")
STEPS_PER_EXECUTION = 32
#: training steps from which a fit on the TensorFlow backend is XLA-compiled: compiling takes
#: seconds that only a long fit wins back (docs/benchmarks.md, "Training speed")
XLA_MIN_STEPS = 1_000


def jit_compile(epochs: int, n_rows: int, batch_size: int) -> bool:
    """``compile(jit_compile=...)`` for a fit of ``epochs`` over ``n_rows`` rows in batches of
    ``batch_size``: XLA from :data:`XLA_MIN_STEPS` steps on, TensorFlow's graph mode below; always
    on JAX, which runs uncompiled steps eagerly."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return True
    return epochs * -(-n_rows // batch_size) >= XLA_MIN_STEPS


def steps_per_execution(steps_per_epoch: int | None) -> int:
    """Training steps per compiled call: the largest divisor of ``steps_per_epoch`` up to
    :data:`STEPS_PER_EXECUTION` (Keras runs whole groups of steps, so on a repeated dataset a
    group must end where the epoch does); :data:`STEPS_PER_EXECUTION` for input that ends each
    epoch itself (``None``)."""
    if steps_per_epoch is None:
        return STEPS_PER_EXECUTION
    return max(d for d in range(1, STEPS_PER_EXECUTION + 1) if steps_per_epoch % d == 0)


def _gathered_batches(x: np.ndarray, y: np.ndarray | None, batch_size: int, shuffle: bool,
                      seed: int | None):
    """A ``tf.data`` pipeline of batches gathered from one copy of ``x`` (and the same rows of
    ``y``, if given: ``(x, y)`` batches), the row order shuffled (seeded) each pass when
    ``shuffle``."""
    import tensorflow as tf

    rows = tf.constant(x)
    order = tf.data.Dataset.range(len(x))
    if shuffle:
        order = order.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if y is None:
        return order.batch(batch_size).map(lambda i: tf.gather(rows, i))
    targets = tf.constant(y)
    return order.batch(batch_size).map(lambda i: (tf.gather(rows, i), tf.gather(targets, i)))


def training_input(x: np.ndarray, batch_size: int, *, y: np.ndarray | None = None,
                   seed: int | None = None) -> tuple[object, dict]:
    """Rows of ``x`` (with their targets ``y``, if given), shuffled each epoch, as ``fit``
    input: ``(data, fit_kwargs)``.

    On the TensorFlow backend one repeated ``tf.data`` pipeline that shuffles row indices each
    epoch (seeded), gathers each batch and prefetches the next, with ``steps_per_epoch`` set so
    that Keras keeps its iterator from epoch to epoch: Keras's own adapter for arrays rebuilds its
    pipeline every epoch, and even a new iterator each epoch costs time
    (benchmarks/train_speed.py). Compile with :func:`steps_per_execution` of that
    ``steps_per_epoch``. Other backends iterate numpy arrays without that cost and get ``x``
    itself (and ``y`` among the keyword arguments).
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return x, {"batch_size": batch_size, "shuffle": True,
                   **({} if y is None else {"y": y})}
    import tensorflow as tf

    batches = _gathered_batches(x, y, batch_size, shuffle=True, seed=seed).repeat()
    steps = -(-len(x) // batch_size)
    return batches.prefetch(tf.data.AUTOTUNE), {"shuffle": False, "steps_per_epoch": steps}


def validation_input(x: np.ndarray, batch_size: int, *, y: np.ndarray | None = None):
    """Rows of ``x`` (with their targets ``y``, if given) in order as ``validation_data``: one
    pass per evaluation."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return x if y is None else (x, y)
    import tensorflow as tf

    return _gathered_batches(x, y, batch_size, shuffle=False, seed=None).prefetch(tf.data.AUTOTUNE)


def sequence_input(sequence, n_features: int) -> tuple[object, dict]:
    """A ``keras.utils.PyDataset`` of float32 ``(batch, n_features)`` arrays as ``fit`` input.

    On the TensorFlow backend a ``tf.data`` pipeline that asks the sequence for each batch when
    the training step needs it, without prefetching: on few cores, preparing the next batch
    while XLA runs the step on all of them is slower than taking turns (measured on the
    documentation's benchmarks page). The sequence draws its next order after its last batch,
    as Keras has it do at the end of an epoch. Other backends iterate the sequence itself.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return sequence, {}
    import tensorflow as tf

    n_batches = len(sequence)

    def load(index: np.int64) -> np.ndarray:
        batch = sequence[int(index)]
        if index == n_batches - 1:
            sequence.on_epoch_end()
        return batch

    batches = tf.data.Dataset.range(n_batches).map(lambda i: tf.ensure_shape(
        tf.numpy_function(load, [i], tf.float32, stateful=True), (None, n_features)))
    options = tf.data.Options()
    options.autotune.enabled = False  # no prefetch, no parallel calls: see above
    return batches.with_options(options), {"shuffle": False}  # the sequence shuffles


def apply_in_batches(model, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """``model(x, training=False)`` in batches, as numpy (the first output if several).

    Calling the model directly avoids ``predict``'s per-model tracing, which dominates on small
    inputs.
    """
    from keras import ops

    parts = []
    for start in range(0, len(x), batch_size):
        out = model(x[start:start + batch_size], training=False)
        parts.append(ops.convert_to_numpy(out[0] if isinstance(out, (list, tuple)) else out))
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
