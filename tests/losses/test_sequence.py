"""VRNN loss terms: the Gaussian KL against its closed form, masking of padded steps."""

import numpy as np
import tensorflow as tf

from losses import diagonal_gaussian_kl, masked_step_mean, vrnn_jet_terms


def _closed_form_kl(mq, sq, mp, sp):
    return np.sum(np.log(sp / sq) + (sq**2 + (mq - mp) ** 2) / (2 * sp**2) - 0.5, axis=-1)


def test_diagonal_gaussian_kl_closed_form_and_identity():
    rng = np.random.default_rng(3)
    mq, mp = rng.normal(size=(2, 5, 4, 2))
    sq, sp = np.exp(rng.normal(size=(2, 5, 4, 2)) * 0.5)
    got = diagonal_gaussian_kl(*(tf.constant(a, tf.float64) for a in (mq, sq, mp, sp))).numpy()
    assert got.shape == (5, 4)
    np.testing.assert_allclose(got, _closed_form_kl(mq, sq, mp, sp), rtol=1e-10)
    assert np.all(got > 0)
    same = diagonal_gaussian_kl(*(tf.constant(a, tf.float64) for a in (mq, sq, mq, sq))).numpy()
    np.testing.assert_allclose(same, 0.0, atol=1e-12)


def test_masked_terms_ignore_padding_even_when_not_finite():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(2, 3, 4, 3))
    kl = np.abs(rng.normal(size=(3, 4)))
    w = rng.random((3, 4))
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], np.float64)
    y_bad, kl_bad = y.copy(), kl.copy()
    y_bad[mask == 0] = np.nan
    kl_bad[mask == 0] = np.inf
    got = vrnn_jet_terms(*(tf.constant(a) for a in (x, y_bad, kl_bad, w, mask)))
    n = mask.sum(1)
    mse = ((x - y) ** 2).mean(-1)
    np.testing.assert_allclose(got["reconstruction"].numpy(), (mse * mask).sum(1) / n, rtol=1e-12)
    np.testing.assert_allclose(got["kl"].numpy(), (w * kl * mask).sum(1) / n, rtol=1e-12)
    empty = masked_step_mean(tf.constant([[1.0, 2.0]]), tf.constant([[0.0, 0.0]])).numpy()
    np.testing.assert_array_equal(empty, [0.0])
