"""SYNTHETIC data and helpers the tests of several modules share."""
import fcntl
import subprocess
from contextlib import contextmanager
from pathlib import Path

import anndata as ad
import numpy as np
import scipy.sparse as sp

#: a tiny network and a two-epoch fit, for tests about plumbing rather than quality
TINY = {"latent_dim": 3, "hidden_dims": (8, 4)}
TINY_FIT = {"epochs": 2, "batch_size": 32, "verbose": 0}
#: the same on the command line
QUICK = ["--epochs", "2", "--latent-dim", "3", "--hidden-dims", "8", "4", "--batch-size", "32",
         "--quiet"]
#: paul15's progenitor types
PROGENITORS = ["Multipotent progenitors", "GMP"]


@contextmanager
def computed_once(folder: Path):
    """Hold ``folder``'s lock: the first process to get it computes what goes in the folder
    (when it is not there yet) while the others wait for it, then read it."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield folder


def finish(processes: list[subprocess.Popen], timeout: float = 900) -> list[str]:
    """Wait for ``processes`` (started with ``stdout=PIPE, text=True``), assert that each
    succeeded (showing the end of its stderr, or of its stdout when stderr was not piped) and
    return their outputs; any left running after a failure are killed."""
    outputs = []
    try:
        for process in processes:
            output, errors = process.communicate(timeout=timeout)
            assert process.returncode == 0, (errors or output)[-3000:]
            outputs.append(output)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return outputs


def planted(rng, n=300, communities=6, signal=True):
    """SYNTHETIC stochastic block model whose node features carry the community."""
    group = np.repeat(np.arange(communities), n // communities)
    same = group[:, None] == group[None, :]
    a = np.triu(rng.uniform(size=(n, n)) < np.where(same, 0.12, 0.003), k=1)
    features = rng.gamma(1.0, 1.0, (n, 30))
    features[:, :communities] += 4 * np.eye(communities)[group]
    if not signal:
        features = features[rng.permutation(n)]
    return ad.AnnData(features.astype(np.float32)), sp.csr_matrix(a + a.T)


def separated_blobs(n_per: int = 150, k: int = 4, seed: int = 0):
    """SYNTHETIC: k well-separated Gaussian blobs in 10 dimensions, and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(k, 10))
    labels = np.repeat(np.arange(k), n_per)
    return (centres[labels] + rng.normal(size=(len(labels), 10))).astype(np.float32), labels
