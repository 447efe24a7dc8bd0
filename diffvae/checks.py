"""Checks of option values, shared by the estimators and the commands: a value that cannot work
(zero, negative, NaN, infinite, the wrong type) is refused with its name before any work."""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from .errors import InputError


def positive_int(name: str, value) -> int:
    """``value`` as an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InputError(f"{name} must be positive (a whole number), got {value!r}")
    return int(value)


def positive_ints(name: str, values: Sequence) -> tuple[int, ...]:
    """Every value an int >= 1, and at least one."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise InputError(f"{name} must be a non-empty list of positive whole numbers, got {values!r}")
    return tuple(positive_int(name, v) for v in values)


def positive_number(name: str, value) -> float:
    """``value`` as a finite float > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value <= 0:
        raise InputError(f"{name} must be positive and finite, got {value!r}")
    return float(value)


def fraction(name: str, value, *, low_open: bool = False) -> float:
    """``value`` in [0, 1), or (0, 1) with ``low_open``."""
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
          and (0 < value if low_open else 0 <= value) and value < 1)
    if not ok:
        raise InputError(f"{name} must be in {'(0' if low_open else '[0'}, 1), got {value!r}")
    return float(value)


def choice(name: str, value, choices: Sequence) -> None:
    """``value`` is one of ``choices``."""
    if value not in choices:
        raise InputError(f"{name} must be one of {list(choices)}, got {value!r}")


def check_training(epochs, learning_rate, batch_size=None) -> None:
    """Refuse training options that cannot work (zero, negative, NaN), before any work."""
    positive_int("epochs", epochs)
    positive_number("learning_rate", learning_rate)
    optional(positive_int, "batch_size", batch_size)


def optional(check, name: str, value):
    """``check(name, value)`` unless ``value`` is None."""
    return None if value is None else check(name, value)
