"""Each step of the identification pipeline (diffvae.analysis): metrics, latent dimensions, high-
weight genes, clustering, t-SNE, markers, figures."""
import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score

from diffvae import AE, InputError, analysis, defaults
from diffvae.analysis import clustering
from diffvae.analysis import markers as marker_module

from tests.helpers import TINY, separated_blobs

ZEBRAFISH_CLUSTERS = {1: "HSPC", 2: "Neutrophils", 3: "Monocytes", 4: "Erythrocytes", 5: "Thrombocytes"}


def blobs(rng, n_per=40, centers=((0, 0), (10, 0), (0, 10))):
    """SYNTHETIC well-separated Gaussian blobs."""
    x = np.concatenate([rng.normal(c, 0.5, (n_per, 2)) for c in centers])
    return x, np.repeat(np.arange(len(centers)), n_per)


def test_original_zebrafish_clusters_give_the_papers_overlap_and_ari(data_dir):
    annotation = pd.read_csv(data_dir / "zebrafish" / "Annotation_File.csv", index_col=0)
    clusters = np.load(data_dir / "zebrafish" / "Annotation_File_Clusters.npy")
    labels = annotation["Type"].to_numpy()
    share = analysis.overlap(clusters, labels, ZEBRAFISH_CLUSTERS)
    assert round(share * len(labels)) == 1278 and share == pytest.approx(0.899, abs=5e-4)
    assert analysis.ari(labels, clusters) == pytest.approx(0.817, abs=5e-4)
    # naming each cluster by its majority label gives the same names here
    assert analysis.majority_mapping(clusters, labels) == ZEBRAFISH_CLUSTERS
    table = analysis.confusion_table(clusters, labels)
    assert table.to_numpy().sum() == 1422 and np.trace(table[list(ZEBRAFISH_CLUSTERS.values())].to_numpy()) == 1278


def test_ari_perfect_and_shuffled(rng):
    labels = np.repeat(["a", "b", "c", "d"], 250)
    assert analysis.ari(labels, labels) == 1.0 and analysis.nmi(labels, labels) == pytest.approx(1.0)
    assert abs(analysis.ari(labels, rng.permutation(labels))) < 0.02


def test_silhouette_matches_its_formula_and_ignores_noise(rng):
    x, groups = blobs(rng, n_per=15)
    clusters = groups.copy()
    clusters[:3] = analysis.NOISE  # noise cells do not count
    kept = clusters != analysis.NOISE
    distances = np.linalg.norm(x[kept, None] - x[None, kept], axis=-1)
    c = clusters[kept]
    widths = []
    for i in range(len(c)):
        same = (c == c[i]) & (np.arange(len(c)) != i)
        a = distances[i, same].mean()
        b = min(distances[i, c == other].mean() for other in set(c.tolist()) - {c[i]})
        widths.append((b - a) / max(a, b))
    assert analysis.silhouette(x, clusters) == pytest.approx(np.mean(widths))
    assert analysis.silhouette(x, clusters) > 0.8  # well-separated blobs
    assert abs(analysis.silhouette(x, rng.permutation(groups))) < 0.1  # clusters cut at random
    assert np.isnan(analysis.silhouette(x, np.where(groups == 0, 0, analysis.NOISE)))


def test_values_on_embedding_draws_one_panel_per_value(rng):
    from diffvae.analysis import plots

    embedding = rng.normal(size=(30, 2))
    facs = rng.normal(size=30)
    facs[:4] = np.nan
    fig = plots.values_on_embedding(embedding, {"CD34": facs, "CD38": facs * 2, "GATA1": facs},
                                    ncols=2)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == ["CD34", "CD38", "GATA1"]
    grey, coloured = titled[0].collections
    assert len(grey.get_offsets()) == 4 and len(coloured.get_offsets()) == 26
    np.testing.assert_allclose(coloured.get_array(), facs[4:])


def test_tsne_panels_give_every_cluster_its_colour_and_id_and_types_one_colour_each(rng):
    from diffvae.analysis import plots

    clusters = np.repeat([0, 1, 2, 3], 10)
    labels = np.repeat(["B cell", "T cell", "B cell", "NK"], 10)
    names = {0: "B cell", 1: "T cell", 2: "unassigned", 3: "B cell"}
    embedding = rng.normal(size=(40, 2)) + np.repeat(np.arange(4) * 10.0, 10)[:, None]
    fig = plots.tsne_panels(embedding, clusters, labels, names)
    by_cluster, by_type, by_label = fig.axes[:3]
    colour = lambda ax: {c.get_label(): tuple(c.get_facecolor()[0]) for c in ax.collections}
    cluster_colour, type_colour, label_colour = colour(by_cluster), colour(by_type), colour(by_label)
    # four clusters, four colours, ids written at each cluster's median
    assert sorted(cluster_colour) == ["0 (10)", "1 (10)", "2 (10)", "3 (10)"]
    assert len(set(cluster_colour.values())) == 4
    ids = {t.get_text(): t.get_position() for t in by_cluster.texts}
    assert sorted(ids) == ["0", "1", "2", "3"]
    np.testing.assert_allclose(ids["2"], np.median(embedding[20:30], axis=0))
    # a type is one colour in the assigned and the reference panels; "unassigned" none of the labels'
    assert type_colour["B cell (20)"] == label_colour["B cell (20)"]
    assert type_colour["T cell (10)"] == label_colour["T cell (10)"]
    assert type_colour["unassigned (10)"] not in label_colour.values()
    assert "assigned" in by_type.get_title() and by_label.get_title() == "reference labels"


def test_marker_dot_plot_has_its_legends_and_the_naming_quantity(rng):
    from diffvae.analysis import plots

    expression = rng.uniform(size=(30, 3))
    expression[:10, 0] += 1  # gene a peaks in cluster 0
    fig = plots.marker_dotplot(expression, ["a", "b", "c"], np.repeat([0, 1, 2], 10),
                               {"A": ["a"], "B": ["b", "c"], "absent": ["zzz"]})
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "fraction of cells" in titles and "mean scaled expression" in titles
    dots = [len(c.get_offsets()) for ax in fig.axes for c in ax.collections]
    assert 9 in dots  # 3 clusters x the 3 marker genes found; the absent one left out
    ticks = [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
    assert {"a", "b", "c"} <= set(ticks) and "zzz" not in ticks


def test_dimension_scores_on_a_hand_made_latent():
    # dim 0: mean 2, sd 2 over [0, 0, 0, 4, 4, 4] -> every cell is extreme (|z - 2| = 2 >= sd)
    # dim 1: [0, 0, 0, 0, 0, 6] -> mean 1, sd ~2.236: only the last cell is extreme
    # dim 2: constant -> no extreme cells
    latent = np.array([[0, 0, 1], [0, 0, 1], [0, 0, 1], [4, 0, 1], [4, 0, 1], [4, 6, 1]], float)
    clusters = np.array([0, 0, 1, 1, 1, 1])
    extreme = analysis.extreme_cells(latent)
    np.testing.assert_array_equal(extreme[:, 0], True)
    np.testing.assert_array_equal(extreme[:, 1], [False] * 5 + [True])
    assert not extreme[:, 2].any()
    scores = analysis.dimension_scores(latent, clusters)
    np.testing.assert_allclose(scores.to_numpy(), [[100 * 2 / 6, 0, 0], [100 * 4 / 6, 100, 0]])
    relative = analysis.dimension_scores(latent, clusters, relative=True)
    np.testing.assert_allclose(relative.to_numpy(), [[1.0, 0, 0], [1.0, 1.5, 0]])
    assert analysis.top_dimensions(scores, 2) == {0: [0, 1], 1: [1, 0]}


def test_dimension_scores_match_a_loop_over_cells(rng):
    latent = rng.gamma(1.0, 1.0, (300, 8))
    clusters = rng.integers(0, 4, 300)
    scores = analysis.dimension_scores(latent, clusters)
    for k in range(8):
        z = latent[:, k]
        in_dk = [i for i in range(300) if abs(z[i] - z.mean()) >= z.std()]
        for c in range(4):
            expected = 100 * sum(clusters[i] == c for i in in_dk) / len(in_dk)
            assert scores.loc[c, k] == pytest.approx(expected)


def test_high_weight_genes_from_a_hand_made_decoder(rng):
    w0, w1, w2 = rng.normal(size=(3, 5)), rng.normal(size=(5, 4)), rng.normal(size=(4, 6))
    omega = w0 @ w1 @ w2
    genes = list("abcdef")
    table = analysis.high_weight_genes(omega, genes, n_genes=3)
    for dim in range(3):
        expected = [genes[g] for g in np.argsort(-np.abs(omega[dim]))[:3]]
        assert table.loc[table.dimension == dim, "gene"].tolist() == expected
        np.testing.assert_allclose(table.loc[table.dimension == dim, "weight"],
                                   omega[dim, np.argsort(-np.abs(omega[dim]))[:3]])
    # absolute, not signed, weight decides (the original code's bug)
    signed = np.array([[5.0, -9.0, 1.0]])
    assert analysis.high_weight_genes(signed, ["x", "y", "z"], n_genes=1)["gene"].tolist() == ["y"]


def test_cluster_genes_counts_genes_shared_by_top_dimensions():
    omega = np.array([[9, 8, 0, 0], [9, 0, 7, 0], [0, 0, 1, 9.0]])
    table = analysis.cluster_genes({"A": [0, 1], "B": [2]}, omega, ["g0", "g1", "g2", "g3"], n_genes=2)
    a = table[table.cluster == "A"].set_index("gene")
    assert a.loc["g0", "n_dimensions"] == 2 and a.loc["g0", "common"] and a.loc["g0", "dimensions"] == "0 1"
    assert not a.loc["g1", "common"] and set(a.index) == {"g0", "g1", "g2"}
    assert table[table.cluster == "B"]["gene"].tolist() == ["g3", "g2"]
    with pytest.raises(InputError, match="omega has shape"):
        analysis.high_weight_genes(omega, ["g0"])


def test_kmeans_and_dbscan_with_automatic_eps(rng):
    x, truth = blobs(rng)
    assert analysis.ari(truth, analysis.kmeans(x, 3, seed=0)) == 1.0
    outlier = np.vstack([x, [[50.0, 50.0]]])
    labels = analysis.dbscan(outlier)
    assert labels[-1] == analysis.NOISE
    assert analysis.ari(truth, labels[:-1]) == 1.0
    eps = analysis.auto_eps(x)
    assert 0.1 < eps < 5  # between within-blob and between-blob distances
    with pytest.raises(InputError, match="n_clusters"):
        analysis.kmeans(x, 0)


@pytest.mark.parametrize("method", ["opentsne", "sklearn"])
def test_tsne_is_seeded_and_keeps_separated_groups(method, rng):
    x = np.concatenate([rng.normal(c, 1.0, (60, 10)) for c in (0, 8, 16)])
    truth = np.repeat([0, 1, 2], 60)
    a = analysis.tsne(x, seed=1, method=method, perplexity=20)
    np.testing.assert_array_equal(a, analysis.tsne(x, seed=1, method=method, perplexity=20))
    assert a.shape == (180, 2)
    assert analysis.ari(truth, analysis.kmeans(a, 3)) == 1.0
    with pytest.warns(UserWarning, match="perplexity"):
        analysis.tsne(x[:30], perplexity=30, method=method)
    for bad in (-5, 0, float("nan")):
        with pytest.raises(InputError, match="perplexity must be positive"):
            analysis.tsne(x, perplexity=bad, method=method)


def test_shipped_marker_sets_fit_their_datasets(data_dir, paul15):
    zebrafish = pd.read_csv(data_dir / "zebrafish" / "CV_genes.csv")["gene"].str.split(",").str[1]
    for name, genes in [("zebrafish_blood", set(zebrafish)), ("mouse_myeloid", set(paul15.var_names))]:
        markers = analysis.load_markers(name)
        missing = [g for gs in markers.values() for g in gs if g not in genes]
        assert not missing, (name, missing)
    assert set(analysis.load_markers("zebrafish_blood")) == set(ZEBRAFISH_CLUSTERS.values())
    from diffvae import datasets

    pbmc = datasets.pbmc68k_reduced()
    human = analysis.load_markers("human_blood")
    assert set(human) <= set(pbmc.obs["bulk_labels"])
    assert all(g in pbmc.var_names for gs in human.values() for g in gs)


def test_a_cluster_is_unassigned_when_its_best_type_is_not_clearly_ahead():
    scores = pd.DataFrame({"cluster": [0, 0, 1, 1, 2], "cell_type": ["A", "B", "A", "B", "A"],
                           "markers_found": 1, "mean_expression": 0.5,
                           "score": [0.9, 0.85, 0.9, 0.7, 0.6], "weight_overlap": np.nan})
    mapping = analysis.map_clusters(scores, min_score=0.5, min_margin=0.1).set_index("cluster")
    assert mapping["cell_type"].tolist() == [analysis.UNASSIGNED, "A", "A"]
    assert mapping.loc[0, "best_type"] == "A" and mapping.loc[0, "reason"] == "A only 0.05 above B"
    np.testing.assert_allclose(mapping["margin"], [0.05, 0.2, 0.6])  # one type: margin = score
    lenient = analysis.map_clusters(scores, min_score=0.5, min_margin=0.0)
    assert lenient["cell_type"].tolist() == ["A", "A", "A"]


def test_purity_and_the_types_a_marker_set_cannot_name():
    clusters = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    labels = np.array(["T", "T", "T", "B", "B", "NK", "B", "B"])
    table = analysis.purity(clusters, labels, {0: "T", 1: "NK", 2: analysis.UNASSIGNED})
    table = table.set_index("cluster")
    for cluster, name in ((0, "T"), (1, "NK")):  # against a count by hand
        inside = labels[clusters == cluster]
        assert table.loc[cluster, "purity"] == np.mean(inside == name)
    assert np.isnan(table.loc[2, "purity"]) and table.loc[2, "majority_label"] == "B"
    assert table.loc[0, "majority_share"] == 0.75 and table["cells"].tolist() == [4, 2, 2]
    markers = {"T": ["CD3E"], "B": ["MS4A1", "CD79A"], "Mono": ["CD14"]}
    assert analysis.unnamed_types(labels, markers, ["CD3E", "CD79A"]) == ["NK"]
    assert analysis.unnamed_types(labels, markers, ["CD3E"]) == ["B", "NK"]  # no B marker present


def test_marker_scores_and_mapping_on_hand_made_expression(tmp_path):
    # 3 clusters of 2 cells; genes: a1, a2 mark A; b1 marks B; c1 is flat
    expression = np.array([[1.0, 0.8, 0.1, 0.5], [0.9, 1.0, 0.0, 0.5],
                           [0.1, 0.0, 1.0, 0.5], [0.0, 0.2, 0.8, 0.5],
                           [0.5, 0.4, 0.4, 0.5], [0.5, 0.4, 0.4, 0.5]])
    genes = ["a1", "a2", "b1", "c1"]
    clusters = np.array([0, 0, 1, 1, 2, 2])
    markers = {"A": ["a1", "a2", "zz"], "B": ["b1"], "C": ["c1"]}
    scores = analysis.score_clusters(expression, genes, clusters, markers, {0: ["a1"], 1: []})
    a0 = scores[(scores.cluster == 0) & (scores.cell_type == "A")].iloc[0]
    assert a0.markers_found == 2 and a0.weight_overlap == 0.5
    assert a0.mean_expression == pytest.approx(np.mean([0.95, 0.9]))
    # a1 cluster means 0.95, 0.05, 0.5 -> rescaled 1, 0, 0.5; a2: 0.9, 0.1, 0.4 -> 1, 0, 0.375
    b = scores[scores.cell_type == "A"].set_index("cluster")["score"]
    np.testing.assert_allclose(b.to_numpy(), [1.0, 0.0, (0.5 + 0.375) / 2])
    mapping = analysis.map_clusters(scores).set_index("cluster")
    assert mapping.loc[0, "cell_type"] == "A" and mapping.loc[1, "cell_type"] == "B"
    assert mapping.loc[2, "cell_type"] == analysis.UNASSIGNED  # best score 0.4375 < 0.5
    assert mapping.loc[2, "reason"] == "best score 0.44 < 0.5" and mapping.loc[0, "reason"] == ""
    # user marker sets: a dict or a CSV
    path = tmp_path / "m.csv"
    pd.DataFrame({"cell_type": ["A", "A", "B"], "gene": ["a1", "a2", "b1"]}).to_csv(path, index=False)
    assert analysis.load_markers(path) == {"A": ["a1", "a2"], "B": ["b1"]}
    pd.DataFrame({"type": ["A"], "gene": ["a1"]}).to_csv(path, index=False)
    with pytest.raises(InputError, match="columns cell_type and gene"):
        analysis.load_markers(path)
    with pytest.raises(InputError, match="neither a file nor one of"):
        analysis.load_markers("mouse_brain")
    assert marker_module.MARKER_SETS == analysis.MARKER_SETS


def test_single_class_labels_give_no_agreement_score(counts_adata):
    from diffvae.analysis.pipeline import identify_cell_types

    model = AE(**TINY).fit(counts_adata, epochs=1, verbose=0)
    with pytest.warns(UserWarning, match="one type only"):
        result = identify_cell_types(counts_adata, model, labels=["T"] * 120, n_clusters=2,
                                     perplexity=10)
    assert result.metrics == {}


def test_leiden_finds_separated_blobs_and_repeats_with_its_seed():
    x, labels = separated_blobs()
    found = clustering.cluster(x, "leiden", seed=3)
    assert adjusted_rand_score(labels, found) == 1.0
    np.testing.assert_array_equal(found, clustering.leiden(x, seed=3))
    # a higher resolution cuts the same graph into more communities
    assert len(np.unique(clustering.leiden(x, resolution=20.0))) > 4
    with pytest.raises(InputError, match="resolution"):
        clustering.leiden(x, resolution=0)
    # several resolutions of one graph: each as leiden gives it alone
    several = clustering.leiden_resolutions(x, [0.5, 20.0], seed=3)
    for resolution, communities in several.items():
        np.testing.assert_array_equal(communities, clustering.leiden(x, resolution=resolution, seed=3))


def test_kmeans_switches_to_minibatches_and_dbscan_is_refused_above_the_threshold(monkeypatch):
    x, labels = separated_blobs()
    monkeypatch.setattr(defaults, "EXACT_CLUSTERING_MAX_CELLS", 500)
    found = clustering.kmeans(x, 4, seed=1)
    expected = MiniBatchKMeans(n_clusters=4, batch_size=4096, n_init=3, random_state=1).fit_predict(x)
    np.testing.assert_array_equal(found, expected)
    assert adjusted_rand_score(labels, found) == 1.0
    with pytest.raises(InputError, match=r"DBSCAN .* above 500 cells \(got 600\)"):
        clustering.dbscan(x)
    assert set(clustering.dbscan(x[:400]).tolist()) - {clustering.NOISE} == {0, 1, 2}  # below: as before


@pytest.mark.parametrize("n_targets, n_lambdas", [(2, 2), (9, 3), (3, 7)])
def test_the_conversion_figure_has_no_overlapping_text_and_marks_the_targets(rng, n_targets,
                                                                             n_lambdas):
    from diffvae.analysis import plots

    n = 200
    embedding = rng.normal(size=(n, 2))
    states = np.array([f"a long target population name {i % (n_targets + 1)}" for i in range(n)])
    source = states == f"a long target population name {n_targets}"
    targets = [f"a long target population name {i}" for i in range(n_targets)]
    lambdas = [0.25 * i for i in range(n_lambdas)]
    converted = {(t, lam): rng.random(source.sum()) < 0.5 for t in targets for lam in lambdas}
    fig = plots.conversion_tsne(embedding, source, converted, targets, lambdas, states)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for ax in fig.axes for t in (ax.title, ax.yaxis.label, *ax.texts) if t.get_text()]
    texts += [fig._suptitle, *fig.legends[0].get_texts()]
    boxes = [t.get_window_extent(renderer) for t in texts]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (texts[boxes.index(a)].get_text())
    # each row shows its own target population (blue) and the count in its corner
    for row, target in enumerate(targets):
        ax = fig.axes[row * n_lambdas]
        blue = [c for c in ax.collections if c.get_facecolor()[0][2] > 0.6
                and c.get_facecolor()[0][0] < 0.3]
        assert len(blue) == 1 and len(blue[0].get_offsets()) == np.sum(states == target)
        hit = converted[(target, 0.0)]
        assert ax.texts[0].get_text() == f"{hit.sum()}/{source.sum()}"
