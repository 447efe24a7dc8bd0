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


def start_outputs(out: Path) -> None:
    """Remove ``out``'s manifest before anything is written, so that a run that does not finish
    leaves no manifest; say so when a folder with files has none (an unfinished earlier run)."""
    manifest = out / MANIFEST
    if manifest.exists():
        manifest.unlink()
    elif out.is_dir() and any(not p.name.startswith(".") for p in out.iterdir()):
        logger.warning("%s holds files but no %s: an earlier run there did not finish, so they may "
                       "be a mixture; this run replaces the ones it writes", out, MANIFEST)


def write_manifest(command_name: str, argv: list[str], written: list[Path]) -> Path:
    """Write, last, the manifest of what a finished command wrote (files with SHA-256) into
    the folder that holds them."""
    folder = Path(os.path.commonpath([p.parent.resolve() for p in written]))
    files = sorted({f for p in written for f in ([p] if p.is_file() else p.rglob("*"))
                    if f.is_file()})
    manifest = {"command": f"diffvae {command_name}", "arguments": argv, "version": __version__,
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "files": {str(f.resolve().relative_to(folder)): sha256(f) for f in files}}
    with atomic_path(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2))
    return folder / MANIFEST


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
