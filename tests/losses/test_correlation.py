"""dCor^2 against a direct O(n^2) numpy computation, and its limits (1 for identical or linearly
related variables, ~0 for independent ones)."""

import numpy as np
import pytest
import tensorflow as tf

from losses.correlation import distance_correlation_sq


def _dcor2_numpy(x, y, w=None):
    """Direct double-loop V-statistic with weights normalised to sum 1 (independent of the TF code)."""
    n = len(x)
    w = np.ones(n) / n if w is None else np.asarray(w, float) / np.sum(w)

    def centred(v):
        a = np.empty((n, n))
        for i in range(n):
            for j in range(n):
                a[i, j] = abs(v[i] - v[j])
        mean_i = np.array([sum(w[j] * a[i, j] for j in range(n)) for i in range(n)])
        grand = sum(w[i] * mean_i[i] for i in range(n))
        return a - mean_i[:, None] - mean_i[None, :] + grand

    a, b = centred(x), centred(y)

    def dcov(p, q):
        return sum(w[i] * w[j] * p[i, j] * q[i, j] for i in range(n) for j in range(n))

    return dcov(a, b) / np.sqrt(dcov(a, a) * dcov(b, b))


@pytest.mark.parametrize("weighted", [False, True])
def test_matches_direct_numpy_computation(weighted):
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = x**2 + 0.5 * rng.normal(size=40)  # dependent but not linearly
    w = rng.random(40) + 0.1 if weighted else None
    got = distance_correlation_sq(
        tf.constant(x, tf.float64), tf.constant(y, tf.float64), None if w is None else tf.constant(w)
    )
    np.testing.assert_allclose(got.numpy(), _dcor2_numpy(x, y, w), rtol=1e-10)


def test_identical_and_linear_give_one_independent_gives_zero():
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=300), tf.float64)
    np.testing.assert_allclose(distance_correlation_sq(x, x).numpy(), 1.0, rtol=1e-9)
    np.testing.assert_allclose(distance_correlation_sq(x, -3.0 * x + 7.0).numpy(), 1.0, rtol=1e-9)
    a, b = rng.normal(size=(2, 3000))
    assert distance_correlation_sq(tf.constant(a), tf.constant(b)).numpy() < 0.005


def test_gradient_decorrelates():
    """A step down the gradient of dCor^2 w.r.t. x lowers dCor^2 (the penalty is differentiable)."""
    rng = np.random.default_rng(2)
    m = tf.constant(rng.normal(size=100), tf.float32)
    x = tf.Variable(m.numpy() + 0.3 * rng.normal(size=100).astype(np.float32))
    with tf.GradientTape() as tape:
        before = distance_correlation_sq(x, m)
    x.assign_sub(0.5 * tape.gradient(before, x))
    assert np.isfinite(before.numpy())
    assert distance_correlation_sq(x, m).numpy() < before.numpy()
