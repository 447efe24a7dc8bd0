"""How well k-means recovers paul15_tradeseq's 7 cell types: DiffVAE against PCA, on the
representation itself and on its 2-D t-SNE (the paper clusters the t-SNE).

Each seed trains DiffVAE with the paper's settings (512/256, m = 50, 100 epochs, batch 128) and
fits PCA with the same number of components; k-means (k = 7) and t-SNE use the same seed.

    python benchmarks/paul15_ari.py [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import warnings

import pandas as pd
from tqdm.auto import tqdm

from diffvae import PCA, DiffVAE, analysis, datasets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--latent-dim", type=int, default=50)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = datasets.paul15_tradeseq()
    labels = adata.obs["celltype"].astype(str).to_numpy()
    rows = []
    for seed in tqdm(args.seeds, desc="seeds"):
        for model in (DiffVAE(args.latent_dim), PCA(args.latent_dim)):
            latent = model.fit(adata, seed=seed, verbose=0).transform(adata)
            embedding = analysis.tsne(latent, seed=seed)
            for space, x in (("latent", latent), ("t-SNE", embedding)):
                clusters = analysis.kmeans(x, 7, seed=seed)
                rows.append({"model": model.model_type, "space": space, "seed": seed,
                             "ARI": analysis.ari(labels, clusters),
                             "NMI": analysis.nmi(labels, clusters)})
    table = pd.DataFrame(rows)
    summary = table.groupby(["model", "space"])[["ARI", "NMI"]].agg(["mean", "std"]).round(3)
    print(table.pivot_table(index=["model", "space"], columns="seed", values="ARI").round(3))
    print(summary)


if __name__ == "__main__":
    main()
