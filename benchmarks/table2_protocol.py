"""Wall time of the full Table 2 protocol at the paper's zebrafish size, by phase.

SYNTHETIC branching-differentiation counts (1422 cells x 1845 genes, 5 types); the default
protocol of ``diffvae benchmark``: 4 models x m in {20, 50, 100} x k-means/DBSCAN x
latent/t-SNE x 50 repetitions, plus the scanpy Leiden row.

    python benchmarks/table2_protocol.py [--repetitions 50] [--tsne-init pca|random]
"""
from __future__ import annotations

import argparse
import os
import time

from diffvae import datasets
from diffvae.comparison import paper_layout, run_protocol, summarise
from diffvae.cli.common import markdown_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repetitions", type=int, default=50)
    parser.add_argument("--tsne-init", choices=["pca", "random"], default="pca")
    args = parser.parse_args()
    adata = datasets.synthetic(1422, 1845, n_branches=4, seed=0)
    start = time.perf_counter()
    runs = run_protocol(adata, adata.obs["celltype"], repetitions=args.repetitions,
                        tsne_init=args.tsne_init)
    total = time.perf_counter() - start
    print(markdown_table(paper_layout(summarise(runs))))
    print(f"\n{len(runs)} runs, 1422 x 1845 (SYNTHETIC), {os.cpu_count()} cores, t-SNE init "
          f"{args.tsne_init}: {total:.0f} s in all")
    for phase, seconds in runs.attrs["seconds"].items():
        print(f"  {phase:<11}{seconds:>7.0f} s  {seconds / total:>6.1%}")


if __name__ == "__main__":
    main()
