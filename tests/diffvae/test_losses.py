"""DiffVAE's loss terms against numpy (diffvae.losses)."""
import keras
import numpy as np
import pytest
from keras import ops

from diffvae import losses
from diffvae.networks import LatentAutoencoder


def np_kernel(x, y, width):
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2 / width)


def np_mmd(z, p, width):
    return np_kernel(z, z, width).mean() + np_kernel(p, p, width).mean() - 2 * np_kernel(z, p, width).mean()


def np_infovae_mmd(z, p):
    """InfoVAE's formulation, written as its code does: exp(-mean_d (x - y)^2 / dim)."""
    dim = z.shape[1]

    def k(a, b):
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).mean(-1) / dim)

    return k(z, z).mean() + k(p, p).mean() - 2 * k(z, p).mean()


def test_mmd_matches_numpy_and_infovae_kernel(rng):
    z = rng.normal(1.0, 2.0, (16, 5)).astype(np.float32)
    p = rng.normal(size=(16, 5)).astype(np.float32)
    value = float(ops.convert_to_numpy(losses.mmd(z, p)))
    assert value == pytest.approx(np_infovae_mmd(z, p), rel=1e-5)
    assert value == pytest.approx(np_mmd(z, p, 25.0), rel=1e-5)
    wide = float(ops.convert_to_numpy(losses.mmd(z, p, width=3.0)))
    assert wide == pytest.approx(np_mmd(z, p, 3.0), rel=1e-5)
    assert float(ops.convert_to_numpy(losses.mmd(p, p))) == pytest.approx(0.0, abs=1e-6)


def test_kl_matches_numpy(rng):
    mu = rng.normal(size=(8, 4)).astype(np.float32)
    log_var = rng.normal(size=(8, 4)).astype(np.float32)
    var = np.exp(log_var)
    # KL(N(mu, var) || N(0, 1)) = 0.5 * (var + mu^2 - 1 - log var), summed over dimensions
    expected = 0.5 * (var + mu**2 - 1 - log_var).sum(1)
    np.testing.assert_allclose(ops.convert_to_numpy(losses.kl_divergence(mu, log_var)), expected,
                               rtol=1e-5)


def test_reconstruction_terms_match_numpy(rng):
    x = rng.uniform(size=(6, 10)).astype(np.float32)
    x_hat = rng.uniform(0.05, 0.95, size=(6, 10)).astype(np.float32)
    bce = -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)).sum(1)
    np.testing.assert_allclose(ops.convert_to_numpy(losses.binary_cross_entropy(x, x_hat)), bce,
                               rtol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(losses.squared_error(x, x_hat)),
                               ((x - x_hat) ** 2).sum(1), rtol=1e-5)


@pytest.mark.parametrize("objective", ["mmd", "kl", "mse"])
def test_total_loss_is_hand_computed_sum(objective, rng):
    keras.utils.set_random_seed(0)
    model = LatentAutoencoder(12, latent_dim=3, hidden_dims=(8, 4), objective=objective, seed=0)
    x = rng.uniform(size=(5, 12)).astype(np.float32)
    out = {k: ops.convert_to_numpy(v) for k, v in model(x, training=True).items()}
    total = float(ops.convert_to_numpy(model.compute_loss(x=x, y_pred=out)))
    x_hat = out["reconstruction"]
    if objective == "mse":
        expected = ((x - x_hat) ** 2).sum(1).mean()
    else:
        expected = -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)).sum(1).mean()
        if objective == "mmd":
            expected += np_mmd(out["z"], out["prior"], 9.0)
        else:
            var = np.exp(out["log_var"])
            expected += (0.5 * (var + out["mu"] ** 2 - 1 - out["log_var"]).sum(1)).mean()
    assert total == pytest.approx(expected, rel=1e-5)


def np_d2(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def np_rbf(x, y):
    """trVAE's multi-scale kernel: sum over bandwidths s of exp(-||x - y||^2 / (2 s))."""
    return sum(np.exp(-np_d2(x, y) / (2 * s)) for s in losses.RBF_SCALES)


def np_imq(x, y):
    """The Wasserstein auto-encoder's kernel: sum over s of C / (C + ||x - y||^2), C = 2 m s."""
    m = x.shape[1]
    return sum(2 * m * s / (2 * m * s + np_d2(x, y)) for s in (0.1, 0.2, 0.5, 1, 2, 5, 10))


def np_mmd_with(kernel, z, p, unbiased=False):
    def within(a):
        k = kernel(a, a)
        n = len(a)
        return (k.sum() - np.trace(k)) / (n * (n - 1)) if unbiased else k.mean()

    return within(z) + within(p) - 2 * kernel(z, p).mean()


@pytest.mark.parametrize("kernel, np_kernel_fn", [
    ("infovae", lambda x, y: np_kernel(x, y, x.shape[1] ** 2)), ("rbf", np_rbf), ("imq", np_imq)])
@pytest.mark.parametrize("unbiased", [False, True])
def test_every_mmd_option_matches_numpy(rng, kernel, np_kernel_fn, unbiased):
    z = rng.normal(0.5, 1.5, (12, 6)).astype(np.float32)
    p = rng.normal(size=(9, 6)).astype(np.float32)  # fewer prior samples than codes
    np.testing.assert_allclose(ops.convert_to_numpy(losses.kernel_matrix(z, p, kernel)),
                               np_kernel_fn(z, p), rtol=1e-5)
    value = float(ops.convert_to_numpy(losses.mmd(z, p, kernel=kernel, unbiased=unbiased)))
    assert value == pytest.approx(np_mmd_with(np_kernel_fn, z, p, unbiased), rel=1e-4, abs=1e-6)


def test_the_unbiased_estimate_is_unbiased_and_the_biased_one_is_not(rng):
    # two samples of the same distribution: the true MMD is 0
    draws = [(rng.normal(size=(8, 3)), rng.normal(size=(8, 3))) for _ in range(400)]
    unbiased = [np_mmd_with(np_imq, a, b, unbiased=True) for a, b in draws]
    biased = [np_mmd_with(np_imq, a, b) for a, b in draws]
    assert abs(np.mean(unbiased)) < 3 * np.std(unbiased) / np.sqrt(len(draws))
    assert np.mean(biased) > 5 * np.std(biased) / np.sqrt(len(draws))
    z, p = (x.astype(np.float32) for x in draws[0])
    assert float(ops.convert_to_numpy(losses.mmd(z, p, kernel="imq", unbiased=True))) == pytest.approx(
        unbiased[0], rel=1e-4)


def test_network_options_weight_prior_samples_log_variance_and_mu(rng):
    x = rng.uniform(size=(10, 7)).astype(np.float32)
    net = LatentAutoencoder(7, 3, (8, 4), "mmd", seed=0, mmd_kernel="imq", mmd_weight=10.0,
                            mmd_prior_samples=25, mmd_unbiased=True, log_var_activation="linear",
                            mu_activation="linear")
    out = net(x, training=True)
    assert tuple(out["prior"].shape) == (25, 3)
    assert net.encoder.get_layer("log_var").activation.__name__ == "linear"
    # mu and log sigma^2 against numpy: the last hidden layer's output times each head's kernel
    hidden = keras.Model(net.encoder.input, net.encoder.get_layer("batch_norm_1").output)
    h = ops.convert_to_numpy(hidden(x, training=False))
    mu, log_var = (ops.convert_to_numpy(t) for t in net.encoder(x, training=False))
    for name, got in (("mu", mu), ("log_var", log_var)):
        kernel, bias = (ops.convert_to_numpy(w) for w in net.encoder.get_layer(name).weights)
        np.testing.assert_allclose(got, h @ kernel + bias, rtol=1e-5, atol=1e-6)
    assert (mu < 0).any()  # linear: not clipped at 0
    paper = LatentAutoencoder(7, 3, (8, 4), "mmd", seed=0)
    kernel, bias = (ops.convert_to_numpy(w) for w in paper.encoder.get_layer("mu").weights)
    h = ops.convert_to_numpy(keras.Model(paper.encoder.input, paper.encoder.get_layer(
        "batch_norm_1").output)(x, training=False))
    np.testing.assert_allclose(ops.convert_to_numpy(paper.encoder(x, training=False)[0]),
                               np.maximum(h @ kernel + bias, 0), rtol=1e-5, atol=1e-6)  # ReLU
    expected = 10.0 * float(ops.convert_to_numpy(losses.mmd(out["z"], out["prior"], kernel="imq",
                                                            unbiased=True)))
    net.compute_loss(x, None, out)
    assert float(net.regularizer_tracker.result()) == pytest.approx(expected, rel=1e-5)
    again = LatentAutoencoder.from_config(net.get_config())
    assert (again.mmd_kernel, again.mmd_weight, again.mmd_prior_samples, again.mmd_unbiased,
            again.log_var_activation, again.mu_activation) == ("imq", 10.0, 25, True, "linear",
                                                                "linear")


def test_weighted_mmd_is_the_mmd_of_the_rows_kept(rng):
    """Rows of weight 0 (a padded step's) change nothing: the same as the MMD without them."""
    from diffvae.losses import mmd

    z, prior = rng.normal(size=(9, 3)).astype(np.float32), rng.normal(size=(9, 3)).astype(np.float32)
    weights = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1], np.float32)
    kept = weights == 1
    for unbiased in (False, True):
        expected = float(mmd(z[kept], prior[kept], unbiased=unbiased))
        assert float(mmd(z, prior, unbiased=unbiased, weights=weights)) == pytest.approx(expected, rel=1e-5)
