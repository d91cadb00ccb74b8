"""Mass sculpting helpers: JSD against scipy, cuts at fixed background efficiency, a mass-blind
score sculpts nothing and a mass-like score sculpts a lot."""

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from evaluation import sculpting


def test_jsd_matches_scipy():
    rng = np.random.default_rng(0)
    p, q = rng.random((2, 30))
    q[:5] = 0.0  # empty bins are fine
    # scipy returns the Jensen-Shannon distance, the square root of the divergence
    np.testing.assert_allclose(sculpting.jsd(p, q), jensenshannon(p, q, base=2) ** 2, rtol=1e-10)
    assert sculpting.jsd(p, p) == pytest.approx(0.0, abs=1e-15)


def test_cuts_and_sculpting():
    rng = np.random.default_rng(1)
    mass = rng.gamma(3.0, 25.0, 50_000)
    blind = rng.random(50_000)
    result = sculpting.sculpting(mass, blind, (0.5, 0.1, 0.05))
    for eff, cut in result["cuts"].items():
        assert cut["kept"] == pytest.approx(eff * len(mass), rel=0.01)
        assert cut["jsd"] < 0.01  # independent of mass: no sculpting
    sculpted = sculpting.sculpting(mass, mass + rng.normal(0, 5, len(mass)), (0.05,))
    assert sculpted["cuts"][0.05]["jsd"] > 0.3
    point = sculpting.decorrelation_point(mass, blind, np.full(100, 2.0), eff_b=0.05)
    assert point["eff_s"] == 1.0 and point["inverse_jsd"] > 100
