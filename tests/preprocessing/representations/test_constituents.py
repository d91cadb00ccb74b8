"""Constituent four-vectors (cheng2020): invariances, jet frame, principal axis, padding."""

import numpy as np

from preprocessing.jets import physics
from preprocessing.representations.constituents import (
    constituent_four_vectors,
    eta_phi,
    from_vector,
    principal_axis_angle,
    to_vector,
)


def test_unchanged_by_phi_rotation_and_z_boost(small_samples):
    s = small_samples["top"].subset(np.arange(200))
    base, mask = constituent_four_vectors(s.constituents, s.n_constituents)
    for angle, beta in ((1.3, 0.0), (0.0, -0.7), (-2.5, 0.5)):
        moved = from_vector(to_vector(s.constituents.astype(np.float64)).rotateZ(angle).boostZ(beta=beta))
        other, other_mask = constituent_four_vectors(moved, s.n_constituents)
        np.testing.assert_array_equal(mask, other_mask)
        np.testing.assert_allclose(other, base, rtol=1e-5, atol=1e-3)  # GeV, float32 output
    # the comparison is sharp: a different jet is far away
    assert np.abs(base - np.roll(base, 1, axis=0)).max() > 10.0


def _dot(a, b):
    """Minkowski product of (..., 4) four-vectors (E, px, py, pz)."""
    return a[..., 0] * b[..., 0] - (a[..., 1:] * b[..., 1:]).sum(-1)


def _hand_jets():
    rng = np.random.default_rng(4)
    n = np.array([5, 12, 3])
    c = np.zeros((3, 30, 4))
    for j, k in enumerate(n):
        pt = np.sort(rng.uniform(5, 200, k))[::-1]
        c[j, :k] = physics.from_pt_eta_phi(
            pt, 0.7 + rng.normal(0, 0.2, k), -2.0 + rng.normal(0, 0.2, k), rng.uniform(0, 1, k)
        )
    return c, n


def test_jet_frame_axis_and_padding():
    c, n = _hand_jets()  # at most 20 constituents, so the kept ones are the whole jet
    out, mask = constituent_four_vectors(c, n)
    out = out.astype(np.float64)
    assert out.shape == (3, 20, 4)
    np.testing.assert_array_equal(mask.sum(1), n)
    assert np.all(out[mask == 0] == 0)
    jet = out.sum(1)
    # the jet points along +x: no py, no pz, mass and pT unchanged
    assert np.all(np.abs(jet[:, 2:]) < 1e-3 * jet[:, 0, None])
    assert np.all(jet[:, 1] > 0)
    np.testing.assert_allclose(physics.mass(jet), physics.mass(c.sum(1)), rtol=1e-4)
    m = mask > 0
    # a Lorentz transformation: every constituent keeps its product with the jet four-momentum
    np.testing.assert_allclose(_dot(out, jet[:, None])[m], _dot(c[:, :20], c.sum(1)[:, None])[m], rtol=1e-3)
    # principal axis sum(E (eta, phi) / R) points along +phi
    alpha = principal_axis_angle(out, m)
    np.testing.assert_allclose(alpha, 0.5 * np.pi, atol=0.02)
    eta, phi = eta_phi(out, m)
    assert np.abs(eta).max() < 1.0 and np.abs(phi).max() < 1.0  # centred


def test_keeps_the_hardest(small_samples):
    s = small_samples["qcd"].subset(np.arange(50))
    out, mask = constituent_four_vectors(s.constituents, s.n_constituents, n_keep=7)
    assert out.shape == (50, 7, 4) and np.all(mask == 1)
    # p_i . J is Lorentz invariant; in the output frame J = (sqrt(pT_J^2 + m_J^2), pT_J, 0, 0), so the
    # outputs must carry exactly the values of the 7 highest-pT inputs, in that order
    lab = s.constituents.astype(np.float64)
    jet = lab[:, :200].sum(1)
    frame_jet = np.stack(
        [np.hypot(physics.pt(jet), physics.mass(jet)), physics.pt(jet), np.zeros(50), np.zeros(50)], axis=-1
    )
    np.testing.assert_allclose(
        _dot(out.astype(np.float64), frame_jet[:, None]), _dot(lab[:, :7], jet[:, None]), rtol=1e-3
    )
