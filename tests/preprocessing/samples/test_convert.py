"""Converters for public formats: tiny files of each format written here, constituents kept to
1e-5, labels kept, clear errors for wrong or damaged input."""

import numpy as np
import pandas as pd
import pytest

from preprocessing.errors import DataError
from preprocessing.jets import physics
from preprocessing.samples.convert import convert, detect_format
from preprocessing.samples.format import read_sample


def _two_prong_events(rng, n_events, per_jet=25):
    """(events, particles) pT, eta, phi of two back-to-back sprays of particles each."""
    pt = rng.uniform(5, 100, (n_events, 2, per_jet))
    eta = rng.uniform(-1, 1, (n_events, 2, 1)) + rng.normal(0, 0.15, (n_events, 2, per_jet))
    phi0 = rng.uniform(-np.pi, np.pi, (n_events, 1, 1))
    phi = phi0 + np.array([0.0, np.pi])[None, :, None] + rng.normal(0, 0.15, (n_events, 2, per_jet))
    phi = (phi + np.pi) % (2 * np.pi) - np.pi
    return pt.reshape(n_events, -1), eta.reshape(n_events, -1), phi.reshape(n_events, -1)


def _assert_constituents_from(sample, pt, eta, phi):
    """Every stored constituent is one of its event's input particles (pT, eta, phi to 1e-5),
    and the two jets of an event hold all its particles (the sprays are far apart)."""
    for ev in np.unique(sample.event):
        rows = np.nonzero(sample.event == ev)[0]
        got = np.concatenate([sample.constituents[r, : sample.n_constituents[r]] for r in rows]).astype(float)
        real = pt[ev] > 0
        assert len(got) == real.sum()
        ref = np.stack([pt[ev][real], eta[ev][real], phi[ev][real]], 1)
        g = np.stack([physics.pt(got), physics.eta(got), physics.phi(got)], 1)
        ref, g = ref[np.lexsort(ref.T[::-1])], g[np.lexsort(g.T[::-1])]
        np.testing.assert_allclose(g, ref, rtol=1e-5, atol=1e-5)


def _write_lhco_table(rng, n, labels, src):
    """An LHCO R&D-style table (700 x (pT, eta, phi) zero padded, then the label) written with pandas."""
    pt, eta, phi = _two_prong_events(rng, n)
    table = np.zeros((n, 700, 3))
    table[:, :50] = np.stack([pt, eta, phi], -1)
    df = pd.DataFrame(np.concatenate([table.reshape(n, -1), np.asarray(labels, float)[:, None]], axis=1))
    df.to_hdf(src, key="df", format="fixed")
    return pt, eta, phi, src


def test_lhco_table_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    n = 12
    labels = np.array([0, 1] * (n // 2), dtype=float)
    pt, eta, phi, src = _write_lhco_table(rng, n, labels, tmp_path / "events_anomalydetection.h5")
    assert detect_format(src) == "lhco"

    s = read_sample(convert(src, tmp_path / "lhco.h5", chunk=5, progress=False))  # 3 chunks
    assert len(s) == 2 * n and s.label_names == ["background", "signal"]
    np.testing.assert_array_equal(s.labels.reshape(-1, 2)[:, 0], labels.astype(int))
    padded_pt = np.zeros((n, 700))
    padded_pt[:, :50] = pt
    padded_eta, padded_phi = np.zeros((n, 700)), np.zeros((n, 700))
    padded_eta[:, :50], padded_phi[:, :50] = eta, phi
    _assert_constituents_from(s, padded_pt, padded_eta, padded_phi)
    assert np.all(s.jets["mass"].reshape(-1, 2)[:, 0] >= s.jets["mass"].reshape(-1, 2)[:, 1])
    for key in ("mjj", "tau21", "tau32", "d2", "n_const"):
        assert key in s.jets
    assert s.provenance["source_format"] == "lhco"


@pytest.mark.parametrize("spelling", [".", "_"])
def test_delphes_tree_both_branch_spellings(tmp_path, spelling):
    import awkward as ak
    import uproot

    rng = np.random.default_rng(4)
    n = 8
    pt, eta, phi = _two_prong_events(rng, n, per_jet=18)
    # split every event's particles over the three particle-flow collections
    pieces = {"EFlowTrack": slice(0, 12), "EFlowPhoton": slice(12, 24), "EFlowNeutralHadron": slice(24, 36)}
    branches = {}
    for name, sl in pieces.items():
        first = "PT" if name == "EFlowTrack" else "ET"
        for field, values in ((first, pt), ("Eta", eta), ("Phi", phi)):
            branches[f"{name}{spelling}{field}"] = ak.Array(list(values[:, sl].astype(np.float32)))
    src = tmp_path / "delphes.root"
    with uproot.recreate(src) as f:
        f.mktree("Delphes", {k: "var * float32" for k in branches}, counter_name=lambda b: "n" + b.replace(".", "_"))
        f["Delphes"].extend(branches)
    assert detect_format(src) == "delphes"
    s = read_sample(convert(src, tmp_path / "d.h5", label="signal", chunk=3, progress=False))
    assert s.label_names == ["signal"] and len(s) == 2 * n and np.all(s.labels == 0)
    _assert_constituents_from(s, pt.astype(np.float32), eta.astype(np.float32), phi.astype(np.float32))


def test_bad_inputs_are_named(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(DataError, match="notes.h5: neither an HDF5 nor a ROOT file"):
        convert(text, tmp_path / "o.h5")
    with pytest.raises(DataError, match="no such input file"):
        convert(tmp_path / "missing.h5", tmp_path / "o.h5")
    wrong = tmp_path / "wrong.h5"
    pd.DataFrame(np.zeros((3, 10))).to_hdf(wrong, key="df", format="fixed")
    with pytest.raises(DataError, match="wrong.h5: an LHCO R&D table has 2101 columns .* 10"):
        convert(wrong, tmp_path / "o.h5")
    nolabel = tmp_path / "nolabel.h5"
    pd.DataFrame({"E_0": [1.0], "PX_0": [0.5], "PY_0": [0.1], "PZ_0": [0.2]}).to_hdf(
        nolabel, key="table", format="table"
    )
    with pytest.raises(DataError, match=r"lacks column\(s\) \['is_signal_new'\]"):
        convert(nolabel, tmp_path / "o.h5")
    import uproot

    root = tmp_path / "nobranch.root"
    with uproot.recreate(root) as f:
        f["Delphes"] = {"Jet_PT": np.ones(3)}
    with pytest.raises(DataError, match="lacks branch EFlowTrack"):
        convert(root, tmp_path / "o.h5")
    assert not (tmp_path / "o.h5").exists()
    assert not list(tmp_path.glob(".o.h5*"))


def test_truncated_input_never_gives_a_short_output(tmp_path):
    rng = np.random.default_rng(5)
    n = 40
    pt, eta, phi, src = _write_lhco_table(rng, n, np.zeros(n), tmp_path / "full.h5")
    data = src.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: int(len(data) * 0.7)])
    with pytest.raises(DataError, match="cut.h5"):
        convert(cut, tmp_path / "o.h5", fmt="lhco", chunk=10, progress=False)
    assert not (tmp_path / "o.h5").exists()


def test_negative_energies_and_transverse_momenta_are_refused(tmp_path):
    """A negative E (top-tagging) or pT (LHCO) is neither a particle nor padding: an error, not an empty jet."""
    rng = np.random.default_rng(8)
    pt, eta, phi, src = _write_lhco_table(rng, 6, np.zeros(6), tmp_path / "lhco.h5")
    df = pd.read_hdf(src)
    df.iloc[4, 3 * 7] = -3.0  # pT of particle 7 in row 4
    df.to_hdf(src, key="df", format="fixed")
    with pytest.raises(DataError, match=r"lhco.h5: negative constituent pT \(pT_7 = -3 in row 4"):
        convert(src, tmp_path / "o.h5", chunk=4)
    table = {f"{k}_0": [10.0, 10.0] for k in ("E", "PX")} | {"PY_0": [0.0, 0.0], "PZ_0": [0.0, 0.0]}
    table["E_0"] = [10.0, -10.0]
    pd.DataFrame({**table, "is_signal_new": [0, 1]}).to_hdf(tmp_path / "top.h5", key="table", format="table")
    with pytest.raises(DataError, match=r"top.h5: negative constituent E \(E_0 = -10 in row 1"):
        convert(tmp_path / "top.h5", tmp_path / "o.h5")
    assert not (tmp_path / "o.h5").exists() and not list(tmp_path.glob(".o.h5*"))
