"""Why DiffVAE's representation loses to PCA under scanpy's neighbours + Leiden, and what moves it.

Part 1 of the Leiden study: what a k-nearest-neighbour graph of mu sees. For each labelled
dataset available offline (paul15_tradeseq, pbmc68k_reduced, the SYNTHETIC branching
simulator) and seed, trains the DiffVAE settings below (the paper's layers, batch 128) and
PCA with the same latent size of the same scaled input, then scores each representation
against the reference labels after each post-processing of mu (none; dead dimensions dropped;
every dimension standardised; rows scaled to unit length, i.e. cosine distance): ARI of
k-means (k = number of labels, on the representation) and ARI of Leiden on scanpy's
15-nearest-neighbour graph at resolution 1 (scanpy's defaults: the rule fixed before the
study, it never looks at the labels). For the untouched and the standardised mu, Leiden also
runs with 30 neighbours and at resolutions 0.5 and 2, to show how much those choices move it.
Each representation's share of exact zeros and its number of dead dimensions (constant over
all cells: a ReLU unit that never fires) are recorded beside its scores.

Writes runs.csv (after every model; a later call with the same --out resumes), summary.csv
(mean and sd over seeds), leiden_study.png (k-means and Leiden ARI per dataset and variant)
and summary.md (the tables in Markdown, also printed).

    python benchmarks/leiden_study.py [--seeds 3] [--datasets ...] [--out results/benchmarks/leiden_study]
"""
from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from study_options import study_parser  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from diffvae import PCA, DiffVAE, analysis, datasets, defaults  # noqa: E402
from diffvae.cli.common import markdown_table, save_figure, write_csv  # noqa: E402

DATASETS = ("paul15_tradeseq", "pbmc68k_reduced", "synthetic")
#: trained settings: (constructor options, fit options)
SETTINGS = {
    "DiffVAE (paper), m=50": ({"latent_dim": 50}, {}),
    "DiffVAE.tuned(), m=50": ({"latent_dim": 50, **defaults.TUNED_DIFFVAE}, {}),
    "DiffVAE (paper), m=20": ({"latent_dim": 20}, {}),
    "DiffVAE (paper), m=10": ({"latent_dim": 10}, {}),
    "DiffVAE (paper), m=50, early stopping": ({"latent_dim": 50}, {"early_stopping": 10}),
}
LIVE = 1e-6  # a dimension whose sd over all cells is below this is dead


def live(latent: np.ndarray) -> np.ndarray:
    return latent[:, latent.std(axis=0) > LIVE]


def standardised(latent: np.ndarray) -> np.ndarray:
    kept = live(latent)
    return (kept - kept.mean(axis=0)) / kept.std(axis=0)


def unit_rows(latent: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(latent, axis=1, keepdims=True)
    return latent / np.where(norms > 0, norms, 1.0)


POST = {"mu": lambda x: x, "mu, dead dimensions dropped": live,
        "mu, standardised": standardised, "mu, unit rows (cosine)": unit_rows}
#: (n_neighbors, resolution) beyond scanpy's (15, 1.0), for these post-processings only
SENSITIVITY = ((30, 1.0), (15, 0.5), (15, 2.0))


def score(latent: np.ndarray, labels: np.ndarray, seed: int) -> list[dict]:
    """Every post-processing: k-means and Leiden ARI (and the sensitivity runs)."""
    rows = []
    for name, post in POST.items():
        x = post(latent)
        kmeans = analysis.kmeans(x, len(set(labels)), seed=seed)
        grid = [(defaults.N_NEIGHBORS, 1.0)]
        if name in ("mu", "mu, standardised"):
            grid += list(SENSITIVITY)
        for n_neighbors, resolution in grid:
            leiden = analysis.leiden(x, n_neighbors=n_neighbors, resolution=resolution,
                                     seed=seed)
            rows.append({"post": name, "n_neighbors": n_neighbors, "resolution": resolution,
                         "kmeans_ari": analysis.ari(labels, kmeans),
                         "leiden_ari": analysis.ari(labels, leiden),
                         "leiden_clusters": len(set(leiden.tolist()))})
    return rows


def run_model(adata, labels: np.ndarray, setting: str, seed: int, epochs: int) -> list[dict]:
    """Train one setting (or PCA of the paper model's input), then score every variant."""
    start = time.perf_counter()
    if setting.startswith("PCA"):  # the same preprocessing and scaled input as DiffVAE's
        latent = PCA(int(setting.split("=")[1])).fit(adata, seed=seed).transform(adata)
        epochs_run = 0
    else:
        params, fit = SETTINGS[setting]
        model = DiffVAE(**params).fit(adata, epochs=epochs, seed=seed, verbose=0, **fit)
        latent = model.transform(adata)
        epochs_run = len(model.history_)
    seconds = time.perf_counter() - start
    facts = {"zeros": float(np.mean(latent == 0)),
             "dead_dims": int(np.sum(latent.std(axis=0) <= LIVE)),
             "epochs_run": epochs_run, "seconds": seconds}
    return [{**facts, **row} for row in score(latent, labels, seed)]


def summarise(runs: pd.DataFrame, out: Path) -> str:
    keys = ["dataset", "model", "post", "n_neighbors", "resolution"]
    summary = runs.groupby(keys, sort=False)[["kmeans_ari", "leiden_ari", "zeros",
                                              "dead_dims"]].agg(["mean", "std"])
    write_csv(summary.round(4), out / "summary.csv")
    main = summary.xs((defaults.N_NEIGHBORS, 1.0), level=("n_neighbors", "resolution"))
    save_figure(figure(main), out / "leiden_study.png")
    lines = []
    for kind in ("leiden", "kmeans"):
        cells = (main[(f"{kind}_ari", "mean")].map("{:.3f}".format) + " ± "
                 + main[(f"{kind}_ari", "std")].map("{:.3f}".format))
        wide = cells.unstack("dataset")
        lines += [f"{kind} ARI (mean ± sd over seeds; Leiden: 15 neighbours, resolution 1)", "",
                  markdown_table(wide.fillna("-")), ""]
    sens = summary.xs("mu", level="post")[("leiden_ari", "mean")].unstack("dataset").round(3)
    lines += ["Leiden ARI of the untouched mu by neighbours and resolution", "",
              markdown_table(sens), ""]
    facts = main.xs("mu", level="post")[[("zeros", "mean"), ("dead_dims", "mean")]].round(3)
    facts.columns = ["share of exact zeros", "dead dimensions"]
    lines += ["What mu looks like", "", markdown_table(facts), ""]
    return "\n".join(lines)


def figure(main: pd.DataFrame):
    """Leiden and k-means ARI per dataset: one bar per model x post-processing."""
    datasets_ = list(dict.fromkeys(main.index.get_level_values("dataset")))
    fig, axes = plt.subplots(2, len(datasets_), figsize=(6.5 * len(datasets_), 9), squeeze=False)
    for col, name in enumerate(datasets_):
        part = main.xs(name, level="dataset")
        for row, kind in enumerate(("leiden", "kmeans")):
            ax = axes[row, col]
            mean = part[(f"{kind}_ari", "mean")].unstack("post")[list(POST)]
            sd = part[(f"{kind}_ari", "std")].unstack("post")[list(POST)]
            mean.plot.barh(xerr=sd, ax=ax, capsize=1.5, width=0.8, legend=False)
            method = ("Leiden (15 neighbours, resolution 1)" if kind == "leiden"
                      else "k-means")
            ax.set(title=f"{name}: {method} ARI",
                   xlabel="ARI against the reference labels (mean, sd over seeds)", ylabel="",
                   xlim=(0, 1))
            ax.tick_params(axis="y", labelsize=8)
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, [n.replace("mu", "representation") for n in names], ncols=len(names),
               loc="lower center", title="representation (mu, or PCA's scores) as given to "
               "k-means and the neighbour graph", fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def main() -> None:
    parser = study_parser(__doc__, seeds=3, datasets=DATASETS,
                          out="results/benchmarks/leiden_study")
    parser.add_argument("--models", nargs="+", default=[*SETTINGS, "PCA m=50"],
                        metavar="MODEL", help=f"from {[*SETTINGS]} and 'PCA m=<size>'")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "runs.csv"
    runs = pd.read_csv(path) if path.exists() else pd.DataFrame()
    data, skipped = datasets.load_offline(args.datasets, data_dir=args.data_dir)
    for name, reason in skipped.items():
        print(f"skipping {name}: {reason}")
    done = set() if runs.empty else set(zip(runs["dataset"], runs["model"], runs["seed"]))
    todo = [(d, m, s) for s in range(args.seeds) for d in data for m in args.models
            if (d, m, s) not in done]
    for name, model, seed in tqdm(todo, desc="models"):
        adata = data[name]
        labels = adata.obs[datasets.label_key(adata)].astype(str).to_numpy()
        rows = run_model(adata, labels, model, seed, args.epochs)
        found = pd.DataFrame([{"dataset": name, "model": model, "seed": seed, **r} for r in rows])
        runs = pd.concat([runs, found], ignore_index=True)
        write_csv(runs, path, index=False)
    text = summarise(runs, args.out)
    (args.out / "summary.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
