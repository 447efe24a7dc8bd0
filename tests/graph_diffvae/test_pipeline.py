"""graph_diffvae.pipeline.link_cells: the library pipeline behind diffvae graph."""
import numpy as np
import pytest
import scipy.sparse as sp

from diffvae import InputError, datasets
from graph_diffvae import GraphDiffVAE
from graph_diffvae.pipeline import link_cells


@pytest.fixture(scope="module")
def pbmc():
    """pbmc68k_reduced (real, offline): 700 cells, 10 types, CD34+ as the progenitors."""
    return datasets.pbmc68k_reduced()


def test_link_cells_trains_predicts_and_says_what_links_join(pbmc):
    labels = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    model = GraphDiffVAE(hidden_dim=32, latent_dim=8)
    result = link_cells(pbmc, model, labels=labels, progenitors=["CD34+"], epochs=3, seed=0,
                        verbose=0)
    assert result.model is model and len(model.history_) == 3
    # the predicted links are the model's own, and the shares are those of their edges
    assert (result.predicted != model.predict_links(k=1)).nnz == 0
    upper = sp.triu(result.predicted, k=1).tocoo()
    share = np.mean(labels[upper.row] == labels[upper.col])
    assert result.metrics["same_type_share"]["predicted"] == pytest.approx(share)
    assert result.metrics["n_predicted_edges"] == upper.nnz
    assert result.metrics["link_prediction"] == model.link_metrics_
    # the PCA baseline, recomputed: PCA(8) of the same scaled expression, each cell's nearest
    # neighbour and k-means
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NearestNeighbors

    from diffvae.analysis import ari, kmeans

    pca = PCA(8, random_state=0).fit_transform(result.expression)
    nearest = NearestNeighbors(n_neighbors=2).fit(pca).kneighbors(pca)[1][:, 1]
    pairs = {tuple(sorted(p)) for p in zip(range(pbmc.n_obs), nearest)}
    expected = np.mean([labels[i] == labels[j] for i, j in pairs])
    assert result.metrics["same_type_share"]["pca_neighbours"] == pytest.approx(expected)
    assert result.metrics["pca_kmeans_ari"] == pytest.approx(ari(labels, kmeans(pca, 10, seed=0)))
    np.testing.assert_array_equal(result.representation, model.transform())
    assert result.embedding.shape == (pbmc.n_obs, 2) and result.embedded is None
    assert result.expression.shape == (pbmc.n_obs, pbmc.n_vars)
    annotated = result.annotate(pbmc.copy())
    assert (annotated.obsp["predicted_graph"] != result.predicted).nnz == 0
    np.testing.assert_array_equal(annotated.obsm["X_tsne"], result.embedding)
    assert {"training.png", "adjacency.png", "coexpression.png"} <= set(result.figures())


def test_link_cells_refuses_what_cannot_be_right(pbmc):
    labels = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    with pytest.raises(InputError, match=r"progenitor type\(s\) \['HSC'\]"):
        link_cells(pbmc, GraphDiffVAE(), labels=labels, progenitors=["HSC"])
    with pytest.raises(InputError, match="699 labels for 700 cells"):
        link_cells(pbmc, GraphDiffVAE(), labels=labels[1:])
    fitted = GraphDiffVAE(hidden_dim=16, latent_dim=4).fit(pbmc[:300].copy(), epochs=1, verbose=0)
    with pytest.raises(InputError, match="fitted on 300 cells, not these 700"):
        link_cells(pbmc, fitted)


def test_one_class_labels_give_no_same_type_share_but_a_note(pbmc):
    labels = np.full(pbmc.n_obs, "PBMC")
    result = link_cells(pbmc, GraphDiffVAE(hidden_dim=16, latent_dim=4), labels=labels, epochs=1,
                        verbose=0)
    assert "same_type_share" not in result.metrics and "kmeans_ari" not in result.metrics
    assert result.notes == ["Every cell has the same label (PBMC), so the report cannot say which "
                            "types the links join; give labels with several types."]
    assert set(result.figures()) == {"training.png"}
