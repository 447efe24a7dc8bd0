"""What long work shows (diffvae.progress) and the filter of TensorFlow's start-up lines
(diffvae.quiet)."""
import os
import subprocess
import sys

import pytest

from diffvae import progress
from diffvae.quiet import filtered_stderr

NOISY = ("absl::InitializeLog", "oneDNN", "cudart_stub", "cuInit", "cpu_feature_guard")


def test_the_command_line_and_the_documented_filter_print_no_tensorflow_lines(tmp_path, counts_csv):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    script = ("import diffvae.quiet\ndiffvae.quiet.install()\n"
              "import numpy as np, diffvae, graph_diffvae.model\n"
              "diffvae.AE(2, (4, 2)).fit(np.random.default_rng(0).poisson(1, (30, 5)), epochs=1, verbose=0)\n")
    command = ["-m", "diffvae", "train", "--data", str(counts_csv), "--model", "ae", "--epochs", "1",
               "--latent-dim", "2", "--hidden-dims", "4", "2", "--quiet", "--out", str(tmp_path)]
    for args in (["-c", script], command):
        result = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert not [word for word in NOISY if word in result.stderr], result.stderr


def test_the_filter_keeps_what_is_not_tensorflow_start_up_noise(capfd):
    with filtered_stderr():
        os.write(2, b"I0000 00:00:1795639563.396815   15431 port.cc:153] oneDNN custom operations\n")
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"a real problem\n")
    assert capfd.readouterr().err == "a real problem\n"


def test_keras_verbosity_follows_the_terminal(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert progress.keras_verbose("auto") == 2  # a log file: one plain line per epoch
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert progress.keras_verbose("auto") == 1 and progress.keras_verbose(0) == 0


@pytest.mark.slow  # a minute or more
def test_fitting_several_models_from_files_warns_of_no_retracing(tmp_path, counts_file):
    """Each fit traces its own training step once; TensorFlow's retracing warning (set off by
    the sixth model or so) is dropped at ``import diffvae``."""
    script = ("import diffvae\n"
              f"for seed in range(8):\n"
              f"    diffvae.AE(2, (4, 2)).fit({str(counts_file)!r}, epochs=1, verbose=0, seed=seed)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "retracing" not in result.stderr, result.stderr
