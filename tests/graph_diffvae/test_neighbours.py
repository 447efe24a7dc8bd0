"""Neighbour search (graph_diffvae.neighbours): largest inner products, exact and approximate."""
import numpy as np
import pytest

from graph_diffvae import neighbours


@pytest.mark.parametrize("k", [1, 3])
def test_exact_top_products_equal_numpy_and_prune_by_norm(rng, k):
    # SYNTHETIC features; block sizes small so that several blocks of rows and candidates run
    z = (rng.normal(size=(3000, 8)) * rng.uniform(0.2, 3.0, size=(3000, 1))).astype(np.float32)
    scores = z @ z.T
    np.fill_diagonal(scores, -np.inf)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    found, share = neighbours.exact_top_products(z, k, block_size=256)
    np.testing.assert_array_equal(np.take_along_axis(scores, found, axis=1),
                                  np.take_along_axis(scores, expected, axis=1))
    assert (found != np.arange(3000)[:, None]).all()
    assert share < 0.6  # varied norms: most candidates are never scored
    # equal norms: nothing can be pruned, every pair is scored
    unit = z / np.linalg.norm(z, axis=1, keepdims=True)
    assert neighbours.exact_top_products(unit, k, block_size=256)[1] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.approximate_search
def test_approximate_predicted_links_are_the_largest_inner_products(rng, monkeypatch):
    from graph_diffvae.links import top_partners

    # SYNTHETIC node features with norms that vary, so that the largest inner product is not
    # the nearest point
    z = (rng.normal(size=(3000, 16)) * rng.uniform(0.2, 3.0, size=(3000, 1))).astype(np.float32)
    exact = top_partners(z, 1, method="exact")
    approximate = top_partners(z, 1, method="approximate")
    assert approximate.multiply(exact).nnz / exact.nnz > 0.98
    assert approximate.diagonal().sum() == 0
    # "auto" is the exact search at any size (it beat the approximate one in time and accuracy)
    monkeypatch.setattr(neighbours, "EXACT_NEIGHBOURS_MAX_CELLS", 1000)
    assert (top_partners(z, 1) != exact).nnz == 0
