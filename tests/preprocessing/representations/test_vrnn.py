"""VRNN inputs (kahn2021): Algorithm 1 properties, k_t order, features, the pT-fraction table."""

import json

import numpy as np
import pytest

from preprocessing import representations
from preprocessing.errors import DataError
from preprocessing.jets import physics
from preprocessing.representations import vrnn
from preprocessing.representations.constituents import from_vector, to_vector


@pytest.fixture(scope="module")
def boosted(small_samples):
    out = {}
    for name in ("qcd", "top"):
        s = small_samples[name].subset(np.arange(300))
        out[name] = vrnn.algorithm1(s.constituents, s.n_constituents, return_info=True)
    return out


@pytest.mark.parametrize("name", ["qcd", "top"])
def test_algorithm1_frame(boosted, name):
    p4, mask, info = boosted[name]
    assert p4.shape == (300, 20, 4) and mask.sum(1).max() <= 20
    ok = ~info["degenerate"]
    # the cascade that leaves one massless constituent is rare and leaves exactly one constituent
    assert ok.mean() > 0.98
    assert np.all(mask[~ok].sum(1) == 1)
    jet = p4.sum(1)  # (jets, 4)
    np.testing.assert_allclose(physics.mass(jet[ok]), 0.25, rtol=1e-4)
    np.testing.assert_allclose(jet[:, 0], 1.0, rtol=1e-4)
    eta = np.where(mask, physics.eta(p4), 0.0)
    phi = np.where(mask, physics.phi(p4), 0.0)
    pt = np.where(mask, physics.pt(p4), -1.0)
    assert np.all(np.argmax(pt, 1) == 0)  # column 0 is the hardest in the final frame
    multi = mask.sum(1) >= 2
    assert np.all(np.abs(eta[multi, 0]) < 1e-9)
    assert np.all(phi[multi, 0] > 0)
    assert np.all(eta[multi, 1] >= 0) and np.mean(eta[multi, 1] > 0) > 0.99
    assert np.all(np.hypot(eta, phi)[mask] <= 1.0 + 1e-12)
    # removal and truncation did happen, so the repeat-from-start loop was exercised
    assert info["passes"].max() >= 3


def test_sequences_unchanged_by_phi_rotation_and_z_boost(small_samples):
    s = small_samples["top"].subset(np.arange(100))
    base = vrnn.sequences(s.constituents, s.n_constituents)
    moved = from_vector(to_vector(s.constituents.astype(np.float64)).rotateZ(2.1).boostZ(beta=0.6))
    other = vrnn.sequences(moved, s.n_constituents)
    np.testing.assert_array_equal(base["vrnn_mask"], other["vrnn_mask"])
    np.testing.assert_allclose(base["vrnn_sequence"], other["vrnn_sequence"], atol=2e-5)


def test_kt_order_defining_rule(small_samples):
    s = small_samples["qcd"].subset(np.arange(150))
    out = representations.build("vrnn", s)
    seq, mask = out["vrnn_sequence"].astype(np.float64), out["vrnn_mask"] > 0
    # padding only at the end, pT fractions sum to one
    assert np.all(np.diff(mask.astype(int), axis=1) <= 0)
    np.testing.assert_allclose(seq[..., 0].sum(1), 1.0, rtol=1e-5)
    for j in range(len(seq)):
        f, eta, phi = seq[j, mask[j]].T
        assert f[0] == f.max()  # starts with the hardest
        for t in range(1, len(f)):
            d = f[t:] * np.hypot(eta[t:] - eta[t - 1], phi[t:] - phi[t - 1])
            # the chosen one maximises pT * dR to the previous constituent among those left
            assert d[0] >= d.max() - 1e-6, (j, t)


def test_kt_order_hand_built():
    # pT order would be 0,1,2,3; from A, pT*dR is 0.5 (B), 2.0 (C), 1.0 (D) -> C;
    # from C, 2.0 (B), 0.5 (D) -> B; then D; the padding comes last
    pt = np.array([[10.0, 5.0, 4.0, 1.0, 0.0]])
    eta = np.zeros((1, 5))
    phi = np.array([[0.0, 0.1, 0.5, 1.0, 0.0]])
    mask = np.array([[True, True, True, True, False]])
    np.testing.assert_array_equal(vrnn.kt_order(pt, eta, phi, mask), [[0, 2, 1, 3, 4]])


def test_pt_fraction_table_and_weights():
    seq = np.zeros((4, 3, 3))
    mask = np.zeros((4, 3))
    seq[0, :2, 0], mask[0, :2] = [0.7, 0.3], 1
    seq[1, :2, 0], mask[1, :2] = [0.5, 0.5], 1
    seq[2, :3, 0], mask[2, :3] = [0.5, 0.3, 0.2], 1
    seq[3, :3, 0], mask[3, :3] = [0.7, 0.2, 0.1], 1
    fitted = json.loads(json.dumps(vrnn.fit_pt_fraction_table(seq, mask)))  # survives the model card
    table = np.array(fitted["pt_fraction_table"])
    assert table.shape == (4, 3)
    np.testing.assert_allclose(table[2], [0.6, 0.4, 0.0])
    np.testing.assert_allclose(table[3], [0.6, 0.25, 0.15])
    np.testing.assert_allclose(table[1], [1.0, 0.0, 0.0])  # no N=1 jets: equal sharing
    assert fitted["jets_per_multiplicity"] == [0, 0, 2, 2]
    w = vrnn.kl_weights(fitted, mask[[0, 2]])
    np.testing.assert_allclose(w, [[0.6, 0.4, 0.0], [0.6, 0.25, 0.15]], rtol=1e-6)
    with pytest.raises(DataError, match="pt_fraction_table has shape"):
        vrnn.kl_weights(table, np.ones((2, 5)))


def test_bad_input_named():
    c = np.zeros((2, 3, 4))
    c[:, 0] = physics.from_pt_eta_phi(np.array([100.0]), np.array([0.0]), np.array([0.0]), 1.0)
    with pytest.raises(DataError, match="jets.h5: jet 1 has no constituents"):
        vrnn.sequences(c, np.array([1, 0]), source="jets.h5")
    c[1, 0, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        vrnn.sequences(c, np.array([1, 1]))


def _jet(pts, etas, phis):
    """(1, n, 4) massless constituents (E, px, py, pz) from pT, eta, phi lists."""
    return physics.from_pt_eta_phi(np.array(pts), np.array(etas), np.array(phis), 0.0)[None]


def test_jets_with_fewer_than_three_constituents_are_dropped(small_samples):
    two = _jet([500.0, 300.0], [0.0, 0.1], [0.0, 0.2])
    far = _jet([500.0, 300.0, 1.0], [0.0, 0.1, 0.0], [0.0, 0.2, 2.5])  # the third leaves the cone
    three = _jet([500.0, 300.0, 100.0], [0.0, 0.1, -0.1], [0.0, 0.2, 0.1])
    c = np.zeros((3, 3, 4))
    c[0, :2], c[1], c[2] = two[0], far[0], three[0]
    n = np.array([2, 3, 3])
    full = vrnn.sequences(c, n, drop=False)
    np.testing.assert_array_equal(full["vrnn_mask"].sum(1), [2, 2, 3])
    np.testing.assert_array_equal(vrnn.kept(full), [False, False, True])
    kept = vrnn.sequences(c, n)
    assert kept["vrnn_sequence"].shape == (1, 20, 3)
    np.testing.assert_array_equal(kept["vrnn_sequence"], full["vrnn_sequence"][2:])
    # through the registry, the rows match the kept jets (events and labels of the same jets)
    s = small_samples["qcd"].subset(np.arange(40))
    s.n_constituents[[3, 7]] = 2  # two jets cut down to their two hardest constituents
    s.constituents[[3, 7], 2:] = 0.0
    built = representations.build("vrnn", s)
    event, labels = representations.rows("vrnn", s)
    assert len(built["vrnn_mask"]) == len(event) == len(labels) == 38
    assert built["vrnn_mask"].sum(1).min() >= 3
    np.testing.assert_array_equal(event, np.delete(s.event, [3, 7]))


def test_selection_paper_and_authors(small_samples):
    s = small_samples["top"].subset(np.arange(120))
    paper = vrnn.sequences(s.constituents, s.n_constituents, drop=False)
    authors = vrnn.sequences(s.constituents, s.n_constituents, selection="authors", drop=False)
    # the paper reflects on the second-hardest constituent, the authors on the second k_t element
    p4, mask = vrnn.algorithm1(s.constituents, s.n_constituents)
    eta = np.where(mask, physics.eta(p4), 0.0)
    assert np.all(eta[:, 1][mask[:, 1]] >= 0)
    second_kt = authors["vrnn_mask"][:, 1] > 0
    assert np.all(authors["vrnn_sequence"][second_kt, 1, 1] >= 0)
    assert np.any(paper["vrnn_sequence"][second_kt, 1, 1] < 0)  # so the two rules really differ
    # truncation differs: the authors keep wide constituents that the paper's pT rule drops
    long = s.n_constituents > 40
    assert long.sum() > 20
    differs = ~np.isclose(paper["vrnn_sequence"][long], authors["vrnn_sequence"][long], atol=1e-4).all(axis=(1, 2))
    assert differs.mean() > 0.5
    p4a, maska = vrnn.algorithm1(s.constituents, s.n_constituents, selection="authors")
    pt_a = np.where(maska, physics.pt(p4a), np.inf).min(1)
    pt_p = np.where(mask, physics.pt(p4), np.inf).min(1)
    assert np.mean(pt_a[long] < pt_p[long]) > 0.5  # the authors' rule keeps softer constituents
    with pytest.raises(DataError, match="selection"):
        vrnn.algorithm1(s.constituents[:2], s.n_constituents[:2], selection="kt")
