"""Wall time of each step of the identification pipeline at the paper's zebrafish size.

SYNTHETIC branching-differentiation counts of 1422 cells x 1845 genes (5 types); DiffVAE with the
paper's settings. t-SNE is timed with openTSNE and with scikit-learn in the same run, so their
ratio is comparable even on a shared, noisy machine.

    python benchmarks/identify_steps.py [--epochs 100]
"""
from __future__ import annotations

import argparse
import time
from contextlib import contextmanager

from diffvae import DiffVAE, analysis, datasets
from diffvae.analysis import plots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    timings: dict[str, float] = {}

    @contextmanager
    def timed(step: str):
        start = time.perf_counter()
        yield
        timings[step] = time.perf_counter() - start

    adata = datasets.synthetic(1422, 1845, n_branches=4, seed=0)
    labels = adata.obs["celltype"].astype(str).to_numpy()
    with timed(f"train DiffVAE ({args.epochs} epochs)"):
        model = DiffVAE(50).fit(adata, epochs=args.epochs, seed=0, verbose=0)
    with timed("encode (mu)"):
        mu = model.transform(adata)
    with timed("t-SNE, openTSNE"):
        embedding = analysis.tsne(mu, seed=0)
    with timed("t-SNE, scikit-learn"):
        analysis.tsne(mu, seed=0, method="sklearn")
    with timed("k-means (k = 5) on t-SNE"):
        clusters = analysis.kmeans(embedding, 5, seed=0)
    with timed("DBSCAN, automatic eps"):
        analysis.dbscan(embedding)
    with timed("latent dimensions per cluster"):
        scores = analysis.dimension_scores(mu, clusters)
        top = analysis.top_dimensions(scores, 10)
    with timed("high-weight genes"):
        genes = analysis.cluster_genes(top, model.decoder_weights(), model.genes_, 3)
    with timed("marker scores (hand-made sets)"):
        markers = {f"program {i}": model.genes_[i::50][:5] for i in range(5)}
        analysis.map_clusters(analysis.score_clusters(model.preprocess(adata), model.genes_,
                                                      clusters, markers))
    with timed("figures (5 PNG)"):
        for fig in (plots.tsne_panels(embedding, clusters, labels),
                    plots.dimension_heatmap(scores, top), plots.cluster_genes_plot(genes),
                    plots.marker_dotplot(model.preprocess(adata), model.genes_, clusters, markers),
                    plots.confusion_plot(analysis.confusion_table(clusters, labels))):
            fig.savefig("/dev/null", format="png", dpi=150)
    total = sum(v for k, v in timings.items() if "scikit-learn" not in k)
    print("identification pipeline, 1422 cells x 1845 genes (SYNTHETIC)")
    print(f"{'step':<36}{'seconds':>9}{'share':>8}")
    for step, seconds in timings.items():
        share = "" if "scikit-learn" in step else f"{seconds / total:>8.1%}"
        print(f"{step:<36}{seconds:>9.2f}{share}")
    print(f"{'total (openTSNE)':<36}{total:>9.2f}")
    ratio = timings["t-SNE, scikit-learn"] / timings["t-SNE, openTSNE"]
    print(f"t-SNE time, scikit-learn / openTSNE: {ratio:.2f}; "
          f"k-means ARI on this synthetic data {analysis.ari(labels, clusters):.2f}")


if __name__ == "__main__":
    main()
