"""Parton-level W' -> X Y (three-parton decays) events: kinematics and the Les Houches file."""

import numpy as np

from preprocessing.events import lhe
from preprocessing.jets import physics


def test_masses_and_momentum_conservation():
    ev = lhe.wprime_xy_events(2000, seed=3, m_wprime=3500.0, m_x=500.0, m_y=100.0)
    np.testing.assert_allclose(physics.mass(ev["incoming"].sum(axis=1)), 3500.0, rtol=1e-9)
    np.testing.assert_allclose(ev["x"] + ev["y"], ev["incoming"].sum(axis=1), atol=1e-6)
    np.testing.assert_allclose(ev["x_decay"].sum(axis=1), ev["x"], atol=1e-6)
    np.testing.assert_allclose(physics.mass(ev["x_decay"].sum(axis=1)), 500.0, rtol=1e-9)
    np.testing.assert_allclose(physics.mass(ev["y_decay"].sum(axis=1)), 100.0, rtol=1e-9)
    # decay partons are massless; x fractions stay physical
    assert np.abs(physics.mass(ev["x_decay"])).max() < 1e-3
    x = ev["incoming"][:, :, 0] / 6500.0
    assert np.all((x > 0) & (x < 1))
    # no transverse momentum before the shower: X and Y back to back in the transverse plane
    np.testing.assert_allclose(physics.pt(ev["x"]), physics.pt(ev["y"]), rtol=1e-9)


def test_three_body_phase_space_is_flat_in_the_dalitz_plane():
    rng = np.random.default_rng(0)
    p = lhe.three_body_massless(rng, 500.0, 40000)
    s12 = physics.mass(p[:, 0] + p[:, 1]) ** 2 / 500.0**2
    s23 = physics.mass(p[:, 1] + p[:, 2]) ** 2 / 500.0**2
    # uniform on the triangle s12 + s23 <= 1: each marginal has mean 1/3 and density 2(1 - s)
    assert abs(s12.mean() - 1 / 3) < 0.01 and abs(s23.mean() - 1 / 3) < 0.01
    assert abs(np.mean(s12 < 0.5) - 0.75) < 0.01
    np.testing.assert_allclose(p.sum(axis=1)[:, 1:], 0.0, atol=1e-9)
    # random orientation: the first parton's direction averages to zero
    assert np.abs((p[:, 0, 1:] / p[:, 0, :1]).mean(axis=0)).max() < 0.02


def test_lhe_file_is_seeded_and_complete(tmp_path):
    a, b, c = tmp_path / "a.lhe", tmp_path / "b.lhe", tmp_path / "c.lhe"
    lhe.write_lhef(a, 5, 1, 3500.0, 500.0, 100.0)
    lhe.write_lhef(b, 5, 1, 3500.0, 500.0, 100.0)
    lhe.write_lhef(c, 5, 2, 3500.0, 500.0, 100.0)
    text = a.read_text()
    assert text == b.read_text() and text != c.read_text()
    assert text.count("<event>") == 5 and text.rstrip().endswith("</LesHouchesEvents>")
    first = text.split("<event>")[1].split("</event>")[0].strip().splitlines()
    assert first[0].split()[0] == "11" and len(first) == 12
    ids = [int(line.split()[0]) for line in first[1:]]
    assert ids == [2, -1, 34, 24, 23, 2, 21, -1, 1, 21, -1]
