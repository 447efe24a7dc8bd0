"""DiffVAE training speed against the BLAS bound, on data of the paper's zebrafish size.

Trains DiffVAE with the paper's settings (hidden 512/256, m = 50, batch 128) on SYNTHETIC data of
the zebrafish dataset's shape (1422 cells x 1845 genes) on the TensorFlow and the JAX backend,
each in its own process, and prints seconds per epoch next to the time that the same matrix
multiplies (forward and backward, same shapes, same batches) take as plain numpy BLAS calls in the
same run. The ratio is what matters: these machines are shared and noisy. Beside it, the floor of
any Keras training step of these shapes in the same backend: the same Dense layers (less the
small log-variance head) as a plain multilayer perceptron, squared error and SGD (no BatchNorm, no
sampling, no MMD, no Adam).

    python benchmarks/train_speed.py [--epochs 10] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

N_CELLS, N_GENES, HIDDEN, LATENT, BATCH = 1422, 1845, (512, 256), 50, 128


def synthetic_matrix() -> np.ndarray:
    """SYNTHETIC [0, 1] expression of the zebrafish shape."""
    return np.random.default_rng(0).uniform(size=(N_CELLS, N_GENES)).astype(np.float32)


def layer_shapes() -> list[tuple[int, int]]:
    """(fan_in, fan_out) of every Dense layer of DiffVAE, encoder then decoder."""
    h2, h1 = HIDDEN
    return [(N_GENES, h2), (h2, h1), (h1, LATENT), (h1, LATENT),  # encoder, mu, log-variance
            (LATENT, h1), (h1, h2), (h2, N_GENES)]                # decoder


def blas_epoch_seconds(repeats: int) -> tuple[float, float]:
    """Best time of one epoch's matrix multiplies in numpy, and their GFLOP."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(s).astype(np.float32) for s in layer_shapes()]
    sizes = [BATCH] * (N_CELLS // BATCH) + ([N_CELLS % BATCH] if N_CELLS % BATCH else [])
    inputs = {b: [rng.standard_normal((b, w.shape[0])).astype(np.float32) for w in weights]
              for b in set(sizes)}
    flops = 0.0
    for b in sizes:
        for i, w in enumerate(weights):
            # forward, weight gradient, and input gradient (none needed for the first layer)
            flops += 2 * b * w.size * (3 if i else 2)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for b in sizes:
            for i, (w, a) in enumerate(zip(weights, inputs[b])):
                y = a @ w
                _ = a.T @ y
                if i:
                    _ = y @ w.T
        best = min(best, time.perf_counter() - start)
    return best, flops / 1e9


def keras_epoch_seconds(epochs: int, repeats: int, bare: bool = False) -> float:
    """Best seconds per epoch of DiffVAE training in this process's Keras backend.

    ``bare``: the floor of any Keras training step of these shapes instead, a plain
    multilayer perceptron of the same Dense layers less the log-variance head (ReLU, sigmoid
    output), squared error, SGD, fed and compiled the same way.
    """
    import keras

    from diffvae._batching import steps_per_execution, training_input
    from diffvae.networks import LatentAutoencoder

    keras.utils.set_random_seed(0)
    x = synthetic_matrix()
    data, batches = training_input(x, BATCH, seed=0)  # as DiffVAE.fit
    if bare:
        model = keras.Sequential([keras.Input((N_GENES,))] + [
            keras.layers.Dense(units, activation="relu")
            for units in (*HIDDEN, LATENT, *reversed(HIDDEN))]
            + [keras.layers.Dense(N_GENES, activation="sigmoid")])
        optimizer, loss = keras.optimizers.SGD(1e-3), "mse"
        # the input is the target: numpy arrays twice, or pairs from the tf.data pipeline
        inputs = (data, data) if isinstance(data, np.ndarray) else (data.map(lambda b: (b, b)),)
    else:
        model = LatentAutoencoder(N_GENES, LATENT, HIDDEN, "mmd", seed=0)
        optimizer, loss, inputs = keras.optimizers.Adam(1e-3), None, (data,)
    model.compile(optimizer=optimizer, loss=loss, jit_compile=True,
                  steps_per_execution=steps_per_execution(batches.get("steps_per_epoch")))
    model.fit(*inputs, epochs=1, verbose=0, **batches)  # compile outside the timing
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(*inputs, epochs=epochs, verbose=0, **batches)
        best = min(best, (time.perf_counter() - start) / epochs)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps({"seconds": keras_epoch_seconds(args.epochs, args.repeats),
                          "bare": keras_epoch_seconds(args.epochs, args.repeats, bare=True)}))
        return
    blas, gflop = blas_epoch_seconds(args.repeats * 5)
    print(f"DiffVAE training, {N_CELLS} cells x {N_GENES} genes (SYNTHETIC), hidden {HIDDEN}, "
          f"m = {LATENT}, batch {BATCH}; {gflop:.1f} GFLOP of matrix multiplies per epoch")
    print(f"{'backend':<12}{'s/epoch':>10}{'BLAS bound':>12}{'ratio':>8}{'GFLOP/s':>10}"
          f"{'bare MLP + SGD':>16}{'ratio':>8}")
    print(f"{'numpy BLAS':<12}{blas:>10.4f}{blas:>12.4f}{1.0:>8.2f}{gflop / blas:>10.0f}")
    for backend in ("tensorflow", "jax"):
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        run = subprocess.run(
            [sys.executable, __file__, "--worker", backend, "--epochs", str(args.epochs),
             "--repeats", str(args.repeats)], env=env, capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{backend:<12} failed: {run.stderr.strip().splitlines()[-1]}")
            continue
        result = json.loads(run.stdout.strip().splitlines()[-1])
        seconds, bare = result["seconds"], result["bare"]
        print(f"{backend:<12}{seconds:>10.4f}{blas:>12.4f}{seconds / blas:>8.2f}"
              f"{gflop / seconds:>10.0f}{bare:>16.4f}{bare / blas:>8.2f}")


if __name__ == "__main__":
    main()
