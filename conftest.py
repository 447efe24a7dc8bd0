"""Settings for every test run, notebooks included (pytest loads this file first)."""
import os
from pathlib import Path

# The real data mirrored beside the checkout (see README); override with DIFFVAE_DATA_DIR.
os.environ.setdefault("DIFFVAE_DATA_DIR", str(Path(__file__).resolve().parents[1] / "shared" / "data"))
# Notebooks read this and train for a few epochs only (their kernels inherit the environment).
os.environ.setdefault("DIFFVAE_NOTEBOOK_QUICK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
