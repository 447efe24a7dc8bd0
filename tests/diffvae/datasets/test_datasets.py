"""The dataset registry, downloads and local copies, the loaders and the SYNTHETIC simulator."""
import dataclasses
import functools
import http.server
import os
import re
import threading

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from diffvae import InputError, datasets
from diffvae.preprocessing import looks_like_counts

PAUL15_FILES = ("countMatrix.rda", "celltype.rda", "crv.rda")


@pytest.fixture
def mirror_server(data_dir):
    """The mirror served over HTTP on localhost (a thread, shut down after the test), so that
    downloads go through pooch's real HTTP path without the internet."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(data_dir))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _mirror_urls(monkeypatch, name, base_url, sha_override=None):
    """Point a dataset's public addresses at ``base_url``/<name>/, as if online."""
    info = datasets.REGISTRY[name]
    files = tuple(
        dataclasses.replace(f, url=f"{base_url}/{name}/{f.name}",
                            sha256=sha_override if sha_override else f.sha256)
        for f in info.files)
    monkeypatch.setitem(datasets.REGISTRY, name, dataclasses.replace(info, files=files))


def test_paul15_from_h5ad(paul15):
    assert paul15.shape == (2660, 240)
    counts = paul15.obs["celltype"].value_counts()
    assert counts["Erythrocyte"] == 1095 and counts["Megakaryocytes"] == 68 and len(counts) == 7
    assert looks_like_counts(paul15.X)
    assert datasets.label_key(paul15) == "celltype"


def test_paul15_rda_conversion_equals_mirrored_h5ad(paul15, data_dir):
    converted = datasets.paul15_from_rda(
        {f: data_dir / "paul15_tradeseq" / f for f in PAUL15_FILES})
    assert (converted.X != paul15.X).nnz == 0
    assert list(converted.var_names) == list(paul15.var_names)
    assert list(converted.obs_names) == list(paul15.obs_names)
    for column in paul15.obs:
        left, right = paul15.obs[column], converted.obs[column]
        if pd.api.types.is_float_dtype(left):
            np.testing.assert_allclose(right, left, rtol=1e-12, atol=1e-12)
        else:
            assert (left.astype(str) == right.astype(str)).all(), column


def test_download_into_cache_with_checksums(monkeypatch, tmp_path, mirror_server, paul15):
    _mirror_urls(monkeypatch, "paul15_tradeseq", mirror_server)
    monkeypatch.setenv(datasets.CACHE_DIR_ENV, str(tmp_path / "cache"))
    adata = datasets.paul15_tradeseq(data_dir=tmp_path / "empty")
    assert sorted(p.name for p in (tmp_path / "cache" / "paul15_tradeseq").iterdir()) == sorted(PAUL15_FILES)
    assert (adata.X != paul15.X).nnz == 0
    # a second call uses the cache even with downloading off
    assert datasets.paul15_tradeseq(data_dir=tmp_path / "empty", download=False).shape == (2660, 240)


def test_checksum_mismatch_keeps_nothing(monkeypatch, tmp_path, mirror_server):
    _mirror_urls(monkeypatch, "paul15_tradeseq", mirror_server, sha_override="0" * 64)
    monkeypatch.setenv(datasets.CACHE_DIR_ENV, str(tmp_path / "cache"))
    with pytest.raises(InputError, match="checksum mismatch"):
        datasets.fetch("paul15_tradeseq", data_dir=tmp_path)
    assert not list((tmp_path / "cache" / "paul15_tradeseq").glob("*.rda"))


def test_missing_files_error_names_files_source_and_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.CACHE_DIR_ENV, str(tmp_path / "cache"))
    with pytest.raises(InputError) as info:
        datasets.zebrafish(data_dir=tmp_path, download=False)
    message = str(info.value)
    assert "GE_mvg.csv <- https://" in message and str(tmp_path / "zebrafish") in message
    # no server at that address: the download fails after its retries
    _mirror_urls(monkeypatch, "zebrafish", "http://127.0.0.1:9")
    with pytest.raises(InputError, match="download failed"):
        datasets.zebrafish(data_dir=tmp_path)


def _zebrafish_dir(tmp_path, data_dir, shape=(1422, 1845)):
    """Real mirrored metadata next to a STAND-IN GE_mvg.csv of the true shape (the matrix is not
    available offline)."""
    folder = tmp_path / "zebrafish"
    folder.mkdir()
    for name in ("Annotation_File.csv", "CV_genes.csv"):
        os.symlink(data_dir / "zebrafish" / name, folder / name)
    values = np.round(np.random.default_rng(0).gamma(0.5, 2.0, shape), 4)
    np.savetxt(folder / "GE_mvg.csv", values, delimiter=",", fmt="%.4f")
    return values


def test_zebrafish_loader_on_stand_in_matrix(tmp_path, data_dir):
    values = _zebrafish_dir(tmp_path, data_dir)
    adata = datasets.zebrafish(data_dir=tmp_path, download=False)
    assert adata.shape == (1422, 1845)
    np.testing.assert_allclose(adata.X, values, rtol=1e-6)
    assert adata.obs_names[0] == "CD41_A1" and adata.var_names[:2].tolist() == ["stat1b", "slc40a1"]
    assert adata.var["ensembl_id"].iloc[0] == "ENSDARG00000076182"
    assert adata.var_names.is_unique
    types = adata.obs["Type"].value_counts()
    assert types["Thrombocytes"] == 425 and types["Erythrocytes"] == 152
    assert datasets.label_key(adata) == "Type"


def test_zebrafish_wrong_shape_is_refused(tmp_path, data_dir):
    _zebrafish_dir(tmp_path, data_dir, shape=(1422, 100))
    with pytest.raises(InputError, match=r"shape \(1422, 100\) does not match"):
        datasets.zebrafish(data_dir=tmp_path, download=False)


def test_pbmc68k_reduced_offline():
    adata = datasets.load_dataset("pbmc68k_reduced")
    assert adata.shape == (700, 765)
    assert adata.obs["bulk_labels"].nunique() == 10
    assert not looks_like_counts(adata.X)  # log-normalised .raw values


def test_synthetic_is_seeded_and_labelled():
    a = datasets.synthetic(300, 60, 3, seed=1)
    b = datasets.synthetic(300, 60, 3, seed=1)
    c = datasets.synthetic(300, 60, 3, seed=2)
    assert (a.X != b.X).nnz == 0 and (a.X != c.X).nnz > 0
    assert set(a.obs["celltype"]) == {"Progenitor", "Type A", "Type B", "Type C"}
    assert (a.obs.loc[a.obs.celltype == "Progenitor", "pseudotime"] < 0.2).all()
    assert looks_like_counts(a.X)


def test_unknown_dataset():
    with pytest.raises(InputError, match="unknown dataset 'mouse_brain'"):
        datasets.load_dataset("mouse_brain")


def _pancreas_dir(tmp_path, rng, implicit_index=True):
    """A STAND-IN of the two pancreas files in their published layout: the GEO matrix (genes x
    cells, tab-separated, gzipped, header one field shorter, genes named SYMBOL__chrN) and the
    annotation (a one-field header line, then "cell type" lines, whitespace-separated)."""
    import gzip

    folder = tmp_path / "pancreas"
    folder.mkdir()
    cells = [f"D{d}-{p}_{i}" for d in (28, 29) for p in (1, 2) for i in range(1, 4)]
    genes = [f"G{g}__chr{g % 22 + 1}" for g in range(30)] + ["G0__chr7"]  # a repeated symbol
    values = np.round(rng.gamma(0.5, 3.0, (len(genes), len(cells))), 3)
    header = "\t".join(cells) if implicit_index else "\t".join(["gene", *cells])
    lines = [header] + ["\t".join([g, *map(str, row)]) for g, row in zip(genes, values)]
    with gzip.open(folder / "GSE85241_cellsystems_dataset_4donors_updated.csv.gz", "wt") as out:
        out.write("\n".join(lines) + "\n")
    types = ["alpha", "beta", "duct", "pp", "acinar", "delta"] * 2
    annotated = [(c.replace("-", "."), t) for c, t in zip(cells, types)][:-2]  # 2 unannotated
    (folder / "cell_type_annotation_Cels2016.csv").write_text(
        "x\n" + "".join(f"{c}\t{t}\n" for c, t in annotated))
    return cells, genes, values


@pytest.mark.parametrize("implicit_index", [True, False])
def test_pancreas_loader_on_stand_in_files(tmp_path, rng, implicit_index):
    cells, genes, values = _pancreas_dir(tmp_path, rng, implicit_index)
    adata = datasets.pancreas(data_dir=tmp_path, download=False, n_top_genes=None)
    assert adata.shape == (10, 31) and datasets.label_key(adata) == "cell_type"
    assert list(adata.obs_names) == [c.replace("-", ".") for c in cells[:10]]
    np.testing.assert_allclose(adata.X, np.log1p(values.T[:10]), rtol=1e-5)
    assert adata.var_names[0] == "G0" and adata.var_names.is_unique
    assert set(adata.obs["cell_type"]) == {"alpha", "beta", "ductal", "gamma", "acinar", "delta"}
    assert set(adata.obs["donor"]) == {"D28", "D29"}
    top = datasets.pancreas(data_dir=tmp_path, download=False, n_top_genes=8)
    assert top.n_vars == 8 and set(top.var_names) <= set(adata.var_names)


def _human_blood_dir(tmp_path, rng, individual="I1"):
    """A STAND-IN of the two Velten et al. files of one individual in their published layout:
    counts (genes x cells, comma-separated, gzipped, genes named "SYMBOL (ENSG...)", quoted cell
    ids in the header) and FACS index values (channels x cells; one cell has no index data)."""
    import gzip

    folder = tmp_path / "human_blood"
    folder.mkdir(exist_ok=True)
    cells = [f"{individual}_plate{p}_{w}" for p in (1, 2) for w in ("A1", "B7", "C12")]
    genes = [f"G{g} (ENSG{g:011d})" for g in range(24)] + ["G3 (ENSG99999999999)"]
    counts = rng.poisson(rng.gamma(0.6, 8.0, (len(genes), len(cells))))
    counts[:, 0] += 5  # no empty cell
    with gzip.open(folder / f"GSE75478_transcriptomics_raw_filtered_{individual}.csv.gz", "wt") as out:
        out.write(",".join(['""', *(f'"{c}"' for c in cells)]) + "\n")
        out.writelines(",".join([f'"{g}"', *map(str, row)]) + "\n" for g, row in zip(genes, counts))
    channels = ["FACS_Lin", "FACS_cd34", "FACS_cd38", "FACS_cd45RA"]
    facs = np.round(rng.normal(500.0, 800.0, (len(channels), len(cells) - 1)), 2)
    with gzip.open(folder / f"GSE75478_transcriptomics_facs_indeces_filtered_{individual}.csv.gz",
                   "wt") as out:
        out.write(",".join(['""', *(f'"{c}"' for c in cells[1:])]) + "\n")
        out.writelines(",".join([f'"{c}"', *map(str, row)]) + "\n" for c, row in zip(channels, facs))
        out.write(",".join(['"sort"', *(f'"gate{i % 2}"' for i in range(len(cells) - 1))]) + "\n")
    return cells, genes, counts, channels, facs


def test_human_blood_loader_on_stand_in_files(tmp_path, rng):
    cells, genes, counts, channels, facs = _human_blood_dir(tmp_path, rng)
    adata = datasets.human_blood(data_dir=tmp_path, download=False, n_top_genes=None)
    assert adata.shape == (6, 25) and list(adata.obs_names) == cells
    assert datasets.label_key(adata) is None  # a continuum: no reference types
    assert adata.uns["diffvae_dataset"]["markers"] == "human_hspc"
    np.testing.assert_array_equal(adata.layers["counts"], counts.T)
    totals = counts.sum(axis=0)
    expected = np.log1p(counts.T / totals[:, None] * np.median(totals))
    np.testing.assert_allclose(adata.X, expected, rtol=1e-5)
    assert adata.var_names[0] == "G0" and adata.var_names.is_unique and "G3-1" in adata.var_names
    assert adata.var.loc["G5", "ensembl_id"] == "ENSG00000000005"
    assert list(adata.obs.columns) == ["individual", *channels, "sort"]
    assert adata.obs["sort"].tolist()[1:] == ["gate0", "gate1"] * 2 + ["gate0"]
    assert np.isnan(adata.obs.loc[cells[0], channels].to_numpy(dtype=float)).all()
    np.testing.assert_allclose(adata.obs.loc[cells[1:], channels].to_numpy(), facs.T)
    top = datasets.human_blood(data_dir=tmp_path, download=False, n_top_genes=10)
    assert top.n_vars == 10 and set(top.var_names) <= set(adata.var_names)
    np.testing.assert_array_equal(top.layers["counts"], adata[:, top.var_names].layers["counts"])


def test_human_blood_loader_errors(tmp_path, rng):
    import gzip

    with pytest.raises(InputError, match="individual must be 'I1' or 'I2'"):
        datasets.human_blood(data_dir=tmp_path, download=False, individual="I3")
    with pytest.raises(InputError, match="GSE75478_transcriptomics_raw_filtered_I2.csv.gz"):
        datasets.human_blood(data_dir=tmp_path, download=False, individual="I2")
    cells, genes, *_ = _human_blood_dir(tmp_path, rng, "I2")
    path = tmp_path / "human_blood" / "GSE75478_transcriptomics_raw_filtered_I2.csv.gz"
    table = pd.read_csv(path, index_col=0)
    table.iloc[2, 4] = -1
    table.to_csv(path)
    with pytest.raises(InputError, match=re.escape(f"value -1 at cell '{cells[4]}', gene '{genes[2]}'")):
        datasets.human_blood(data_dir=tmp_path, download=False, individual="I2")
    # a partial download: the gzip stream ends early
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match="raw_filtered_I2.csv.gz: not a readable table"):
        datasets.human_blood(data_dir=tmp_path, download=False, individual="I2")
    _human_blood_dir(tmp_path, rng, "I2")
    facs = tmp_path / "human_blood" / "GSE75478_transcriptomics_facs_indeces_filtered_I2.csv.gz"
    facs.write_bytes(b"")
    with pytest.raises(InputError, match="facs_indeces_filtered_I2.csv.gz: not a readable table"):
        datasets.human_blood(data_dir=tmp_path, download=False, individual="I2")
    facs.write_bytes(gzip.compress(b'"","other_1","other_2"\n"FACS_cd34",1.5,2.5\n'))
    with pytest.raises(InputError, match="none of its cells is in GSE75478_transcriptomics_raw"):
        datasets.human_blood(data_dir=tmp_path, download=False, individual="I2")


def test_load_offline_loads_what_needs_no_network_and_says_why_not_the_rest(tmp_path):
    loaded, skipped = datasets.load_offline(["pbmc68k_reduced", "zebrafish"], data_dir=tmp_path)
    assert list(loaded) == ["pbmc68k_reduced"] and loaded["pbmc68k_reduced"].n_obs == 700
    assert list(skipped) == ["zebrafish"] and "zebrafish" in skipped["zebrafish"]


def test_synthetic_files_are_written_in_chunks_of_distinct_cells(tmp_path):
    from diffvae import datasets

    path = datasets.write_synthetic(tmp_path / "s.h5ad", 2500, 60, chunk_size=1000, seed=3)
    adata = ad.read_h5ad(path)
    assert adata.shape == (2500, 60) and sp.issparse(adata.X)
    assert set(adata.obs["celltype"]) == {"Progenitor", "Type A", "Type B", "Type C"}
    zeros = 1 - adata.X.nnz / np.prod(adata.shape)
    assert 0.7 < zeros < 0.99  # droplet-like sparsity
    x = adata.X.toarray()
    assert not np.array_equal(x[:1000], x[1000:2000])  # each chunk draws its own cells
    # ... from the same genes: per-gene means of two chunks agree
    assert np.corrcoef(x[:1000].mean(0), x[1000:2000].mean(0))[0, 1] > 0.9
