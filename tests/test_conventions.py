"""What users of scanpy, scvi-tools and Keras expect: quiet start, progress, AnnData records."""
import logging
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from diffvae import AE, InputError, progress
from diffvae.quiet import filtered_stderr
from graph_diffvae import GraphDiffVAE, graphs

SMALL = {"latent_dim": 3, "hidden_dims": (8, 4)}
FAST = {"epochs": 2, "batch_size": 32, "verbose": 0}

NOISY = ("absl::InitializeLog", "oneDNN", "cudart_stub", "cuInit", "cpu_feature_guard")


def test_the_command_line_and_the_documented_filter_print_no_tensorflow_lines(tmp_path, counts_csv):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    script = ("import diffvae.quiet\ndiffvae.quiet.install()\n"
              "import numpy as np, diffvae, graph_diffvae.model\n"
              "diffvae.AE(2, (4, 2)).fit(np.random.default_rng(0).poisson(1, (30, 5)), epochs=1, verbose=0)\n")
    command = ["-m", "diffvae", "train", "--data", str(counts_csv), "--model", "ae", "--epochs", "1",
               "--latent-dim", "2", "--hidden-dims", "4", "2", "--quiet", "--out", str(tmp_path)]
    for args in (["-c", script], command):
        result = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert not [word for word in NOISY if word in result.stderr], result.stderr


def test_the_filter_keeps_what_is_not_tensorflow_start_up_noise(capfd):
    with filtered_stderr():
        os.write(2, b"I0000 00:00:1795639563.396815   15431 port.cc:153] oneDNN custom operations\n")
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"a real problem\n")
    assert capfd.readouterr().err == "a real problem\n"


def test_keras_verbosity_follows_the_terminal(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert progress.keras_verbose("auto") == 2  # a log file: one plain line per epoch
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert progress.keras_verbose("auto") == 1 and progress.keras_verbose(0) == 0


def test_each_analysis_step_is_logged_with_its_time(counts_adata, caplog):
    from diffvae.analysis.pipeline import identify_cell_types

    model = AE(**SMALL).fit(counts_adata, **FAST)
    with caplog.at_level(logging.INFO, logger="diffvae"):
        identify_cell_types(counts_adata, model, labels=counts_adata.obs["celltype"],
                            perplexity=10, markers={"A": ["gene_1"], "B": ["gene_2"]})
    steps = [r.getMessage() for r in caplog.records if r.name == "diffvae"]
    assert [s.split(":")[0] for s in steps] == [
        "representation (mu)", "t-SNE of 120 cells", "kmeans on the t-SNE",
        "latent dimensions and high-weight genes of each cluster", "naming clusters by marker genes"]
    assert all(s.endswith(" s") for s in steps)


def test_key_added_records_parameters_and_refuses_views(counts_adata):
    model = AE(**SMALL).fit(counts_adata, **FAST)
    latent = model.get_latent_representation(counts_adata, key_added=True)
    np.testing.assert_array_equal(counts_adata.obsm["X_ae"], latent)
    record = counts_adata.uns["ae"]
    assert record["obsm_key"] == "X_ae" and record["params"]["latent_dim"] == 3
    assert "normalize" not in record["params"]  # None is left out: .h5ad cannot store it
    view = counts_adata[:10]
    with pytest.raises(InputError, match=r"view of an AnnData.*adata\[mask\]\.copy\(\)"):
        model.transform(view, key_added=True)
    assert view.is_view  # left as it was
    np.testing.assert_array_equal(model.transform(view), latent[:10])


def test_scanpy_leiden_on_the_stored_representation(counts_adata):
    import scanpy as sc

    from diffvae.analysis import ari

    AE(**SMALL).fit_transform(counts_adata, key_added=True, **FAST)
    sc.pp.neighbors(counts_adata, use_rep="X_ae", n_neighbors=10, random_state=0)
    sc.tl.leiden(counts_adata, flavor="igraph", n_iterations=2, directed=False, random_state=0)
    found = counts_adata.obs["leiden"]
    assert found.nunique() >= 2 and -1 <= ari(counts_adata.obs["celltype"], found) <= 1
    with warnings.catch_warnings():  # scanpy announces that its default flavour will change
        warnings.simplefilter("ignore", FutureWarning)
        sc.tl.leiden(counts_adata, key_added="leiden_default")  # leidenalg, scanpy's default
    assert counts_adata.obs["leiden_default"].nunique() >= 2


def test_scaled_input_is_refused_with_the_raw_hint(counts_adata):
    import scanpy as sc

    adata = counts_adata.copy()
    adata.X = adata.X.toarray()
    sc.pp.log1p(adata)
    adata.raw = adata.copy()
    sc.pp.scale(adata)
    with pytest.raises(InputError, match=r"not z-scores.*pass adata\.raw\.to_adata\(\)"):
        AE(**SMALL).fit(adata, **FAST)
    AE(**SMALL).fit(adata.raw.to_adata(), **FAST)


def test_graph_transform_and_weighted_graphs(counts_adata, rng):
    data = counts_adata[:50].copy()
    weighted = graphs.symmetric_binary(*rng.integers(0, 50, (2, 150)), 50).astype(float)
    weighted.data[:] = rng.uniform(0.1, 1.0, weighted.nnz)
    with pytest.warns(UserWarning, match=r"weights from 0\.1.* unweighted edges"):
        model = GraphDiffVAE(8, 3).fit(data, adjacency=weighted, epochs=2, verbose=0)
    assert set(model.adjacency_.data) == {1.0}
    assert np.array_equal(model.adjacency_.toarray() > 0, weighted.toarray() > 0)
    features = model.transform(data, key_added=True)
    np.testing.assert_array_equal(data.obsm["X_graph_diffvae"], model.node_features_)
    assert features.shape == (50, 3) and data.uns["graph_diffvae"]["params"]["latent_dim"] == 3
    with pytest.raises(InputError, match="fitted on a graph of 50 cells; the data have 60"):
        model.transform(counts_adata[:60].copy())
    assert sp.issparse(weighted) and weighted.data.min() >= 0.1  # the caller's matrix is untouched
