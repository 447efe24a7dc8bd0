"""High-weight genes of latent dimensions (the paper's Fig. 1d and Table 1).

omega = W0 . W1 . W2 (latent dims x genes), the product of the decoder's kernels, says how much
each dimension weighs each gene; genes are ranked by the absolute weight, as the paper says (the
original code sorted by signed weight).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import defaults
from ..errors import InputError


def high_weight_genes(omega: np.ndarray, genes: Sequence[str], dims: Sequence[int] | None = None,
                      n_genes: int = 10) -> pd.DataFrame:
    """Long table: for each dimension, its ``n_genes`` genes of largest ``|weight|``.

    Columns: dimension, rank (1 = largest), gene, weight (signed).
    """
    omega = np.asarray(omega)
    if omega.ndim != 2 or omega.shape[1] != len(genes):
        raise InputError(f"omega has shape {omega.shape} but there are {len(genes)} genes")
    dims = range(omega.shape[0]) if dims is None else dims
    rows = []
    for dim in dims:
        order = np.argsort(-np.abs(omega[dim]), kind="stable")[:n_genes]
        rows += [(int(dim), rank + 1, genes[g], float(omega[dim, g])) for rank, g in enumerate(order)]
    return pd.DataFrame(rows, columns=["dimension", "rank", "gene", "weight"])


def cluster_genes(top_dims: Mapping, omega: np.ndarray, genes: Sequence[str],
                  n_genes: int = defaults.N_GENES_PER_DIMENSION) -> pd.DataFrame:
    """Per cluster, the top ``n_genes`` genes of each of its top dimensions, counted.

    Columns: cluster, gene, n_dimensions (how many of the cluster's top dimensions list the gene),
    dimensions (which), common (listed by two or more: the genes the paper's Table 1 reports).
    Sorted by cluster, then n_dimensions descending.
    """
    rows = []
    for cluster, dims in top_dims.items():
        table = high_weight_genes(omega, genes, dims, n_genes)
        counts = Counter(table["gene"])
        for gene, count in counts.items():
            listed = table.loc[table["gene"] == gene, "dimension"].tolist()
            rows.append((cluster, gene, count, " ".join(map(str, listed)), count >= 2))
    frame = pd.DataFrame(rows, columns=["cluster", "gene", "n_dimensions", "dimensions", "common"])
    return frame.sort_values(["cluster", "n_dimensions"], ascending=[True, False], kind="stable",
                             ignore_index=True)
