"""The manifest of a command's output folder: written last, it lists what a finished run wrote
(files with SHA-256), so that an unfinished or altered set of outputs can be told apart
(:func:`check_outputs`)."""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from .._files import atomic_path
from .._version import __version__
from ..progress import logger

#: written last into a command's output folder: what the run wrote, with checksums
MANIFEST = "manifest.json"
#: the manifest of the folder's earlier finished run, set aside while a new run writes
PREVIOUS = ".manifest.previous.json"


def start_outputs(out: Path) -> None:
    """Set ``out``'s manifest aside before anything is written, so that a run that does not
    finish leaves no manifest; say so when a folder with files has none (an unfinished earlier
    run)."""
    manifest = out / MANIFEST
    if manifest.exists():
        manifest.replace(out / PREVIOUS)
    elif out.is_dir() and any(not p.name.startswith(".") for p in out.iterdir()):
        logger.warning("%s holds files but no %s: an earlier run there did not finish, so they may "
                       "be a mixture; this run replaces the ones it writes", out, MANIFEST)


def write_manifest(command_name: str, argv: list[str], written: list[Path]) -> Path:
    """Write, last, the manifest of what a finished command wrote (files with SHA-256) into
    the folder that holds them, after removing the files of the folder's earlier finished run
    that this one did not write again: the folder then holds one run's outputs, all listed."""
    folder = Path(os.path.commonpath([p.parent.resolve() for p in written]))
    files = sorted({f for p in written for f in ([p] if p.is_file() else p.rglob("*"))
                    if f.is_file()})
    _remove_stale(folder, {str(f.resolve().relative_to(folder)) for f in files})
    manifest = {"command": f"diffvae {command_name}", "arguments": argv, "version": __version__,
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "files": {str(f.resolve().relative_to(folder)): sha256(f) for f in files}}
    with atomic_path(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2))
    return folder / MANIFEST


def _remove_stale(folder: Path, kept: set[str]) -> None:
    """Remove the files the earlier run's manifest lists and this run did not write (and the
    folders they leave empty)."""
    previous = folder / PREVIOUS
    if not previous.exists():
        return
    stale = [folder / name for name in json.loads(previous.read_text())["files"]
             if name not in kept and (folder / name).is_file()]
    for path in stale:
        path.unlink()
        for parent in path.parents:
            if parent == folder or any(parent.iterdir()):
                break
            parent.rmdir()
    if stale:
        logger.info("removed %d file(s) of the earlier run in %s that this run did not write",
                    len(stale), folder)
    previous.unlink()


def check_outputs(out: str | Path) -> list[str]:
    """What is wrong with a command's output folder: no manifest (the run did not finish), or
    files missing or changed since it was written. Empty when the set is complete."""
    out = Path(out)
    if not (out / MANIFEST).exists():
        return [f"{out}: no {MANIFEST}; the run that wrote it did not finish"]
    files = json.loads((out / MANIFEST).read_text())["files"]
    return [f"{out / name}: " + ("missing" if not (out / name).exists() else "changed since the run")
            for name, digest in files.items()
            if not (out / name).exists() or sha256(out / name) != digest]


def sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
