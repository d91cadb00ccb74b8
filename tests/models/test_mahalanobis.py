"""The squared Mahalanobis distance against numpy."""

import keras
import numpy as np

from models.mahalanobis import MahalanobisDistance


def test_mahalanobis_distance_matches_numpy():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4)) + rng.normal(size=4)
    layer = MahalanobisDistance()
    layer.fit(ref)
    mu = ref.mean(axis=0)
    cov = (ref - mu).T @ (ref - mu) / len(ref)  # 1/N, as the paper
    x = rng.normal(size=(7, 4))
    want = np.einsum("bi,ij,bj->b", x - mu, np.linalg.inv(cov), x - mu)
    got = keras.ops.convert_to_numpy(layer(x.astype(np.float32)))
    np.testing.assert_allclose(got, want, rtol=1e-3)


def test_dead_features_drop_out():
    rng = np.random.default_rng(1)
    ref = np.c_[rng.normal(size=(300, 2)), np.zeros(300)]  # a ReLU unit that never fires on QCD
    layer = MahalanobisDistance()
    layer.fit(ref)
    x = np.array([[0.5, -0.5, 3.0]], np.float32)
    mu = ref[:, :2].mean(0)
    cov = np.cov(ref[:, :2].T, bias=True)
    want = (x[0, :2] - mu) @ np.linalg.inv(cov) @ (x[0, :2] - mu)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), [want], rtol=1e-3)
