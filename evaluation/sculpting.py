"""Mass sculpting of a tagger: how a cut on its score changes the background jet-mass distribution
(cheng2020 Secs. IV-V, Figs. 11-14; reusable by cheng2022 and any mass-decorrelation study).

For background (QCD) jets with masses m and scores s (larger = more anomalous), a cut at
background efficiency eps_B keeps the jets with s > t, t the (1 - eps_B) quantile of s. With
normalised mass histograms P (all background jets) and Q_eps (jets passing the cut) on common
bins,

    JSD(P, Q) = 1/2 KL(P || M) + 1/2 KL(Q || M),   M = (P + Q) / 2,   in bits (0 <= JSD <= 1),

so JSD = 0 means no sculpting. The two-dimensional figure of merit of the paper is, at eps_B = 5 %,
the signal efficiency eps_S of the same cut against 1/JSD (up and right is better: more signal
kept, less sculpting).
"""

import numpy as np

from preprocessing.errors import DataError
from preprocessing.samples.resample import histogram, jensen_shannon, mass_bins

BACKGROUND_EFFICIENCIES = (0.5, 0.1, 0.05)


def threshold_at(background_scores, eff_b):
    """The score cut t that keeps a fraction eff_b of the background (s > t)."""
    scores = np.asarray(background_scores, np.float64)
    if len(scores) == 0:
        raise DataError("no background scores to place a cut on")
    if not 0 < eff_b < 1:
        raise DataError(f"background efficiency must be in (0, 1), got {eff_b}")
    return float(np.quantile(scores, 1.0 - eff_b))


def jsd(p, q):
    """Jensen-Shannon divergence in bits of two histograms (normalised here)."""
    return jensen_shannon(p, q)


def sculpting(mass, scores, efficiencies=BACKGROUND_EFFICIENCIES, edges=None):
    """Background mass histograms before and after cuts at fixed background efficiencies.

    Args:
        mass: (jets,) background jet masses (GeV).
        scores: (jets,) their anomaly scores.
        efficiencies: background efficiencies eps_B of the cuts.
        edges: mass bin edges; by default 40 bins over the 0.1-99.9 % quantiles of `mass`.

    Returns:
        {"edges": (bins + 1,), "before": (bins,) normalised histogram,
         "cuts": {eps_B: {"threshold", "hist", "jsd", "kept"}}}.
    """
    mass = np.asarray(mass, np.float64)
    scores = np.asarray(scores, np.float64)
    if mass.shape != scores.shape:
        raise DataError(f"{len(mass)} masses but {len(scores)} scores")
    edges = mass_bins(mass) if edges is None else np.asarray(edges, np.float64)
    before = histogram(mass, edges)
    cuts = {}
    for eff in efficiencies:
        t = threshold_at(scores, eff)
        keep = scores > t
        after = histogram(mass[keep], edges)
        cuts[eff] = {
            "threshold": t,
            "hist": after,
            "jsd": jsd(before, after) if after.sum() > 0 else float("nan"),
            "kept": int(keep.sum()),
        }
    return {"edges": edges, "before": before, "cuts": cuts}


def decorrelation_point(background_mass, background_scores, signal_scores, eff_b=0.05, edges=None):
    """(eps_S, 1/JSD) of the cut at background efficiency eff_b: the paper's 2-D figure of merit.

    Returns:
        {"eff_b", "eff_s", "jsd", "inverse_jsd"} (inverse_jsd is inf when the cut sculpts nothing).
    """
    result = sculpting(background_mass, background_scores, (eff_b,), edges)["cuts"][eff_b]
    eff_s = float(np.mean(np.asarray(signal_scores, np.float64) > result["threshold"]))
    value = result["jsd"]
    return {"eff_b": eff_b, "eff_s": eff_s, "jsd": value, "inverse_jsd": float(np.inf) if value == 0 else 1.0 / value}


def plot_sculpting(results, path, title=""):
    """Background mass histograms before and after each cut, one panel per tagger.

    Args:
        results: {tagger name: `sculpting` output}.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.6), squeeze=False)
    for ax, (name, res) in zip(axes[0], results.items()):
        edges = res["edges"]
        ax.stairs(res["before"], edges, label="no cut", color="black")
        for eff, cut in res["cuts"].items():
            ax.stairs(cut["hist"], edges, label=f"$\\epsilon_B$ = {eff:g} (JSD {cut['jsd']:.3f})")
        ax.set_xlabel("jet mass [GeV]")
        ax.set_title(name, fontsize=9)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("fraction of QCD jets")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_decorrelation(points, path, title=""):
    """1/JSD against eps_S at fixed eps_B, one point per tagger ({name: `decorrelation_point`})."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for name, p in points.items():
        ax.scatter(p["eff_s"], min(p["inverse_jsd"], 1e4), label=name)
    ax.set_xlabel(r"$\epsilon_S$")
    ax.set_ylabel("1 / JSD")
    ax.set_yscale("log")
    ax.set_title(title or r"mass decorrelation at $\epsilon_B$ = 5 %", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
