"""The squared Mahalanobis distance against numpy, and its ridge: a feature that never fires on
the reference class counts heavily when it fires."""

import keras
import numpy as np

from models.mahalanobis import RIDGE, MahalanobisDistance


def _distance(layer, x):
    return keras.ops.convert_to_numpy(layer(np.asarray(x, np.float32)))


def test_mahalanobis_distance_matches_numpy():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4)) + rng.normal(size=4)
    layer = MahalanobisDistance()
    layer.fit(ref)
    mu = ref.mean(axis=0)
    cov = (ref - mu).T @ (ref - mu) / len(ref)  # 1/N, as the paper
    eps = RIDGE * np.trace(cov) / 4  # the documented ridge: a fraction of the mean feature variance
    x = rng.normal(size=(7, 4))
    want = np.einsum("bi,ij,bj->b", x - mu, np.linalg.inv(cov + eps * np.eye(4)), x - mu)
    np.testing.assert_allclose(_distance(layer, x), want, rtol=1e-3)
    # well-measured directions keep the exact inverse (the ridge is small against their variance)
    well = rng.normal(size=(2000, 3)) * [1.0, 2.0, 0.5]
    layer = MahalanobisDistance()
    layer.fit(well)
    mu, cov = well.mean(0), np.cov(well.T, bias=True)
    exact = np.einsum("bi,ij,bj->b", x[:, :3] - mu, np.linalg.inv(cov), x[:, :3] - mu)
    np.testing.assert_allclose(_distance(layer, x[:, :3]), exact, rtol=1e-2)


def test_a_feature_that_never_fires_on_the_reference_counts_heavily():
    """A ReLU unit that is zero on every QCD jet: a jet that lights it up must be far from QCD
    (a pseudo-inverse would give it zero weight and call the jet QCD-like)."""
    rng = np.random.default_rng(1)
    ref = np.c_[rng.normal(size=(300, 2)), np.zeros(300)]
    layer = MahalanobisDistance()
    layer.fit(ref)
    quiet = _distance(layer, [[0.5, -0.5, 0.0]])[0]
    firing = _distance(layer, [[0.5, -0.5, 1.0]])[0]  # the dead unit fires at one live standard deviation
    far_live = _distance(layer, [[4.0, -4.0, 0.0]])[0]  # 4 standard deviations out in both live features
    assert firing > 100 * quiet and firing > 10 * far_live
    # its weight is 1 / eps with eps = RIDGE times the mean variance (2 live unit variances over 3 features)
    eps = RIDGE * np.trace(np.cov(ref.T, bias=True)) / 3
    np.testing.assert_allclose(firing - quiet, 1.0 / eps, rtol=1e-3)
