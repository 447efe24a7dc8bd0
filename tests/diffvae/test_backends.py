"""The dense models run on the TensorFlow and the JAX backend (each in its own process, since
Keras picks its backend at import), bit-identically for a seed on the same backend and machine,
and record the backend in bundles and in uns."""
import os
import subprocess
import sys

import pytest

SCRIPT = """
import json
import numpy as np, keras
from diffvae import DiffVAE, VAE, AE, datasets
tmp = {tmp!r}
assert keras.backend.backend() == "{backend}", keras.backend.backend()
adata = datasets.synthetic(200, 50, seed=0)
for cls in (DiffVAE, VAE, AE):
    model = cls(latent_dim=4, hidden_dims=(16, 8)).fit(adata, epochs=3, batch_size=64, verbose=0)
    assert model.history_["loss"].iloc[-1] < model.history_["loss"].iloc[0], cls.__name__
    latent = model.transform(adata)
    assert latent.shape == (200, 4) and np.isfinite(latent).all()
    again = cls(latent_dim=4, hidden_dims=(16, 8)).fit(adata, epochs=3, batch_size=64, verbose=0)
    np.testing.assert_array_equal(again.transform(adata), latent)  # bit-identical, same backend
model.save(tmp + "/bundle")
config = json.load(open(tmp + "/bundle/config.json"))
assert config["backend"] == "{backend}", config
model.transform(adata, key_added=True)
assert adata.uns["ae"]["backend"] == "{backend}"
print("ok")
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_short_fit_on_backend(backend, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": backend}
    script = SCRIPT.format(backend=backend, tmp=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
