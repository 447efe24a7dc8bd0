"""Graph-DiffVAE and the multitask model at scale: set-up, seconds per epoch, peak memory and
held-out link prediction, for full-batch and subgraph-minibatch training.

SYNTHETIC branching-differentiation counts (``--genes``, default 2,000), written once per size
as a sparse .h5ad (in ``--dir``, kept between runs, or a temporary folder). Each size and mode
runs in its own process, so that its peak resident memory is its own; a process that passes
``--max-gib`` stops itself, so that a size too large for the machine fails alone.

- ``--from-disk``: the models read the .h5ad (``fit(path)``: preprocessing, input graph and
  every step from the file); otherwise the AnnData is loaded into memory first.
- ``subgraphs``: ``batch_size=--batch-size`` (Cluster-GCN); ``full``: the paper's full batch,
  run at sizes up to ``--full-batch-max`` only, next to the subgraph run on the same graph and
  edge split (same seed).
- set-up: preprocessing, the input graph (the paper's Pearson top-1; above 50,000 cells from
  the standardised rows' principal components) and, for subgraphs, the METIS parts.
- s/epoch: the last epoch's training steps plus its validation pass (every cell's node
  features, block by block, for the held-out AUC/AP); final: the embedding after training.
- ``--recall``: for 1,000 sampled cells, the share whose exact most correlated cell (one pass
  over the file) is linked to them in the input graph, and the median correlation lost.

    python benchmarks/graph_scale.py --from-disk [--sizes 100000 300000 1000000] [--epochs 1]
        [--learning-rate R] [--model graph|multitask] [--conv gcn|gat] [--genes 2000] [--dir DIR] [--recall]
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
from pathlib import Path


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


def pearson_recall(path: str, model, n_sample: int = 1000, seed: int = 0) -> dict:
    """Share of ``n_sample`` random cells whose exact most correlated cell is linked to them in
    ``model.adjacency_``, and the median correlation between that best and the best linked cell."""
    import anndata as ad
    import numpy as np

    from diffvae.streaming import ScaledRows
    from graph_diffvae.neighbours import standardise_rows

    rows = ScaledRows(ad.read_h5ad(path, backed="r"), model.preprocessor_)
    sample = np.sort(np.random.default_rng(seed).choice(rows.n_obs, n_sample, replace=False))
    z = standardise_rows(rows(sample))
    best = np.full(n_sample, -np.inf)
    partner = np.zeros(n_sample, dtype=np.int64)
    start = 0
    for block in rows.blocks():
        scores = z @ standardise_rows(block).T
        mine = (sample >= start) & (sample < start + len(block))
        scores[np.flatnonzero(mine), sample[mine] - start] = -np.inf  # never itself
        top = scores.argmax(axis=1)
        better = scores[np.arange(n_sample), top] > best
        best[better], partner[better] = scores[np.arange(n_sample), top][better], start + top[better]
        start += len(block)
    adjacency = model.adjacency_.tocsr()
    linked = np.asarray(adjacency[sample, partner]).ravel() > 0
    found = np.array([np.max(z[i] @ standardise_rows(rows(adjacency[c].indices)).T)
                      if adjacency[c].nnz else np.nan for i, c in enumerate(sample)])
    return {"top1_found": float(linked.mean()),
            "median_r_lost": float(np.nanmedian(best - found)), "median_best_r": float(np.median(best))}


def worker(path: str, mode: str, model_name: str, epochs: int, batch_size: int,
           from_disk: bool, recall: bool, conv: str = "gcn",
           learning_rate: float | None = None) -> dict:
    import anndata as ad
    import keras

    from graph_diffvae import GraphDiffVAE, MultitaskDiffVAE

    class Times(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.began, self.seconds = time.perf_counter(), []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

        def on_train_end(self, logs=None):
            self.ended = time.perf_counter()

    data = path if from_disk else ad.read_h5ad(path)
    attention = {"conv": conv, "heads": 4 if conv == "gat" else 1}
    model = GraphDiffVAE(**attention) if model_name == "graph" else MultitaskDiffVAE(**attention)
    times = Times()
    start = time.perf_counter()
    model.fit(data, epochs=epochs, batch_size=None if mode == "full" else batch_size, seed=0,
              learning_rate=learning_rate, verbose=0, callbacks=[times])
    end = time.perf_counter()
    test = model.link_metrics_["test"]
    found = {"cells": len(model.node_features_), "mode": mode,
             "edges": int(model.adjacency_.nnz // 2), "setup_s": times.began - start,
             "epoch_s": times.seconds[-1], "final_s": end - times.ended,
             "auc": test["auc"], "ap": test["ap"],
             "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    if recall:
        found.update(pearson_recall(path, model))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, help="default: the model's")
    parser.add_argument("--model", choices=["graph", "multitask"], default="graph")
    parser.add_argument("--conv", choices=["gcn", "gat"], default="gcn",
                        help="the encoder's graph layers (gat: 4 heads)")
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--full-batch-max", type=int, default=100_000,
                        help="also train full batch at sizes up to this")
    parser.add_argument("--from-disk", action="store_true", help="fit(path): the matrix stays on disk")
    parser.add_argument("--recall", action="store_true",
                        help="measure the input graph's exact top-1 Pearson partners found")
    parser.add_argument("--dir", type=Path, help="where the .h5ad files are kept")
    parser.add_argument("--max-gib", type=float, default=20.0,
                        help="a process stops when its resident memory passes this")
    parser.add_argument("--worker", nargs=2, metavar=("FILE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        stop_above(args.max_gib)
        print(json.dumps(worker(args.worker[0], args.worker[1], args.model, args.epochs,
                                args.batch_size, args.from_disk, args.recall, args.conv,
                                args.learning_rate)))
        return
    from diffvae import datasets

    print(f"SYNTHETIC cells x {args.genes} genes, {args.model} ({args.conv}), "
          f"{'from disk' if args.from_disk else 'in memory'}, batch {args.batch_size}")
    print(f"{'cells':>9}{'mode':>10}{'edges':>9}{'setup s':>9}{'s/epoch':>9}{'final s':>9}"
          f"{'AUC':>7}{'AP':>7}{'peak GiB':>10}{'top-1 found':>13}{'best r':>8}{'r lost':>8}",
          flush=True)
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.dir or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        for n in args.sizes:
            path = folder / f"graph_synthetic_{n}x{args.genes}.h5ad"
            if not path.exists():
                datasets.write_synthetic(str(path), n, args.genes, n_branches=4, seed=0)
            modes = ["subgraphs"] + (["full"] if n <= args.full_batch_max else [])
            for mode in modes:
                run = subprocess.run(
                    [sys.executable, __file__, "--worker", str(path), mode, "--model", args.model,
                     "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
                     "--conv", args.conv]
                    + ([] if args.learning_rate is None else ["--learning-rate", str(args.learning_rate)])
                    + ["--max-gib", str(args.max_gib)]
                    + (["--from-disk"] if args.from_disk else [])
                    + (["--recall"] if args.recall and mode == "subgraphs" else []),
                    capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
                if run.returncode != 0:
                    print(f"{n:>9}{mode:>10} failed: {run.stderr.strip().splitlines()[-1]}", flush=True)
                    continue
                r = json.loads(run.stdout.strip().splitlines()[-1])
                recall = (f"{r['top1_found']:>13.3f}{r['median_best_r']:>8.3f}{r['median_r_lost']:>8.3f}"
                          if "top1_found" in r else "")
                print(f"{r['cells']:>9}{mode:>10}{r['edges']:>9}{r['setup_s']:>9.1f}{r['epoch_s']:>9.1f}"
                      f"{r['final_s']:>9.1f}{r['auc']:>7.3f}{r['ap']:>7.3f}{r['peak_rss_gib']:>10.2f}"
                      + recall, flush=True)


if __name__ == "__main__":
    main()
