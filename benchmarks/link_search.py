"""Graph-DiffVAE's predicted links at scale: each cell's top partner by inner product.

On SYNTHETIC 16-dimensional node features whose norms vary (Gaussian directions times a
uniform factor in [0.2, 3]), prints for each size the share of all pairs the exact search
(``top_partners``' default) scores, its seconds, and the share of 1,000 sampled cells linked to
their top partner by numpy; ``--approximate`` adds pynndescent's search
(``method="approximate"``) at each size.

    python benchmarks/link_search.py [--sizes 100000 1000000] [--approximate]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from graph_diffvae import graphs, neighbours
from graph_diffvae.links import top_partners


def features(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 16)) * rng.uniform(0.2, 3.0, size=(n, 1))).astype(np.float32)


def found_share(z: np.ndarray, links, n_check: int = 1000) -> float:
    """Share of sampled cells linked to their top partner."""
    cells = np.random.default_rng(1).choice(len(z), n_check, replace=False)
    best = np.array([np.argmax(np.where(np.arange(len(z)) == c, -np.inf, z @ z[c])) for c in cells])
    return float(np.mean(np.asarray(links[cells, best]).ravel() == 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--approximate", action="store_true", help="time pynndescent too")
    args = parser.parse_args()
    print(f"{'cells':>9}{'method':>13}{'pairs scored':>14}{'seconds':>9}{'top-1 found':>13}")
    for n in args.sizes:
        z = features(n)
        for method in ["exact"] + (["approximate"] if args.approximate else []):
            start = time.perf_counter()
            if method == "exact":  # top_partners' exact search, with the share it scored
                found, share = neighbours.exact_top_products(z, 1)
                links = graphs.symmetric_binary(np.arange(n), found.ravel(), n)
            else:
                links, share = top_partners(z, 1, method=method), float("nan")
            seconds = time.perf_counter() - start
            print(f"{n:>9}{method:>13}{share:>14.3f}{seconds:>9.1f}{found_share(z, links):>13.3f}",
                  flush=True)


if __name__ == "__main__":
    main()
