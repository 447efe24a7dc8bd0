"""DiffVAE at atlas scale, trained from disk: throughput and peak memory at 100k, 300k and 1M cells.

Writes SYNTHETIC sparse count .h5ad files (2,000 genes, about 90 % zeros) in chunks of cells
(the writer holds one chunk), then for each size, in its own process so that its peak resident
memory is its own: DiffVAE (the paper's settings, batch 128) trained for ``--epochs`` from the
backed file (preprocessing statistics from passes over blocks, minibatches read on the fly),
then ``transform`` of every cell from disk; and, in another process, the whole ``diffvae
identify --backed`` command on the file (``--identify-epochs`` of training, k-means with k = 3
branches, marker genes named in a small CSV so that the streamed marker pass runs). Prints
training cells/s and s/epoch (the first epoch includes XLA compilation, so the last epoch is
reported when there are several), transform cells/s, peak RSS, identify's wall time and peak
RSS; with scvi-tools installed (the optional ``bench`` extra), scVI's cells/s (its last epoch
too) and peak RSS on the same file, in the same run, and DiffVAE's cells/s over scVI's; says so
when scVI is absent. ``--skip`` leaves parts out.

Graph-DiffVAE (the paper's GCN, one epoch of subgraph minibatches of 4,096 cells) runs through
``benchmarks/graph_scale.py``'s worker on the same file, from disk: its s/epoch includes the
validation pass over every cell (see that script for the full table and full batch).

    python benchmarks/scale.py [--sizes 100000 300000 1000000] [--epochs 2] [--quick]
                               [--skip identify graph scvi]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def diffvae_worker(path: str, epochs: int) -> dict:
    import anndata as ad
    import keras

    from diffvae import DiffVAE

    adata = ad.read_h5ad(path, backed="r")
    n = adata.n_obs

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start

    timer = EpochTimes()
    start = time.perf_counter()
    model = DiffVAE().fit(adata, epochs=epochs, seed=0, verbose=0, callbacks=[timer])
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    latent = model.transform(adata)
    transform_seconds = time.perf_counter() - start
    train_cells = n - int(round(n * 0.2))
    return {"cells": n, "fit_s": fit_seconds, "epoch_s": timer.seconds,
            "train_cells_per_s": train_cells / timer.seconds,
            "transform_cells_per_s": len(latent) / transform_seconds, "peak_rss_gib": peak_rss_gib()}


def identify_worker(path: str, epochs: int) -> dict:
    from diffvae.cli import identify

    with tempfile.TemporaryDirectory() as out:
        markers = Path(out) / "markers.csv"  # SYNTHETIC genes: any named genes exercise the pass
        markers.write_text("cell_type,gene\n" + "".join(f"type_{i % 3},gene_{i}\n" for i in range(15)))
        start = time.perf_counter()
        status = identify.main(["--data", path, "--backed", "--epochs", str(epochs), "--label-key",
                                "celltype", "--markers", str(markers), "--out", f"{out}/result",
                                "--quiet"])
        seconds = time.perf_counter() - start
        if status:
            raise SystemExit(f"identify exited with {status}")
        ari = json.loads(Path(f"{out}/result/metrics.json").read_text())["ari"]
    return {"identify_s": seconds, "ari": ari, "peak_rss_gib": peak_rss_gib()}


def graph_worker(path: str) -> dict:
    from graph_scale import worker  # benchmarks/graph_scale.py, beside this file

    return worker(path, "subgraphs", "graph", 1, 4096, from_disk=True, recall=False)


def scvi_worker(path: str, epochs: int) -> dict:
    import anndata as ad
    import lightning.pytorch as pl  # scvi-tools trains through Lightning
    import scvi

    class EpochTimes(pl.Callback):
        def on_train_epoch_start(self, trainer, module):
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            self.seconds = time.perf_counter() - self.start

    adata = ad.read_h5ad(path)  # scVI trains from memory
    scvi.model.SCVI.setup_anndata(adata)
    model = scvi.model.SCVI(adata)
    timer = EpochTimes()
    model.train(max_epochs=epochs, batch_size=128, train_size=0.8, enable_progress_bar=False,
                callbacks=[timer])
    return {"cells": adata.n_obs, "epoch_s": timer.seconds,
            "train_cells_per_s": adata.n_obs * 0.8 / timer.seconds, "peak_rss_gib": peak_rss_gib()}


def write_worker(path: str, n_cells: int, n_genes: int) -> dict:
    from diffvae import datasets

    start = time.perf_counter()
    datasets.write_synthetic(path, n_cells, n_genes, seed=0)
    return {"write_s": time.perf_counter() - start, "peak_rss_gib": peak_rss_gib()}


def in_process(kind: str, path: Path, *options: str) -> dict | str:
    """Run one worker in a fresh process; its result, or the last line of its error. Even the
    files are written by a worker: Linux counts a parent's peak memory at fork time in the
    child's peak, so the parent stays small."""
    run = subprocess.run([sys.executable, __file__, "--worker", kind, str(path), *options],
                         capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if run.returncode != 0:
        return (run.stderr.strip().splitlines() or ["failed"])[-1]
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--epochs", type=int, default=2,
                        help="training epochs; the last one is timed (default 2)")
    parser.add_argument("--skip", nargs="+", default=[], choices=["identify", "graph", "scvi"],
                        help="parts to leave out")
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--identify-epochs", type=int, default=2,
                        help="training epochs inside the identify run (default 2)")
    parser.add_argument("--quick", action="store_true", help="one small size (5,000 cells)")
    parser.add_argument("--dir", type=Path, help="where to write the .h5ad files (default: a "
                        "temporary folder, removed at the end)")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--cells", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, path = args.worker
        workers = {"diffvae": diffvae_worker, "identify": identify_worker, "scvi": scvi_worker}
        result = (write_worker(path, args.cells, args.genes) if kind == "write" else
                  graph_worker(path) if kind == "graph" else
                  workers[kind](path, args.epochs))
        print(json.dumps(result))
        return
    sizes = [5000] if args.quick else args.sizes
    has_scvi = importlib.util.find_spec("scvi") is not None
    if not has_scvi:
        print("scvi-tools is not installed (pip install -e '.[bench]'): scVI is left out")
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"{'cells':>9}{'write s':>9}{'s/epoch':>9}{'train cells/s':>15}"
              f"{'transform cells/s':>19}{'peak GiB':>10}{'identify s':>12}{'peak GiB':>10}"
              f"{'graph s/epoch':>15}{'peak GiB':>10}   scVI cells/s, peak GiB")
        for n in sizes:
            path = folder / f"synthetic_{n}x{args.genes}.h5ad"
            written = 0.0
            if not path.exists():
                w = in_process("write", path, "--cells", str(n), "--genes", str(args.genes))
                if isinstance(w, str):
                    print(f"{n:>9} writing failed: {w}")
                    continue
                written = w["write_s"]
            r = in_process("diffvae", path, "--epochs", str(args.epochs))
            if isinstance(r, str):
                print(f"{n:>9} DiffVAE failed: {r}")
                continue
            line = (f"{n:>9}{written:>9.0f}{r['epoch_s']:>9.1f}{r['train_cells_per_s']:>15.0f}"
                    f"{r['transform_cells_per_s']:>19.0f}{r['peak_rss_gib']:>10.2f}")
            if "identify" in args.skip:
                line += f"{'-':>12}{'-':>10}"
            else:
                i = in_process("identify", path, "--epochs", str(args.identify_epochs))
                line += ("   identify failed: " + i if isinstance(i, str)
                         else f"{i['identify_s']:>12.0f}{i['peak_rss_gib']:>10.2f}")
            if "graph" in args.skip:
                line += f"{'-':>15}{'-':>10}"
            else:
                g = in_process("graph", path)
                line += ("   Graph-DiffVAE failed: " + g if isinstance(g, str)
                         else f"{g['epoch_s']:>15.1f}{g['peak_rss_gib']:>10.2f}")
            if has_scvi and "scvi" not in args.skip:
                s = in_process("scvi", path, "--epochs", str(args.epochs))
                line += ("   failed: " + s if isinstance(s, str)
                         else f"   {s['train_cells_per_s']:.0f}, {s['peak_rss_gib']:.2f} (DiffVAE "
                              f"{r['train_cells_per_s'] / s['train_cells_per_s']:.2f}x)")
            print(line, flush=True)


if __name__ == "__main__":
    main()
