"""Metrics on hand-made score lists; no sign flipping."""

import numpy as np
import pytest

from training.metrics import summary


def test_perfect_reversed_and_hand_computed_r50():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert summary(np.arange(8.0), y)["auc"] == 1.0
    assert summary(-np.arange(8.0), y)["auc"] == 0.0  # reported as it is, never flipped
    # background scores 0..9, signal scores 5.5, 6.5, 100, 200: eps_S = 0.5 at threshold 100
    # -> no background above: R50 infinite (None); at a looser signal set, 2 of 10 background pass
    bkg, sig = np.arange(10.0), np.array([5.5, 8.5, 8.6, 8.7])
    m = summary(np.concatenate([bkg, sig]), np.r_[np.zeros(10), np.ones(4)])
    # threshold between 8.5 and 8.6 keeps 2 signal (eps_S = 0.5) and 1 background (9): eps_B = 0.1
    assert m["r50"] == pytest.approx(10.0)
    assert m["sic_50"] == pytest.approx(0.5 / np.sqrt(0.1))
    assert summary(np.concatenate([bkg, sig + 100]), np.r_[np.zeros(10), np.ones(4)])["r50"] is None
    with pytest.raises(ValueError):
        summary(np.ones(3), np.ones(3))
