"""The multitask model against the single models, same data, same seeds.

For each labelled dataset available offline (paul15_tradeseq, pbmc68k_reduced; zebrafish,
pancreas and human blood when a local copy exists) and each seed, trains with their defaults:

- DiffVAE (the paper's: m = 50, 100 epochs, batch 128);
- Graph-DiffVAE with the paper's GCN encoder, and with graph attention (4 heads), on the paper's
  graph (each cell to its most correlated cell), 200 epochs, learning rate 1e-4;
- the multitask model (GCN encoder) with graph_weight 1 (the default: one joint likelihood) and
  0.1, 300 full-batch epochs, learning rate 1e-3.

It reports the ARI of k-means (k = number of labels, same seed) on each model's representation
against the reference labels, and for the graph models the AUC / AP of the held-out test links
(the same 10 % of the edges for every model of a seed). Writes runs.csv, summary.csv and
multitask.png to --out and prints the summary as a Markdown table.

    python benchmarks/multitask.py [--seeds 10] [--datasets paul15_tradeseq pbmc68k_reduced]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from diffvae import DiffVAE, analysis, datasets  # noqa: E402
from diffvae.cli.common import markdown_table, save_figure, write_csv  # noqa: E402
from graph_diffvae import GraphDiffVAE, MultitaskDiffVAE  # noqa: E402

DATASETS = ("paul15_tradeseq", "pbmc68k_reduced", "zebrafish", "pancreas", "human_blood")
MODELS = {
    "DiffVAE": lambda: DiffVAE(50),
    "Graph-DiffVAE (GCN)": lambda: GraphDiffVAE(),
    "Graph-DiffVAE (GAT, 4 heads)": lambda: GraphDiffVAE(conv="gat", heads=4),
    "Multitask (GCN, graph_weight 1)": lambda: MultitaskDiffVAE(),
    "Multitask (GCN, graph_weight 0.1)": lambda: MultitaskDiffVAE(graph_weight=0.1),
}


def run(adata, seed: int) -> list[dict]:
    """Every model on one dataset with one seed."""
    labels = adata.obs[datasets.label_key(adata)].astype(str).to_numpy()
    rows = []
    for name, make in MODELS.items():
        start = time.perf_counter()
        model = make().fit(adata, seed=seed, verbose=0)
        row = {"model": name, "seed": seed, "seconds": time.perf_counter() - start,
               "ARI": analysis.ari(labels, analysis.kmeans(model.transform(adata),
                                                           len(set(labels)), seed=seed))}
        if hasattr(model, "link_metrics_"):
            row.update({"AUC": model.link_metrics_["test"]["auc"],
                        "AP": model.link_metrics_["test"]["ap"]})
        rows.append(row)
    return rows


def figure(summary: pd.DataFrame):
    """ARI (all models) and held-out link AUC / AP (graph models), mean +- sd per dataset; each
    model keeps its colour in every panel."""
    colours = dict(zip(MODELS, plt.get_cmap("tab10").colors))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, metric in zip(axes, ("ARI", "AUC", "AP")):
        mean = summary[(metric, "mean")].unstack("model").dropna(axis=1, how="all")
        sd = summary[(metric, "std")].unstack("model")[mean.columns]
        mean.plot.bar(yerr=sd, ax=ax, capsize=2, rot=0, legend=False,
                      color=[colours[m] for m in mean.columns])
        ax.set_title(f"{metric} (mean and sd over seeds)")
        ax.set_xlabel("")
        ax.set_ylim(0.0 if metric == "ARI" else 0.5, 1.0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[m]) for m in MODELS]
    fig.legend(handles, list(MODELS), loc="lower center", ncol=len(MODELS), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def summarize(table: pd.DataFrame, out: Path) -> str:
    """summary.csv and multitask.png from the runs; returns the summary as Markdown."""
    summary = (table.groupby(["dataset", "model"], sort=False)[["ARI", "AUC", "AP", "seconds"]]
               .agg(["mean", "std"]))
    write_csv(summary.round(4), out / "summary.csv")
    save_figure(figure(summary), out / "multitask.png")
    shown = pd.DataFrame({metric: summary[(metric, "mean")].map("{:.3f}".format)
                          + " ± " + summary[(metric, "std")].map("{:.3f}".format)
                          for metric in ("ARI", "AUC", "AP")})
    shown = shown.replace("nan ± nan", "")
    shown["s / fit"] = summary[("seconds", "mean")].map("{:.0f}".format)
    return markdown_table(shown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. N-1")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--data-dir", help="folder holding the datasets' folders")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/multitask"))
    parser.add_argument("--from-runs", type=Path, metavar="RUNS_CSV",
                        help="summarise (table and figure) the runs of an earlier call, no training")
    args = parser.parse_args()
    if args.from_runs:
        table = pd.read_csv(args.from_runs)
    else:
        data, skipped = datasets.load_offline(args.datasets, data_dir=args.data_dir)
        for name, reason in skipped.items():
            print(f"skipping {name}: {reason}")
        rows = []
        jobs = [(name, seed) for name in data for seed in range(args.seeds)]
        for name, seed in tqdm(jobs, desc="dataset x seed", unit="run"):
            rows += [{"dataset": name, **row} for row in run(data[name], seed)]
            table = pd.DataFrame(rows)
            write_csv(table, args.out / "runs.csv", index=False)  # after every run: nothing lost
    seeds = table["seed"].nunique()
    print(f"{seeds} seeds (mean ± sd)\n\n{summarize(table, args.out)}")


if __name__ == "__main__":
    main()
