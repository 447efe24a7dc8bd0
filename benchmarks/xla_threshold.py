"""When XLA pays on the TensorFlow backend: DiffVAE with the paper's settings on paul15_tradeseq
(real, 2,660 cells x 240 genes) and on SYNTHETIC counts of the zebrafish data's shape (1,422 cells
x 1,845 genes; its matrix is not mirrored offline) fitted for a few and for the paper's 100
epochs, XLA-compiled and in TensorFlow's graph mode, in the same process. Prints the wall
seconds of each fit, the training steps and the ratio XLA / graph mode; the library compiles
with XLA from ``diffvae._batching.XLA_MIN_STEPS`` steps on.

    python benchmarks/xla_threshold.py [--datasets paul15_tradeseq synthetic] [--epochs 3 30 100]
                                       [--data-dir DIR]
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

import pandas as pd

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["paul15_tradeseq", "synthetic"])
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 30, 100])
    parser.add_argument("--data-dir", default=os.environ.get("DIFFVAE_DATA_DIR"))
    args = parser.parse_args()

    from diffvae import DiffVAE, _batching, datasets, defaults

    DiffVAE(2, (4, 2)).fit(datasets.synthetic(200, 20), epochs=1, verbose=0)  # TensorFlow's warm-up
    rows = []
    for name in args.datasets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            adata = (datasets.synthetic(1422, 1845, seed=0) if name == "synthetic" else
                     datasets.load_dataset(name, data_dir=args.data_dir, download=False))
        n_train = round(adata.n_obs * (1 - defaults.VALIDATION_SPLIT))
        for epochs in args.epochs:
            seconds = {}
            for mode, threshold in (("xla", 0), ("graph", float("inf"))):
                _batching.XLA_MIN_STEPS = threshold  # forces the mode of this fit
                start = time.perf_counter()
                DiffVAE().fit(adata, epochs=epochs, seed=0, verbose=0)
                seconds[mode] = time.perf_counter() - start
            rows.append({"dataset": name, "genes": adata.n_vars, "epochs": epochs,
                         "steps": epochs * -(-n_train // defaults.BATCH_SIZE),
                         "xla_s": seconds["xla"], "graph_s": seconds["graph"],
                         "xla_over_graph": seconds["xla"] / seconds["graph"]})
            print(pd.DataFrame(rows).round(2).to_string(index=False), "\n", flush=True)


if __name__ == "__main__":
    main()
