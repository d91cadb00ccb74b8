"""Truth matching: navigation of Pythia's record from the hard tops to their decay quarks."""

import numpy as np

from preprocessing.events.matching import top_partons
from preprocessing.events.processes import PROCESSES
from preprocessing.events.pythia import make_pythia
from preprocessing.jets import physics


def test_top_parton_navigation_reconstructs_w_and_top_masses():
    py = make_pythia(PROCESSES["top"], seed=5)
    tops, quarks = top_partons(py.nextBatch(100).prt)
    ok = np.all(np.isfinite(quarks), axis=(-1, -2))  # (events, 2)
    assert ok.mean() > 0.95
    q = quarks[ok]  # (tops, 3, 4): b, q, q'
    m_w = physics.mass(q[:, 1] + q[:, 2])
    m_bw = physics.mass(q.sum(axis=1))
    assert abs(np.median(m_w) - 80.4) < 2.0
    assert abs(np.median(m_bw) - 173.0) < 3.0
    # the W's shower-recoil copies shift it a little, so b + q + q' only approximates the top
    assert np.median(np.abs(m_bw - physics.mass(tops[ok]))) < 2.0
