"""KL term of the Dirichlet-VAE against closed forms, Monte Carlo and KL(p||p) = 0."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from losses import categorical_cross_entropy, dirichlet_laplace_kl, dirichlet_laplace_prior, mean_squared_error


def _kl_closed_form(mu, log_var, mu_p, var_p):
    var = np.exp(log_var)
    return 0.5 * np.sum(var / var_p + (mu - mu_p) ** 2 / var_p - 1.0 + np.log(var_p) - log_var, axis=-1)


def test_prior_matches_formulas():
    # alpha = (1, 0.25, 0.1): mean log(alpha_i) - mean(log alpha); var (1/a_i)(1 - 2/3) + sum(1/a)/9
    mean, var = dirichlet_laplace_prior([1.0, 0.25, 0.1])
    la = np.log([1.0, 0.25, 0.1])
    np.testing.assert_allclose(mean, la - la.mean())
    np.testing.assert_allclose(var, [1 / 3 + 15 / 9, 4 / 3 + 15 / 9, 10 / 3 + 15 / 9])
    mean2, var2 = dirichlet_laplace_prior([1.0, 1.0])
    np.testing.assert_allclose(mean2, [0.0, 0.0])
    np.testing.assert_allclose(var2, [0.5, 0.5])  # R = 2: 1/R^2 * sum(1/alpha)
    with pytest.raises(ValueError):
        dirichlet_laplace_prior([1.0, -0.5])


def _softmax_prior_mean(alpha, n=200_000):
    mean, var = dirichlet_laplace_prior(alpha)
    z = np.random.default_rng(0).normal(mean, np.sqrt(var), size=(n, len(alpha)))
    r = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return r.mean(0)


def test_laplace_prior_approximates_dirichlet_means():
    # hierarchy preserved for the paper's small alphas (the approximation is crude there) ...
    m = _softmax_prior_mean([1.0, 0.25, 0.1])
    assert m[0] > m[1] > m[2]
    # ... and close to the Dirichlet mean alpha_i / sum(alpha) where the Laplace approximation holds
    np.testing.assert_allclose(_softmax_prior_mean([10.0, 10.0, 5.0]), [0.4, 0.4, 0.2], atol=0.02)


@pytest.mark.parametrize("alpha", [[1.0, 1.0], [1.0, 0.25], [1.0, 0.25, 0.1]])
def test_kl_matches_closed_form(alpha):
    rng = np.random.default_rng(len(alpha))
    mu = rng.normal(size=(64, len(alpha)))
    log_var = rng.normal(scale=0.5, size=(64, len(alpha)))
    got = dirichlet_laplace_kl(tf.constant(mu), tf.constant(log_var), alpha).numpy()
    assert got.shape == (64,)
    mu_p, var_p = dirichlet_laplace_prior(alpha)
    np.testing.assert_allclose(got, _kl_closed_form(mu, log_var, mu_p, var_p), rtol=1e-10)


def test_kl_of_prior_with_itself_is_zero_and_positive_otherwise():
    alpha = [1.0, 0.25, 0.1]
    mu_p, var_p = dirichlet_laplace_prior(alpha)
    zero = dirichlet_laplace_kl(tf.constant(mu_p[None]), tf.constant(np.log(var_p)[None]), alpha).numpy()
    np.testing.assert_allclose(zero, 0.0, atol=1e-12)
    off = dirichlet_laplace_kl(tf.constant(mu_p[None] + 0.1), tf.constant(np.log(var_p)[None]), alpha).numpy()
    assert off[0] > 0


def test_kl_agrees_with_monte_carlo():
    alpha = [1.0, 0.25]
    mu, log_var = np.array([[0.7, -1.2]]), np.array([[-0.3, 0.4]])
    mu_p, var_p = dirichlet_laplace_prior(alpha)
    z = np.random.default_rng(1).normal(mu, np.exp(0.5 * log_var), size=(400_000, 2))
    log_ratio = (stats.norm.logpdf(z, mu, np.exp(0.5 * log_var)) - stats.norm.logpdf(z, mu_p, np.sqrt(var_p))).sum(1)
    exact = dirichlet_laplace_kl(tf.constant(mu), tf.constant(log_var), alpha).numpy()[0]
    assert abs(log_ratio.mean() - exact) < 4 * log_ratio.std() / np.sqrt(len(z))


def test_reconstruction_terms():
    x = np.array([[0.5, 0.25, 0.25, 0.0]], np.float32)
    q = np.array([[0.4, 0.3, 0.2, 0.1]], np.float32)
    ce = categorical_cross_entropy(tf.constant(x), tf.math.log(tf.constant(q))).numpy()
    np.testing.assert_allclose(ce, [-(0.5 * np.log(0.4) + 0.25 * np.log(0.3) + 0.25 * np.log(0.2))], rtol=1e-6)
    mse = mean_squared_error(tf.constant(x.reshape(1, 2, 2)), tf.constant(q.reshape(1, 2, 2))).numpy()
    np.testing.assert_allclose(mse, [np.mean((x - q) ** 2)], rtol=1e-6)
