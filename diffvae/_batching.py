"""Applying Keras models to numpy arrays in batches."""
from __future__ import annotations

import numpy as np


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
