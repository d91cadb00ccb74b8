"""High-level dijet features (bortolato2021) on hand-built samples."""

import numpy as np
import pytest

from preprocessing import representations
from preprocessing.errors import DataError
from preprocessing.jets import physics
from preprocessing.representations import highlevel
from preprocessing.samples.format import JetSample


def _sample(extra=None, drop=(), event=(7, 3, 7, 9, 3, 9)):
    # three events; jets stored out of order, the lighter jet first in events 7 and 9
    jets = {
        "pt": np.array([1300.0, 1500.0, 1250.0, 1400.0, 1450.0, 1350.0]),
        "eta": np.array([0.5, -0.2, -0.9, 0.1, 0.3, -1.2]),
        "phi": np.array([0.0, 1.0, 3.0, -2.0, -2.2, 1.1]),
        "mass": np.array([100.0, 80.0, 500.0, 90.0, 450.0, 300.0]),
        "tau1": np.array([0.4, 0.5, 0.3, 0.6, 0.2, 0.5]),
        "tau2": np.array([0.2, 0.3, 0.15, 0.3, 0.1, 0.2]),
        "tau3": np.array([0.1, 0.2, 0.12, 0.15, 0.09, 0.1]),
    }
    jets.update(extra or {})
    for k in drop:
        jets.pop(k)
    n = len(event)
    return JetSample(
        constituents=np.zeros((n, 1, 4)),
        n_constituents=np.ones(n, np.int32),
        labels=np.zeros(n, np.int32),
        event=np.asarray(event),
        jets=jets,
        label_names=["qcd"],
        provenance={},
    )


def test_features_mass_ordered_per_event():
    s = _sample()
    feats, mjj, rows = highlevel.dijet_features(s)
    assert feats.shape == (3, 6) and feats.dtype == np.float32
    # events in order of first appearance (7, 3, 9), heavier jet first
    np.testing.assert_array_equal(rows, [[2, 0], [4, 1], [5, 3]])
    m, t1, t2, t3 = (s.jets[k] for k in ("mass", "tau1", "tau2", "tau3"))
    expect = np.stack(
        [
            m[rows[:, 0]],
            m[rows[:, 1]],
            t2[rows[:, 0]] / t1[rows[:, 0]],
            t3[rows[:, 0]] / t2[rows[:, 0]],
            t2[rows[:, 1]] / t1[rows[:, 1]],
            t3[rows[:, 1]] / t2[rows[:, 1]],
        ],
        axis=1,
    )
    np.testing.assert_allclose(feats, expect, rtol=1e-6)
    assert list(highlevel.FEATURES) == ["m_j1", "m_j2", "tau21_j1", "tau32_j1", "tau21_j2", "tau32_j2"]
    # m_jj from the two jets' four-vectors, and never among the inputs
    p4 = physics.from_pt_eta_phi(s.jets["pt"], s.jets["eta"], s.jets["phi"], s.jets["mass"])
    np.testing.assert_allclose(mjj, physics.mass(p4[rows[:, 0]] + p4[rows[:, 1]]), rtol=1e-9)
    assert not np.any(np.isclose(feats[:, :, None], mjj[:, None, None], rtol=1e-3))
    out = representations.build("highlevel", s)
    np.testing.assert_array_equal(out["highlevel"], feats)
    assert representations.input_shapes("highlevel") == {"highlevel": (6,)}


def test_stored_mjj_is_used():
    s = _sample(extra={"mjj": np.array([3500.0, 2000.0, 3500.0, 4100.0, 2000.0, 4100.0])})
    _, mjj, _ = highlevel.dijet_features(s)
    np.testing.assert_array_equal(mjj, [3500.0, 2000.0, 4100.0])


def test_missing_fields_and_bad_events_are_named():
    with pytest.raises(DataError, match="/jets/tau3"):
        highlevel.dijet_features(_sample(drop=("tau3",)), "dijets.h5")
    with pytest.raises(DataError, match=r"event 3 has 1 jet\(s\).*\(2 such events\)"):
        highlevel.dijet_features(_sample(event=(7, 3, 7, 9, 9, 9)))
    with pytest.raises(DataError, match="tau21 = tau2/tau1 undefined for jet 4"):
        highlevel.dijet_features(_sample(extra={"tau1": np.array([0.4, 0.5, 0.3, 0.6, 0.0, 0.5])}))
    # a jet of two constituents has tau2 = tau3 = 0: tau32 is 0 by convention, not an error
    few = highlevel.dijet_features(
        _sample(
            extra={"tau2": np.array([0.2, 0.3, 0.15, 0.3, 0.0, 0.2]), "tau3": np.array([0.1, 0.1, 0.1, 0.1, 0.0, 0.1])}
        )
    )[0]
    assert np.isfinite(few).all() and (few[:, [3, 5]] == 0).sum() == 1
    # complete_events keeps the two-jet events of a jet-level sample
    s = highlevel.complete_events(_sample(event=(7, 3, 7, 9, 4, 9)))
    assert sorted(s.event.tolist()) == [7, 7, 9, 9]
