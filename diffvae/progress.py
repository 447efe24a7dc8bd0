"""What long work shows: Keras progress bars on a terminal (one line per epoch otherwise) and one
log line per analysis step with its time (logger ``"diffvae"``, shown by the commands)."""
from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator

logger = logging.getLogger("diffvae")


def interactive() -> bool:
    """Whether output goes to a terminal or a notebook, where progress bars redraw in place."""
    return sys.stdout.isatty() or "ipykernel" in sys.modules


def keras_verbose(verbose: str | int) -> int:
    """Keras's ``verbose`` for ``fit``: "auto" is a progress bar (1) on a terminal or in a
    notebook and one plain line per epoch (2) in a log file, where a bar leaves escape codes."""
    if verbose == "auto":
        return 1 if interactive() else 2
    return int(verbose)


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    """Log ``what`` and its wall time once the block is done."""
    start = time.perf_counter()
    yield
    logger.info("%s: %.1f s", what, time.perf_counter() - start)


class _StderrHandler(logging.StreamHandler):
    """Writes to the current ``sys.stderr``, which notebooks and tests replace."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def show_steps(quiet: bool = False) -> None:
    """Print the step lines on stderr (what the commands do; ``quiet`` shows warnings only)."""
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
