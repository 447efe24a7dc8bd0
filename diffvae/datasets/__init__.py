"""Dataset registry in the style of ``scanpy.datasets`` / ``keras.datasets``.

Every loader returns AnnData (cells x genes) with the reference labels in ``obs`` and
``adata.uns["diffvae_dataset"]`` naming the label column, the fitting marker set and the progenitor
types (read them with :func:`label_key`, :func:`marker_set` and :func:`progenitor_types`).

Files are looked for, in order, in ``<data_dir>/<name>/`` (``data_dir=`` argument, else the
``DIFFVAE_DATA_DIR`` environment variable), then in the download cache
``<cache_dir>/<name>/`` (``DIFFVAE_CACHE_DIR``, default the platform's user cache folder, e.g.
``~/.cache/diffvae`` on Linux), and are otherwise downloaded from their public source into the
cache with pooch (progress bar, retries, checked against their SHA-256 where known).
"""
from __future__ import annotations

from .downloads import CACHE_DIR_ENV, DATA_DIR_ENV, cache_dir, fetch
from .loaders import (LOADERS, human_blood, load_dataset, load_offline, pancreas, paul15_from_rda,
                      paul15_tradeseq, pbmc68k_reduced, zebrafish)
from .registry import REGISTRY, DatasetInfo, RemoteFile, label_key, marker_set, progenitor_types
from .simulator import synthetic, write_synthetic

__all__ = ["CACHE_DIR_ENV", "DATA_DIR_ENV", "LOADERS", "REGISTRY", "DatasetInfo", "RemoteFile",
           "cache_dir", "fetch", "human_blood", "label_key", "load_dataset", "load_offline",
           "marker_set", "pancreas", "paul15_from_rda", "paul15_tradeseq", "pbmc68k_reduced",
           "progenitor_types", "synthetic", "write_synthetic", "zebrafish"]
