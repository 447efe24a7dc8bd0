"""DiffVAE's MMD options against PCA and the other baselines, on every labelled dataset here.

For each labelled dataset available offline (paul15_tradeseq, pbmc68k_reduced, the SYNTHETIC
branching simulator; zebrafish, pancreas and human blood when a local copy exists) and each
seed, trains DiffVAE with each setting of the grid below (m = 50, 100 epochs, batch 128, the
paper's layers) and the baselines with their defaults (PCA(50), VAE, AE; scanpy's standard PCA
+ Leiden; scVI, in its own process and for as many epochs, when scvi-tools is installed, the
optional ``bench`` extra, on the datasets whose X holds counts), and scores each
representation against the reference labels: ARI of k-means (k = number of labels, same seed)
and ARI of Leiden on the 15-nearest-neighbour graph (scanpy's, resolution 1).

Writes runs.csv (after every run; a later call with the same --out resumes where it stopped),
summary.csv (mean and sd per dataset and model), ranks.csv (each model's rank per dataset by
mean k-means ARI, and the mean rank), mmd_study.png and summary.md (the tables in Markdown,
also printed).
The rule that picks a recommended setting is fixed before the study: the DiffVAE setting with
the best mean rank across datasets (k-means ARI), never a per-dataset choice.

    python benchmarks/mmd_study.py [--seeds 10] [--datasets ...] [--out results/benchmarks/mmd_study]
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from study_options import study_parser  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from diffvae import DiffVAE, analysis, comparison, datasets, defaults  # noqa: E402
from diffvae._files import atomic_path  # noqa: E402
from diffvae.cli.common import markdown_table, save_figure, write_csv  # noqa: E402
from diffvae.models import get_model  # noqa: E402
from diffvae.preprocessing import looks_like_counts  # noqa: E402

DATASETS = ("paul15_tradeseq", "pbmc68k_reduced", "synthetic", "zebrafish", "pancreas",
            "human_blood")
#: DiffVAE settings: constructor options over the paper's defaults
SETTINGS = {
    "DiffVAE (paper)": {},
    "DiffVAE linear log-var": {"log_var_activation": "linear"},
    "DiffVAE IMQ": {"mmd_kernel": "imq"},
    "DiffVAE IMQ, linear": {"mmd_kernel": "imq", "log_var_activation": "linear"},
    "DiffVAE IMQ x10, linear": {"mmd_kernel": "imq", "mmd_weight": 10.0,
                                "log_var_activation": "linear"},
    "DiffVAE RBF, linear": {"mmd_kernel": "rbf", "log_var_activation": "linear"},
    "DiffVAE RBF x10, linear": {"mmd_kernel": "rbf", "mmd_weight": 10.0,
                                "log_var_activation": "linear"},
    "DiffVAE IMQ x10, linear, unbiased": {"mmd_kernel": "imq", "mmd_weight": 10.0,
                                          "log_var_activation": "linear",
                                          "mmd_estimate": "unbiased"},
    # mu free to take the prior's negative half (the ReLU on mu keeps it out of reach)
    "DiffVAE linear mu, log-var": {"mu_activation": "linear", "log_var_activation": "linear"},
    "DiffVAE IMQ x10, linear mu, log-var": {"mmd_kernel": "imq", "mmd_weight": 10.0,
                                            "mu_activation": "linear",
                                            "log_var_activation": "linear"},
}
BASELINES = ("PCA", "VAE", "AE", "scanpy PCA + Leiden", "scVI")


def scores(latent: np.ndarray, labels: np.ndarray, seed: int) -> dict:
    """k-means and Leiden ARI of a representation."""
    kmeans = analysis.kmeans(latent, len(set(labels)), seed=seed)
    leiden = analysis.leiden(latent, seed=seed)
    return {"kmeans_ari": analysis.ari(labels, kmeans), "leiden_ari": analysis.ari(labels, leiden),
            "leiden_clusters": int(len(set(leiden.tolist())))}


def scvi_latent(name: str, data_dir: str | None, seed: int, epochs: int) -> np.ndarray:
    """scVI's latent mean (its default network, 10 dimensions; ``epochs`` epochs) on the raw
    counts, trained in its own process: PyTorch and TensorFlow in one process crash here."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "latent.npy"
        subprocess.run([sys.executable, __file__, "--scvi-worker", name, str(seed), str(epochs),
                        str(out), *([] if data_dir is None else ["--data-dir", data_dir])],
                       check=True, capture_output=True)
        return np.load(out)


def scvi_worker(name: str, data_dir: str | None, seed: int, epochs: int, out: str) -> None:
    import scvi

    scvi.settings.seed = seed
    data = datasets.load_dataset(name, data_dir=data_dir, download=False)
    scvi.model.SCVI.setup_anndata(data)
    model = scvi.model.SCVI(data)
    model.train(max_epochs=epochs, enable_progress_bar=False)
    np.save(out, model.get_latent_representation())


def run_one(name: str, adata, labels: np.ndarray, model: str, seed: int, epochs: int,
            data_dir: str | None) -> dict:
    """One model, one seed: its scores and training seconds."""
    start = time.perf_counter()
    if model == "scanpy PCA + Leiden":
        row = comparison.scanpy_leiden(adata, labels, seed=seed)
        return {"kmeans_ari": np.nan, "leiden_ari": row["ari"],
                "leiden_clusters": row["n_clusters"], "seconds": time.perf_counter() - start}
    if model == "scVI":
        latent = scvi_latent(name, data_dir, seed, epochs)
    elif model in SETTINGS:
        latent = DiffVAE(50, **SETTINGS[model]).fit(adata, epochs=epochs, seed=seed,
                                                    verbose=0).transform(adata)
    else:
        latent = get_model(model.lower(), latent_dim=50).fit(adata, epochs=epochs, seed=seed,
                                                              verbose=0).transform(adata)
    seconds = time.perf_counter() - start
    return {**scores(latent, labels, seed), "seconds": seconds}


def summarize(runs: pd.DataFrame, out: Path) -> str:
    """summary.csv, ranks.csv and the figure; returns the Markdown tables and the choice."""
    summary = (runs.groupby(["dataset", "model"], sort=False)[["kmeans_ari", "leiden_ari"]]
               .agg(["mean", "std"]))
    write_csv(summary.round(4), out / "summary.csv")
    means = summary[("kmeans_ari", "mean")].unstack("dataset").dropna(how="all")  # no k-means: scanpy
    ranks = means.rank(ascending=False)
    ranks["mean rank"] = ranks.mean(axis=1)
    ranks = ranks.sort_values("mean rank")
    write_csv(ranks, out / "ranks.csv")
    save_figure(figure(summary), out / "mmd_study.png")
    settings = [m for m in ranks.index if m in SETTINGS]
    chosen = settings[0] if settings else None
    lines = []
    for kind in ("kmeans", "leiden"):  # models x datasets, in the order of the mean rank
        cells = (summary[(f"{kind}_ari", "mean")].map("{:.3f}".format) + " ± "
                 + summary[(f"{kind}_ari", "std")].map("{:.3f}".format))
        wide = cells.unstack("dataset").reindex([*ranks.index, "scanpy PCA + Leiden"])
        lines += [f"{kind} ARI (mean ± sd over seeds)", "",
                  markdown_table(wide.replace("nan ± nan", "-").fillna("-")), ""]
    lines.append(markdown_table(ranks.round(2)))
    if chosen is not None and "PCA" in means.index:
        beats = {d: bool(means.loc[chosen, d] >= means.loc["PCA", d]) for d in means.columns}
        lines += ["", f"best mean rank among DiffVAE settings: {chosen}; k-means ARI >= PCA on "
                  + ", ".join(f"{d}: {'yes' if ok else 'no'}" for d, ok in beats.items())]
        shipped = SETTINGS[chosen] == defaults.TUNED_DIFFVAE
        lines.append(f"DiffVAE.tuned() (defaults.TUNED_DIFFVAE) is this setting: "
                     f"{'yes' if shipped else 'NO, update it'}")
    return "\n".join(lines)


def figure(summary: pd.DataFrame):
    """k-means and Leiden ARI per dataset, mean and sd over seeds, one colour per model."""
    models = list(dict.fromkeys(summary.index.get_level_values("model")))
    colours = dict(zip(models, plt.get_cmap("tab20").colors))
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 2.2 * summary.index.levshape[0] + 4), 8))
    for ax, kind in zip(axes, ("kmeans", "leiden")):
        mean = summary[(f"{kind}_ari", "mean")].unstack("model")[models]
        sd = summary[(f"{kind}_ari", "std")].unstack("model")[models]
        mean.plot.bar(yerr=sd, ax=ax, capsize=1.5, rot=0, legend=False,
                      color=[colours[m] for m in models], width=0.85)
        ax.set(title=f"{'k-means' if kind == 'kmeans' else 'Leiden'} ARI against the reference "
               "labels (mean and sd over seeds)", xlabel="", ylim=(0, 1))
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[m]) for m in models]
    fig.legend(handles, models, loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def main() -> None:
    parser = study_parser(__doc__, seeds=10, datasets=DATASETS, out="results/benchmarks/mmd_study")
    parser.add_argument("--models", nargs="+", default=[*SETTINGS, *BASELINES],
                        choices=[*SETTINGS, *BASELINES], metavar="MODEL")
    parser.add_argument("--from-runs", action="store_true",
                        help="summarise the runs.csv in --out, no training")
    parser.add_argument("--scvi-worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scvi_worker:
        name, seed, epochs, out = args.scvi_worker
        scvi_worker(name, args.data_dir, int(seed), int(epochs), out)
        return
    path = args.out / "runs.csv"
    runs = pd.read_csv(path) if path.exists() else pd.DataFrame()
    models = list(args.models)
    if "scVI" in models and importlib.util.find_spec("scvi") is None:
        print("scvi-tools is not installed (pip install -e '.[bench]'): scVI is left out")
        models.remove("scVI")
    if not args.from_runs:
        data, skipped = datasets.load_offline(args.datasets, data_dir=args.data_dir)
        for name, reason in skipped.items():
            print(f"skipping {name}: {reason}")
        done = set() if runs.empty else set(zip(runs["dataset"], runs["model"], runs["seed"]))
        counts = {d for d, adata in data.items() if looks_like_counts(adata.X)}
        if "scVI" in models and set(data) - counts:
            print(f"scVI left out on {sorted(set(data) - counts)}: X is not counts, which scVI models")
        # seed by seed, so that a stopped study has every dataset at the seeds it reached
        jobs = [(d, m, s) for s in range(args.seeds) for d in data for m in models
                if (d, m, s) not in done and (m != "scVI" or d in counts)]
        rows = runs.to_dict("records")
        for name, model, seed in tqdm(jobs, desc="dataset x seed x model", unit="run"):
            adata = data[name]
            labels = adata.obs[datasets.label_key(adata)].astype(str).to_numpy()
            rows.append({"dataset": name, "model": model, "seed": seed,
                         **run_one(name, adata, labels, model, seed, args.epochs, args.data_dir)})
            runs = pd.DataFrame(rows)
            write_csv(runs, path, index=False)  # after every run: nothing lost, resumable
    seeds = runs.groupby("dataset")["seed"].nunique()
    report = (f"Seeds per dataset: {', '.join(f'{d} {n}' for d, n in seeds.items())}\n\n"
              f"{summarize(runs, args.out)}\n")
    with atomic_path(args.out / "summary.md") as tmp:
        tmp.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
