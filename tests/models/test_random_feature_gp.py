"""The random-feature GP layer: features, precision update and variance against closed forms."""

import math

import keras
import numpy as np

from models.random_feature_gp import RandomFeatureGaussianProcess


def _layer(momentum):
    layer = RandomFeatureGaussianProcess(3, num_features=16, momentum=momentum, ridge=1.0, seed=1)
    layer.build((None, 4))
    return layer


def _phi(layer, h):
    omega = keras.ops.convert_to_numpy(layer.projection)
    b = keras.ops.convert_to_numpy(layer.phase)
    return math.sqrt(2.0 / 16) * np.cos(h @ omega + b)


def test_precision_update_matches_its_closed_form():
    h = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    for momentum in (0.999, 0.0):
        layer = _layer(momentum)
        p0 = keras.ops.convert_to_numpy(layer.precision).copy()
        np.testing.assert_allclose(p0, np.eye(16))  # ridge * I
        layer(h, training=True)
        phi = _phi(layer, h)
        want = momentum * p0 + (1 - momentum) * phi.T @ phi / 5 if momentum else p0 + phi.T @ phi
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.precision), want, rtol=1e-5, atol=1e-6)


def test_variance_and_mean_field_logits_match_numpy():
    layer = _layer(0.0)
    rng = np.random.default_rng(1)
    layer(rng.normal(size=(20, 4)).astype(np.float32), training=True)
    h = rng.normal(size=(3, 4)).astype(np.float32)
    logits, var = (keras.ops.convert_to_numpy(t) for t in layer(h, training=False))
    phi = _phi(layer, h)
    p = keras.ops.convert_to_numpy(layer.precision)
    want_var = np.einsum("bi,ij,bj->b", phi, np.linalg.inv(p), phi)
    np.testing.assert_allclose(var, want_var, rtol=1e-4)
    beta, bias = (keras.ops.convert_to_numpy(w) for w in layer.output_layer.weights)
    np.testing.assert_allclose(logits, phi @ beta + bias, rtol=1e-4, atol=1e-6)
    mf = keras.ops.convert_to_numpy(layer.mean_field_logits(logits, var))
    np.testing.assert_allclose(mf, logits / np.sqrt(1 + math.pi / 8 * want_var)[:, None], rtol=1e-4)
