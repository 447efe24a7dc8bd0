"""``diffvae train``: train DiffVAE (or a baseline) and write its outputs.

Writes to ``--out``: the model bundle (``<model-name>/``), the training history (``history.csv``)
and loss curves (``loss.png``), and the latent representation (``latent.h5ad`` with
``obsm["X_<model>"]``, and ``latent.csv``).

``--data-parallel`` trains on every device of every process that ``KERAS_DISTRIBUTION_*``
variables join (Keras's ``DataParallel`` on the JAX backend; see docs/distributed.md);
``--batch-size`` stays the global batch and only process 0 writes outputs.

``--backed`` trains from an .h5ad on disk without loading it (anndata's backed mode: minibatches
are read and scaled on the fly; for data larger than memory); ``latent.h5ad`` then holds the
cells' obs and the representation, not the expression.

Example::

    diffvae train --dataset pbmc68k_reduced --out results/pbmc68k_reduced
"""
from __future__ import annotations

import argparse
from pathlib import Path

import anndata as ad
import pandas as pd

from .. import defaults
from ..checks import fraction, optional, positive_int, positive_ints, positive_number
from ..distributed import data_parallel
from ..errors import InputError
from ..models import MODEL_NAMES, TUNED, LatentModel, get_model
from ..progress import step
from ..stopping import training_note
from .common import (add_data_arguments, add_data_parallel_argument, add_early_stopping_argument,
                     add_run_arguments, command, load_input, new_parser, parse_args,
                     process_outputs, save_figure, spellings, write_csv, write_h5ad)


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser("train", __doc__)
    add_data_arguments(parser, backed=True)
    parser.add_argument("--model", choices=sorted(MODEL_NAMES), default="diffvae",
                        help=f"{TUNED}: DiffVAE.tuned(), the MMD study's recommended options")
    parser.add_argument(*spellings("--hidden-dims"),
                        dest="hidden_dims", type=int, nargs="+", default=list(defaults.HIDDEN_DIMS),
                        metavar="H", help="encoder hidden sizes, outermost first (paper: "
                        f"{' '.join(map(str, defaults.HIDDEN_DIMS))})")
    parser.add_argument(*spellings("--latent-dim"),
                        dest="latent_dim", type=int, default=defaults.LATENT_DIM,
                        help=f"latent size m (paper: {defaults.LATENT_DIM})")
    parser.add_argument(*spellings("--batch-size"), dest="batch_size", type=int,
                        default=defaults.BATCH_SIZE,
                        help=f"cells per minibatch, all devices together (paper: {defaults.BATCH_SIZE})")
    parser.add_argument("--epochs", type=int, default=defaults.EPOCHS,
                        help=f"passes over the training cells (paper: {defaults.EPOCHS})")
    parser.add_argument(*spellings("--learning-rate"), dest="learning_rate", type=float,
                        default=defaults.LEARNING_RATE,
                        help=f"Adam's learning rate (paper: {defaults.LEARNING_RATE:g})")
    parser.add_argument("--validation-split", type=float, default=defaults.VALIDATION_SPLIT,
                        help="share of cells held out for the validation loss (paper: "
                        f"{defaults.VALIDATION_SPLIT})")
    parser.add_argument("--n-top-genes", type=int,
                        help="keep this many highly variable genes (default: all)")
    parser.add_argument(*spellings("--model-name"), dest="model_name",
                        help="name of the saved bundle inside --out (default: the model type)")
    add_early_stopping_argument(parser)
    add_data_parallel_argument(parser)
    add_run_arguments(parser)
    return parser


def check_options(args: argparse.Namespace) -> None:
    """Refuse option values that cannot work, before any data is read."""
    positive_int("--latent-dim", args.latent_dim)
    positive_ints("--hidden-dims", args.hidden_dims)
    optional(positive_int, "--n-top-genes", args.n_top_genes)
    positive_int("--epochs", args.epochs)
    positive_int("--batch-size", args.batch_size)
    positive_number("--learning-rate", args.learning_rate)
    fraction("--validation-split", args.validation_split)
    optional(positive_int, "--early-stopping", args.early_stopping)
    if args.early_stopping is not None and args.validation_split == 0:
        raise InputError("--early-stopping watches the validation loss: --validation-split "
                         "must be above 0")


def make_model(args: argparse.Namespace) -> LatentModel:
    """The estimator the options describe."""
    params = {"latent_dim": args.latent_dim, "n_top_genes": args.n_top_genes}
    if args.model != "pca":
        params["hidden_dims"] = args.hidden_dims
    return get_model(args.model, **params)


def plot_history(history: pd.DataFrame):
    """Loss curves: total loss and each term, training and validation."""
    import matplotlib.pyplot as plt

    terms = [c for c in history.columns if not c.startswith("val_")]
    fig, axes = plt.subplots(1, len(terms), figsize=(4 * len(terms), 3.2), squeeze=False)
    for ax, term in zip(axes[0], terms):
        ax.plot(history.index + 1, history[term], label="training")
        if f"val_{term}" in history:
            ax.plot(history.index + 1, history[f"val_{term}"], label="validation")
        ax.set(title=term, xlabel="epoch")
        ax.legend()
    fig.tight_layout()
    return fig


@command("train")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    check_options(args)
    if args.data_parallel:  # first: the processes join before any computation
        with step("joining the data-parallel processes"):
            data_parallel()
    adata = load_input(args)
    model = make_model(args)
    with step(f"training {type(model).__name__}"):
        model.fit(adata, epochs=args.epochs, batch_size=args.batch_size,
                  learning_rate=args.learning_rate, validation_split=args.validation_split,
                  seed=args.seed, early_stopping=args.early_stopping,
                  verbose=0 if args.quiet else "auto", layer=args.layer)
    with process_outputs(args.out) as out:
        write_outputs(args, model, adata, out)
    return 0


def write_outputs(args: argparse.Namespace, model: LatentModel, adata: ad.AnnData, out: Path) -> None:
    """The bundle, the representation (h5ad and CSV), the history and its figure."""
    bundle = out / (args.model_name or args.model)
    model.save(bundle, overwrite=True)
    if args.backed:  # the expression stays in its file
        latent = model.transform(adata)
        adata = ad.AnnData(obs=adata.obs.copy())
        model._store(adata, latent, True)
    else:
        latent = model.transform(adata, layer=args.layer, key_added=True)
    write_h5ad(adata, out / "latent.h5ad")
    columns = [f"{args.model}_{i + 1}" for i in range(latent.shape[1])]
    write_csv(pd.DataFrame(latent, index=adata.obs_names.rename("cell"), columns=columns),
              out / "latent.csv")
    written = [bundle, out / "latent.h5ad", out / "latent.csv"]
    if hasattr(model, "history_"):
        write_csv(model.history_, out / "history.csv")
        save_figure(plot_history(model.history_), out / "loss.png")
        written += [out / "history.csv", out / "loss.png"]
        last = model.history_.iloc[-1]
        print(f"final loss {last['loss']:.3f}"
              + (f", validation loss {last['val_loss']:.3f}" if "val_loss" in last else ""))
        note = training_note(model.history_, args.epochs,
                             early_stopping=args.early_stopping is not None)
        if note:
            print(note.replace("`", ""))
    print("wrote " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    raise SystemExit(main())
