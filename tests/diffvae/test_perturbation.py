"""Latent perturbations and genes to flip (diffvae.perturbation), against hand-made examples and
brute force."""
import numpy as np
import pandas as pd
import pytest

from diffvae import InputError, perturbation
from diffvae.analysis import dimension_scores


def linear_classifier(weights, classes):
    """A hand-made classifier: the class with the largest w . x."""
    return lambda x: np.asarray(classes)[np.argmax(np.asarray(x) @ weights, axis=1)]


def brute_force(x, y, predict, target):
    """Try k = 0, 1, 2, ... one classifier call at a time."""
    order = np.argsort(-np.abs(y - x), kind="stable")
    for k in range(len(x) + 1):
        candidate = x.copy()
        candidate[order[:k]] = y[order[:k]]
        if predict(candidate[None, :])[0] == target:
            return k
    return -1


def test_genes_to_flip_on_a_hand_made_example():
    # class "B" wins when gene 0 + gene 1 > gene 2 + 0.5
    predict = lambda x: np.where(np.asarray(x)[:, 0] + np.asarray(x)[:, 1] > np.asarray(x)[:, 2] + 0.5, "B", "A")
    x = np.array([[0.0, 0.0, 0.4, 0.0]])
    # changes: gene 3 moves most (0.9) but does not matter; then gene 0 (+0.8): 0.8 > 0.9? no;
    # then gene 1 (+0.6): 1.4 > 0.9 -> B after 3 genes
    y = np.array([[0.8, 0.6, 0.4, 0.9]])
    assert perturbation.genes_to_flip(x, y, predict, "B").tolist() == [3]
    assert perturbation.genes_to_flip(x, x, predict, "B").tolist() == [-1]


def test_genes_to_flip_matches_brute_force(rng):
    weights = rng.normal(size=(12, 3))
    predict = linear_classifier(weights, ["a", "b", "c"])
    x = rng.uniform(size=(40, 12)).astype(np.float32)
    y = rng.uniform(size=(40, 12)).astype(np.float32)
    for target in ("a", "b", "c"):
        fast = perturbation.genes_to_flip(x, y, predict, target)
        slow = [brute_force(x[i], y[i], predict, target) for i in range(len(x))]
        np.testing.assert_array_equal(fast, slow)


def test_flip_gene_summary_counts_directions():
    x = np.zeros((3, 3))
    y = np.array([[0.9, -0.5, 0.1], [0.2, -0.8, 0.0], [0.1, 0.1, 0.1]])
    table = perturbation.flip_gene_summary(x, y, np.array([2, 1, 0]), ["g0", "g1", "g2"]).set_index("gene")
    # cell 0 changes g0 (+0.9) and g1 (-0.5); cell 1 changes g1 (-0.8); cell 2 none
    assert table.loc["g1", "n_down"] == 2 and table.loc["g1", "n_up"] == 0
    assert table.loc["g1", "mean_change"] == pytest.approx(-0.65)
    assert table.loc["g0", "n_up"] == 1 and "g2" not in table.index
    assert table.index[0] == "g1"


def test_flip_analysis_keeps_only_cells_the_shift_converts(rng):
    weights = rng.normal(0.0, 0.2, size=(6, 2))
    weights[[0, 1], 0] += 1.0  # "a" rises with genes 0-1, "b" with genes 2-4
    weights[[2, 3, 4], 1] += 1.0
    predict = linear_classifier(weights, ["a", "b"])
    x = rng.uniform(size=(30, 6)).astype(np.float32)
    decode = lambda z: np.asarray(z, dtype=np.float32)  # the latent space is the expression
    dims = {"a": [0, 1], "b": [2, 3, 4]}
    sd = np.full(6, 0.5)
    cells = [f"c{i}" for i in range(30)]
    needed, flip_genes = perturbation.flip_analysis(decode, predict, x, x, dims, 1.0, sd,
                                                    [f"g{j}" for j in range(6)], cells)
    own = predict(x)
    for target, target_dims in dims.items():
        y = perturbation.shift(x, target_dims, 1.0, sd)
        hit = (predict(y) == target) & (own != target)
        rows = needed[needed["target"] == target]
        assert rows["cell"].tolist() == [c for c, h in zip(cells, hit) if h]
        np.testing.assert_array_equal(rows["n_genes"], perturbation.genes_to_flip(x[hit], y[hit], predict, target))
        np.testing.assert_allclose(rows["fraction_of_genes"], rows["n_genes"] / 6)
        summary = flip_genes[flip_genes["target"] == target]
        assert summary["n_cells"].sum() == rows["n_genes"].clip(lower=0).sum()
        assert 0 < len(rows) < 30  # some cells converted, not those already called the target


def test_shift_and_target_dimensions(rng):
    latent = rng.gamma(1.0, 1.0, (200, 6)).astype(np.float32)
    groups = np.array(["a"] * 20 + ["b"] * 180)
    latent[groups == "a", 4] += 5.0  # dimension 4 encodes "a": its upper tail is all "a"
    dims = perturbation.target_dimensions(latent, groups, ["a"], n_dims=2)
    assert dims["a"][0] == 4
    expected = dimension_scores(latent, groups).loc["a"].sort_values(ascending=False).index[:2].tolist()
    assert dims["a"] == expected
    sd = latent.std(axis=0)
    moved = perturbation.shift(latent, [1, 4], 0.5, sd)
    np.testing.assert_allclose(moved - latent, np.outer(np.ones(200), [0, 0.5 * sd[1], 0, 0, 0.5 * sd[4], 0]),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="no cells of target"):
        perturbation.target_dimensions(latent, groups, ["c"])


def test_conversion_counts_with_transparent_decoder():
    # decode = identity, predict = "T" when dimension 0 exceeds 1: a shift of lambda * sd moves
    # exactly the cells within lambda * sd of the threshold
    latent = np.linspace(0, 1, 11)[:, None] * np.ones((1, 3))
    sd = np.array([1.0, 1.0, 1.0])
    predict = lambda z: np.where(np.asarray(z)[:, 0] > 1.0 + 1e-9, "T", "other")
    table, converted = perturbation.conversions(lambda z: z, predict, latent, {"T": [0]},
                                                [0.0, 0.35], sd, n_random=0)
    assert table["n_converted"].tolist() == [0, 4]  # 0.7, 0.8, 0.9, 1.0 pass 1 after +0.35
    assert converted[("T", 0.35)].tolist() == [False] * 7 + [True] * 4


def test_a_target_no_cell_reaches_leaves_no_rows_and_no_pandas_warning(rng):
    import warnings

    weights = np.zeros((4, 2))
    weights[0, 0] = weights[1, 1] = 1.0
    predict = linear_classifier(weights, ["a", "b"])
    x = rng.uniform(size=(20, 4)).astype(np.float32)
    decode = lambda z: np.asarray(z, dtype=np.float32)  # noqa: E731
    # "a" along gene 0 (cells convert); "c" shifts genes the classifier ignores (none convert)
    dims = {"a": [0], "c": [3]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' FutureWarning on concatenating empty frames
        needed, flip_genes = perturbation.flip_analysis(decode, predict, x, x, dims, 5.0,
                                                        np.ones(4), [f"g{j}" for j in range(4)])
    assert set(needed["target"]) == {"a"} and set(flip_genes["target"]) == {"a"}
    assert flip_genes["n_cells"].dtype.kind in "iu"


def test_targets_reached_by_decoding_alone_are_flagged():
    table = pd.DataFrame(
        [("a", 0.0, "targeted", 13, 13.0), ("a", 1.0, "targeted", 13, 13.0),
         ("b", 0.0, "targeted", 13, 2.0), ("b", 1.0, "targeted", 13, 9.0),
         ("a", 0.0, "random", 13, 12.0)],
        columns=["target", "lambda", "dimensions", "n_source", "n_converted"])
    flagged = perturbation.converted_by_decoding(table)
    assert flagged.to_dict() == {"a": 1.0}  # b: 2 of 13 = 15 %, under the 20 % flag
    assert perturbation.converted_by_decoding(table, share=0.1).to_dict() == pytest.approx(
        {"a": 1.0, "b": 2 / 13})
