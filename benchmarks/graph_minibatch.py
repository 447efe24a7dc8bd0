"""Subgraph minibatches against the paper's full batch on real cells: held-out link prediction
over seeds.

For each seed, the graph model is trained twice on paul15_tradeseq (real data, from the data
mirror) with its defaults (Graph-DiffVAE: 200 epochs, learning rate 1e-4; the multitask model:
300 epochs, 1e-3), on the same input graph and the same held-out edges (the seed fixes the
split): once full batch, once on subgraphs of ``--batch-size`` cells. Prints each seed's test
AUC and AP, the means and standard deviations, and the mean paired difference (subgraphs minus
full batch) with its spread; writes them to ``--out`` as CSV when given.

    python benchmarks/graph_minibatch.py [--model graph|multitask] [--seeds 0 1 ... 9]
        [--batch-size 1024] [--epochs N] [--out runs.csv]
"""
from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["graph", "multitask"], default="graph")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, help="default: the model's")
    mirror = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("DIFFVAE_DATA_DIR", mirror)))
    parser.add_argument("--out", type=Path, help="write the runs as CSV")
    args = parser.parse_args()
    import pandas as pd
    from tqdm import tqdm

    from diffvae import datasets
    from graph_diffvae import GraphDiffVAE, MultitaskDiffVAE

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = datasets.paul15_tradeseq(data_dir=args.data_dir, download=False)
    make = GraphDiffVAE if args.model == "graph" else MultitaskDiffVAE
    rows = []
    for seed in tqdm(args.seeds, desc="seeds"):
        for mode, batch_size in (("full batch", None), ("subgraphs", args.batch_size)):
            start = time.perf_counter()
            model = make().fit(adata, batch_size=batch_size, epochs=args.epochs, seed=seed,
                               verbose=0)
            test = model.link_metrics_["test"]
            rows.append({"seed": seed, "mode": mode, "auc": test["auc"], "ap": test["ap"],
                         "seconds": time.perf_counter() - start})
    runs = pd.DataFrame(rows)
    if args.out:
        runs.to_csv(args.out, index=False)
    print(f"paul15_tradeseq, {make.__name__}, subgraphs of {args.batch_size} cells, "
          f"seeds {args.seeds}")
    print(runs.pivot(index="seed", columns="mode", values=["auc", "ap"]).round(4).to_string())
    summary = runs.groupby("mode")[["auc", "ap", "seconds"]].agg(["mean", "std"]).round(4)
    print(summary.to_string())
    paired = runs.pivot(index="seed", columns="mode", values=["auc", "ap"])
    for metric in ("auc", "ap"):
        difference = paired[(metric, "subgraphs")] - paired[(metric, "full batch")]
        print(f"{metric}: subgraphs - full batch = {difference.mean():+.4f} (sd {difference.std():.4f}, "
              f"min {difference.min():+.4f}, max {difference.max():+.4f})")


if __name__ == "__main__":
    main()
