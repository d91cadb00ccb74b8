"""Gaussian-mixture prior terms: Ashman distance, Monte-Carlo KL, repulsion; Gaussian VAE KL."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from losses import ashman_distance, ashman_repulsion, mixture_kl_single_sample, mixture_prior, standard_normal_kl
from losses.mixture import responsibilities


def test_ashman_distance_by_hand():
    # D^2 = 2*(1-(-2))^2/(1+3) + 2*(0.5-0.5)^2/(2+2) = 18/4
    d = ashman_distance(
        tf.constant([1.0, 0.5]), tf.math.log([1.0, 2.0]), tf.constant([-2.0, 0.5]), tf.math.log([3.0, 2.0])
    )
    np.testing.assert_allclose(d.numpy(), np.sqrt(18.0 / 4.0), rtol=1e-5)


def test_repulsion_decreases_with_separation_and_saturates():
    sep = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 50.0]
    values = [float(ashman_repulsion(tf.constant([[-s / 2], [s / 2]]), tf.zeros((2, 1)), 2.0)) for s in sep]
    assert all(b < a for a, b in zip(values, values[1:]))  # more separated -> lower loss
    assert values[0] == pytest.approx(0.0, abs=1e-5)
    assert values[-1] == pytest.approx(-2.0, abs=1e-6)  # saturates at -lambda_A
    assert values[-2] - values[-1] < 1e-2


def _posterior(mu, log_var, n):
    return np.random.default_rng(3).normal(mu, np.exp(0.5 * log_var), size=(n, len(mu)))


def test_single_sample_kl_averages_to_many_sample_estimate():
    means, log_vars, logits = (
        tf.constant([[-1.5, 0.2], [1.0, -0.3]]),
        tf.constant([[0.1, -0.2], [-0.5, 0.3]]),
        tf.constant([0.3, -0.1]),
    )
    prior = mixture_prior(means, log_vars, logits)
    mu, log_var = np.array([0.4, -0.7]), np.array([-1.0, -0.4])
    z = _posterior(mu, log_var, 200_000)
    est = mixture_kl_single_sample(
        tf.constant(z, tf.float32), tf.constant(np.tile(log_var, (len(z), 1)), tf.float32), prior
    ).numpy()
    # independent estimate with scipy: log q(z) - log p(z), p a two-component mixture
    w = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum()
    log_q = stats.norm.logpdf(z, mu, np.exp(0.5 * log_var)).sum(1)
    comp = [
        stats.norm.logpdf(z, means.numpy()[r], np.exp(0.5 * log_vars.numpy()[r])).sum(1) + np.log(w[r])
        for r in range(2)
    ]
    reference = np.mean(log_q - np.logaddexp(*comp))
    assert abs(est.mean() - reference) < 4 * est.std() / np.sqrt(len(z))


def test_single_mode_kl_matches_analytic_gaussian_kl():
    mu, log_var = np.array([0.4, -0.7]), np.array([-1.0, -0.4])
    prior = mixture_prior(tf.zeros((1, 2), tf.float64), tf.zeros((1, 2), tf.float64), tf.zeros(1, tf.float64))
    z = _posterior(mu, log_var, 200_000)
    est = mixture_kl_single_sample(tf.constant(z), tf.constant(np.tile(log_var, (len(z), 1))), prior).numpy()
    exact = standard_normal_kl(tf.constant(mu[None]), tf.constant(log_var[None])).numpy()[0]
    np.testing.assert_allclose(exact, 0.5 * np.sum(np.exp(log_var) + mu**2 - 1 - log_var), rtol=1e-10)
    assert abs(est.mean() - exact) < 4 * est.std() / np.sqrt(len(z))


def test_responsibilities_follow_the_nearest_mode():
    r = responsibilities(
        tf.constant([[-3.0], [0.0], [3.0]]), tf.constant([[-2.0], [2.0]]), tf.zeros((2, 1)), tf.zeros(2)
    ).numpy()
    np.testing.assert_allclose(r.sum(1), 1.0, rtol=1e-6)
    assert r[0, 0] > 0.99 and r[2, 1] > 0.99
    np.testing.assert_allclose(r[1], [0.5, 0.5], atol=1e-6)
