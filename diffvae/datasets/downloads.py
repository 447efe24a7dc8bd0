"""Where a dataset's files are: a local copy, the download cache, or a download (pooch)."""
from __future__ import annotations

import os
from pathlib import Path

from .. import progress
from ..errors import InputError
from .registry import RemoteFile, dataset_info

DATA_DIR_ENV, CACHE_DIR_ENV = "DIFFVAE_DATA_DIR", "DIFFVAE_CACHE_DIR"


def cache_dir() -> Path:
    """Download cache: ``$DIFFVAE_CACHE_DIR`` or the platform's user cache folder for diffvae."""
    import pooch

    return Path(os.environ.get(CACHE_DIR_ENV) or pooch.os_cache("diffvae"))


def local_dir(name: str, data_dir: str | os.PathLike | None) -> Path | None:
    root = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    return Path(root) / name if root else None


def fetch(name: str, *, data_dir: str | os.PathLike | None = None, download: bool = True,
          files: tuple[str, ...] | None = None) -> dict[str, Path]:
    """Return the local path of each file of dataset ``name`` (``files``: a subset), fetching
    it if needed.

    Raises :class:`~diffvae.errors.InputError` naming the files, their source and where to put
    them when they are neither local nor downloadable.
    """
    info = dataset_info(name)
    wanted = [f for f in info.files if files is None or f.name in files]
    local = local_dir(name, data_dir)
    found: dict[str, Path] = {}
    for remote in wanted:
        for folder in (local, cache_dir() / name):
            if folder is not None and (folder / remote.name).is_file():
                found[remote.name] = folder / remote.name
                break
    missing = [f for f in wanted if f.name not in found]
    reason = "downloading is off"
    if missing and download:
        try:
            found.update(_download(missing, cache_dir() / name))
            missing = []
        except OSError as exc:  # requests' errors are OSErrors
            reason = f"download failed ({type(exc).__name__}: {str(exc)[:200]})"
    if missing:
        where = local if local is not None else f"${DATA_DIR_ENV}/{name}"
        listing = "; ".join(f"{f.name} <- {f.url}" for f in missing)
        raise InputError(
            f"dataset {name!r}: files not found locally and {reason}. Get {listing} and put "
            f"them in {where} (or point {DATA_DIR_ENV}, the command line's --data-dir or the "
            "data_dir= argument at the folder above it)")
    return found


def _download(remotes: list[RemoteFile], folder: Path) -> dict[str, Path]:
    """Download with pooch into ``folder``: a progress bar, three tries per file, and a file
    whose SHA-256 does not match is deleted (pooch writes to a temporary file first)."""
    import pooch

    fetcher = pooch.create(
        path=folder, base_url="", retry_if_failed=2,
        registry={r.name: f"sha256:{r.sha256}" if r.sha256 else None for r in remotes},
        urls={r.name: r.url for r in remotes})
    paths = {}
    for remote in remotes:
        try:
            paths[remote.name] = Path(fetcher.fetch(remote.name, progressbar=progress.interactive()))
        except ValueError as exc:
            if "hash" not in str(exc).lower():
                raise
            raise InputError(f"{remote.url}: checksum mismatch (expected {remote.sha256}); the "
                             "file was not kept") from None
    return paths
