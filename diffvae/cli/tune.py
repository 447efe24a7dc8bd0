"""``diffvae tune``: the paper's hyperparameter search, chosen by validation loss.

The paper's grid: h1 in {256, 128} with h2 = 2 h1, latent size m in {50, 100}, learning rate in
{1e-2, 1e-3, 1e-4}, batch size in {64, 128, 256}; 100 epochs on a random 80 % of the cells,
scored on the other 20 %. Every option takes a shorter list for a smaller grid. Writes
``tuning.csv`` (every configuration's final and best losses), ``best.json`` (the winner: the
lowest final validation loss) and the winner's trained model bundle, ``best_model/``
(``diffvae.load``; ``diffvae identify --model``).

Example::

    diffvae tune --dataset paul15_tradeseq --out results/tune --epochs 30 --h1 128
"""
from __future__ import annotations

import argparse
import itertools
import json

import pandas as pd
from tqdm.auto import tqdm

from .. import defaults
from .._files import atomic_path
from ..checks import fraction, positive_int, positive_ints, positive_number
from ..errors import TrainingError
from ..models import get_model
from .common import (add_data_arguments, add_run_arguments, command, load_input, new_parser,
                     parse_args, write_csv)


def build_parser() -> argparse.ArgumentParser:
    parser = new_parser("tune", __doc__)
    add_data_arguments(parser)
    parser.add_argument("--model", choices=["diffvae", "vae", "ae"], default="diffvae",
                        help="the model whose settings are searched")
    parser.add_argument("--h1", type=int, nargs="+", default=list(defaults.TUNE_H1),
                        help="inner hidden size; the outer one is 2 * h1 (paper)")
    parser.add_argument("--latent-dims", type=int, nargs="+", default=list(defaults.TUNE_LATENT_DIMS),
                        help="latent sizes m to try (paper)")
    parser.add_argument("--learning-rates", type=float, nargs="+",
                        default=list(defaults.TUNE_LEARNING_RATES), help="Adam learning rates to try (paper)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=list(defaults.TUNE_BATCH_SIZES),
                        help="minibatch sizes to try (paper)")
    parser.add_argument("--epochs", type=int, default=defaults.EPOCHS,
                        help="training epochs of every configuration (paper)")
    parser.add_argument("--validation-split", type=float, default=defaults.VALIDATION_SPLIT,
                        help="share of cells held out; the lowest validation loss picks the "
                        "configuration")
    add_run_arguments(parser)
    return parser


def grid(args: argparse.Namespace) -> list[dict]:
    """Every configuration of the grid, as fit / constructor arguments."""
    positive_ints("--h1", args.h1)
    positive_ints("--latent-dims", args.latent_dims)
    positive_ints("--batch-sizes", args.batch_sizes)
    for rate in args.learning_rates:
        positive_number("--learning-rates", rate)
    positive_int("--epochs", args.epochs)
    fraction("--validation-split", args.validation_split, low_open=True)
    values = [args.h1, args.latent_dims, args.learning_rates, args.batch_sizes]
    return [{"h1": h1, "latent_dim": m, "learning_rate": lr, "batch_size": b}
            for h1, m, lr, b in itertools.product(*values)]


@command("tune")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)
    configs = grid(args)
    adata = load_input(args)
    rows, best_model, best_loss = [], None, float("inf")
    for config in tqdm(configs, desc="configurations", unit="fit", disable=args.quiet):
        model = get_model(args.model, latent_dim=config["latent_dim"],
                          hidden_dims=(2 * config["h1"], config["h1"]))
        try:
            model.fit(adata, epochs=args.epochs, batch_size=config["batch_size"],
                      learning_rate=config["learning_rate"], validation_split=args.validation_split,
                      seed=args.seed, verbose=0, layer=args.layer)
        except TrainingError:  # a diverging configuration is a result of the search, not an end
            rows.append({**config, "h2": 2 * config["h1"], "diverged": True})
            continue
        history = model.history_
        rows.append({**config, "h2": 2 * config["h1"], "diverged": False,
                     "loss": history["loss"].iloc[-1], "val_loss": history["val_loss"].iloc[-1],
                     "best_val_loss": history["val_loss"].min(),
                     "best_epoch": int(history["val_loss"].idxmin()) + 1})
        if history["val_loss"].iloc[-1] < best_loss:  # the winner, as the table sorts
            best_model, best_loss = model, history["val_loss"].iloc[-1]
    table = pd.DataFrame(rows).sort_values("val_loss", ignore_index=True, na_position="last")
    write_csv(table, args.out / "tuning.csv", index=False)
    if table["diverged"].all():
        raise TrainingError("every configuration diverged; try lower --learning-rates")
    # to_dict keeps each column's type: whole numbers stay int, so best.json feeds DiffVAE as is
    best = table.head(1).to_dict("records")[0]
    with atomic_path(args.out / "best.json") as tmp:
        tmp.write_text(json.dumps({"model": args.model, "epochs": args.epochs, **best}, indent=2))
    best_model.save(args.out / "best_model", overwrite=True)
    print(table.to_string(index=False))
    print(f"best: h1={best['h1']}, h2={best['h2']}, m={best['latent_dim']}, "
          f"lr={best['learning_rate']}, batch={best['batch_size']} "
          f"(validation loss {best['val_loss']:.3f}); wrote {args.out / 'tuning.csv'} and its "
          f"model, {args.out / 'best_model'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
