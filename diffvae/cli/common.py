"""Pieces shared by the ``diffvae <command>`` commands: parsers, data options, reference labels,
errors as one line, atomic outputs (the manifest of a finished run: :mod:`.manifest`)."""
from __future__ import annotations

import argparse
import contextlib
import functools
import re
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from .. import defaults
from .._files import atomic_path, recording
from ..checks import optional, positive_int
from ..errors import InputError
from ..progress import show_steps, step
from .manifest import MANIFEST, start_outputs, write_manifest

#: the original code's option names (its train_DiffVAE.py), accepted beside this package's
ORIGINAL_OPTIONS = {"--data": "--gene_expression_filename", "--hidden-dims": "--hidden_dimensions",
                    "--latent-dim": "--latent_dimension", "--batch-size": "--batch_size",
                    "--learning-rate": "--learning_rate", "--model-name": "--model_name"}


def spellings(option: str) -> tuple[str, ...]:
    """An option's one spelling, and the original code's name for it when it had one."""
    return (option, *([ORIGINAL_OPTIONS[option]] if option in ORIGINAL_OPTIONS else []))


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written; every option's default after its help, unless the help
    already says it ("default", or "paper:" for the paper's value) or there is none to say."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (not action.option_strings or action.required or "default" in text
                or "paper:" in text or action.default in (None, False, argparse.SUPPRESS)):
            return text
        default = (" ".join(map(str, action.default)) if isinstance(action.default, (list, tuple))
                   else "%(default)s")
        return f"{text} (default: {default})".strip()


def plain_text(doc: str | None) -> str | None:
    """A module docstring as plain text for ``--help``: no reStructuredText markup
    (````code````, ``:class:`name```, ``Example::``)."""
    if doc is None:
        return None
    doc = re.sub(r":\w+:`~?([^`]+)`", r"\1", doc)
    return doc.replace("``", "").replace("::\n", ":\n")


def new_parser(command_name: str, doc: str | None) -> argparse.ArgumentParser:
    """The parser of ``diffvae <command_name>``, its module docstring (as plain text) as the
    description."""
    return argparse.ArgumentParser(prog=f"diffvae {command_name}", description=plain_text(doc),
                                   formatter_class=HelpFormatter)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``--seed``, ``--out`` and ``--quiet``, which every command has."""
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of every random step (training, t-SNE, clustering): the same "
                        "seed gives the same numbers on the same machine")
    parser.add_argument("--out", type=Path, required=True,
                        help="output folder (made if missing; files of the same name replaced)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars or step lines: warnings and errors only")


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse the options, make sure ``--out`` can be written (before any work), and show a line
    per step on stderr unless ``--quiet``."""
    args = parser.parse_args(argv)
    show_steps(quiet=getattr(args, "quiet", False))
    if getattr(args, "seed", 0) < 0:
        raise InputError(f"--seed must be 0 or more, got {args.seed}")
    if getattr(args, "out", None) is not None:
        writable_folder(args.out, "--out")
        start_outputs(args.out)
    return args


def writable_folder(path: Path, name: str) -> None:
    """Refuse an output folder that cannot be written: a file in its place, or no permission
    there (or, for a folder still to be made, in the nearest existing folder above it)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{name} {path}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise InputError(f"{name} {path}: cannot write in {existing} ({exc.strerror})") from None


def add_data_arguments(parser: argparse.ArgumentParser, *, backed: bool = False) -> None:
    """``--dataset NAME`` or ``--data FILE`` (with ``--genes``), plus ``--data-dir``; with
    ``backed``, also ``--backed`` (work from the .h5ad on disk without loading its matrix)."""
    from ..datasets import REGISTRY

    source = parser.add_mutually_exclusive_group(required=True)
    offline = sorted(name for name, info in REGISTRY.items() if not info.files)
    source.add_argument("--dataset", choices=sorted(REGISTRY),
                        help=f"a registered dataset; offline: {', '.join(offline)}; the others "
                        "are downloaded once (or read from --data-dir)")
    source.add_argument(
        *spellings("--data"), dest="data",
        metavar="FILE", help="expression file, cells x genes: .h5ad, .csv/.tsv, .npz or .npy")
    parser.add_argument("--genes", metavar="FILE",
                        help="gene names for a file without them (one per line, or a CSV)")
    parser.add_argument("--layer", help="AnnData layer to use instead of X")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="folder holding local copies of datasets (default $DIFFVAE_DATA_DIR)")
    if backed:
        parser.add_argument("--backed", action="store_true",
                            help="read the .h5ad of --data from disk, block by block, without "
                            "loading its matrix (data larger than memory)")


def add_label_argument(parser: argparse.ArgumentParser) -> None:
    """``--label-key``: the obs column of reference labels (cell types), read by
    :func:`reference_labels`."""
    parser.add_argument("--label-key", help="obs column of reference labels, the cell types "
                        "(default: the dataset's)")


def add_early_stopping_argument(parser: argparse.ArgumentParser, watched: str = "validation loss") -> None:
    """``--early-stopping [PATIENCE]``: stop when the ``watched`` figure has not improved for
    PATIENCE epochs and keep the best epoch's weights (default: train every epoch)."""
    parser.add_argument("--early-stopping", nargs="?", type=int, metavar="PATIENCE",
                        const=defaults.EARLY_STOPPING_PATIENCE,
                        help=f"stop training when the {watched} has not improved for PATIENCE "
                        f"epochs (default {defaults.EARLY_STOPPING_PATIENCE}) and keep the best "
                        "epoch's weights; without it every epoch is trained, as the paper")


def add_data_parallel_argument(parser: argparse.ArgumentParser) -> None:
    """``--data-parallel``: train over every device of every process (Keras's distribution)."""
    parser.add_argument("--data-parallel", action="store_true",
                        help="train data-parallel over all devices and processes (JAX backend; "
                        "processes joined by the KERAS_DISTRIBUTION_* variables)")


@contextlib.contextmanager
def process_outputs(out: Path):
    """``out`` on process 0 of a data-parallel run (and without one); on the other processes a
    scratch folder, removed afterwards: every process takes the same steps, so that they all
    run the same computations and finish together, and one writes."""
    from ..distributed import process_shard

    if process_shard()[0] == 0:
        yield out
        return
    with tempfile.TemporaryDirectory() as scratch:
        yield Path(scratch)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model BUNDLE`` or train DiffVAE with the paper's settings (``--epochs``,
    ``--latent-dim``), or with the MMD study's (``--tuned``)."""
    models = parser.add_mutually_exclusive_group()
    models.add_argument("--model", type=Path, metavar="BUNDLE",
                        help="a saved model bundle; default: train DiffVAE with the paper's settings")
    models.add_argument("--tuned", action="store_true",
                        help="train DiffVAE.tuned(): the MMD study's recommended options instead "
                        "of the paper's")
    parser.add_argument("--epochs", type=int, default=defaults.EPOCHS,
                        help=f"when training (default {defaults.EPOCHS})")
    parser.add_argument(*spellings("--latent-dim"), type=int, default=defaults.LATENT_DIM,
                        help=f"when training (default {defaults.LATENT_DIM})")
    add_early_stopping_argument(parser)


def bundle_option(args: argparse.Namespace):
    """The ``--model`` bundle, loaded before any work so that a bad one is refused first, and
    the latent size the command will have; without a bundle, ``--epochs`` and ``--latent-dim``
    are checked and the model is None (DiffVAE will be trained)."""
    from ..models import LatentModel

    if args.model is not None:
        model = LatentModel.load(args.model)
        return model, model.latent_dim
    positive_int("--epochs", args.epochs)
    optional(positive_int, "--early-stopping", args.early_stopping)
    return None, positive_int("--latent-dim", args.latent_dim)


def load_or_train(args: argparse.Namespace, adata: ad.AnnData, model=None):
    """``model`` (from :func:`bundle_option`), or DiffVAE trained on ``adata`` and saved to
    ``<out>/model``."""
    from ..models import DiffVAE

    if model is not None:
        return model
    make = DiffVAE.tuned if args.tuned else DiffVAE
    with step(f"training DiffVAE{' (tuned)' if args.tuned else ''} for {args.epochs} epochs"):
        model = make(latent_dim=args.latent_dim).fit(
            adata, epochs=args.epochs, seed=args.seed, layer=args.layer,
            early_stopping=args.early_stopping, verbose=0 if args.quiet else "auto")
    model.save(args.out / "model", overwrite=True)
    return model


def model_training_note(model, args: argparse.Namespace) -> str | None:
    """:func:`diffvae.stopping.training_note` of DiffVAE's training for a report: of this run
    (``--epochs``, ``--early-stopping``) or of the ``--model`` bundle's saved history; None
    for a model without one."""
    from ..stopping import training_note

    history = getattr(model, "history_", None)
    if history is None:
        return None
    trained_here = args.model is None
    return training_note(history, args.epochs if trained_here else len(history),
                         early_stopping=trained_here and args.early_stopping is not None)


def load_input(args: argparse.Namespace) -> ad.AnnData:
    """The AnnData that ``--dataset`` / ``--data`` name; opened with ``backed="r"`` (its matrix
    left on disk) with ``--backed``."""
    from ..datasets import load_dataset
    from ..io import open_h5ad, read

    if getattr(args, "backed", False):
        if args.data is None or Path(args.data).suffix != ".h5ad" or args.genes or args.layer:
            raise InputError("--backed reads X of an .h5ad file: pass --data FILE.h5ad "
                             "(without --genes or --layer)")
        with step(f"opening {args.data} (backed)"):
            return open_h5ad(args.data)
    with step(f"reading {args.dataset or args.data}"):
        if args.dataset:
            return load_dataset(args.dataset, data_dir=args.data_dir)
        return read(args.data, genes=args.genes)


def reference_labels(adata: ad.AnnData, key: str | None) -> tuple[str | None, np.ndarray | None]:
    """The label column (``key``, else the dataset's) and its labels as strings; (None, None)
    when the data have none. A ``key`` that is not a column is refused."""
    from ..datasets import label_key

    key = key or label_key(adata)
    if key is None:
        return None, None
    if key not in adata.obs:
        raise InputError(f"no obs column {key!r} for reference labels; columns: {list(adata.obs)}")
    return key, adata.obs[key].astype(str).to_numpy()


def command(command_name: str) -> Callable:
    """Decorate a ``main(argv)``: expected failures (bad input, missing files) become one line
    ``diffvae <command_name>: error: ...`` on stderr and exit status 2, never a traceback."""

    def decorate(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
        @functools.wraps(main)
        def wrapper(argv: list[str] | None = None) -> int:
            import matplotlib

            matplotlib.use("Agg")  # commands only write figures to files; never open windows
            # a warning reads as one line of the command, not as a line of package code
            plain, warnings.formatwarning = warnings.formatwarning, (
                lambda message, *args, **kwargs: f"diffvae {command_name}: warning: {message}\n")
            try:
                with recording() as written:
                    status = main(argv)
            except (InputError, FileNotFoundError, FileExistsError) as exc:
                print(f"diffvae {command_name}: error: {exc}", file=sys.stderr)
                return 2
            except KeyboardInterrupt:  # files are written whole or not at all; no manifest
                print(f"diffvae {command_name}: interrupted; the files written so far are "
                      "complete, the rest were not written, and the output folder has no "
                      f"{MANIFEST}", file=sys.stderr)
                return 130
            finally:
                warnings.formatwarning = plain
            written = [path for path in written if path.exists()]  # not scratch files
            if status == 0 and written:
                write_manifest(command_name, sys.argv[1:] if argv is None else list(argv), written)
            return status

        return wrapper

    return decorate


def write_csv(frame: pd.DataFrame, path: Path, **kwargs) -> None:
    """Write a CSV atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, **kwargs)


def write_h5ad(adata: ad.AnnData, path: Path) -> None:
    """Write an ``.h5ad`` atomically."""
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)


def save_figure(fig, path: Path) -> None:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format="png")
    plt.close(fig)


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame (with its index as the first column) as a Markdown table."""
    index_name = " / ".join(str(n) for n in frame.index.names if n is not None) or " "
    header = [index_name] + [str(c) for c in frame.columns]
    rows = [[", ".join(map(str, i)) if isinstance(i, tuple) else str(i)] + [_cell(v) for v in row]
            for i, row in zip(frame.index, frame.to_numpy())]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
