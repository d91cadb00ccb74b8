"""The bench's numbers per (model, task, signal), on top of the project's metrics.

* AUC, R50 = 1/eps_B at eps_S = 0.5 and max SIC = max eps_S / sqrt(eps_B) (over cuts keeping at least
  20 background jets): ``training.metrics.summary``;
* the AUC's bootstrap 68 % interval: the 16th and 84th percentiles of the AUC over resamples (with
  replacement, signal and background separately, seeded);
* a ROC curve as ``ROC_POINTS`` eps_B values at fixed eps_S, enough to redraw it from results.json;
* sculpting: the JSD (bits) of the background jet mass (m_jj for event-level scores) before and after
  a cut at eps_B = 0.1 (``evaluation.sculpting``), with both histograms;
* background mismodelling: the share of shifted QCD above the threshold that keeps ``eff_b`` of nominal
  QCD (ideal: ``eff_b``) and the AUC of shifted against nominal QCD (ideal: 0.5), with its interval;
* event level: the local significance of the m_jj bump after a cut at a fixed background efficiency
  (``EVENT_EFF_B``), kahn2021's statistic (``evaluation.significance.bump_significance``: RooStats
  BinomialExpZ with 15 % background uncertainty, largest over the 3-4 TeV bins, counts scaled to
  kahn2021's 995,453 background events and the S/B of the training set).

Scores are used as they come (larger = more anomalous); nothing is flipped.
"""

import numpy as np

SCULPTING_EFF_B = 0.1
EVENT_EFF_B = 0.03  # about kahn2021's event-level working point (background rejection 33)
ROC_EFF_S = np.round(np.linspace(0.02, 1.0, 50), 4)


def auc_interval(scores_b, scores_s, n_resamples, seed=0):
    """(16th, 84th) percentile of the AUC over bootstrap resamples of background and signal."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(seed)
    b, s = np.asarray(scores_b, np.float64), np.asarray(scores_s, np.float64)
    aucs = []
    for _ in range(n_resamples):
        bb = b[rng.integers(0, len(b), len(b))]
        ss = s[rng.integers(0, len(s), len(s))]
        ranks = rankdata(np.r_[bb, ss])  # Mann-Whitney U with ties at half
        u = ranks[len(bb) :].sum() - len(ss) * (len(ss) + 1) / 2
        aucs.append(u / (len(bb) * len(ss)))
    low, high = np.percentile(aucs, [16, 84])
    return float(low), float(high)


def roc_points(scores_b, scores_s):
    """eps_B at each eps_S of ROC_EFF_S: the smallest background efficiency of a cut keeping at least that much signal."""
    from training.metrics import roc

    fpr, tpr = roc(np.r_[scores_b, scores_s], np.r_[np.zeros(len(scores_b), bool), np.ones(len(scores_s), bool)])
    return [float(fpr[tpr >= e].min()) for e in ROC_EFF_S]


def signal_metrics(scores_b, scores_s, n_resamples, seed=0):
    """{"auc", "auc_low", "auc_high", "r50", "sic_max", "n_signal", "n_background", "roc_eff_b"} of one score."""
    from training.metrics import summary

    scores_b, scores_s = np.asarray(scores_b, np.float64), np.asarray(scores_s, np.float64)
    m = summary(np.r_[scores_b, scores_s], np.r_[np.zeros(len(scores_b), bool), np.ones(len(scores_s), bool)])
    low, high = auc_interval(scores_b, scores_s, n_resamples, seed)
    return {
        "auc": m["auc"],
        "auc_low": low,
        "auc_high": high,
        "r50": m["r50"],
        "sic_max": m["sic_max"],
        "n_signal": m["n_signal"],
        "n_background": m["n_background"],
        "roc_eff_b": roc_points(scores_b, scores_s),
    }


def mismodelling(nominal, shifted, eff_b, n_resamples, seed=0):
    """{"eff_b_nominal", "eff_b_shifted", "threshold", "auc", "auc_low", "auc_high", "n"}: how a tagger
    trained on nominal QCD sees QCD from a shifted simulation (`nominal`, `shifted`: its default scores)."""
    from training.metrics import summary

    nominal, shifted = np.asarray(nominal, np.float64), np.asarray(shifted, np.float64)
    threshold = float(np.quantile(nominal, 1.0 - eff_b))
    auc = summary(np.r_[nominal, shifted], np.r_[np.zeros(len(nominal), bool), np.ones(len(shifted), bool)])["auc"]
    low, high = auc_interval(nominal, shifted, n_resamples, seed)
    return {
        "eff_b_nominal": float(eff_b),
        "eff_b_shifted": float(np.mean(shifted > threshold)),
        "threshold": threshold,
        "auc": float(auc),
        "auc_low": low,
        "auc_high": high,
        "n": int(len(shifted)),
    }


def sculpting(mass, scores, edges=None):
    """{"jsd", "edges", "before", "after", "threshold", "eff_b"} of the background mass (or m_jj) after a cut at
    SCULPTING_EFF_B (``evaluation.sculpting.sculpting``), as JSON-ready lists."""
    from evaluation.sculpting import sculpting as sculpt

    out = sculpt(mass, scores, (SCULPTING_EFF_B,), edges)
    cut = out["cuts"][SCULPTING_EFF_B]
    return {
        "eff_b": SCULPTING_EFF_B,
        "jsd": float(cut["jsd"]) if np.isfinite(cut["jsd"]) else None,  # None: no jet passed the cut
        "threshold": float(cut["threshold"]),
        "edges": [float(x) for x in out["edges"]],
        "before": [float(x) for x in out["before"]],
        "after": [float(x) for x in cut["hist"]],
    }


def sculpting_figure_data(record):
    """A stored sculpting record as ``evaluation.sculpting.plot_sculpting`` takes it."""
    eff = record["eff_b"]
    return {
        "edges": np.asarray(record["edges"]),
        "before": np.asarray(record["before"]),
        "cuts": {
            eff: {
                "hist": np.asarray(record["after"]),
                "jsd": np.nan if record["jsd"] is None else record["jsd"],
                "threshold": record["threshold"],
            }
        },
    }


def bump(mjj_b, scores_b, mjj_s, scores_s, fraction):
    """The m_jj bump's local significance before and after the cut at EVENT_EFF_B, kahn2021's definition.

    Returns:
        {"eff_b", "threshold", "eff_s", "z_before", "z_after", "n_signal_scaled"}.
    """
    from evaluation.papers.kahn2021 import PAPER_BACKGROUND_EVENTS
    from evaluation.significance import bump_significance

    scores_b, scores_s = np.asarray(scores_b, np.float64), np.asarray(scores_s, np.float64)
    threshold = float(np.quantile(scores_b, 1.0 - EVENT_EFF_B))
    n_signal = fraction / (1.0 - fraction) * PAPER_BACKGROUND_EVENTS
    everything_b, everything_s = np.ones(len(mjj_b), bool), np.ones(len(mjj_s), bool)
    before = bump_significance(mjj_b, everything_b, mjj_s, everything_s, PAPER_BACKGROUND_EVENTS, n_signal)
    after = bump_significance(
        mjj_b, scores_b > threshold, mjj_s, scores_s > threshold, PAPER_BACKGROUND_EVENTS, n_signal
    )
    return {
        "eff_b": EVENT_EFF_B,
        "threshold": threshold,
        "eff_s": float(np.mean(scores_s > threshold)),
        "z_before": float(before["max_z"]),
        "z_after": float(after["max_z"]),
        "n_signal_scaled": float(n_signal),
    }
