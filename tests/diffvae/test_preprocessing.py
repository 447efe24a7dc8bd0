"""The paper's scaling (diffvae.preprocessing), in memory and from disk."""
import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from diffvae import AE, InputError
from diffvae.preprocessing import (
    Preprocessor, check_expression, log_normalize, looks_like_counts, top_dispersions
)

from tests.helpers import TINY, TINY_FIT


def make(matrix, genes=None):
    genes = genes or [f"g{i}" for i in range(np.shape(matrix)[1])]
    return ad.AnnData(np.asarray(matrix, dtype=np.float32) if not sp.issparse(matrix) else matrix,
                      var=pd.DataFrame(index=genes))


def test_counts_are_normalised_logged_and_min_max_scaled(counts_adata):
    x = counts_adata.X.toarray()
    pre = Preprocessor().fit(counts_adata)
    assert pre.normalize_
    totals = x.sum(1)
    target = np.median(totals)
    log_x = np.log1p(x / totals[:, None] * target)
    expected = (log_x - log_x.min(0)) / (log_x.max(0) - log_x.min(0))
    np.testing.assert_allclose(pre.transform(counts_adata), expected, rtol=1e-4, atol=1e-5)
    assert pre.target_sum_ == pytest.approx(target)


def test_log_data_is_only_scaled(rng):
    x = rng.gamma(1.0, 1.0, (30, 5))
    pre = Preprocessor().fit(make(x))
    assert not pre.normalize_
    np.testing.assert_allclose(pre.transform(make(x)), (x - x.min(0)) / np.ptp(x, 0), rtol=1e-5)
    np.testing.assert_allclose(pre.inverse_transform(pre.transform(make(x))), x, rtol=1e-5)


def test_constant_gene_scales_to_zero_not_nan(rng):
    x = rng.uniform(size=(10, 3))
    x[:, 1] = 2.5
    scaled = Preprocessor().fit_transform(make(x))
    assert np.isfinite(scaled).all() and (scaled[:, 1] == 0).all()


def test_new_data_uses_training_scale_and_is_clipped(rng):
    x = rng.uniform(1, 2, size=(20, 4))
    pre = Preprocessor(normalize=False).fit(make(x))
    new = x[:3] * 1.0
    new[0, 0] = 10.0
    out = pre.transform(make(new))
    assert out[0, 0] == 1.0
    np.testing.assert_allclose(out[1:], pre.transform(make(x[1:3])))


def test_genes_are_reordered_and_missing_genes_refused(rng):
    x = rng.uniform(size=(10, 4))
    genes = ["a", "b", "c", "d"]
    pre = Preprocessor().fit(make(x, genes))
    shuffled = make(x[:, [2, 0, 3, 1]], ["c", "a", "d", "b"])
    np.testing.assert_allclose(pre.transform(shuffled), pre.transform(make(x, genes)))
    with pytest.raises(InputError, match=r"missing.*'b'"):
        pre.transform(make(x[:, [0, 2, 3]], ["a", "c", "d"]))


def test_highly_variable_gene_selection(counts_adata):
    pre = Preprocessor(n_top_genes=10).fit(counts_adata)
    assert len(pre.genes_) == 10 and pre.transform(counts_adata).shape == (120, 10)
    assert set(pre.genes_) <= set(counts_adata.var_names)


def test_sparse_and_dense_give_the_same_result(counts_adata):
    dense = ad.AnnData(counts_adata.X.toarray(), var=counts_adata.var)
    a = Preprocessor().fit_transform(counts_adata)
    b = Preprocessor().fit_transform(dense)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_state_round_trip(counts_adata):
    pre = Preprocessor(n_top_genes=12).fit(counts_adata)
    again = Preprocessor.from_state(*pre.get_state())
    np.testing.assert_array_equal(again.transform(counts_adata), pre.transform(counts_adata))


def test_counts_detection():
    assert looks_like_counts(np.array([[0, 3], [5, 1]]))
    assert not looks_like_counts(np.array([[0, 1.5], [2.2, 0]]))
    assert not looks_like_counts(np.array([[0, 1], [1, 0]]))  # binary: already scaled


@pytest.mark.parametrize("value, message", [
    (np.nan, r"nan \(not finite\) at cell '1', gene 'g2'"),
    (np.inf, r"inf \(not finite\) at cell '1', gene 'g2'"),
    (-1.0, r"negative value -1 at cell '1', gene 'g2'"),
])
def test_bad_values_are_named(value, message):
    x = np.ones((3, 4))
    x[1, 2] = value
    with pytest.raises(InputError, match=message):
        check_expression(make(x))
    with pytest.raises(InputError, match=message):
        check_expression(make(sp.csr_matrix(x)))


def test_empty_and_duplicate_genes_are_refused():
    with pytest.raises(InputError, match="empty matrix"):
        check_expression(make(np.zeros((0, 3))))
    with pytest.raises(InputError, match=r"duplicate gene names.*'a'"):
        check_expression(make(np.ones((2, 3)), ["a", "b", "a"]))


# -- data that look wrong but may be right: warnings ------------------------------------------
def test_log_data_given_to_a_counts_model_is_announced(counts_adata):
    import scanpy as sc

    model = AE(**TINY).fit(counts_adata, epochs=1, verbose=0)
    logged = counts_adata.copy()
    sc.pp.normalize_total(logged)
    sc.pp.log1p(logged)
    with pytest.warns(UserWarning, match="fitted on raw counts but these look like log-normalised"):
        model.transform(logged)


def test_scaled_input_is_refused_with_the_raw_hint(counts_adata):
    import scanpy as sc

    adata = counts_adata.copy()
    adata.X = adata.X.toarray()
    sc.pp.log1p(adata)
    adata.raw = adata.copy()
    sc.pp.scale(adata)
    with pytest.raises(InputError, match=r"not z-scores.*pass adata\.raw\.to_adata\(\)"):
        AE(**TINY).fit(adata, **TINY_FIT)
    AE(**TINY).fit(adata.raw.to_adata(), **TINY_FIT)


def test_seurat_dispersions_select_the_genes_scanpy_ranks_first(rng):
    import scanpy as sc

    counts = sp.random(300, 200, density=0.2, format="csr", random_state=1, dtype=np.float32)
    counts.data = np.ceil(counts.data * rng.gamma(1.0, 20.0, counts.nnz)).astype(np.float32)
    log_x = log_normalize(counts)
    reference = ad.AnnData(log_x)
    sc.pp.highly_variable_genes(reference, flavor="seurat")
    dense = log_x.toarray().astype(np.float64)
    expm1 = np.expm1(dense)
    for n in (10, 50):
        expected = np.zeros(200, dtype=bool)
        expected[np.argsort(-np.nan_to_num(reference.var["dispersions_norm"].to_numpy(), nan=-np.inf),
                            kind="stable")[:n]] = True
        keep = top_dispersions(expm1.mean(0), expm1.var(0, ddof=1), n)
        np.testing.assert_array_equal(keep, expected)


def test_selected_genes_are_normalised_over_all_fitted_genes(counts_adata):
    """With gene selection, new data are normalised by library sizes over every gene of the fit,
    as the training data were (not over the kept genes only)."""
    pre = Preprocessor(n_top_genes=10)
    fitted = pre.fit_transform(counts_adata)
    np.testing.assert_allclose(pre.transform(counts_adata.copy()), fitted)
    x = counts_adata.X.toarray().astype(np.float64)
    totals = x.sum(1)
    log_x = np.log1p(x * (pre.target_sum_ / totals)[:, None])[:, counts_adata.var_names.get_indexer(pre.genes_)]
    expected = (log_x - pre.min_) / np.where(pre.max_ > pre.min_, pre.max_ - pre.min_, 1)
    np.testing.assert_allclose(fitted, np.clip(expected, 0, 1), rtol=1e-4, atol=1e-6)
