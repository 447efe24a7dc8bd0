"""Differentially expressed genes beside the decoder-weight genes (diffvae.analysis.differential)."""
import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.stats import ranksums

from diffvae import InputError
from diffvae.analysis import differential


def _expression(rng, n=90):
    """Three clusters of 30 cells; gene_0 up in cluster 0, gene_1 up in cluster 1, the rest noise."""
    x = rng.uniform(0, 0.3, size=(n, 6)).astype(np.float32)
    clusters = np.repeat([0, 1, 2], n // 3)
    x[clusters == 0, 0] += 0.6
    x[clusters == 1, 1] += 0.6
    obs = pd.DataFrame({"cluster": pd.Categorical(clusters.astype(str))},
                       index=[f"c{i}" for i in range(n)])
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=[f"gene_{j}" for j in range(6)])), clusters


def test_rank_genes_matches_scipy_rank_sums_and_the_planted_genes(rng):
    data, clusters = _expression(rng)
    ranking = differential.rank_genes(data)
    assert set(ranking["cluster"]) == {0, 1, 2} and len(ranking) == 3 * 6
    for cluster in (0, 1, 2):
        rows = ranking[ranking["cluster"] == cluster].set_index("gene")
        inside, outside = data.X[clusters == cluster], data.X[clusters != cluster]
        for j, gene in enumerate(data.var_names):
            expected = ranksums(inside[:, j], outside[:, j]).statistic
            assert rows.loc[gene, "wilcoxon_score"] == pytest.approx(expected, rel=1e-4)
            assert rows.loc[gene, "mean_in_cluster"] == pytest.approx(inside[:, j].mean(), rel=1e-5)
            assert rows.loc[gene, "mean_elsewhere"] == pytest.approx(outside[:, j].mean(), rel=1e-5)
        assert rows["rank"].tolist() == list(range(1, 7))  # ranks follow the scores
        assert rows["wilcoxon_score"].is_monotonic_decreasing
    top = differential.top_de_genes(ranking, n_genes=1)
    # cluster 2 has no planted gene: none of its genes is significantly up
    assert dict(zip(top["cluster"], top["gene"])) == {0: "gene_0", 1: "gene_1"}


def test_noise_and_single_cells_are_not_tested_and_one_cluster_is_refused(rng):
    data, _ = _expression(rng)
    data.obs["cluster"] = pd.Categorical(["-1"] * 30 + ["1"] * 59 + ["2"])
    assert set(differential.rank_genes(data)["cluster"]) == {1}
    data.obs["cluster"] = pd.Categorical(["0"] * 90)
    with pytest.raises(InputError, match="two or more clusters"):
        differential.rank_genes(data)


def test_gene_lists_are_compared_per_cluster():
    weight = pd.DataFrame({"cluster": [0, 0, 0, 1], "gene": ["a", "b", "c", "d"]})
    ranking = pd.DataFrame({"cluster": [0, 0, 0, 0, 1, 1, 1, 1], "rank": [1, 2, 3, 4] * 2,
                            "gene": ["b", "x", "a", "c", "x", "y", "z", "d"],
                            "wilcoxon_score": [5, 4, 3, -1, 5, 4, 3, 2],
                            "pval_adj": [0.01, 0.01, 0.01, 1, 0.01, 0.01, 0.01, 0.01]})
    de = differential.top_de_genes(ranking, n_genes=3)
    table = differential.compare_gene_lists(weight, de, ranking).set_index("cluster")
    assert table.loc[0, "shared_genes"] == "a b" and table.loc[0, "shared"] == 2
    assert table.loc[0, "median_de_rank_of_weight_genes"] == 3  # ranks 3, 1, 4
    assert table.loc[1, "shared"] == 0 and table.loc[1, "median_de_rank_of_weight_genes"] == 4


def test_the_pca_baseline_is_pca_of_the_models_own_input(counts_adata):
    from sklearn.decomposition import PCA

    from diffvae import AE
    from diffvae.models import pca_of_input
    from tests.helpers import TINY, TINY_FIT

    model = AE(**TINY).fit(counts_adata, **TINY_FIT)
    baseline = pca_of_input(model, counts_adata)
    assert baseline.genes_ == model.genes_ and baseline.latent_dim == model.latent_dim
    scaled = model.preprocess(counts_adata)
    expected = PCA(model.latent_dim, random_state=0).fit_transform(scaled)
    np.testing.assert_allclose(baseline.transform(counts_adata), expected, atol=1e-4)
    sampled = pca_of_input(model, counts_adata, max_cells=50)  # fitted on 50 cells, applied to all
    assert sampled.transform(counts_adata).shape == (counts_adata.n_obs, model.latent_dim)
