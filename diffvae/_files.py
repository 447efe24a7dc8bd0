"""Safe writing: outputs go to a temporary sibling first and are renamed into place."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_recorders: list[list[Path]] = []


@contextlib.contextmanager
def recording() -> Iterator[list[Path]]:
    """Collect the paths that :func:`atomic_path` puts in place inside the block."""
    written: list[Path] = []
    _recorders.append(written)
    try:
        yield written
    finally:
        _recorders.remove(written)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only if the block succeeds.

    Works for files and directories. A failure leaves any existing ``path`` untouched, so a
    crashed run never destroys an earlier result.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp = tmp_dir / path.name
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            # os.replace cannot replace a non-empty directory: move the old one aside first.
            old = tmp_dir / (path.name + ".old")
            os.replace(path, old)
        os.replace(tmp, path)
        for written in _recorders:
            written.append(path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
