"""DiffVAE's Keras network (diffvae.networks, diffvae.layers)."""
import keras
import numpy as np
from keras import ops

from diffvae.layers import Reparameterize
from diffvae.networks import LatentAutoencoder


def test_noise_differs_across_cells_and_dimensions():
    mu = np.zeros((64, 10), dtype=np.float32)
    log_var = np.zeros((64, 10), dtype=np.float32)
    z = ops.convert_to_numpy(Reparameterize(seed=1)(mu, log_var))
    # The original code drew one scalar for everything; here no two entries are equal.
    assert len(np.unique(z)) == z.size
    assert np.std(z, axis=0).min() > 0.5 and np.std(z, axis=1).min() > 0.3
    # exp(log_var / 2) scales the noise: log_var = log 4 gives standard deviation 2
    z4 = ops.convert_to_numpy(Reparameterize(seed=2)(mu, np.full_like(mu, np.log(4.0))))
    assert 1.8 < z4.std() < 2.2


def test_architecture_follows_the_paper():
    model = LatentAutoencoder(100, latent_dim=7, hidden_dims=(32, 16), objective="mmd")
    enc = {layer.name: layer for layer in model.encoder.layers}
    assert [enc[f"dense_{i}"].units for i in range(2)] == [32, 16]
    assert all(f"batch_norm_{i}" in enc for i in range(2))
    assert enc["mu"].activation is keras.activations.relu
    assert enc["log_var"].activation is keras.activations.relu
    dense = [layer for layer in model.decoder.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [16, 32, 100]
    assert dense[-1].activation is keras.activations.sigmoid


def test_decoder_weights_is_kernel_product():
    model = LatentAutoencoder(20, latent_dim=4, hidden_dims=(8, 6))
    kernels = [layer.get_weights()[0] for layer in model.decoder.layers
               if isinstance(layer, keras.layers.Dense)]
    np.testing.assert_allclose(model.decoder_weights(), kernels[0] @ kernels[1] @ kernels[2],
                               rtol=1e-5, atol=1e-6)
    assert model.decoder_weights().shape == (4, 20)


def test_autoencoder_is_deterministic():
    model = LatentAutoencoder(10, latent_dim=3, hidden_dims=(6,), objective="mse")
    x = np.random.default_rng(0).uniform(size=(4, 10)).astype(np.float32)
    a, b = model(x)["reconstruction"], model(x)["reconstruction"]
    np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
