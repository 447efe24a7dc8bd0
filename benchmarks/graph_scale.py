"""Graph-DiffVAE at scale: seconds per epoch and peak memory at 10k, 30k, 100k (and 1M) cells.

SYNTHETIC branching-differentiation data (200 genes); the paper's Pearson top-1 input graph
(exact, in row blocks, up to 50,000 cells; pynndescent on standardised rows above); the sparse
loss (edges + as many sampled non-edges per epoch); predicted links (top-1 inner product,
approximate above 50,000 cells). Each size runs in its own process so that its peak resident
memory is its own; a process that passes ``--max-gib`` of resident memory stops itself (so
that a size too large for the machine fails alone). ``--conv gat`` uses graph attention in the
encoder (attention on the edges only).

    python benchmarks/graph_scale.py [--sizes 10000 30000 100000 1000000] [--epochs 3] [--conv gcn|gat]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time


def stop_above(max_gib: float) -> None:
    """Exit the process when its resident memory passes ``max_gib`` (checked every 0.2 s)."""
    def watch() -> None:
        while True:
            with open("/proc/self/statm") as handle:
                rss = int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
            if rss > max_gib:
                print(f"stopped: resident memory passed {max_gib} GiB", file=sys.stderr, flush=True)
                os._exit(3)
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()


def worker(n_cells: int, epochs: int, conv: str, links: bool = True) -> dict:
    import anndata as ad
    import keras
    import numpy as np

    from diffvae import datasets
    from diffvae.preprocessing import Preprocessor
    from graph_diffvae import graphs
    from graph_diffvae import GraphDiffVAE

    with tempfile.TemporaryDirectory() as folder:  # simulated in chunks: no dense N x genes
        path = datasets.write_synthetic(f"{folder}/cells.h5ad", n_cells, 200, n_branches=4,
                                        log_mean_offset=0.0)
        adata = ad.read_h5ad(path)
    class EpochTimes(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    model = GraphDiffVAE(conv=conv, heads=4 if conv == "gat" else 1)
    start = time.perf_counter()
    scaled = Preprocessor().fit_transform(adata)
    adjacency = graphs.pearson_graph(scaled, 1)
    graph_seconds = time.perf_counter() - start
    del scaled  # fit scales the data itself
    timer = EpochTimes()
    start = time.perf_counter()
    # one fit: the first epoch traces the step, the others are timed
    model.fit(adata, adjacency=adjacency, epochs=epochs + 1, loss="sparse", evaluate_links=False,
              verbose=0, callbacks=[timer])
    fit_seconds = time.perf_counter() - start
    links_seconds = float("nan")
    if links:
        start = time.perf_counter()
        model.predict_links(k=1)
        links_seconds = time.perf_counter() - start
    return {"cells": n_cells, "edges": int(adjacency.nnz // 2), "graph_s": graph_seconds,
            "fit_s": fit_seconds, "epoch_s": float(np.mean(timer.seconds[1:])),
            "links_s": links_seconds,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--conv", choices=["gcn", "gat"], default="gcn")
    parser.add_argument("--no-links", action="store_true", help="leave out predicted links")
    parser.add_argument("--max-gib", type=float, default=20.0,
                        help="a size's process stops when its resident memory passes this")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        stop_above(args.max_gib)
        print(json.dumps(worker(args.worker, args.epochs, args.conv, not args.no_links)))
        return
    print(f"{'cells':>8}{'edges':>9}{'graph s':>9}{'s/epoch':>9}{'links s':>9}{'peak GiB':>10}")
    for n in args.sizes:
        run = subprocess.run([sys.executable, __file__, "--worker", str(n), "--epochs", str(args.epochs),
                              "--conv", args.conv, "--max-gib", str(args.max_gib)]
                             + (["--no-links"] if args.no_links else []),
                             capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if run.returncode != 0:
            print(f"{n:>8} failed: {run.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"{r['cells']:>8}{r['edges']:>9}{r['graph_s']:>9.1f}{r['epoch_s']:>9.2f}"
              f"{r['links_s']:>9.1f}{r['peak_rss_gib']:>10.2f}")


if __name__ == "__main__":
    main()
