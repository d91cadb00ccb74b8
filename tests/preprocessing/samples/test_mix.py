"""Contaminated samples: the signal fraction met with whole events, seeded draws, clear errors."""

import numpy as np
import pytest

from preprocessing.errors import DataError
from preprocessing.samples.format import JetSample
from preprocessing.samples.mix import mix


def _events(n_events, label, mass, seed):
    """Event-level toy sample: two jets per event, jet mass ~ `mass`."""
    rng = np.random.default_rng(seed)
    n = 2 * n_events
    jets = {k: rng.normal(size=n).astype(np.float32) for k in ("pt", "eta", "phi", "energy")}
    jets["mass"] = (mass + rng.normal(size=n)).astype(np.float32)
    return JetSample(
        constituents=rng.normal(size=(n, 3, 4)).astype(np.float32),
        n_constituents=np.full(n, 3, np.int32),
        labels=np.zeros(n, np.int32),
        event=np.repeat(np.arange(n_events) * 7 + 3, 2),
        jets=jets,
        label_names=[label],
        provenance={"process": label},
    )


@pytest.fixture(scope="module")
def parts():
    return _events(180, "qcd", 50.0, 1), _events(40, "signal", 500.0, 2)


def test_fraction_is_met_with_whole_events(parts):
    bkg, sig = parts
    out = mix(bkg, sig, 0.1, seed=3)
    assert out.label_names == ["qcd", "signal"]
    is_sig = out.labels == out.label_of("signal")
    ev_sig = np.unique(out.event[is_sig])
    ev_all = np.unique(out.event)
    assert len(ev_sig) == 20 and len(ev_all) == 200  # 20 / (20 + 180) = 0.1
    assert len(ev_sig) / len(ev_all) == pytest.approx(0.1)
    # both jets of every event are present, adjacent, and of one class
    ev = out.event.reshape(-1, 2)
    assert np.all(ev[:, 0] == ev[:, 1]) and np.all(is_sig.reshape(-1, 2).sum(axis=1) % 2 == 0)
    # signal jets are the heavy ones (truth labels follow their jets) and are shuffled in
    assert np.all(out.jets["mass"][is_sig] > 300) and np.all(out.jets["mass"][~is_sig] < 300)
    assert np.nonzero(is_sig)[0].min() < len(out) // 2
    assert out.provenance["mix"]["signal_over_background"] == pytest.approx(0.1 / 0.9)


def test_seeded_and_limited_background(parts):
    bkg, sig = parts
    a, b, c = (
        mix(bkg, sig, 0.2, seed=5, n_background=40),
        mix(bkg, sig, 0.2, seed=5, n_background=40),
        mix(bkg, sig, 0.2, seed=6, n_background=40),
    )
    np.testing.assert_array_equal(a.jets["mass"], b.jets["mass"])
    assert not np.array_equal(a.jets["mass"], c.jets["mass"])
    assert len(np.unique(a.event)) == 50 and np.sum(a.labels == 1) == 2 * 10
    zero = mix(bkg, sig, 0.0)
    assert zero.label_names == ["qcd", "signal"] and np.all(zero.labels == 0)


def test_impossible_mixes_are_named(parts):
    bkg, sig = parts
    with pytest.raises(DataError, match="needs 180 signal events, but S.h5 has only 40"):
        mix(bkg, sig, 0.5, signal_name="S.h5")
    with pytest.raises(DataError, match="--fraction must be in"):
        mix(bkg, sig, 1.0)
    with pytest.raises(DataError, match="share class name"):
        mix(bkg, _events(5, "qcd", 1.0, 3), 0.01)


def test_a_fraction_that_rounds_to_no_signal_is_refused_and_the_reached_fraction_recorded(parts):
    bkg, sig = parts
    # 0.002 / 0.998 * 180 = 0.36 signal events: rounds to 0, which would be a clean sample labelled 0.2 %
    with pytest.raises(DataError, match=r"--fraction 0.002 of 180 background events rounds to 0 signal events; "):
        mix(bkg, sig, 0.002)
    # the smallest fraction that gives one event: 1 / (1 + 180) needs F / (1 - F) * 180 > 0.5
    out = mix(bkg, sig, 0.003)
    assert np.sum(out.labels == out.label_of("signal")) == 2  # one event, two jets
    assert out.provenance["mix"]["fraction"] == 0.003
    assert out.provenance["mix"]["achieved_fraction"] == pytest.approx(1 / 181)
    assert mix(bkg, sig, 0.0).provenance["mix"]["achieved_fraction"] == 0.0
