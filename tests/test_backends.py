"""The dense models run on the TensorFlow and the JAX backend (each in its own process, since
Keras picks its backend at import)."""
import os
import subprocess
import sys

import pytest

SCRIPT = """
import numpy as np, keras
from diffvae import DiffVAE, VAE, AE, datasets
assert keras.backend.backend() == "{backend}", keras.backend.backend()
adata = datasets.synthetic(200, 50, seed=0)
for cls in (DiffVAE, VAE, AE):
    model = cls(latent_dim=4, hidden_dims=(16, 8)).fit(adata, epochs=3, batch_size=64, verbose=0)
    assert model.history_["loss"].iloc[-1] < model.history_["loss"].iloc[0], cls.__name__
    latent = model.transform(adata)
    assert latent.shape == (200, 4) and np.isfinite(latent).all()
    again = cls(latent_dim=4, hidden_dims=(16, 8)).fit(adata, epochs=3, batch_size=64, verbose=0)
    np.testing.assert_allclose(again.transform(adata), latent, rtol=1e-5, atol=1e-6)
print("ok")
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_short_fit_on_backend(backend):
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run([sys.executable, "-c", SCRIPT.format(backend=backend)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
