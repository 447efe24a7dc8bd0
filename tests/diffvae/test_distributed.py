"""Data-parallel training on Keras's engine (keras.distribution on JAX), of DiffVAE and of
Graph-DiffVAE: two worker processes on localhost reach the losses of one process with the same
global batch; two devices in one process give the same losses as one device (DiffVAE) or as two
processes (the graph model). The processes are always cleaned up."""
import json
import os
import socket
import subprocess
import sys

import pandas as pd
import pytest

from tests.helpers import computed_once, finish

pytest.importorskip("jax")
pytestmark = pytest.mark.slow  # each check starts three or four processes


TRAIN = ["-m", "diffvae", "train", "--dataset", "synthetic", "--data-parallel", "--latent-dim", "8",
         "--hidden-dims", "32", "16", "--epochs", "4", "--batch-size", "64", "--quiet"]


GRAPH = ["-m", "diffvae", "graph", "--dataset", "synthetic", "--graph", "knn", "--k", "5",
         "--data-parallel", "--hidden-dim", "32", "--latent-dim", "8", "--epochs", "3",
         "--batch-size", "200", "--tsne-max-cells", "300", "--quiet"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def start(out, n_processes: int = 1, devices_per_process: int = 1,
          command: list[str] = TRAIN) -> list[subprocess.Popen]:
    """``command`` (``diffvae ... --data-parallel``) started in ``n_processes`` worker processes."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices_per_process}"}
    port = free_port()
    workers = []
    for i in range(n_processes):
        extra = {} if n_processes == 1 else {
            "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"localhost:{port}",
            "KERAS_DISTRIBUTION_NUM_PROCESSES": str(n_processes),
            "KERAS_DISTRIBUTION_PROCESS_ID": str(i)}
        workers.append(subprocess.Popen([sys.executable, *command, "--out", str(out)],
                                        env={**env, **extra}, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True))
    return workers


def train(out, n_processes: int = 1, devices_per_process: int = 1,
          command: list[str] = TRAIN) -> pd.DataFrame:
    """``command`` in ``n_processes`` worker processes; process 0's history."""
    finish(start(out, n_processes, devices_per_process, command), timeout=300)
    return history(out)


def history(out) -> pd.DataFrame:
    return pd.read_csv(out / "history.csv", index_col=0)


@pytest.fixture(scope="module")
def one_process(run_tmp) -> pd.DataFrame:
    """The baseline: DiffVAE trained by one process on one device, once for all the test
    worker processes."""
    with computed_once(run_tmp / "distributed_one_process") as out:
        if not (out / "history.csv").exists():
            train(out)
    return history(out)


def test_two_worker_processes_reach_the_losses_of_one(tmp_path, one_process):
    one = one_process
    two = train(tmp_path / "two", n_processes=2)
    print(pd.DataFrame({"1 process": one["loss"], "2 processes": two["loss"]}))
    # each process reads its own half of the cells, so batches are drawn differently: the same
    # global batch and model give losses within 2 % epoch by epoch
    pd.testing.assert_series_equal(two["loss"], one["loss"], rtol=0.02)
    pd.testing.assert_series_equal(two["val_loss"], one["val_loss"], rtol=0.02)


def test_two_devices_in_one_process_give_the_losses_of_one(tmp_path, one_process):
    one = one_process
    two = train(tmp_path / "two", devices_per_process=2)
    # the same batches, split over two devices: the same numbers up to float round-off (the
    # sums run in another order), which training then carries on
    assert two["loss"].iloc[0] == pytest.approx(one["loss"].iloc[0], rel=1e-5)
    pd.testing.assert_series_equal(two["loss"], one["loss"], rtol=1e-3)


@pytest.mark.slow(minutes=3)
def test_graph_training_on_two_worker_processes_reaches_the_losses_of_one(tmp_path):
    """Each step's subgraphs shared out over the devices of two processes (each reading its own
    cells) as over two devices of one process: the same steps, so the same losses up to float
    round-off; against one device training on one subgraph of the same global batch (the
    cross-device edges of the step are lost), losses within 2 % epoch by epoch."""
    # the two single-process runs at once, then the two processes
    finish([*start(tmp_path / "one", command=GRAPH),
            *start(tmp_path / "devices", devices_per_process=2, command=GRAPH)], timeout=300)
    one, devices = history(tmp_path / "one"), history(tmp_path / "devices")
    two = train(tmp_path / "two", n_processes=2, command=GRAPH)
    print(pd.DataFrame({"1 device": one["loss"], "2 processes": two["loss"],
                        "2 devices, 1 process": devices["loss"]}))
    pd.testing.assert_series_equal(two["loss"], devices["loss"], rtol=1e-4)
    pd.testing.assert_series_equal(two["val_auc"], devices["val_auc"], rtol=1e-4)
    pd.testing.assert_series_equal(two["loss"], one["loss"], rtol=0.02)
    assert two["loss"].iloc[-1] < two["loss"].iloc[0]
    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert metrics["devices"] == 2 and metrics["link_prediction"]["test"]["auc"] > 0.7
