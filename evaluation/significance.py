"""The local significance of an m_jj bump (kahn2021 Sec. 4.2; shared by its reproduction and the bench).

RooStats ``NumberCountingUtils::BinomialExpZ`` (`binomial_exp_z`) per m_jj bin, with a 15 %
relative background uncertainty; `bump_significance` scales test-set efficiencies to a given
number of background and signal events and quotes the largest bin between 3 and 4 TeV.
"""

import numpy as np
from scipy import special, stats

BKG_UNCERTAINTY = 0.15
MJJ_BINS = np.arange(1500.0, 6000.0 + 1, 200.0)  # GeV
PEAK_WINDOW = (3000.0, 4000.0)  # GeV, where the Z'(3.5 TeV) bump is searched


def binomial_exp_p(s, b, relative_uncertainty):
    """RooStats NumberCountingUtils::BinomialExpP: p-value of s + b expected events over b.

    The background uncertainty is modelled by an auxiliary measurement with tau = 1 / (b sigma^2)
    (sigma the relative uncertainty), i.e. b tau = 1 / sigma^2 events off-signal; the p-value is
    the regularised incomplete beta function I_{1/(1+tau)}(s + b, b tau + 1).
    """
    s, b = np.asarray(s, np.float64), np.asarray(b, np.float64)
    tau = 1.0 / (b * relative_uncertainty**2)
    return special.betainc(s + b, b * tau + 1.0, 1.0 / (1.0 + tau))


def binomial_exp_z(s, b, relative_uncertainty):
    """RooStats NumberCountingUtils::BinomialExpZ: the one-sided Gaussian significance of `binomial_exp_p`."""
    return stats.norm.isf(binomial_exp_p(s, b, relative_uncertainty))


def bump_significance(mjj_b, pass_b, mjj_s, pass_s, n_background, n_signal):
    """Local significance per m_jj bin with expected counts scaled to n_background and n_signal events.

    Args:
        mjj_b, mjj_s: (events,) m_jj of test background and signal events (GeV).
        pass_b, pass_s: (events,) bool, the events kept by a selection.
        n_background, n_signal: events before any selection that the counts refer to.

    Returns:
        {"z": (bins,), "s", "b": (bins,) expected counts, "max_z": the largest z in PEAK_WINDOW}.
    """
    hb = np.histogram(mjj_b[pass_b], MJJ_BINS)[0] / len(mjj_b) * n_background
    hs = np.histogram(mjj_s[pass_s], MJJ_BINS)[0] / len(mjj_s) * n_signal
    z = np.zeros(len(hb))
    ok = hb > 0
    z[ok] = binomial_exp_z(hs[ok], hb[ok], BKG_UNCERTAINTY)
    centre = 0.5 * (MJJ_BINS[1:] + MJJ_BINS[:-1])
    window = (centre > PEAK_WINDOW[0]) & (centre < PEAK_WINDOW[1]) & ok
    return {"z": z, "s": hs, "b": hb, "max_z": float(z[window].max()) if window.any() else 0.0}
