"""Settings for every test run, notebooks included (pytest loads this file first), and the one
place that decides what happens without the real data mirror."""
import os
from pathlib import Path

import pytest

# The real data mirrored beside the checkout (see README); override with DIFFVAE_DATA_DIR.
os.environ.setdefault("DIFFVAE_DATA_DIR", str(Path(__file__).resolve().parents[1] / "shared" / "data"))
# Notebooks read this and train for a few epochs only (their kernels inherit the environment).
os.environ.setdefault("DIFFVAE_NOTEBOOK_QUICK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# OpenMP threads (scikit-learn's) sleep while they wait rather than spin: the test processes
# share the cores, and a spinning thread takes the time another process would compute in.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

DATA_DIR = Path(os.environ["DIFFVAE_DATA_DIR"])
MISSING = (f"real data not found in {DATA_DIR}: put the mirror there (see data/README.md, the "
           "paul15_tradeseq files) or set DIFFVAE_DATA_DIR to a copy")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _has_real_data() -> bool:
    return (DATA_DIR / "paul15_tradeseq").is_dir()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder with the mirrored real datasets. Without it the tests that need it are
    skipped, saying how to get it; in CI (``CI=true``) a missing mirror is a failure."""
    if not _has_real_data():
        if _in_ci():
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return DATA_DIR


def _long_checks(config) -> bool:
    """Whether this run selects the long checks (``-m slow``)."""
    markexpr = config.getoption("markexpr", "") or ""
    return "slow" in markexpr and "not slow" not in markexpr


def _share_the_cores() -> None:
    """Each pytest-xdist worker of the test command (one per core, every core busy until the
    end) computes on its share of the cores, not on all of them: otherwise TensorFlow's, XLA's
    and OpenBLAS's thread pools of all workers contend for the same cores and spin while they
    wait. Not for the long checks, which mostly wait on the processes they start and end with
    one check running alone. A value the user set is kept."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2:
        return
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(name, threads)
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                       f"intra_op_parallelism_threads={threads}")
    # numpy is loaded already (a pytest plugin of zarr imports it): limit its pool directly
    from threadpoolctl import threadpool_limits

    threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]))


def pytest_configure(config):
    """JAX keeps the programs it compiles in pytest's cache folder, where the test processes
    and the ones they start (the backend and distributed checks) find them again: the same
    model compiles once, not once per fit and per run. The test command's workers share out
    the cores (before any test module imports TensorFlow)."""
    cache = getattr(config, "cache", None)
    if cache is not None:
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache.mkdir("jax_compilation")))
    if not _long_checks(config):
        _share_the_cores()


def pytest_xdist_make_scheduler(config, log):
    """The long checks go to the workers one at a time as they free up, longest first (see
    :func:`_expected_minutes`), so that the run does not end with one long check running alone;
    the test command keeps ``--dist worksteal``."""
    if _long_checks(config):
        from xdist.scheduler import LoadScheduling

        return LoadScheduling(config, log)
    return None


def _expected_minutes(item) -> float:
    """A long check's rough length, for its place in the run: the ``minutes`` of its ``slow``
    mark (1 when not given); 2 for a notebook."""
    if item.path.suffix == ".ipynb":
        return 2
    mark = item.get_closest_marker("slow")
    return mark.kwargs.get("minutes", 1) if mark is not None else 0


@pytest.hookimpl(tryfirst=True)  # before ``-m "not slow"`` deselects by marker
def pytest_collection_modifyitems(config, items):
    """Notebooks run with the long checks (``-m slow``: a minute or more each); those that
    read the real data are skipped without the mirror (a failure in CI)."""
    skip = not (_has_real_data() or _in_ci())
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
            if skip and "paul15_tradeseq" in item.path.read_text():
                item.add_marker(pytest.mark.skip(reason=MISSING))
    # The longest checks first, so that none is left to run last on one worker; then the tests
    # of the shared paul15 model, so that one worker trains it while the others run the rest
    # instead of waiting; then those of pynndescent's search, so that one worker compiles its
    # kernels, not each (the test command's worksteal hands each worker a contiguous share).
    items.sort(key=lambda item: (-_expected_minutes(item),
                                 "paul15_model" not in getattr(item, "fixturenames", ()),
                                 item.get_closest_marker("approximate_search") is None))
