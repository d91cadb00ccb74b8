"""Mass decorrelation: reweighting and resampling to a reference mass distribution, JSD values."""

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from preprocessing.errors import DataError
from preprocessing.samples import resample

JSD_THRESHOLD = 0.005  # bits; 40 bins, 20k resampled jets: statistical floor about 0.001


@pytest.fixture(scope="module")
def masses():
    rng = np.random.default_rng(5)
    qcd = 20.0 + rng.gamma(2.0, 30.0, 40_000)  # falling QCD-like jet mass
    signal = rng.uniform(10.0, 400.0, 30_000)  # mass-rescaled W jets spanning the spectrum
    return qcd, signal


def test_resampled_mass_matches_reference(masses):
    qcd, signal = masses
    edges = resample.mass_bins(qcd)
    idx = resample.resample(signal, qcd, n=20_000, edges=edges, seed=1)
    report = resample.jsd_report(signal, qcd, edges=edges, index=idx)
    assert report["jsd_before"] > 0.1
    assert report["jsd_after"] < JSD_THRESHOLD
    assert report["unmatched_reference_fraction"] == 0.0
    # seeded
    np.testing.assert_array_equal(idx, resample.resample(signal, qcd, n=20_000, edges=edges, seed=1))


def test_reweighting_is_exact_where_populated(masses):
    qcd, signal = masses
    w = resample.reweight(signal, qcd)
    np.testing.assert_allclose(w.mean(), 1.0)
    edges = resample.mass_bins(qcd)
    outside = (signal < edges[0]) | (signal > edges[-1])
    assert np.all(w[outside] == 0) and np.all(w[~outside] > 0)
    np.testing.assert_allclose(resample.histogram(signal, edges, w), resample.histogram(qcd, edges), atol=1e-12)
    assert resample.jsd_report(signal, qcd, weights=w)["jsd_after"] < 1e-10


def test_jensen_shannon_values():
    rng = np.random.default_rng(0)
    p, q = rng.uniform(size=30), rng.uniform(size=30)
    assert resample.jensen_shannon(p, p) == pytest.approx(0.0, abs=1e-15)
    assert resample.jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)
    assert resample.jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, rel=1e-9)


def test_unmatched_bins_are_reported():
    qcd = np.linspace(0.0, 100.0, 1001)
    sig = np.linspace(50.0, 100.0, 501)  # nothing below 50 GeV
    report = resample.jsd_report(
        sig, qcd, edges=np.linspace(0, 100, 11), weights=resample.reweight(sig, qcd, np.linspace(0, 100, 11))
    )
    assert report["unmatched_reference_fraction"] == pytest.approx(0.5, abs=0.01)
    with pytest.raises(DataError, match="no jet of the sample has a mass inside"):
        resample.reweight(np.array([500.0]), qcd)
