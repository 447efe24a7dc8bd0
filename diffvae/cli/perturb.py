"""``diffvae perturb``: change cell states by shifting latent dimensions (paper Fig. 2-3).

Trains (or loads) DiffVAE, then runs :func:`diffvae.cell_states.change_cell_states`: the
cell-state classifier on the mature (target) types, the source cells' mu shifted along each
target's top dimensions by lambda standard deviations, decoded and classified, with lambda = 0
and random dimensions as controls, and how many genes each converted cell needs changed.
Writes to ``--out``: conversions.csv, target_dimensions.csv, genes_to_flip.csv, flip_genes.csv,
classifier_metrics.json, classifier_confusion.csv, the classifier and model bundles, figures
(PNG) and report.md.

Example::

    diffvae perturb --dataset paul15_tradeseq --source "Multipotent progenitors" GMP \\
        --out results/paul15_perturb
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .. import defaults
from .._files import atomic_path
from ..base import keras_backend
from ..cell_states import (BASELINE, CellStateChange, change_cell_states, check_options,
                           check_states, cluster_states)
from ..checks import optional, positive_int
from ..datasets import marker_set
from ..errors import InputError
from .common import (add_data_arguments, add_label_argument, add_model_arguments, add_run_arguments,
                     bundle_option, command, load_input, load_or_train, markdown_table,
                     model_training_note, new_parser, parse_args, reference_labels, save_figure,
                     write_csv)


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser("perturb", __doc__)
    add_data_arguments(parser)
    add_model_arguments(parser)
    add_label_argument(parser)
    parser.add_argument("--groups", choices=["label", "cluster"], default="label",
                        help="cell types from the reference labels, or from the identification "
                        "pipeline's clusters named by marker genes (k-means on mu; unnamed "
                        "clusters are called 'cluster N')")
    parser.add_argument("--n-clusters", type=int, help="k for --groups cluster (default: the "
                        "number of reference types)")
    parser.add_argument("--markers", help="marker set for --groups cluster (default: the dataset's)")
    parser.add_argument("--source", nargs="+", required=True, metavar="TYPE",
                        help="the cell type(s) to convert (for example progenitors)")
    parser.add_argument("--targets", nargs="+", metavar="TYPE",
                        help="mature types (default: every type that is not a source)")
    parser.add_argument("--lambdas", type=float, nargs="+", default=list(defaults.PERTURBATION_LAMBDAS),
                        help="shifts to try, in standard deviations of each latent dimension "
                        "(0: decoding alone)")
    parser.add_argument("--n-dims", type=int, default=defaults.PERTURBATION_N_DIMS,
                        help=f"dimensions shifted per target (paper: {defaults.PERTURBATION_N_DIMS})")
    parser.add_argument("--sd-from", choices=["all", "source"], default="all",
                        help="standard deviation over all cells (paper) or the source cells "
                        "(original code)")
    parser.add_argument("--n-random", type=int, default=5,
                        help="random-dimension draws per target and lambda (control)")
    parser.add_argument("--flip-lambda", type=float, default=defaults.FLIP_LAMBDA,
                        help="lambda whose converted cells get the genes-to-flip analysis (paper: 1)")
    parser.add_argument("--classifier-epochs", type=int, default=defaults.CLASSIFIER_EPOCHS,
                        help="training epochs of the cell-state classifier")
    add_run_arguments(parser)
    return parser


def _groups(adata, args, model) -> np.ndarray:
    """Each cell's state: its reference label, or (``--groups cluster``) its named cluster."""
    _, labels = reference_labels(adata, args.label_key)
    if args.groups == "label":
        if labels is None:
            raise InputError("the data have no reference labels: pass --label-key or use --groups cluster")
        return labels
    markers = args.markers or marker_set(adata)
    if markers is None:
        raise InputError("--groups cluster needs --markers to name the clusters")
    return cluster_states(adata, model, markers, labels=labels, n_clusters=args.n_clusters,
                          seed=args.seed, layer=args.layer)


@command("perturb")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    model, latent_dim = bundle_option(args)
    check_options(args.lambdas, args.n_dims, latent_dim, flip_lambda=args.flip_lambda,
                  n_random=args.n_random, classifier_epochs=args.classifier_epochs)
    optional(positive_int, "--n-clusters", args.n_clusters)
    adata = load_input(args)
    if args.groups == "label":  # refuse bad type names before any training
        check_states(_groups(adata, args, model=None), args.source, args.targets)
    out: Path = args.out
    model = load_or_train(args, adata, model)
    result = change_cell_states(
        adata, model, _groups(adata, args, model), args.source, args.targets,
        lambdas=args.lambdas, n_dims=args.n_dims, sd_from=args.sd_from, n_random=args.n_random,
        flip_lambda=args.flip_lambda, classifier_epochs=args.classifier_epochs, seed=args.seed,
        layer=args.layer, verbose=0 if args.quiet else "auto")

    result.classifier.save(out / "classifier", overwrite=True)
    write_csv(result.conversions, out / "conversions.csv", index=False)
    write_csv(pd.DataFrame([(t, r + 1, d) for t, ds in result.dimensions.items()
                            for r, d in enumerate(ds)], columns=["target", "rank", "dimension"]),
              out / "target_dimensions.csv", index=False)
    write_csv(result.genes_to_flip, out / "genes_to_flip.csv", index=False)
    write_csv(result.flip_genes, out / "flip_genes.csv", index=False)
    write_csv(result.classifier.confusion_, out / "classifier_confusion.csv")
    with atomic_path(out / "classifier_metrics.json") as tmp:
        tmp.write_text(json.dumps(result.metrics, indent=2))
    for name, fig in result.figures().items():
        save_figure(fig, out / name)
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(report(result, args, model_training_note(model, args)))
    print(f"classifier held-out accuracy {result.classifier.test_accuracy_:.3f}")
    print(conversion_counts(result.conversions).to_string())
    print(f"wrote {out / 'report.md'} and its tables and figures")
    return 0


def conversion_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Source cells converted: (target, dimensions) x lambda, targeted first, then the random
    control and the PCA baseline."""
    pivot = table.pivot_table(index=["target", "dimensions"], columns="lambda",
                              values="n_converted").round(1)
    order = {"targeted": 0, "random": 1, BASELINE: 2}
    return pivot.sort_index(level=1, key=lambda kinds: kinds.map(order)).sort_index(
        level=0, sort_remaining=False)


def report(result: CellStateChange, args, training: str | None = None) -> str:
    """A one-page Markdown summary with the figures inline; ``training``: a sentence on how
    DiffVAE's training ended (:func:`diffvae.stopping.training_note`)."""
    table, needed, flip_genes = result.conversions, result.genes_to_flip, result.flip_genes
    metrics, classifier, n_genes = result.metrics, result.classifier, result.n_genes
    pivot = conversion_counts(table)
    lines = [f"# Changing cell states with DiffVAE: {args.dataset or Path(args.data).name}", "",
             f"Sources: {', '.join(metrics['sources'])} ({metrics['n_source_cells']} cells). "
             f"Each target's top {args.n_dims} latent dimensions shifted by lambda x standard "
             f"deviation (over {'all cells' if args.sd_from == 'all' else 'the source cells'}); "
             f"random control: {args.n_random} draws of {args.n_dims} dimensions (mean count). "
             f"Seed {args.seed}, Keras backend {keras_backend()}.", "",
             *([training, ""] if training else []),
             "## Classifier", "",
             f"Held-out accuracy {metrics['held_out_accuracy']:.1%} on {metrics['n_held_out']} "
             "mature cells not used in training (rows: true type, columns: predicted):", "",
             markdown_table(classifier.confusion_), "",
             "The source cells' own expression is called: " + ", ".join(
                 f"{t} {n}" for t, n in metrics["source_cells_called"].items()) + ".", "",
             "## Source cells classified as each target", "", markdown_table(pivot), "",
             "Lambda = 0 is decoding alone, without a shift. 'PCA baseline': the same shifts on "
             f"PCA({metrics['pca_dims']}) of the same scaled expression (each target's top "
             "dimensions of the PCA scores, moved towards the target's mean, decoded by the "
             "inverse PCA, called by the same classifier). Where DiffVAE's targeted shift "
             "converts no more cells than PCA's, its latent space adds nothing to the shift.",
             "",
             *[f"**Not a result for {target}:** decoding alone, without a shift (lambda = 0), "
               f"already makes the classifier call {share:.0%} of the source cells {target} "
               f"(flagged above {defaults.PERTURBATION_DECODING_FLAG:.0%}), so its conversions "
               "come from the decoder and the classifier, not from the shift; check the "
               "classifier's confusion table above.\n"
               for target, share in result.converted_by_decoding.items()],
             "![conversion curves](conversion_curves.png)", "",
             "![converted cells on the t-SNE](conversions_tsne.png)", ""]
    if len(needed):
        stats = needed.groupby("target")["n_genes"].describe()[["count", "min", "50%", "max"]]
        lines += [f"## Genes to change (lambda = {args.flip_lambda:g})", "",
                  f"For each converted cell that the classifier did not already call the target "
                  f"from its own expression, the fewest genes (of {n_genes}), taken in order of "
                  "|y - x|, that set to their perturbed values make the classifier call the target:",
                  "", markdown_table(stats.rename(columns={"50%": "median"})), "",
                  "![genes to flip](genes_to_flip.png)", "", "Genes most often changed:", ""]
        for target, group in flip_genes.groupby("target", sort=False):
            top = group.head(8)
            lines.append(f"- **{target}**: " + ", ".join(
                f"{g} ({'up' if c > 0 else 'down'} {c:+.2f}, {n} cells)"
                for g, c, n in zip(top["gene"], top["mean_change"], top["n_cells"])))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
