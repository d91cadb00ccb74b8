"""Mass-decorrelating augmentation: extra W/top rows resampled to the QCD training mass, training only."""

import numpy as np
import pytest

from preprocessing.errors import DataError
from training import pipeline
from training.data.augment import augment


def test_augmentation_matches_the_qcd_mass_and_extends_every_array():
    settings = pipeline.resolve("fcn", sets={"decorrelate": "augment"})
    rng = np.random.default_rng(0)
    n = 600
    y = np.repeat([0, 1, 2], n // 3)
    mass = np.where(y == 0, rng.uniform(50, 150, n), np.where(y == 1, 80.0, 173.0))
    x = {"constituents": rng.normal(size=(n, 20, 4)).astype(np.float32), "jet_mass": mass.astype(np.float32)}
    pool_mass = rng.uniform(0, 300, 1000)  # mass-rescaled jets spanning a wider range
    pool_targets = np.r_[np.ones(600, np.int32), np.full(400, 2, np.int32)]
    pool = ({"constituents": rng.normal(size=(1000, 20, 4)).astype(np.float32)}, pool_targets, pool_mass)
    x_aug, y_aug = augment(settings, x, y, seed=1, pool=pool)
    assert len(y_aug) == n + 1000 and x_aug["constituents"].shape == (n + 1000, 20, 4)
    np.testing.assert_array_equal(y_aug[:n], y)
    assert np.bincount(y_aug[n:]).tolist() == [0, 600, 400]
    added = x_aug["jet_mass"][n:]
    assert added.min() >= 49 and added.max() <= 151  # resampled into the QCD training mass range
    for cls in (1, 2):  # the added mass histogram follows the QCD one, not the pool's
        h, _ = np.histogram(added[y_aug[n:] == cls], bins=5, range=(50, 150))
        assert h.min() > 0.1 * h.sum()


def test_augmentation_needs_the_jet_mass():
    settings = pipeline.resolve("fcn", sets={"decorrelate": "augment"})
    with pytest.raises(DataError, match="jet_mass"):
        augment(settings, np.zeros((4, 20, 4), np.float32), np.zeros(4), pool=({}, np.zeros(0), np.zeros(0)))
