"""Reading matrices from files and memory (diffvae.io), and what is wrong with a file named in one
line."""
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from diffvae import InputError, read
from diffvae.io import as_anndata


@pytest.fixture
def matrix(rng):
    return np.round(rng.uniform(0, 5, size=(6, 4)), 3).astype(np.float32)


def test_headerless_csv_with_gene_list_like_ge_mvg(tmp_path, matrix):
    np.savetxt(tmp_path / "GE_mvg.csv", matrix, delimiter=",")
    (tmp_path / "genes.txt").write_text("a\nb\nc\nd\n")
    adata = read(tmp_path / "GE_mvg.csv", genes=tmp_path / "genes.txt")
    np.testing.assert_allclose(adata.X, matrix, rtol=1e-6)
    assert list(adata.var_names) == ["a", "b", "c", "d"]
    assert list(read(tmp_path / "GE_mvg.csv").var_names) == ["gene_0", "gene_1", "gene_2", "gene_3"]


def test_csv_with_header_and_cell_ids(tmp_path, matrix):
    frame = pd.DataFrame(matrix, index=[f"c{i}" for i in range(6)], columns=list("wxyz"))
    frame.to_csv(tmp_path / "m.csv")
    frame.to_csv(tmp_path / "m.tsv.gz", sep="\t")
    for name in ("m.csv", "m.tsv.gz"):
        adata = read(tmp_path / name)
        assert list(adata.var_names) == list("wxyz") and adata.obs_names[0] == "c0"
        np.testing.assert_allclose(adata.X, matrix, rtol=1e-6)


def test_csv_with_header_only(tmp_path, matrix):
    pd.DataFrame(matrix, columns=list("wxyz")).to_csv(tmp_path / "m.csv", index=False)
    adata = read(tmp_path / "m.csv")
    assert list(adata.var_names) == list("wxyz") and adata.shape == (6, 4)


def test_non_numeric_cell_is_named(tmp_path, matrix):
    lines = [",".join(map(str, row)) for row in matrix]
    lines[2] = lines[2].replace(lines[2].split(",")[1], "abc", 1)
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"non-numeric value 'abc' at row 3, column 2"):
        read(tmp_path / "bad.csv")


def test_npz_npy_and_h5ad(tmp_path, matrix):
    sp.save_npz(tmp_path / "m.npz", sp.csr_matrix(matrix))
    np.savez(tmp_path / "dense.npz", X=matrix)
    np.save(tmp_path / "m.npy", matrix)
    ad.AnnData(matrix).write_h5ad(tmp_path / "m.h5ad")
    for name in ("m.npz", "dense.npz", "m.npy", "m.h5ad"):
        x = read(tmp_path / name).X
        np.testing.assert_allclose(x.toarray() if sp.issparse(x) else x, matrix)


def test_read_errors(tmp_path, matrix):
    with pytest.raises(InputError, match="no such file"):
        read(tmp_path / "absent.csv")
    (tmp_path / "m.xlsx").write_text("x")
    with pytest.raises(InputError, match="unknown file type .xlsx"):
        read(tmp_path / "m.xlsx")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        read(tmp_path / "empty.csv")
    np.save(tmp_path / "m.npy", matrix)
    with pytest.raises(InputError, match="4 genes .* 3 names"):
        read(tmp_path / "m.npy", genes=["a", "b", "c"])


def test_in_memory_inputs(matrix):
    frame = pd.DataFrame(matrix, columns=list("wxyz"))
    assert list(as_anndata(frame).var_names) == list("wxyz")
    assert as_anndata(sp.csr_matrix(matrix)).shape == (6, 4)
    assert as_anndata(matrix).var_names[0] == "gene_0"
    with pytest.raises(InputError, match="not numeric"):
        as_anndata(frame.assign(w="x"))
    with pytest.raises(InputError, match="type str"):
        as_anndata("matrix.csv")
    adata = ad.AnnData(matrix, layers={"counts": matrix * 2})
    np.testing.assert_allclose(as_anndata(adata, layer="counts").X, matrix * 2)
    with pytest.raises(InputError, match="no layer 'raw'"):
        as_anndata(adata, layer="raw")


def test_a_genes_by_cells_table_is_announced(tmp_path, rng):
    from diffvae import read

    table = pd.DataFrame(rng.poisson(2, (30, 8)), index=[f"Gene{i}" for i in range(30)],
                         columns=[f"cell_{i}" for i in range(8)])
    table.to_csv(tmp_path / "genes_by_cells.csv")
    with pytest.warns(UserWarning, match=r"read as 30 cells x 8 genes, but the cell \(row\) names look"):
        read(tmp_path / "genes_by_cells.csv")
    table.T.to_csv(tmp_path / "cells_by_genes.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read(tmp_path / "cells_by_genes.csv").shape == (8, 30)


def test_unreadable_files_name_the_file(tmp_path, rng):
    from diffvae import read

    np.save(tmp_path / "objects.npy", np.array([[1, "a"], [2, None]], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match=r"objects\.npy: cannot be read as a \.npy matrix"):
        read(tmp_path / "objects.npy")
    pd.DataFrame(rng.poisson(2, (200, 10))).to_csv(tmp_path / "whole.csv.gz")
    data = (tmp_path / "whole.csv.gz").read_bytes()
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.csv\.gz: cannot be read .*EOFError"):
        read(tmp_path / "cut.csv.gz")


def test_an_h5ad_without_x_is_named_in_memory_and_on_disk(tmp_path, counts_adata):
    from diffvae import DiffVAE

    path = tmp_path / "layers_only.h5ad"
    ad.AnnData(obs=counts_adata.obs, var=counts_adata.var,
               layers={"counts": counts_adata.X}).write_h5ad(path)
    with pytest.raises(InputError, match=r"no X matrix; use one of its layers \(counts\)"):
        DiffVAE().fit(read(path), epochs=1)
    with pytest.raises(InputError, match=r"layers_only.h5ad: no X matrix; only X is read from disk"):
        DiffVAE().fit(str(path), epochs=1)
