"""Training and preprocessing from an .h5ad on disk (diffvae.streaming)."""
import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp

from diffvae import PCA, DiffVAE, InputError
from diffvae.preprocessing import Preprocessor
from diffvae.streaming import MinibatchSequence


@pytest.mark.parametrize("n_top_genes", [None, 25])
def test_preprocessing_from_disk_equals_in_memory(counts_file, counts_adata, n_top_genes):
    memory = Preprocessor(n_top_genes=n_top_genes).fit(counts_adata)
    backed = ad.read_h5ad(counts_file, backed="r")
    disk = Preprocessor(n_top_genes=n_top_genes).fit(backed, chunk_size=17)  # 8 uneven blocks
    assert disk.genes_ == memory.genes_ and disk.input_genes_ == memory.input_genes_
    assert disk.normalize_ and disk.target_sum_ == pytest.approx(memory.target_sum_)
    np.testing.assert_allclose(disk.min_, memory.min_, rtol=1e-6)
    np.testing.assert_allclose(disk.max_, memory.max_, rtol=1e-6)
    # an independent computation of the range: scanpy-style normalisation in numpy
    x = counts_adata.X.toarray().astype(np.float64)
    totals = x.sum(1)
    log_x = np.log1p(x * (np.median(totals[totals > 0]) / np.where(totals > 0, totals, 1))[:, None])
    columns = counts_adata.var_names.get_indexer(disk.genes_)
    np.testing.assert_allclose(disk.max_, log_x[:, columns].max(0), rtol=1e-5)
    # a minibatch read from disk equals the same rows of the in-memory transform
    rows = np.array([3, 50, 7, 119])
    batch = MinibatchSequence(backed, disk, rows, batch_size=4)[0]
    np.testing.assert_allclose(batch, memory.transform(counts_adata)[np.sort(rows)], rtol=1e-5, atol=1e-7)


def test_minibatches_cover_every_row_once_per_epoch_and_reshuffle(counts_file):
    backed = ad.read_h5ad(counts_file, backed="r")
    pre = Preprocessor().fit(backed)
    rows = np.arange(0, 120, 2)
    batches = MinibatchSequence(backed, pre, rows, batch_size=16, shuffle=True, seed=0)
    assert len(batches) == 4
    first = np.concatenate([batches.order[i * 16:(i + 1) * 16] for i in range(len(batches))])
    assert sorted(first) == list(rows)
    batches.on_epoch_end()
    assert sorted(batches.order) == list(rows) and not np.array_equal(batches.order, first)
    assert sum(len(batches[i]) for i in range(len(batches))) == 60


def test_training_from_disk_agrees_with_in_memory(counts_file, counts_adata):
    fit = {"epochs": 30, "batch_size": 16, "seed": 0, "verbose": 0}
    memory = DiffVAE(8, (32, 16)).fit(counts_adata, **fit)
    disk = DiffVAE(8, (32, 16)).fit(str(counts_file), **fit)
    assert disk.preprocessor_.genes_ == memory.preprocessor_.genes_
    # the same cells, split the same way; only the batch order differs
    for column in ("loss", "val_loss"):
        a, b = memory.history_[column].iloc[-5:].mean(), disk.history_[column].iloc[-5:].mean()
        print(f"{column}: in memory {a:.2f}, from disk {b:.2f}")
        assert b == pytest.approx(a, rel=0.05)
    latent = disk.transform(ad.read_h5ad(counts_file, backed="r"))
    np.testing.assert_allclose(latent, disk.transform(counts_adata), rtol=1e-5, atol=1e-6)
    assert latent.shape == (120, 8)


def test_bad_files_and_options_are_refused(tmp_path, counts_file):
    with pytest.raises(InputError, match="no such file"):
        DiffVAE(4).fit(str(tmp_path / "missing.h5ad"), epochs=1, verbose=0)
    (tmp_path / "broken.h5ad").write_text("not hdf5")
    with pytest.raises(InputError, match="not a readable .h5ad"):
        DiffVAE(4).fit(str(tmp_path / "broken.h5ad"), epochs=1, verbose=0)
    with pytest.raises(InputError, match="only .h5ad files"):
        DiffVAE(4).fit(str(tmp_path / "counts.csv"), epochs=1, verbose=0)
    with pytest.raises(InputError, match="layer= is not read"):
        DiffVAE(4).fit(str(counts_file), layer="counts", epochs=1, verbose=0)
    with pytest.raises(InputError, match="PCA reads the data into memory"):
        PCA(4).fit(str(counts_file))


def test_row_reader_reads_csr_and_dense_files_and_refuses_csc(tmp_path, counts_adata):
    from diffvae.streaming import RowReader

    dense = counts_adata.copy()
    dense.X = dense.X.toarray()
    for name, adata in (("csr", counts_adata), ("dense", dense)):
        adata.write_h5ad(tmp_path / f"{name}.h5ad")
        reader = RowReader(ad.read_h5ad(tmp_path / f"{name}.h5ad", backed="r"))
        runs = [np.arange(17, 45), np.array([3, 5, 6]), np.array([50])]  # any order of runs
        got = reader.take(runs)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, counts_adata.X[np.concatenate(runs)].toarray())
    csc = counts_adata.copy()
    csc.X = sp.csc_matrix(csc.X)
    csc.write_h5ad(tmp_path / "csc.h5ad")
    with pytest.raises(InputError, match="stored by columns"):
        DiffVAE(4).fit(str(tmp_path / "csc.h5ad"), epochs=1, verbose=0)


def test_scattered_rows_read_from_disk_equal_the_in_memory_rows(counts_file, counts_adata):
    from diffvae.streaming import ScaledRows

    memory = Preprocessor().fit(counts_adata)
    scaled = ScaledRows(ad.read_h5ad(counts_file, backed="r"), memory, max_gap=4)
    rows = np.array([0, 1, 2, 9, 11, 40, 41, 118, 119])  # runs, short gaps and long ones
    np.testing.assert_allclose(scaled(rows), memory.transform(counts_adata)[rows], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.concatenate(list(scaled.blocks(50))),
                               memory.transform(counts_adata), rtol=1e-5, atol=1e-7)


def test_streamed_pca_spans_the_principal_subspace_of_scikit_learn(rng):
    from sklearn.decomposition import PCA as SklearnPCA

    from diffvae.streaming import streamed_pca

    # SYNTHETIC: a decaying spectrum with an offset, read in uneven blocks
    x = (rng.normal(size=(1500, 80)) * np.geomspace(5, 0.1, 80)) @ np.linalg.qr(
        rng.normal(size=(80, 80)))[0] + 3.0
    scores = streamed_pca(lambda: (x[s:s + 400] for s in range(0, 1500, 400)), 10, seed=0)
    reference = SklearnPCA(10).fit(x)
    # the same variance captured, component by component, and the same subspace
    np.testing.assert_allclose(scores.var(axis=0, ddof=1), reference.explained_variance_, rtol=1e-3)
    _, singular, _ = np.linalg.svd(np.linalg.lstsq(reference.transform(x), scores, rcond=None)[0])
    assert singular.min() > 0.999
