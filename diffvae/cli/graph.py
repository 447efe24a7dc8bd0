"""``diffvae graph``: links between cells with Graph-DiffVAE (paper Fig. 4).

Builds the input graph (``--graph pearson``: each cell to its ``--k`` most correlated cells, the
paper's; ``knn``; or a file), trains Graph-DiffVAE with 10 % / 5 % of the edges held out, and
writes to ``--out``: the model bundle, node features (``node_features.npy`` and
``graph_diffvae.h5ad`` with ``obsm["X_graph_diffvae"]``), the input and predicted adjacency
(``.npz``), ``history.csv`` (losses and validation AUC / AP per epoch; figure ``training.png``),
``metrics.json`` (held-out AUC / AP; with labels: same-type share of links against the input
graph and a co-expression graph with as many edges, progenitor link split, k-means ARI),
figures as in Fig. 4 and ``report.md``.

``--multitask`` trains DiffVAE and Graph-DiffVAE as one model instead
(:class:`graph_diffvae.MultitaskDiffVAE`: a shared encoder over expression and graph, DiffVAE's
MMD prior, expression and adjacency decoders weighed by ``--graph-weight``); its representation
mu goes to ``obsm["X_multitask"]``, with ``--conv gcn|gat`` for the encoder's graph layers.

Large data: ``--data atlas.h5ad --backed`` leaves the matrix on disk, and ``--batch-size N``
trains on subgraphs of about N cells (the default above 100,000 cells); the t-SNE figure then
shows a seeded sample of cells, and the co-expression comparison reads a sample from the file.
``--data-parallel`` trains over every device of every process that ``KERAS_DISTRIBUTION_*``
variables join (JAX backend, as ``diffvae train``): each step's subgraphs are shared out over
the devices, ``--batch-size`` counts the cells of all of them, and only process 0 writes.

Example::

    diffvae graph --dataset paul15_tradeseq --out results/paul15_graph
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from graph_diffvae import graphs
from graph_diffvae.estimator import check_backend
from graph_diffvae.model import GraphDiffVAE
from graph_diffvae.multitask import MultitaskDiffVAE
from graph_diffvae.pipeline import link_cells

from .. import defaults
from .._files import atomic_path
from ..base import keras_backend
from ..datasets import progenitor_types
from ..distributed import data_parallel
from ..errors import InputError
from ..progress import step
from .common import (add_data_arguments, add_data_parallel_argument, add_early_stopping_argument,
                     add_label_argument, add_run_arguments, command, load_input, markdown_table,
                     new_parser, parse_args, process_outputs, reference_labels, save_figure,
                     spellings, write_csv, write_h5ad)


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser("graph", __doc__)
    add_data_arguments(parser, backed=True)
    parser.add_argument("--graph", default="pearson", metavar="pearson|knn|obsp:KEY|FILE",
                        help="input graph: pearson (paper), knn, an AnnData adjacency "
                        "(obsp:connectivities), or a file (.npz, .mtx, edge-list .csv)")
    parser.add_argument("--use-rep", help="obsm entry for --graph knn (default: PCA of the "
                        "scaled expression)")
    parser.add_argument("--k", type=int, default=defaults.GRAPH_K,
                        help=f"neighbours per cell (paper: {defaults.GRAPH_K})")
    parser.add_argument("--hidden-dim", dest="hidden_dim",
                        type=int, default=defaults.GRAPH_HIDDEN_DIM,
                        help="GCN width (with --multitask: DiffVAE's dense layers are this and "
                        "half of it)")
    parser.add_argument(*spellings("--latent-dim"), dest="latent_dim",
                        type=int, default=defaults.GRAPH_LATENT_DIM,
                        help=f"latent size (paper: {defaults.GRAPH_LATENT_DIM})")
    parser.add_argument(*spellings("--learning-rate"), dest="learning_rate", type=float,
                        help=f"default {defaults.GRAPH_LEARNING_RATE} (paper), with --multitask "
                        f"{defaults.MULTITASK_LEARNING_RATE}")
    parser.add_argument("--epochs", type=int, help=f"default {defaults.GRAPH_EPOCHS} (paper), "
                        f"with --multitask {defaults.MULTITASK_EPOCHS}")
    parser.add_argument("--multitask", action="store_true",
                        help="DiffVAE and Graph-DiffVAE as one model (shared encoder, both decoders)")
    parser.add_argument("--graph-weight", dest="graph_weight", type=float,
                        default=defaults.MULTITASK_GRAPH_WEIGHT,
                        help="with --multitask: weight of the adjacency term against the "
                        "expression term, both per cell")
    parser.add_argument(*spellings("--batch-size"), dest="batch_size", type=batch_size,
                        default="auto", metavar="N|auto|full",
                        help="cells per subgraph minibatch (Cluster-GCN); full: the paper's full "
                        f"batch; auto (default): full batch up to "
                        f"{defaults.GRAPH_FULL_BATCH_MAX_CELLS:,} cells, subgraphs of "
                        f"{defaults.GRAPH_BATCH_SIZE:,} above")
    add_early_stopping_argument(parser, "held-out links' validation AUC")
    add_data_parallel_argument(parser)
    parser.add_argument("--loss", choices=["auto", "dense", "sparse"], default="auto",
                        help="dense: all N^2 pairs; sparse: edges + sampled non-edges (large graphs)")
    parser.add_argument("--conv", choices=["gcn", "gat"], default="gcn",
                        help="encoder layers: gcn (the paper's) or gat (graph attention; writes "
                        "link_importance.csv, the attention each link gets)")
    parser.add_argument("--heads", type=int, default=1, help="attention heads for --conv gat")
    parser.add_argument(*spellings("--model-name"), dest="model_name",
                        help="bundle folder name (default: graph_diffvae, or multitask_diffvae)")
    add_label_argument(parser)
    parser.add_argument("--progenitors", nargs="+", metavar="TYPE",
                        help="progenitor types for the link split (default: the dataset's)")
    parser.add_argument("--tsne-max-cells", type=int, default=defaults.TSNE_MAX_CELLS,
                        help="above this many cells, the t-SNE figure shows a random sample of "
                        f"this size; default {defaults.TSNE_MAX_CELLS:,}")
    add_run_arguments(parser)
    return parser


def batch_size(value: str) -> int | str | None:
    """``--batch-size``: a positive number of cells, "auto", or "full" (None: full batch)."""
    if value in ("auto", "full"):
        return None if value == "full" else value
    try:
        cells = int(value)
    except ValueError:
        cells = 0
    if cells < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of cells, 'auto' or "
                                         f"'full', got {value!r}")
    return cells


@command("graph")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    check_backend()
    if args.epochs is None:
        args.epochs = defaults.MULTITASK_EPOCHS if args.multitask else defaults.GRAPH_EPOCHS
    if args.learning_rate is None:
        args.learning_rate = (defaults.MULTITASK_LEARNING_RATE if args.multitask
                              else defaults.GRAPH_LEARNING_RATE)
    for name in ("k", "hidden_dim", "latent_dim", "epochs", "tsne_max_cells", "early_stopping"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.graph_weight != defaults.MULTITASK_GRAPH_WEIGHT and not args.multitask:
        raise InputError("--graph-weight weighs the multitask model's terms: add --multitask")
    if args.data_parallel:
        if args.batch_size is None:
            raise InputError("--data-parallel shares subgraphs out over the devices: full batch "
                             "cannot be; give --batch-size N (or auto)")
        with step("joining the data-parallel processes"):  # before any computation
            data_parallel()
    with process_outputs(args.out) as args.out:
        return run(args)


def run(args: argparse.Namespace) -> int:
    """Everything after the options: :func:`graph_diffvae.pipeline.link_cells`, then its outputs
    written to ``args.out``."""
    adata = load_input(args)
    _, labels = reference_labels(adata, args.label_key)
    graph_options = {"graph": args.graph if args.graph in ("pearson", "knn") else "precomputed",
                     "k": args.k, "use_rep": args.use_rep, "conv": args.conv, "heads": args.heads}
    if args.multitask:
        model = MultitaskDiffVAE(args.latent_dim, (args.hidden_dim, max(1, args.hidden_dim // 2)),
                                 graph_weight=args.graph_weight, **graph_options)
    else:
        model = GraphDiffVAE(args.hidden_dim, args.latent_dim, **graph_options)
    result = link_cells(adata, model, adjacency=input_graph(args.graph, adata), labels=labels,
                        progenitors=args.progenitors or progenitor_types(adata),
                        tsne_max_cells=args.tsne_max_cells, seed=args.seed, layer=args.layer,
                        epochs=args.epochs, learning_rate=args.learning_rate,
                        batch_size=args.batch_size, loss=args.loss,
                        early_stopping=args.early_stopping, verbose=0 if args.quiet else "auto")

    out: Path = args.out
    model.save(out / (args.model_name or model.model_type), overwrite=True)
    with atomic_path(out / "node_features.npy") as tmp:
        np.save(tmp, model.node_features_)
    for name, matrix in (("input_adjacency.npz", model.adjacency_),
                         ("predicted_adjacency.npz", result.predicted)):
        with atomic_path(out / name) as tmp:
            sp.save_npz(tmp, matrix)
    write_h5ad(result.annotate(adata), out / "graph_diffvae.h5ad")
    if result.progenitor_attention is not None:
        mass = result.progenitor_attention
        write_csv(mass.set_axis(adata.obs_names[mass.index]).rename_axis("progenitor_cell"),
                  out / "progenitor_attention.csv")
    if result.link_importance is not None:
        write_csv(result.link_importance, out / "link_importance.csv", index=False)
    write_csv(model.history_, out / "history.csv")
    figures = result.figures()
    for name, fig in figures.items():
        save_figure(fig, out / name)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(result.metrics, indent=2))
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(report(result.metrics, args, list(figures), result.notes))
    test = model.link_metrics_["test"]
    print(f"held-out links: AUC {test['auc']:.3f}, AP {test['ap']:.3f}; wrote {out / 'report.md'}")
    return 0


def input_graph(graph: str, adata: ad.AnnData):
    """``--graph``: None for a graph the model builds (pearson, knn), else the adjacency of
    ``obsp:KEY`` or of a file."""
    if graph in ("pearson", "knn"):
        return None
    if graph.startswith("obsp:"):
        key = graph[len("obsp:"):]
        if key not in adata.obsp:
            raise InputError(f"no adata.obsp[{key!r}]; obsp keys: {list(adata.obsp)}")
        return graphs.check_graph(adata.obsp[key], adata.n_obs, graph)
    return graphs.read_graph(graph, adata.n_obs, adata.obs_names)


def report(metrics: dict, args, figures: list[str], notes: list[str] = ()) -> str:
    """A one-page Markdown summary with the figures inline, and ``notes`` saying what it leaves
    out and why."""
    link = metrics["link_prediction"]
    title = "the multitask DiffVAE" if args.multitask else "Graph-DiffVAE"
    encoder = ("Encoder: graph attention with "
               f"{args.heads} head{'s' * (args.heads > 1)} (`--conv gat`); "
               "link_importance.csv holds the attention each link gets."
               if args.conv == "gat" else "Encoder: the paper's GCN layers.")
    if args.conv == "gat" and args.k == 1:
        encoder += (" With one neighbour per cell (k = 1) each cell attends to itself and one "
                    "other cell, so every attention weight is near 0.5 and says little: "
                    "`--k 10` or more gives attention something to choose between.")
    lines = [f"# Links between cells with {title}: {args.dataset or Path(args.data).name}", "",
             f"{metrics['n_cells']} cells; input graph `{metrics['graph']}` with k = {metrics['k']} "
             f"({metrics['n_input_edges']} edges); {args.epochs} epochs "
             + ("full batch" if metrics["batch_size"] is None else
                f"on subgraphs of about {metrics['batch_size']:,} cells (Cluster-GCN)"
                + ("" if metrics["devices"] == 1 else
                   f", data-parallel over {metrics['devices']} devices (a subgraph each)"))
             + ", learning rate "
             f"{args.learning_rate}, seed {args.seed}, Keras backend {keras_backend()}.", "",
             encoder, "",
             *([] if metrics["tsne_cells"] == metrics["n_cells"] else [
                 f"The t-SNE figure shows a random sample of {metrics['tsne_cells']:,} cells and "
                 "the links between them.", ""]),
             "## Link prediction on held-out edges", "",
             f"| split | edges | AUC | AP |\n| --- | --- | --- | --- |\n"
             f"| test | {link['n_test_edges']} | {link['test']['auc']:.3f} | {link['test']['ap']:.3f} |\n"
             f"| validation | {link['n_validation_edges']} | {link['validation']['auc']:.3f} | "
             f"{link['validation']['ap']:.3f} |", "",
             "Each split holds out that share of the input edges plus as many sampled non-edges.",
             "", *([metrics["training"], ""] if metrics["training"] else [])]
    if "same_type_share" in metrics:
        share = metrics["same_type_share"]
        pca = f"PCA({metrics['pca_dims']})"
        names = {"pca_neighbours": f"{pca} neighbours (baseline)"}
        lines += ["## Do links join cells of the same type?", "",
                  "| graph | same-type share |\n| --- | --- |\n"
                  + "\n".join(f"| {names.get(k, k)} | {v:.3f} |" for k, v in share.items()), "",
                  f"Predicted: each cell to its {args.k} most probable partner{'s' * (args.k > 1)} "
                  f"({metrics['n_predicted_edges']} edges); co-expression: the same number of cell "
                  f"pairs with the highest |Pearson correlation|; {pca} neighbours: each cell to "
                  f"its {args.k} nearest cell{'s' * (args.k > 1)} in PCA of the same scaled "
                  "expression with as many components as the representation"
                  + (f" (both among a random sample of {metrics['coexpression_cells']:,} cells, "
                     "with as many edges per cell)" if "coexpression_cells" in metrics else "")
                  + "; chance: two random cells.", "",
                  "| representation | k-means ARI |\n| --- | --- |\n"
                  f"| {title} | {metrics['kmeans_ari']:.3f} |\n"
                  f"| {pca} of the same input (baseline) | {metrics['pca_kmeans_ari']:.3f} |", "",
                  "The baselines read the expression directly; a model whose links or "
                  "representation do no better than them adds no cell-type structure here.", ""]
        if share["coexpression"] > share["predicted"]:
            lines += ["Co-expression links join cells of the same type more often than the "
                      "predicted ones here: they are read from the expression itself, while the "
                      "model predicts links from node features trained to rebuild the input "
                      "graph. The predicted links' value is in held-out link prediction (above) "
                      "and in the links they make between types.", ""]
    if "progenitor_links" in metrics:
        split = pd.DataFrame(metrics["progenitor_links"]).fillna(0.0).round(3)
        lines += ["## Where do progenitors link to?", "", markdown_table(split), ""]
    if "progenitor_partner_lineage_weights" in metrics:
        weights = pd.DataFrame(metrics["progenitor_partner_lineage_weights"]).round(3)
        lines += ["Mean lineage weights (slingshot) of the cells that progenitors link to:", "",
                  markdown_table(weights), ""]
    lines += [*(f"{note}\n" for note in notes), *(f"![{f}]({f})\n" for f in figures)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
