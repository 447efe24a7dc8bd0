"""The command line: ``diffvae <command> [options]`` (or ``python -m diffvae <command>``).

One module per command in this package; each has ``build_parser()`` and ``main(argv)``, so
``diffvae <command> --help`` shows its options. Library code never lives here.
"""
from __future__ import annotations

import importlib
import os
import sys

from .. import quiet

quiet.install()  # before any command imports TensorFlow

#: command -> what it does (its module is diffvae.cli.<command>)
COMMANDS = {
    "train": "train DiffVAE or a baseline (VAE, AE, PCA) and write the latent representation",
    "tune": "the paper's hyperparameter search, chosen by validation loss",
    "identify": "cell types, their latent dimensions and marker genes (paper Fig. 1, Table 1)",
    "perturb": "change cell states by shifting latent dimensions (paper Fig. 2, 3)",
    "benchmark": "compare DiffVAE, VAE, AE and PCA by clustering agreement (paper Table 2)",
    "graph": "links between cells with Graph-DiffVAE (paper Fig. 4)",
}


def usage() -> str:
    """The list of commands, as ``diffvae --help`` prints it."""
    width = max(map(len, COMMANDS))
    return ("usage: diffvae <command> [options]   (diffvae <command> --help for its options)\n\n"
            "DiffVAE and Graph-DiffVAE (Bica et al., Scientific Reports 2020)\n\ncommands:\n"
            + "\n".join(f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()))


def main(argv: list[str] | None = None) -> int:
    """Run ``diffvae <command> ...``; exit status 2 with the usage for an unknown command."""
    try:
        status = _run(sys.argv[1:] if argv is None else list(argv))
        sys.stdout.flush()  # here, where a closed pipe can be caught, not at exit
        return status
    except BrokenPipeError:  # the reader stopped early (diffvae --help | head -1): no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _run(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from .._version import __version__

        print(f"diffvae {__version__}")
        return 0
    if argv[0] not in COMMANDS:
        print(f"{usage()}\n\ndiffvae: error: unknown command {argv[0]!r}", file=sys.stderr)
        return 2
    return importlib.import_module(f"{__name__}.{argv[0]}").main(argv[1:])
