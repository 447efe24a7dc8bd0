"""Which DiffVAE setting to recommend for scanpy's neighbours + Leiden as well as for k-means.

Part 2 of the Leiden study (part 1, ``leiden_study.py``, measured what moves the score). For each
labelled dataset available offline (paul15_tradeseq, pbmc68k_reduced, the SYNTHETIC branching
simulator) and seed, trains the candidate DiffVAE settings (the paper's and ``DiffVAE.tuned()``,
m = 50, 100 epochs) and scores mu after each post-processing that ``transform`` could apply (none,
every dimension standardised, rows scaled to unit length), beside the baselines: PCA with 50
components of the same scaled input, the AE with the same layers, scanpy's own PCA (normalise,
log1p, 2,000 HVGs, scale, 50 components: "scanpy PCA", whose Leiden row is scanpy's PCA + Leiden
pipeline) and scVI on the raw counts (where a dataset holds them; pbmc68k_reduced does not) when
scvi-tools is installed (``pip install -e ".[bench]"``; left out, saying so, otherwise).

Scores: ARI against the reference labels of k-means (k = number of labels) and of Leiden on the
15-nearest-neighbour graph at resolution 1, scanpy's defaults (the rule fixed in part 1, before
any result: it never looks at the labels); beside them, as a second label-free rule, Leiden at
the resolution from RESOLUTIONS whose partition has the highest silhouette width in the
representation itself.

The choice, fixed before the run: per dataset, rank every row by its mean k-means ARI and by its
mean Leiden ARI (resolution 1) over seeds; the recommended setting is the candidate with the best
mean of these ranks over both clusterers and all datasets. Targets: its mean Leiden ARI at least
PCA's and scanpy PCA + Leiden's, and its mean k-means ARI at least PCA's, on every dataset.

Writes runs_<dataset>.csv (after every model; a later call with the same --out resumes, so
datasets can run in separate processes), summary.csv, ranks.csv, leiden_choice.png and
summary.md (the tables and the verdict, also printed); ``--summarise`` only rewrites these from
the runs files.

    python benchmarks/leiden_choice.py [--seeds 10] [--datasets ...] [--out results/benchmarks/leiden_choice]
"""
from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from leiden_study import DATASETS, standardised, unit_rows  # noqa: E402
from mmd_study import scvi_latent  # noqa: E402
from study_options import study_parser  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from diffvae import AE, PCA, DiffVAE, analysis, datasets, defaults  # noqa: E402
from diffvae.cli.common import markdown_table, save_figure, write_csv  # noqa: E402
from diffvae.comparison import scanpy_pca  # noqa: E402
from diffvae.preprocessing import looks_like_counts  # noqa: E402

CANDIDATES = {"DiffVAE (paper)": {}, "DiffVAE.tuned()": defaults.TUNED_DIFFVAE}
POST = {"": lambda x: x, ", standardised": standardised, ", cosine": unit_rows}
BASELINES = ("PCA", "AE", "scanpy PCA", "scVI")
RESOLUTIONS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
LATENT_DIM = 50


def score(x: np.ndarray, labels: np.ndarray, seed: int) -> dict:
    """k-means ARI, Leiden ARI at resolution 1 and at the label-free silhouette choice."""
    found = analysis.leiden_resolutions(x, RESOLUTIONS, seed=seed)
    widths = {r: analysis.silhouette(x, c) for r, c in found.items()}
    chosen = max(RESOLUTIONS, key=lambda r: -np.inf if np.isnan(widths[r]) else widths[r])
    return {"kmeans_ari": analysis.ari(labels, analysis.kmeans(x, len(set(labels)), seed=seed)),
            "leiden_ari": analysis.ari(labels, found[1.0]),
            "leiden_clusters": len(set(found[1.0].tolist())),
            "silhouette_resolution": chosen,
            "leiden_ari_silhouette": analysis.ari(labels, found[chosen])}


def representations(name: str, adata, model: str, seed: int, epochs: int,
                    data_dir: str | None) -> dict[str, np.ndarray]:
    """The rows one trained model gives: a candidate's mu under every post-processing, or one
    baseline's representation."""
    if model in CANDIDATES:
        mu = DiffVAE(LATENT_DIM, **CANDIDATES[model]).fit(
            adata, epochs=epochs, seed=seed, verbose=0).transform(adata)
        return {model + post: f(mu) for post, f in POST.items()}
    if model == "PCA":
        return {model: PCA(LATENT_DIM).fit(adata, seed=seed).transform(adata)}
    if model == "AE":
        return {model: AE(LATENT_DIM).fit(adata, epochs=epochs, seed=seed,
                                          verbose=0).transform(adata)}
    if model == "scanpy PCA":
        return {model: scanpy_pca(adata, seed=seed).obsm["X_pca"]}
    return {model: scvi_latent(name, data_dir, seed, epochs)}


#: the Leiden score each rule ranks by: the rule fixed before the study first
RULES = {"resolution 1": "leiden_ari",
         "the resolution of highest silhouette": "leiden_ari_silhouette"}


def summarise(out: Path) -> str:
    """summary.csv, ranks.csv, the figure and the Markdown tables with the verdicts."""
    runs = pd.concat([pd.read_csv(p) for p in sorted(out.glob("runs_*.csv"))], ignore_index=True)
    scores = ["kmeans_ari", *RULES.values()]
    summary = runs.groupby(["dataset", "representation"], sort=False)[scores].agg(["mean", "std"])
    write_csv(summary.round(4), out / "summary.csv")
    means = {s: summary[(s, "mean")].unstack("dataset") for s in scores}
    rankings = {rule: ranking(means, leiden) for rule, leiden in RULES.items()}
    write_csv(pd.concat(rankings, names=["Leiden rule"]), out / "ranks.csv")
    choices = {rule: chosen(ranks) for rule, ranks in rankings.items()}
    save_figure(figure(summary, choices["resolution 1"]), out / "leiden_choice.png")
    n_seeds = runs.groupby(["dataset", "representation"])["seed"].nunique()
    order = rankings["resolution 1"].index
    lines = [f"Seeds per dataset and row: {n_seeds.min()}-{n_seeds.max()}", ""]
    for s, title in zip(scores, ("k-means ARI", "Leiden ARI (15 neighbours, resolution 1)",
                                 "Leiden ARI at the resolution of highest silhouette")):
        cells = (summary[(s, "mean")].map("{:.3f}".format) + " ± "
                 + summary[(s, "std")].map("{:.3f}".format)).unstack("dataset")
        lines += [f"{title} (mean ± sd over seeds; -: not run)", "",
                  markdown_table(cells.loc[order].fillna("-")), ""]
    for (rule, leiden), ranks in zip(RULES.items(), rankings.values()):
        lines += [f"Ranks (1 = best) by mean ARI per dataset, Leiden at {rule}; mean rank over "
                  "both clusterers and all datasets", "",
                  markdown_table(ranks.round(2).astype(object).where(ranks.notna(), "-")), ""]
        lines += verdict(means, choices[rule], leiden, rule)
    return "\n".join(lines)


def ranking(means: dict[str, pd.DataFrame], leiden: str) -> pd.DataFrame:
    """Every row's rank per dataset by k-means and by ``leiden`` ARI, and their mean."""
    ranks = pd.concat({"k-means": means["kmeans_ari"].rank(ascending=False),
                       "Leiden": means[leiden].rank(ascending=False)}, axis=1)
    ranks.columns = [f"{clusterer}, {dataset}" for clusterer, dataset in ranks.columns]
    ranks["mean rank"] = ranks.mean(axis=1)
    return ranks.sort_values("mean rank")


def chosen(ranks: pd.DataFrame) -> str:
    """The candidate DiffVAE setting with the best mean rank."""
    return ranks.index[ranks.index.to_series().str.startswith(tuple(CANDIDATES))][0]


def verdict(means: dict[str, pd.DataFrame], choice: str, leiden: str, rule: str) -> list[str]:
    """The targets of a choice, dataset by dataset, with the margins."""
    lines = [f"Chosen with Leiden at {rule}: {choice}", ""]
    checks = [(leiden, "PCA"), (leiden, "scanpy PCA"), ("kmeans_ari", "PCA")]
    for score, baseline in checks:
        for dataset in means[score].columns:
            ours, theirs = means[score].loc[choice, dataset], means[score].loc[baseline, dataset]
            kind = "k-means" if score == "kmeans_ari" else f"Leiden ({rule})"
            lines.append(f"- {kind} ARI on {dataset}: {ours:.3f} against {baseline} {theirs:.3f} "
                         f"({'met' if ours >= theirs else 'missed'} by {abs(ours - theirs):.3f})")
    return [*lines, ""]


def figure(summary: pd.DataFrame, chosen: str):
    """Per dataset: k-means and Leiden ARI (both rules) of every row, the chosen one marked."""
    names = list(dict.fromkeys(summary.index.get_level_values("dataset")))
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 7), squeeze=False)
    kinds = {"kmeans_ari": "k-means", "leiden_ari": "Leiden, resolution 1",
             "leiden_ari_silhouette": "Leiden, resolution of highest silhouette"}
    for ax, name in zip(axes[0], names):
        part = summary.xs(name, level="dataset")
        mean = part.xs("mean", axis=1, level=1)[list(kinds)].rename(columns=kinds)
        sd = part.xs("std", axis=1, level=1)[list(kinds)].rename(columns=kinds)
        mean.plot.barh(xerr=sd, ax=ax, capsize=1.5, width=0.8, legend=False)
        ax.set(title=name, xlabel="ARI against the reference labels (mean, sd over seeds)",
               ylabel="", xlim=(0, 1))
        ax.invert_yaxis()
        missing = [r for r in dict.fromkeys(summary.index.get_level_values(1)) if r not in part.index]
        if missing:  # scVI needs raw counts, which some datasets do not hold
            ax.annotate(f"not run here: {', '.join(missing)} (needs raw counts)", (0.98, 0.01),
                        xycoords="axes fraction", ha="right", va="bottom", fontsize=8)
        for label in ax.get_yticklabels():
            if label.get_text() == chosen:
                label.set_fontweight("bold")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, ncols=3, loc="lower center",
               title=f"clustering of each representation (bold: {chosen}, the rule's choice)")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def main() -> None:
    parser = study_parser(__doc__, seeds=10, datasets=DATASETS,
                          out="results/benchmarks/leiden_choice")
    parser.add_argument("--summarise", action="store_true", help="only rewrite the summary")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.summarise:
        run(args)
    text = summarise(args.out)
    (args.out / "summary.md").write_text(text + "\n")
    print(text)


def run(args: argparse.Namespace) -> None:
    models = [*CANDIDATES, *BASELINES]
    if importlib.util.find_spec("scvi") is None:
        print("scvi-tools is not installed (pip install -e '.[bench]'): scVI is left out")
        models.remove("scVI")
    data, skipped = datasets.load_offline(args.datasets, data_dir=args.data_dir)
    for name, reason in skipped.items():
        print(f"skipping {name}: {reason}")
    for name, adata in data.items():
        path = args.out / f"runs_{name}.csv"
        runs = pd.read_csv(path) if path.exists() else pd.DataFrame()
        done = set() if runs.empty else set(zip(runs["model"], runs["seed"]))
        labels = adata.obs[datasets.label_key(adata)].astype(str).to_numpy()
        here = list(models)
        if "scVI" in here and not looks_like_counts(adata.X):  # its likelihood models counts
            print(f"{name} holds no raw counts: scVI is left out there")
            here.remove("scVI")
        todo = [(m, s) for s in range(args.seeds) for m in here if (m, s) not in done]
        for model, seed in tqdm(todo, desc=name):
            start = time.perf_counter()
            found = representations(name, adata, model, seed, args.epochs, args.data_dir)
            seconds = time.perf_counter() - start
            rows = [{"dataset": name, "model": model, "representation": rep, "seed": seed,
                     "seconds": seconds, **score(x, labels, seed)} for rep, x in found.items()]
            runs = pd.concat([runs, pd.DataFrame(rows)], ignore_index=True)
            write_csv(runs, path, index=False)


if __name__ == "__main__":
    main()
