"""N-subjettiness and D2 against hand-built prong jets, brute-force sums and invariances."""

import itertools

import numpy as np
import pytest

from preprocessing.jets import observables, physics


def _prong_jet(rng, prongs, per_prong=12, spread=0.01):
    """Massless constituents scattered tightly around each (pT, eta, phi) prong."""
    parts = []
    for pt, eta, phi in prongs:
        share = rng.uniform(0.5, 1.5, per_prong)
        share *= pt / share.sum()
        parts.append(
            physics.from_pt_eta_phi(
                share, eta + rng.normal(0, spread, per_prong), phi + rng.normal(0, spread, per_prong)
            )
        )
    return np.concatenate(parts)


def _pad(jets, width=None):
    width = width or max(len(j) for j in jets)
    out = np.zeros((len(jets), width, 4))
    for i, j in enumerate(jets):
        out[i, : len(j)] = j
    return out, np.array([len(j) for j in jets])


@pytest.fixture(scope="module")
def prong_jets():
    rng = np.random.default_rng(4)
    one = _prong_jet(rng, [(600, 0.0, 0.0)])
    two = _prong_jet(rng, [(300, 0.0, 0.0), (300, 0.35, 0.2)])
    three = _prong_jet(rng, [(200, 0.0, 0.0), (200, 0.4, 0.1), (200, 0.1, 0.45)])
    return _pad([one, two, three])


def test_prong_counting(prong_jets):
    c, n = prong_jets
    tau = observables.nsubjettiness(c, n)
    tau21, tau32 = tau[:, 1] / tau[:, 0], tau[:, 2] / tau[:, 1]
    # a jet with N prongs has tau_N << tau_{N-1}; with fewer prongs the ratio stays O(1)
    assert tau21[1] < 0.15 and tau21[0] > 0.5 and tau21[2] > 0.4
    assert tau32[2] < 0.15 and tau32[0] > 0.5 and tau32[1] > 0.5
    assert np.all(np.diff(tau, axis=1) <= 1e-9)  # more axes never increase tau
    # the narrow 1-prong jet: tau1 is its pT times a typical spread of ~0.01
    assert tau[0, 0] < 600 * 0.03


def test_tau1_matches_the_jet_axis_closed_form():
    # two massless particles: the one exclusive-kT axis is the direction of their sum
    p = physics.from_pt_eta_phi(np.array([400.0, 150.0]), np.array([0.1, -0.3]), np.array([0.0, 0.5]))
    axis = p.sum(axis=0)
    y_axis = 0.5 * np.log((axis[0] + axis[3]) / (axis[0] - axis[3]))
    expected = sum(
        physics.pt(q) * physics.delta_r(physics.eta(q), physics.phi(q), y_axis, physics.phi(axis)) for q in p
    )  # massless: rapidity = eta
    kt = observables._flat_nsubjettiness(*observables._flatten(p[None], np.array([2])), iterations=0)
    np.testing.assert_allclose(kt[0, 0], expected, rtol=1e-9)
    # the tau-minimising axis of two particles (beta = 1) is the harder one: tau1 = pT_soft * dR
    tau = observables.nsubjettiness(p[None], np.array([2]))
    dr = physics.delta_r(0.1, 0.0, -0.3, 0.5)
    np.testing.assert_allclose(tau[0, 0], 150.0 * dr, rtol=1e-3)
    assert tau[0, 0] < 0.8 * expected
    np.testing.assert_allclose(tau[0, 1:], 0.0, atol=1e-6)  # each particle its own axis


def test_minimised_axes_never_raise_tau_and_order_it(prong_jets):
    c, n = prong_jets[0], prong_jets[1]
    kt = observables._flat_nsubjettiness(*observables._flatten(c, n), iterations=0)
    tau = observables.nsubjettiness(c, n)
    assert np.all(tau <= kt + 1e-9)
    assert np.any(tau < 0.99 * kt)  # the kT axes are not the minimum for these jets
    assert np.all(np.diff(tau, axis=1) <= 1e-9 * tau[:, :-1])  # tau_{N+1} <= tau_N


def test_d2_equals_brute_force_triple_sum(prong_jets):
    c, n = prong_jets
    got = observables.d2(c, n)
    for i in range(len(c)):
        p = c[i, : n[i]]
        y, phi = observables._rapidity_phi(p)
        z = physics.pt(p) / physics.pt(p).sum()
        dr = physics.delta_r(y[:, None], phi[:, None], y[None], phi[None])
        e2 = sum(z[a] * z[b] * dr[a, b] for a, b in itertools.combinations(range(n[i]), 2))
        e3 = sum(
            z[a] * z[b] * z[k] * dr[a, b] * dr[a, k] * dr[b, k] for a, b, k in itertools.combinations(range(n[i]), 3)
        )
        np.testing.assert_allclose(got[i], e3 / e2**3, rtol=1e-5)
    # two-prong jets have the smallest D2 (D2 is the standard 2-prong tagger)
    assert got[1] < got[0] and got[1] < got[2]


def test_invariance_under_boost_rotation_order_and_padding(prong_jets):
    c, n = prong_jets
    ref = observables.jet_observables(c, n)
    # boost along z (rapidity differences and pT unchanged) and rotation in phi
    rap, ang = 0.7, 1.1
    e, px, py, pz = np.moveaxis(c, -1, 0)
    moved = np.stack(
        [
            e * np.cosh(rap) + pz * np.sinh(rap),
            px * np.cos(ang) - py * np.sin(ang),
            px * np.sin(ang) + py * np.cos(ang),
            pz * np.cosh(rap) + e * np.sinh(rap),
        ],
        -1,
    )
    # shuffled constituents and extra padding
    perm = np.random.default_rng(1).permutation(n[2])
    shuffled = c.copy()
    shuffled[2, : n[2]] = c[2, perm]
    wide = np.concatenate([shuffled, np.zeros((3, 9, 4))], axis=1)
    for other in (observables.jet_observables(moved, n), observables.jet_observables(wide, n)):
        for key in ("tau1", "tau2", "tau3", "tau4", "d2"):
            np.testing.assert_allclose(other[key], ref[key], rtol=1e-6, err_msg=key)
    np.testing.assert_array_equal(ref["n_const"], n)


def test_few_constituents_and_empty_batch():
    p = physics.from_pt_eta_phi(np.array([100.0, 50.0, 20.0]), np.array([0.0, 0.3, -0.2]), np.array([0.0, 0.1, 0.3]))
    c, n = _pad([p[:1], p[:2], p])
    tau = observables.nsubjettiness(c, n)
    assert np.abs(tau[0]).max() < 1e-6  # one particle: every tau vanishes (up to the soft ghosts)
    assert tau[1, 0] > 0 and np.abs(tau[1, 1:]).max() < 1e-6
    assert tau[2, 1] > 0 and np.abs(tau[2, 2:]).max() < 1e-6
    d2 = observables.d2(c, n)
    assert d2[0] == 0.0 and np.isfinite(d2).all()
    empty = observables.jet_observables(np.zeros((0, 5, 4)), np.zeros(0, int))
    assert all(len(v) == 0 for v in empty.values())


def test_flat_and_padded_forms_agree(prong_jets):
    # the clustering (preprocessing.jets.clustering) passes the constituents flat, jet by jet; converters
    # pass them padded
    c, n = prong_jets
    flat = np.concatenate([c[i, : n[i]] for i in range(len(c))])
    padded = observables.jet_observables(c, n)
    direct = observables.flat_jet_observables(flat, n)
    for key in padded:
        np.testing.assert_allclose(direct[key], padded[key], rtol=1e-12, err_msg=key)


def test_generated_jets_have_ordered_tau(small_samples):
    # with kT axes alone, tau2 > tau1 happened for a few per cent of generated QCD jets
    for name in ("qcd", "top"):
        jets = small_samples[name].jets
        assert np.all(jets["tau2"] <= jets["tau1"] * (1 + 1e-9)), name
        assert np.all(jets["tau21"] <= 1 + 1e-9) and np.all(jets["tau32"] <= 1 + 1e-9), name
