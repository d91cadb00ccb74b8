"""Point clouds (cheng2022): order invariance, feature values, principal axis, truncation."""

import numpy as np
import pytest

from preprocessing.errors import DataError
from preprocessing.jets import physics
from preprocessing.representations.pointcloud import point_clouds


def test_invariant_to_constituent_order(small_samples):
    s = small_samples["top"].subset(np.arange(150))
    base = point_clouds(
        s.constituents, s.n_constituents, features=["log_e", "log_pt", "deta", "dphi", "log_pt_rel", "delta_r"]
    )
    rng = np.random.default_rng(0)
    shuffled = s.constituents.copy()
    for j, n in enumerate(s.n_constituents):
        shuffled[j, :n] = shuffled[j, rng.permutation(n)]
    other = point_clouds(
        shuffled, s.n_constituents, features=["log_e", "log_pt", "deta", "dphi", "log_pt_rel", "delta_r"]
    )
    for key in ("points", "features", "mask"):
        np.testing.assert_allclose(other[key], base[key], atol=1e-5, err_msg=key)
    assert base["mask"].shape == (150, 100)
    np.testing.assert_array_equal(base["mask"].sum(1), np.minimum(s.n_constituents, 100))


def test_feature_values_and_axis():
    pt = np.array([[300.0, 120.0, 40.0, 10.0, 0.0]])
    eta = np.array([[0.5, 0.8, 0.3, 0.9, 0.0]])
    phi = np.array([[3.1, -3.1, 2.9, 3.0, 0.0]])  # across the phi = pi boundary
    c = physics.from_pt_eta_phi(pt, eta, phi, 0.2)
    n = np.array([4])
    plain = point_clouds(c, n, n_points=6, rotate=False)
    jet = c[0, :4].sum(0)
    f = plain["features"][0].astype(np.float64)
    np.testing.assert_allclose(f[:4, 0], np.log(c[0, :4, 0]), rtol=1e-6)
    np.testing.assert_allclose(f[:4, 1], np.log(pt[0, :4]), rtol=1e-6)
    np.testing.assert_allclose(f[:4, 2], eta[0, :4] - physics.eta(jet), atol=1e-6)
    np.testing.assert_allclose(f[:4, 3], physics.wrap_phi(phi[0, :4] - physics.phi(jet)), atol=1e-6)
    assert np.abs(f[:4, 3]).max() < 0.5  # wrapped, not 2 pi apart
    np.testing.assert_array_equal(plain["mask"][0], [1, 1, 1, 1, 0, 0])
    assert np.all(plain["features"][0, 4:] == 0) and np.all(plain["points"][0, 4:] == 0)
    np.testing.assert_allclose(plain["points"][0], f[:, 2:4], atol=1e-7)
    rotated = point_clouds(c, n, n_points=6, features=["log_e", "deta", "dphi", "delta_r"])
    g = rotated["features"][0, :4].astype(np.float64)
    # a rotation: distances to the axis unchanged, energy-weighted axis along +phi
    np.testing.assert_allclose(g[:, 3], np.hypot(f[:4, 2], f[:4, 3]), atol=1e-6)
    np.testing.assert_allclose(np.hypot(g[:, 1], g[:, 2]), g[:, 3], atol=1e-6)
    w = np.exp(g[:, 0]) / g[:, 3]
    assert abs((w * g[:, 1]).sum()) < 1e-4 * (w * g[:, 2]).sum() and (w * g[:, 2]).sum() > 0


def test_keeps_the_hardest(small_samples):
    s = small_samples["qcd"].subset(np.arange(30))
    out = point_clouds(s.constituents, s.n_constituents, n_points=10, features=["log_pt"])
    lab_pt = np.sort(physics.pt(s.constituents.astype(np.float64)), axis=1)[:, ::-1][:, :10]
    np.testing.assert_allclose(out["features"][..., 0], np.log(lab_pt), rtol=1e-5)


def test_unknown_feature():
    with pytest.raises(DataError, match="'log_m'"):
        point_clouds(np.ones((1, 2, 4)), np.array([1]), features=["log_m"])
