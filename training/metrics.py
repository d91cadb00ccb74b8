"""Tagging metrics with the anomalous class as positive.

    epsilon_S = signal efficiency (true-positive rate), epsilon_B = background efficiency,
    AUC  = area under the ROC curve (epsilon_B vs epsilon_S),
    R50  = 1 / epsilon_B at epsilon_S = 0.5 (the smallest epsilon_B of any cut keeping >= 50 % of signal),
    SIC  = epsilon_S / sqrt(epsilon_B).

Scores are used as they are: a score whose AUC is below 0.5 is reported below 0.5.
"""

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def roc(scores, is_signal):
    """(epsilon_B, epsilon_S) arrays of the ROC curve."""
    fpr, tpr, _ = roc_curve(np.asarray(is_signal, bool), np.asarray(scores, np.float64))
    return fpr, tpr


def background_efficiency_at(fpr, tpr, signal_efficiency=0.5):
    """Smallest epsilon_B among cuts with epsilon_S >= signal_efficiency."""
    return float(fpr[tpr >= signal_efficiency].min())


def summary(scores, is_signal):
    """{'auc', 'r50', 'sic_50', 'sic_max', 'n_signal', 'n_background'} for one score.

    r50 and sic_50 (the SIC at epsilon_S = 0.5, 0.5 * sqrt(R50)) are None when no background
    survives at epsilon_S = 0.5 (infinite rejection).
    """
    is_signal = np.asarray(is_signal, bool)
    scores = np.asarray(scores, np.float64)
    if is_signal.all() or not is_signal.any():
        raise ValueError("metrics need both signal and background jets")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinity")
    fpr, tpr = roc(scores, is_signal)
    eb50 = background_efficiency_at(fpr, tpr, 0.5)
    ok = fpr > 0
    sic = tpr[ok] / np.sqrt(fpr[ok])
    # ignore the noisy tail where fewer than 20 background jets survive
    enough = fpr[ok] * (~is_signal).sum() >= 20
    return {
        "auc": float(roc_auc_score(is_signal, scores)),
        "r50": (1.0 / eb50) if eb50 > 0 else None,
        "sic_50": (0.5 / np.sqrt(eb50)) if eb50 > 0 else None,
        "sic_max": float(sic[enough].max()) if enough.any() else None,
        "n_signal": int(is_signal.sum()),
        "n_background": int((~is_signal).sum()),
    }
