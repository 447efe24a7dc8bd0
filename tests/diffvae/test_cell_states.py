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
    assert result.embedding.shape == (paul15.n_obs, 2)
    assert {"conversions_tsne.png", "conversion_curves.png"} <= set(result.figures())
    with pytest.raises(InputError, match=r"unknown cell type\(s\) \['HSPC'\]"):
        change_cell_states(paul15, model, groups, ["HSPC"])
    with pytest.raises(InputError, match="2 or more target types"):
        change_cell_states(paul15, model, groups, PROGENITORS, ["Monocytes"])
