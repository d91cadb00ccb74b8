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


def plot_sculpting(results, path, title="", xlabel="jet mass [GeV]", ylabel="fraction of QCD jets"):
    """Background mass histograms before and after each cut, one panel per tagger (seaborn histograms
    of the binned fractions, the cut as hue).

    Args:
        results: {tagger name: `sculpting` output}.
        xlabel, ylabel: axis labels (another background observable, e.g. m_jj of events).
    """
    import pandas as pd
    import seaborn as sns

    from training.figure_style import pyplot
    from training.figures import save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.6), squeeze=False, layout="constrained")
    for ax, (name, res) in zip(axes[0], results.items()):
        edges = res["edges"]
        centres = 0.5 * (edges[1:] + edges[:-1])
        hists = {"no cut": res["before"]}
        hists.update(
            {f"$\\epsilon_B$ = {eff:g} (JSD {cut['jsd']:.3f})": cut["hist"] for eff, cut in res["cuts"].items()}
        )
        frame = pd.DataFrame(
            {
                "mass": np.tile(centres, len(hists)),
                "fraction": np.concatenate(list(hists.values())),
                "cut": np.repeat(list(hists), len(centres)),
            }
        )
        palette = ["black", *sns.color_palette(n_colors=len(hists) - 1)]
        sns.histplot(
            frame,
            x="mass",
            weights="fraction",
            hue="cut",
            hue_order=list(hists),
            palette=palette,
            bins=edges.tolist(),  # a list: seaborn 0.13 compares an array of bins with 'auto' when weighted
            element="step",
            fill=False,
            ax=ax,
        )
        ax.get_legend().set_title(None)
        plt.setp(ax.get_legend().get_texts(), fontsize=7)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("")
        ax.set_title(name, fontsize=9)
    axes[0][0].set_ylabel(ylabel)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=110)


def plot_decorrelation(points, path, title=""):
    """1/JSD against eps_S at fixed eps_B, one point per tagger ({name: `decorrelation_point`})."""
    import pandas as pd
    import seaborn as sns

    from training.figure_style import pyplot
    from training.figures import save_figure

    plt = pyplot()
    frame = pd.DataFrame(
        {
            "tagger": list(points),
            "eff_s": [p["eff_s"] for p in points.values()],
            "inverse_jsd": [min(p["inverse_jsd"], 1e4) for p in points.values()],
        }
    )
    fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    sns.scatterplot(frame, x="eff_s", y="inverse_jsd", hue="tagger", style="tagger", s=60, ax=ax)
    ax.set_xlabel(r"$\epsilon_S$")
    ax.set_ylabel("1 / JSD")
    ax.set_yscale("log")
    ax.set_title(title or r"mass decorrelation at $\epsilon_B$ = 5 %", fontsize=10)
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi=110)
