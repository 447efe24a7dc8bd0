"""The command-line options the study scripts share (mmd_study.py, leiden_study.py,
leiden_choice.py): seeds, datasets, epochs, the data folder and the output folder."""
from __future__ import annotations

import argparse
from pathlib import Path

from diffvae import defaults


def study_parser(doc: str, *, seeds: int, datasets, out: str) -> argparse.ArgumentParser:
    """A parser with the shared options; each script adds its own."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=seeds, help="seeds 0 .. N-1")
    parser.add_argument("--datasets", nargs="+", default=list(datasets))
    parser.add_argument("--epochs", type=int, default=defaults.EPOCHS)
    parser.add_argument("--data-dir", help="folder holding the datasets' folders")
    parser.add_argument("--out", type=Path, default=Path(out))
    return parser
