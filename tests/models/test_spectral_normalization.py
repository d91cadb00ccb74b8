"""Spectral normalisation with a bound: sigma_max <= c after training, small matrices untouched."""

import keras
import numpy as np

from models.spectral_normalization import SpectralNormalization


def _sigma(kernel):
    return np.linalg.svd(keras.ops.convert_to_numpy(kernel), compute_uv=False)[0]


def test_a_matrix_below_the_bound_is_unchanged():
    layer = SpectralNormalization(keras.layers.Dense(5), bound=0.99)
    layer.build((None, 7))
    w = np.random.default_rng(0).normal(size=(7, 5))
    w = 0.5 * w / np.linalg.svd(w, compute_uv=False)[0]
    layer.layer.kernel.assign(w.astype(np.float32))
    for _ in range(5):
        got = layer.normalized_kernel(training=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), w, rtol=1e-6)
    x = np.random.default_rng(1).normal(size=(3, 7)).astype(np.float32)
    want = x @ w + keras.ops.convert_to_numpy(layer.layer.bias)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), want, rtol=1e-5, atol=1e-6)


def test_a_large_matrix_is_scaled_to_the_bound():
    layer = SpectralNormalization(keras.layers.Dense(6), bound=0.99, power_iterations=1)
    layer.build((None, 8))
    layer.layer.kernel.assign(5.0 * np.random.default_rng(2).normal(size=(8, 6)).astype(np.float32))
    for _ in range(30):  # one power iteration per training call
        got = layer.normalized_kernel(training=True)
    np.testing.assert_allclose(_sigma(got), 0.99, rtol=1e-4)


def test_training_keeps_the_largest_singular_value_at_most_the_bound():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((8,))
    sn = SpectralNormalization(keras.layers.Dense(8), bound=0.99)
    model = keras.Model(inputs, keras.layers.Dense(1)(sn(inputs)))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(256, 8)).astype(np.float32)
    y = 20.0 * x.sum(axis=1, keepdims=True)  # wants a large gain
    model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    assert _sigma(sn.layer.kernel) > 0.99  # the raw kernel grew past the bound ...
    assert _sigma(sn.normalized_kernel(training=False)) <= 0.99 * (1 + 1e-3)  # ... the layer's does not
