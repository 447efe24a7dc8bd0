"""The perturbation pipeline behind diffvae perturb (diffvae.cell_states), on the real paul15
cells."""
import numpy as np
import pytest

from diffvae import InputError, perturbation

from tests.helpers import PROGENITORS


def test_change_cell_states_from_python_runs_the_papers_steps(paul15, paul15_model):
    """The library pipeline behind ``diffvae perturb``, on the real paul15 cells."""
    from diffvae.cell_states import change_cell_states

    model, _ = paul15_model
    groups = paul15.obs["celltype"].astype(str).to_numpy()
    targets = ["Erythrocyte", "Monocytes"]
    result = change_cell_states(paul15, model, groups, PROGENITORS, targets, lambdas=[0, 1],
                                n_random=1, classifier_epochs=10, seed=0, verbose=0)
    # the shifted dimensions are each target's top dimensions of mu, as the step computes them
    mu = model.transform(paul15)
    assert result.dimensions == perturbation.target_dimensions(mu, groups, targets, 5)
    assert result.metrics["n_source_cells"] == np.isin(groups, PROGENITORS).sum() == result.source.sum()
    assert result.classifier.classes_.tolist() == targets
    # lambda 0 is decoding alone: targeted and random dimensions convert the same cells
    at_zero = result.conversions[result.conversions["lambda"] == 0]
    counts = at_zero.pivot(index="target", columns="dimensions", values="n_converted")
    np.testing.assert_array_equal(counts["targeted"], counts["random"])
    # the PCA baseline recomputed with scikit-learn: each target's top PCA dimensions moved
    # lambda standard deviations towards the target, decoded by the inverse PCA
    from sklearn.decomposition import PCA

    x = model.preprocess(paul15)
    pca = PCA(model.latent_dim, random_state=0).fit(x)
    scores = pca.transform(x)
    source = result.source
    baseline = result.conversions[result.conversions["dimensions"] == "PCA baseline"]
    for target in targets:
        dims = perturbation.target_dimensions(scores, groups, [target], 5)[target]
        toward = np.sign(scores[groups == target].mean(0) - scores[source].mean(0))[dims]
        for lam in (0, 1):
            shifted = scores[source].copy()
            shifted[:, dims] += lam * scores.std(axis=0)[dims] * toward
            called = result.classifier.predict(pca.inverse_transform(shifted).astype(np.float32))
            row = baseline[(baseline["target"] == target) & (baseline["lambda"] == lam)]
            assert abs(row["n_converted"].item() - np.sum(called == target)) <= 1, (target, lam)
            assert result.metrics["pca_baseline"][target][str(float(lam))] == row["fraction"].item()
    assert result.embedding.shape == (paul15.n_obs, 2)
    assert {"conversions_tsne.png", "conversion_curves.png"} <= set(result.figures())
    with pytest.raises(InputError, match=r"unknown cell type\(s\) \['HSPC'\]"):
        change_cell_states(paul15, model, groups, ["HSPC"])
    with pytest.raises(InputError, match="2 or more target types"):
        change_cell_states(paul15, model, groups, PROGENITORS, ["Monocytes"])
