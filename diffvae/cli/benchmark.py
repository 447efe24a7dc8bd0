"""``diffvae benchmark``: the paper's comparison of representations (Table 2).

DiffVAE, VAE, AE (same layers) and PCA, latent sizes m in {20, 50, 100}; k-means (k = number of
reference types) and DBSCAN (automatic eps); on the representation itself and on its 2-D t-SNE;
50 repetitions of each cell; scored by ARI (and NMI) against the reference labels. The standard
scanpy pipeline (PCA, neighbour graph, Leiden) is one more row.

Modes: by default each model is trained once and the clustering is repeated with a different
seed each time (the t-SNE and k-means seeds vary), as the paper did; ``--retrain`` trains a fresh
model for every repetition, so that training variance shows too. Every run is seeded from
``--seed``: the same command gives the same table.

Writes to ``--out``: runs.csv (every run), summary.csv and summary.md (mean +/- sd in the
paper's layout), ari.png (box plots by model and m), settings.json.

Example::

    diffvae benchmark --dataset paul15_tradeseq --out results/table2
    diffvae benchmark --dataset paul15_tradeseq --quick --out results/table2_quick
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from .. import defaults
from .._files import atomic_path
from ..checks import positive_int, positive_ints
from ..comparison import paper_layout, plot_runs, run_protocol, summarise
from ..defaults import CLUSTERERS, PAPER_CLUSTERERS, SPACES
from ..errors import InputError
from ..models import MODEL_NAMES, TUNED
from .common import (add_data_arguments, add_label_argument, add_run_arguments, command, load_input,
                     markdown_table, new_parser, parse_args, reference_labels, save_figure,
                     write_csv)

QUICK = {"latent_dims": [20], "repetitions": 2, "epochs": 5}


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser("benchmark", __doc__)
    add_data_arguments(parser)
    add_label_argument(parser)
    parser.add_argument("--models", nargs="+", choices=sorted(MODEL_NAMES),
                        default=["diffvae", "vae", "ae", "pca"],
                        help=f"{TUNED}: DiffVAE.tuned(), the MMD study's recommended options")
    parser.add_argument("--tuned", action="store_true",
                        help=f"add {TUNED} (DiffVAE.tuned()) next to the paper's DiffVAE")
    parser.add_argument("--latent-dims", type=int, nargs="+",
                        default=list(defaults.BENCHMARK_LATENT_DIMS),
                        help="latent sizes m of every model (paper's Table 2)")
    parser.add_argument("--clusterers", nargs="+", choices=CLUSTERERS, default=list(PAPER_CLUSTERERS),
                        help="default: the paper's k-means and DBSCAN; leiden: scanpy's Leiden "
                        "on a 15-nearest-neighbour graph of the space")
    parser.add_argument("--spaces", nargs="+", choices=SPACES, default=list(SPACES),
                        help="where the clusters are found: the representation itself, or its "
                        "2-D t-SNE (the paper's)")
    parser.add_argument("--repetitions", type=int, default=defaults.BENCHMARK_REPETITIONS,
                        help="clustering runs (with --retrain: trainings) per model and size, "
                        "each with its own seed")
    parser.add_argument("--epochs", type=int, default=defaults.EPOCHS,
                        help="training epochs of the neural models (paper)")
    parser.add_argument("--retrain", action="store_true", help="train a fresh model per repetition")
    parser.add_argument("--tsne-init", choices=["pca", "random"], default="pca",
                        help="pca: one t-SNE per representation (it hardly depends on the seed), "
                        "repetitions vary the clustering seed; random: a seeded random start per "
                        "repetition (scikit-learn's old default, as in the paper; much slower)")
    parser.add_argument("--no-scanpy", action="store_true", help="leave out the scanpy Leiden row")
    parser.add_argument("--quick", action="store_true",
                        help="reduced grid for smoke tests (m = 20, 2 repetitions, 5 epochs)")
    parser.add_argument("--n-jobs", type=int, default=-1, help="parallel clustering processes")
    add_run_arguments(parser)
    return parser


@command("benchmark")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    if args.tuned and TUNED not in args.models:
        args.models = [*args.models, TUNED]
    positive_int("--repetitions", args.repetitions)
    positive_int("--epochs", args.epochs)
    positive_ints("--latent-dims", args.latent_dims)
    if args.n_jobs == 0:
        raise InputError("--n-jobs must be a number of processes (1, 2, ...) or -1 for all cores, "
                         "not 0")
    adata = load_input(args)
    key, labels = reference_labels(adata, args.label_key)
    if key is None:
        raise InputError(f"the benchmark needs reference labels: pass --label-key (columns: {list(adata.obs)})")
    if len(set(labels.tolist())) < 2:
        raise InputError(f"obs[{key!r}] holds one type only ({labels[0]!r}): clustering agreement "
                         "with it says nothing")
    start = time.perf_counter()
    runs = run_protocol(adata, labels, models=args.models, latent_dims=args.latent_dims,
                        clusterers=args.clusterers, spaces=args.spaces,
                        repetitions=args.repetitions, retrain=args.retrain, epochs=args.epochs,
                        seed=args.seed, tsne_init=args.tsne_init, n_jobs=args.n_jobs,
                        scanpy_row=not args.no_scanpy, progress=not args.quiet)
    seconds = time.perf_counter() - start
    mode = ("retrained per repetition" if args.retrain else "trained once, clustering repeated") + (
        f"; t-SNE init {args.tsne_init}") + ("; quick smoke test" if args.quick else "")
    runs.insert(0, "mode", mode)
    summary = summarise(runs)
    layout = paper_layout(summary)
    out: Path = args.out
    write_csv(runs, out / "runs.csv", index=False)
    write_csv(summary, out / "summary.csv", index=False)
    title = args.dataset or Path(args.data).name
    smoke = (f"**Smoke test** (`--quick`: m = {QUICK['latent_dims'][0]}, {QUICK['repetitions']} "
             f"repetitions, {QUICK['epochs']} epochs): these numbers show that the pipeline runs; "
             "they are not the paper's protocol and do not compare the models.\n\n"
             if args.quick else "")
    with atomic_path(out / "summary.md") as tmp:
        tmp.write_text(f"# Clustering agreement (ARI, mean ± sd) on {title}\n\n{smoke}Mode: {mode}; "
                       f"{args.repetitions} repetitions; labels obs[{key!r}]; {adata.n_obs} cells; "
                       f"{seconds:.0f} s on {os.cpu_count()} cores.\n\n{markdown_table(layout)}\n")
    save_figure(plot_runs(runs, "SMOKE TEST (--quick): not the paper's protocol" if args.quick
                          else f"Clustering agreement on {title}"), out / "ari.png")
    phases = runs.attrs["seconds"]
    settings = {k: v for k, v in vars(args).items() if k != "out"} | {
        "mode": mode, "label_key": key, "n_cells": adata.n_obs, "seconds": round(seconds, 1),
        "seconds_by_phase": phases}
    with atomic_path(out / "settings.json") as tmp:
        tmp.write_text(json.dumps(settings, indent=2, default=str))
    print(markdown_table(layout))
    print(f"{len(runs)} runs in {seconds:.0f} s ({mode}; "
          + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()) + f"); wrote {out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
