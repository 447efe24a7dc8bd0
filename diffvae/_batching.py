"""Feeding Keras models numpy arrays in batches: training input and batched application."""
from __future__ import annotations

import numpy as np

#: training steps per compiled call: fewer Python round trips per epoch on the TensorFlow
#: backend (with the pipeline below, 0.19 -> 0.13 s per epoch in benchmarks/train_speed.py)
STEPS_PER_EXECUTION = 4


def training_input(x: np.ndarray, batch_size: int, *, shuffle: bool = False,
                   seed: int | None = None) -> tuple[object, dict]:
    """Rows of ``x`` as ``fit`` input: ``(data, fit_kwargs)``.

    On the TensorFlow backend a ``tf.data`` pipeline that shuffles row indices each epoch
    (seeded), gathers each batch from one copy of ``x`` and prefetches the next: Keras's own
    adapter for arrays rebuilds its pipeline every epoch, which cost 1.3x per epoch here.
    Other backends iterate numpy arrays without that cost and get ``x`` itself.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return x, {"batch_size": batch_size, "shuffle": shuffle}
    import tensorflow as tf

    rows = tf.constant(x)
    order = tf.data.Dataset.range(len(x))
    if shuffle:
        order = order.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    batches = order.batch(batch_size).map(lambda i: tf.gather(rows, i))
    return batches.prefetch(tf.data.AUTOTUNE), {"shuffle": False}  # shuffled above


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
