"""What a short fit costs beyond its steps on the TensorFlow backend: the same fits with the
optimizer built before training (what ``diffvae.base.fit_network`` does) and built by Keras while
it traces the first training step (Keras's default, after which TensorFlow traces the step
again), alternating in one process. Real data: paul15_tradeseq (2,660 cells x 240 genes). Prints
the median wall seconds of each fit and the ratio built-before / Keras's default.

    python benchmarks/fit_overhead.py [--repeats 3] [--data-dir DIR]
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=os.environ.get("DIFFVAE_DATA_DIR"))
    args = parser.parse_args()

    from diffvae import DiffVAE, base, datasets
    from graph_diffvae import GraphDiffVAE

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = datasets.load_dataset("paul15_tradeseq", data_dir=args.data_dir, download=False)
    fits = {
        "DiffVAE (paper's settings), 3 epochs": lambda: DiffVAE().fit(
            adata, epochs=3, seed=0, verbose=0),
        "DiffVAE (paper's settings), 30 epochs": lambda: DiffVAE().fit(
            adata, epochs=30, seed=0, verbose=0),
        "GraphDiffVAE (kNN graph, k = 5), 10 epochs": lambda: GraphDiffVAE(
            graph="knn", k=5).fit(adata, epochs=10, seed=0, verbose=0, evaluate_links=False),
    }
    ours = base.build_optimizer
    ways = {"built before fit": ours, "Keras's default": lambda network: None}
    fits[next(iter(fits))]()  # TensorFlow's one-off start-up, outside the figures
    seconds = {(fit, way): [] for fit in fits for way in ways}
    for _ in range(args.repeats):
        for fit, run in fits.items():
            for way, build in ways.items():
                base.build_optimizer = build
                start = time.perf_counter()
                run()
                seconds[fit, way].append(time.perf_counter() - start)
    base.build_optimizer = ours
    table = pd.DataFrame({way: [np.median(seconds[fit, way]) for fit in fits] for way in ways},
                         index=list(fits)).round(2)
    table["ratio"] = (table["built before fit"] / table["Keras's default"]).round(2)
    print(f"median seconds per fit over {args.repeats} repeats (TensorFlow backend)")
    print(table.to_string())


if __name__ == "__main__":
    main()
