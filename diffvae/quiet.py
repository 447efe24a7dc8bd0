"""Keep TensorFlow's start-up lines off the terminal.

TensorFlow's C++ libraries write a few lines to stderr while they load ("All log messages
before absl::InitializeLog() ...", oneDNN and CUDA notices), before ``TF_CPP_MIN_LOG_LEVEL`` is
read, and one more when the devices are first listed ("failed call to cuInit" on a machine
without a GPU), so a CPU run looks as if it failed. After :func:`install`, when ``tensorflow`` is
first imported (by Keras, Spektral or the user), its stderr output is captured and every line
except those notices is written back. Set ``TF_CPP_MIN_LOG_LEVEL=0`` to see everything.

The command line installs it. In a notebook or script, call it before anything imports Keras::

    import diffvae.quiet
    diffvae.quiet.install()
    from diffvae import DiffVAE

``import diffvae`` itself changes nothing in how TensorFlow starts; it only drops TensorFlow's
"triggered tf.function retracing" warning (:func:`drop_retracing_warning`).
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator

#: what TensorFlow prints on a healthy start (absl pre-init banner, I/W lines from its loaders)
NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} [\d:. ]+\d+ (port|cudart_stub|cpu_feature_guard|cuda_\w+|gpu_\w+)\.cc:\d+\]"
    r"|E\d{4} [\d:. ]+\d+ cuda_\w+\.cc:\d+\] failed call to cuInit"
    r"|To enable the following instructions: .*rebuild TensorFlow")


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Capture what is written to file descriptor 2 (C++ included) and write back what is not
    :data:`NOISE`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not NOISE.match(line)]
            sys.stderr.write("".join(kept))


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        with filtered_stderr():
            self.loader.exec_module(module)
            # CUDA is initialised on first use, which prints "failed call to cuInit" on a
            # machine without a GPU: initialise it here, inside the filter.
            module.config.list_physical_devices()


class _TensorFlowFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one import only; the real finders locate the package
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Filter TensorFlow's start-up lines, unless it is loaded already or the user asked for
    its logs (``TF_CPP_MIN_LOG_LEVEL=0``)."""
    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "0":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # later C++ INFO and WARNING lines
    if not any(isinstance(f, _TensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TensorFlowFinder())


class _Retracing(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def drop_retracing_warning() -> None:
    """Drop TensorFlow's "triggered tf.function retracing" warning: fitting several models in
    one process sets it off because each model's training step is a function of its own, traced
    once, as it should be; the warning's advice does not apply."""
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _Retracing) for f in logger.filters):
        logger.addFilter(_Retracing())
