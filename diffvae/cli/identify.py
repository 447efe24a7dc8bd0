"""``diffvae identify``: from expression to named cell types with marker genes (paper Fig. 1).

Trains DiffVAE with the paper's defaults (``--tuned``: DiffVAE.tuned(), the MMD study's options;
or loads ``--model BUNDLE``), embeds mu with t-SNE, clusters, finds the latent dimensions of each
cluster and their decoder-weight genes (the paper's high-weight genes) beside the cluster's
differentially expressed genes, maps clusters to cell types by marker genes and, when the data
carry reference labels, scores the agreement beside the same pipeline on PCA of the same input.
The report names the model's options. Writes to ``--out``: clusters.csv, latent_dims.csv,
top_dimensions.csv, decoder_weight_genes.csv, de_genes.csv, gene_lists.csv, mapping.csv,
marker_scores.csv, metrics.json (with labels), figures (PNG), identified.h5ad and report.md.

``--backed`` works from an .h5ad on disk without loading its matrix (a million cells fit in a
few GiB); above ``--tsne-max-cells`` cells the t-SNE embeds a random sample (the figure) and
clusters are found on mu. identified.h5ad then holds no expression matrix (it stays in its file).

Example::

    diffvae identify --dataset pbmc68k_reduced --out results/pbmc68k_reduced
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from .. import defaults
from .._files import atomic_path
from ..analysis import MARKER_SETS, clustering, plots
from ..analysis.pipeline import Identification, identify_cell_types
from ..base import keras_backend
from ..checks import optional, positive_int, positive_number
from ..datasets import marker_set
from ..defaults import CLUSTERERS, SPACES
from ..errors import InputError
from ..models import LatentModel
from ..progress import step
from .common import (add_data_arguments, add_label_argument, add_model_arguments, add_run_arguments,
                     bundle_option, command, load_input, load_or_train, model_training_note,
                     new_parser, parse_args, reference_labels, save_figure, write_csv, write_h5ad)

FIGURES = {
    "tsne.png": "t-SNE of mu by cluster (ids on the map), by assigned type and by reference "
                "label (Fig. 1b)",
    "latent_dims.png": "latent dimensions that encode each cluster (Fig. 1c)",
    "decoder_weight_genes.png": "decoder-weight genes of each cluster's top latent dimensions "
                                "(Fig. 1d)",
    "de_genes.png": "differentially expressed genes of each cluster",
    "markers.png": "marker genes per cluster (Fig. 1e)",
    "confusion.png": "clusters against the reference labels",
}


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser("identify", __doc__)
    add_data_arguments(parser, backed=True)
    add_model_arguments(parser)
    parser.add_argument("--clusterer", choices=CLUSTERERS, default="kmeans",
                        help="k-means and DBSCAN as in the paper, or Leiden on the 15-nearest-"
                        "neighbour graph (scanpy's)")
    parser.add_argument("--n-clusters", type=int,
                        help="k for k-means (default: the number of reference types)")
    parser.add_argument("--eps", type=float, help="DBSCAN radius (default: from the k-distance curve)")
    parser.add_argument("--min-samples", type=int, default=5, help="DBSCAN min_samples")
    parser.add_argument("--resolution", type=float, default=defaults.LEIDEN_RESOLUTION,
                        help=f"Leiden resolution (default {defaults.LEIDEN_RESOLUTION})")
    parser.add_argument("--cluster-on", choices=SPACES, default="tsne",
                        help="cluster the 2-D t-SNE (the paper) or mu itself")
    parser.add_argument("--markers", help=f"marker set: one of {', '.join(MARKER_SETS)}, or a CSV "
                        "with columns cell_type,gene (default: the dataset's)")
    add_label_argument(parser)
    parser.add_argument("--n-dims", type=int, default=defaults.N_TOP_DIMENSIONS,
                        help=f"top dimensions per cluster (paper: {defaults.N_TOP_DIMENSIONS})")
    parser.add_argument("--n-genes", type=int, default=defaults.N_GENES_PER_DIMENSION,
                        help=f"genes per dimension (paper: {defaults.N_GENES_PER_DIMENSION})")
    parser.add_argument("--relative-scores", action="store_true",
                        help="rank dimensions by enrichment over the cluster's share of cells "
                        "instead of the paper's raw percentage")
    parser.add_argument("--perplexity", type=float, default=defaults.PERPLEXITY,
                        help="t-SNE perplexity (lowered, with a warning, for few cells)")
    parser.add_argument("--tsne-method", choices=["opentsne", "sklearn"], default="opentsne",
                        help="t-SNE implementation: openTSNE (FFT gradients, fast) or "
                        "scikit-learn's")
    parser.add_argument("--tsne-max-cells", type=int, default=defaults.TSNE_MAX_CELLS,
                        help="above this many cells, t-SNE of a random sample of this size (the "
                        f"figure only; clusters then on mu); default {defaults.TSNE_MAX_CELLS:,}")
    add_run_arguments(parser)
    return parser


def check_options(args: argparse.Namespace, latent_dim: int) -> None:
    """Refuse analysis options that cannot work, before the data are read or a model trained."""
    from ..analysis import load_markers

    optional(positive_int, "--n-clusters", args.n_clusters)
    optional(positive_number, "--eps", args.eps)
    positive_int("--min-samples", args.min_samples)
    positive_int("--n-genes", args.n_genes)
    positive_number("--perplexity", args.perplexity)
    positive_number("--resolution", args.resolution)
    positive_int("--tsne-max-cells", args.tsne_max_cells)
    if positive_int("--n-dims", args.n_dims) > latent_dim:
        raise InputError(f"--n-dims {args.n_dims} is more than the latent size {latent_dim}")
    if args.markers:
        load_markers(args.markers)  # an unknown marker set or a bad file is refused now


def write_outputs(result: Identification, adata, model: LatentModel, out: Path,
                  title: str, training: str | None = None) -> list[Path]:
    """Write every table, figure, the annotated AnnData and the report; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    names = result.cluster_names
    tsne = np.full((len(result.clusters), 2), np.nan, dtype=np.float32)  # NaN: not in the sample
    tsne[slice(None) if result.embedded is None else result.embedded] = result.embedding
    cells = pd.DataFrame({"cluster": result.clusters,
                          "cell_type": pd.Series(result.clusters).map(names).to_numpy(),
                          "tsne_1": tsne[:, 0], "tsne_2": tsne[:, 1]},
                         index=adata.obs_names.rename("cell"))
    if result.labels is not None:
        cells["reference_label"] = result.labels
    write_csv(cells, out / "clusters.csv")
    write_csv(result.dimension_scores, out / "latent_dims.csv")
    top = pd.DataFrame([(c, rank + 1, d) for c, dims in result.top_dimensions.items()
                        for rank, d in enumerate(dims)], columns=["cluster", "rank", "dimension"])
    write_csv(top, out / "top_dimensions.csv", index=False)
    write_csv(result.cluster_genes, out / "decoder_weight_genes.csv", index=False)
    figures = {"tsne.png": plots.tsne_panels(result.embedding,
                                             result.embedded_cells(result.clusters),
                                             result.embedded_cells(result.labels), names),
               "latent_dims.png": plots.dimension_heatmap(
                   result.dimension_scores, result.top_dimensions,
                   relative=result.settings["relative_scores"]),
               "decoder_weight_genes.png": plots.cluster_genes_plot(result.cluster_genes)}
    if result.de_genes is not None:
        write_csv(result.de_genes, out / "de_genes.csv", index=False)
        write_csv(result.gene_comparison, out / "gene_lists.csv", index=False)
        figures["de_genes.png"] = plots.de_dotplot(result.de_expression, result.de_genes, names)
    if result.mapping is not None:
        mapping = result.mapping
        if result.purity is not None:
            mapping = mapping.merge(result.purity.drop(columns="cell_type"), on="cluster")
        write_csv(mapping, out / "mapping.csv", index=False)
        write_csv(result.marker_scores, out / "marker_scores.csv", index=False)
        figures["markers.png"] = plots.marker_dotplot(result.expression, result.marker_genes,
                                                      result.clusters, result.markers, names)
    if result.labels is not None:
        figures["confusion.png"] = plots.confusion_plot(result.confusion(), names)
        with atomic_path(out / "metrics.json") as tmp:
            tmp.write_text(json.dumps(result.metrics, indent=2))
    for name, fig in figures.items():
        save_figure(fig, out / name)
    # data on disk: the annotations without the matrix, which stays in its file
    annotated = ad.AnnData(obs=adata.obs.copy(), var=adata.var.copy()) if adata.isbacked else adata.copy()
    annotated.obsm[model.default_key] = result.latent
    if result.embedded is None:
        annotated.obsm["X_tsne"] = result.embedding
    annotated.obs[f"{model.model_type}_cluster"] = pd.Categorical(result.clusters.astype(str))
    annotated.obs[f"{model.model_type}_cell_type"] = pd.Categorical(cells["cell_type"])
    write_h5ad(annotated, out / "identified.h5ad")
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(report(result, title, list(figures), model, training))
    return sorted(out.iterdir())


def agreement_summary(metrics: dict, key: str) -> str:
    """The agreement with the reference labels in plain words, for the terminal."""
    named = (f"{metrics['overlap_markers']:.1%} of the cells are in a cluster that the marker genes "
             "name as their own type, " if "overlap_markers" in metrics else "")
    base = metrics.get("pca_baseline")
    baseline = "" if not base else (f"\nthe same pipeline on {base['model']}: ARI "
                                    f"{base['ari']:.3f}")
    return (f"agreement with the reference labels in obs[{key!r}]: ARI {metrics['ari']:.3f}; {named}"
            f"{metrics['overlap_majority']:.1%} when each cluster is named by its most common "
            f"label{baseline}")


def model_setting(model: LatentModel) -> str:
    """The model in words: its class and, for DiffVAE, the options that differ from the paper's."""
    from ..models import DiffVAE

    if not isinstance(model, DiffVAE):
        return type(model).__name__
    paper = DiffVAE().get_params()
    changed = {k: v for k, v in model.get_params().items()
               if k not in ("latent_dim", "hidden_dims") and v != paper[k]}
    return "DiffVAE, " + (", ".join(f"{k}={v!r}" for k, v in changed.items()) if changed
                          else "the paper's options")


def _agreement_rows(result: Identification, model: LatentModel) -> list[str]:
    """The agreement table: the model, and the same pipeline on PCA of the same input."""
    rows = [(f"{model.model_type} (this model)", result.metrics)]
    if result.baseline:
        rows.append((result.baseline["model"], result.baseline))
    lines = ["| representation | ARI | NMI | overlap (marker names) | overlap (majority names) "
             "| clusters | noise |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, m in rows:
        named = f"{m['overlap_markers']:.1%}" if "overlap_markers" in m else "-"
        lines.append(f"| {name} | {m['ari']:.3f} | {m['nmi']:.3f} | {named} | "
                     f"{m['overlap_majority']:.1%} | {m['n_clusters']} | {m['n_noise']} |")
    return lines


def _baseline_reading(result: Identification) -> str:
    """One sentence on what the PCA row says about this run."""
    if not result.baseline:
        return ""
    gap = result.metrics["ari"] - result.baseline["ari"]
    verdict = ("above" if gap > 0.02 else "below" if gap < -0.02 else "level with")
    return (f"The second row runs the same clustering and naming on PCA with the same number of "
            f"components, of the same scaled expression: the model's ARI is {verdict} it "
            f"({gap:+.3f}). A representation that does not beat PCA here adds no cell-type "
            "structure that PCA misses (for these labels and this clustering); k-means and "
            "Leiden can rank them differently.")


def _cluster_rows(result: Identification) -> list[str]:
    mapping = (result.mapping.set_index("cluster") if result.mapping is not None
               else pd.DataFrame())
    purity = (result.purity.set_index("cluster") if result.purity is not None
              else pd.DataFrame())
    lines = ["| cluster | cells | cell type | purity | most common label | marker score "
             "| runner-up | top dimensions |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for cluster, dims in result.top_dimensions.items():
        row = mapping.loc[cluster] if cluster in mapping.index else None
        call = "-" if row is None else row["cell_type"]
        if row is not None and row["reason"]:
            call += f" (best: {row['best_type']})"
        score = "-" if row is None else f"{row['score']:.2f}"
        runner = "-" if row is None or row["runner_up"] is None else (
            f"{row['runner_up']} ({row['runner_up_score']:.2f})")
        pure, common = "-", "-"
        if cluster in purity.index:
            p = purity.loc[cluster]
            pure = "-" if pd.isna(p["purity"]) else f"{p['purity']:.0%}"
            common = f"{p['majority_label']} ({p['majority_share']:.0%})"
        lines.append(f"| {cluster} | {np.sum(result.clusters == cluster)} | {call} | {pure} | "
                     f"{common} | {score} | {runner} | {', '.join(map(str, dims[:5]))} |")
    return lines


def _gene_rows(result: Identification) -> list[str]:
    """Per cluster: the decoder-weight genes listed by two or more top dimensions, the top DE
    genes, and what the two lists share."""
    genes = result.cluster_genes
    lines = ["| cluster | decoder-weight genes (common) | top differentially expressed genes "
             "| decoder-weight genes among them | median DE rank of the decoder-weight genes |",
             "| --- | --- | --- | --- | --- |"]
    comparison = (result.gene_comparison.set_index("cluster")
                  if result.gene_comparison is not None else pd.DataFrame())
    for cluster in result.top_dimensions:
        common = genes.loc[(genes["cluster"] == cluster) & genes["common"], "gene"].tolist()
        de, shared, rank = "-", "-", "-"
        if cluster in comparison.index:
            de = ", ".join(result.de_genes.loc[result.de_genes["cluster"] == cluster, "gene"][:6])
            row = comparison.loc[cluster]
            shared = row["shared_genes"].replace(" ", ", ") or "none"
            rank = ("-" if pd.isna(row["median_de_rank_of_weight_genes"])
                    else f"{row['median_de_rank_of_weight_genes']:.0f} of {len(result.genes)}")
        lines.append(f"| {cluster} | {', '.join(common[:6]) or '-'} | {de or '-'} | {shared} "
                     f"| {rank} |")
    return lines


def report(result: Identification, title: str, figures: list[str], model: LatentModel,
           training: str | None = None) -> str:
    """A one-page Markdown summary with the figures inline; ``training``: a sentence on how
    the model's training ended (:func:`diffvae.stopping.training_note`)."""
    s = result.settings
    space = "the 2-D t-SNE of mu" if s["cluster_on"] == "tsne" else "mu"
    n_cells = len(result.clusters)
    method = {"kmeans": f"k-means (k = {s['n_clusters']}"
                        + (", by minibatches" if n_cells > defaults.EXACT_CLUSTERING_MAX_CELLS
                           else "") + ")",
              "dbscan": f"DBSCAN (min_samples = {s['min_samples']}, eps = {s['eps'] or 'automatic'})",
              "leiden": f"Leiden on the {defaults.N_NEIGHBORS}-nearest-neighbour graph "
                        f"(resolution {s['resolution']})"}[s["clusterer"]]
    sample = ("" if result.embedded is None else
              f" The t-SNE shows a random sample of {s['tsne_cells']:,} cells.")
    lines = [f"# Cell types identified with DiffVAE: {title}", "",
             f"{n_cells:,} cells, {len(result.genes)} genes; {model_setting(model)}, latent size "
             f"{result.latent.shape[1]}. Clustering: {method} on {space}; {s['n_dims']} top "
             f"dimensions per cluster, {s['n_genes']} genes per dimension; seed {s['seed']}, "
             f"Keras backend {keras_backend()}.{sample}", "",
             *([training, ""] if training else [])]
    if result.metrics:
        lines += ["## Agreement with the reference labels", "", *_agreement_rows(result, model),
                  "", "Overlap is the paper's measure: the share of cells whose cluster's name is "
                  "their own reference type. 'Majority names' names each cluster by its most "
                  "common label (the best any naming can do). " + _baseline_reading(result), ""]
    lines += ["## Clusters", "", "![t-SNE](tsne.png)", "", *_cluster_rows(result), ""]
    if result.mapping is not None:
        lines += [f"Marker score: the mean over the type's marker genes of the cluster's mean "
                  "expression, each marker rescaled to [0, 1] across clusters (1: every marker "
                  "peaks in this cluster). A cluster is named by its best-scoring type only when "
                  f"that score is at least {s['min_score']} and at least {s['min_margin']} above "
                  "the runner-up's; otherwise it is 'unassigned'. Purity: the share of the "
                  "cluster's cells whose reference label is the name given.", ""]
    if result.unnamed_types:
        lines += ["Reference types the marker set cannot name (no markers for them among these "
                  f"genes), so no cluster can be called them: {', '.join(result.unnamed_types)}.",
                  ""]
    lines += ["## Genes of each cluster", "",
              "Decoder-weight genes are the paper's 'high-weight genes': the genes with the "
              "largest decoder weights on the latent dimensions that encode the cluster. They "
              "say what the model uses, not what sets the cluster apart: the same gene can head "
              "unrelated clusters. Differentially expressed genes are scanpy's "
              "`rank_genes_groups` (Wilcoxon, the cluster against all other cells, on the same "
              "scaled expression" + ("" if result.de_expression is None
                                     or result.de_expression.n_obs == n_cells else
                                     f", of a random sample of {result.de_expression.n_obs:,} "
                                     "cells") + "). Tables: decoder_weight_genes.csv (with each "
              "gene's DE rank), de_genes.csv, gene_lists.csv.", "", *_gene_rows(result), ""]
    lines += [f"## {FIGURES[f][0].upper() + FIGURES[f][1:]}\n\n![{f}]({f})\n"
              for f in figures if f != "tsne.png"]
    return "\n".join(lines) + "\n"


@command("identify")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    model, latent_dim = bundle_option(args)
    check_options(args, latent_dim)
    adata = load_input(args)
    key, labels = reference_labels(adata, args.label_key)
    if args.clusterer == "kmeans" and args.n_clusters is None and labels is None:
        raise InputError("k-means needs --n-clusters when the data have no reference labels")
    clustering.check_size(args.clusterer, adata.n_obs, min_samples=args.min_samples)
    if args.n_clusters is not None and args.n_clusters >= adata.n_obs:
        raise InputError(f"--n-clusters {args.n_clusters} needs more cells than clusters; the "
                         f"data have {adata.n_obs}")
    markers = args.markers or marker_set(adata)
    model = load_or_train(args, adata, model)
    result = identify_cell_types(
        adata, model, labels=labels, clusterer=args.clusterer, n_clusters=args.n_clusters,
        eps=args.eps, min_samples=args.min_samples, resolution=args.resolution,
        cluster_on=args.cluster_on, markers=markers, n_dims=args.n_dims, n_genes=args.n_genes,
        relative=args.relative_scores, perplexity=args.perplexity, tsne_method=args.tsne_method,
        tsne_max_cells=args.tsne_max_cells, seed=args.seed, layer=args.layer)
    title = args.dataset or Path(args.data).name
    with step("tables, figures and report"):
        write_outputs(result, adata, model, args.out, title, model_training_note(model, args))
    if result.metrics:
        print(agreement_summary(result.metrics, key))
    print(f"wrote {args.out / 'report.md'} and its tables and figures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
