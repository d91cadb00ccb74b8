"""kahn2021's figures: AUC against contamination (Fig. 11), rho' distributions (Fig. 7), m_jj
against the Event Score (Fig. 12), m_jj before and after the cut (Fig. 13), mass sculpting (Fig. 10)."""

import numpy as np

from evaluation.significance import MJJ_BINS


def _plt():
    from training.figure_style import pyplot

    return pyplot()


def plot_auc(path, rows):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4))
    for prongs in sorted({r["prongs"] for r in rows}):
        rs = [r for r in rows if r["prongs"] == prongs]
        ax.errorbar(
            [100 * r["fraction"] for r in rs],
            [r["auc"] for r in rs],
            [r["auc_std"] for r in rs],
            marker="o",
            label=f"{prongs}-prong",
        )
    ax.set_xscale("log")
    ax.set_xlabel("signal contamination [%]")
    ax.set_ylabel("AUC of rho' (test leading jets)")
    ax.set_ylim(0.0, 1.0)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_mjj(path, mjj_b, mjj_s, pass_b, pass_s, n_sig, before, after, cut):
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    centre = 0.5 * (MJJ_BINS[1:] + MJJ_BINS[:-1])
    for col, (title, res) in enumerate((("before the cut", before), (f"Event Score > {cut}", after))):
        ax = axes[0, col]
        ax.stairs(res["b"], MJJ_BINS, label="background")
        ax.stairs(res["s"], MJJ_BINS, label="signal")
        ax.stairs(res["b"] + res["s"], MJJ_BINS, label="contaminated", linestyle="--")
        ax.set_yscale("log")
        ax.set_title(f"{title} (counts for the paper's sample)")
        ax.legend(fontsize=8)
        axes[1, col].bar(centre, res["z"], width=np.diff(MJJ_BINS))
        axes[1, col].set_ylabel("local Z")
        axes[1, col].set_xlabel("m_jj [GeV]")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_scores(path, score_b, score_s, prongs, fraction, cut):
    """rho' of test leading jets, background and signal (the paper's Fig. 7)."""
    from training.figures import class_histograms, save_figure

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    groups = {"background": score_b, f"{prongs}-prong signal": score_s}
    class_histograms(ax, groups, np.linspace(0.0, 1.0, 41))
    ax.axvline(cut, color="k", linestyle=":", label=f"cut {cut}")
    ax.set_xlabel("Anomaly Score rho' (test leading jets)")
    ax.set_ylabel("normalised")
    ax.set_title(f"trained at {100 * fraction:g} % contamination")
    save_figure(fig, path, dpi=100)


def plot_mjj_vs_score(path, mjj_b, es_b, mjj_s, es_s, cut):
    """m_jj against the Event Score of test events, background and signal (the paper's Fig. 12)."""
    from training.figures import save_figure

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True, layout="constrained")
    for ax, (title, mjj, es) in zip(axes, (("background", mjj_b, es_b), ("signal", mjj_s, es_s))):
        ok = np.isfinite(es)
        ax.hist2d(mjj[ok], es[ok], bins=(MJJ_BINS, np.linspace(0.0, 1.0, 41)), cmap="viridis", cmin=1)
        ax.axhline(cut, color="w", linestyle=":")
        ax.set_title(f"{title} test events")
        ax.set_xlabel("m_jj [GeV]")
    axes[0].set_ylabel("Event Score")
    save_figure(fig, path, dpi=100)


def plot_sculpting(path, mass, pass_rho, pass_d2, d2_cut, bins, cut):
    from training.figures import class_histograms, save_figure

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    groups = {
        "background, no cut": mass,
        f"rho' > {cut}": mass[pass_rho],
        f"D2 < {d2_cut:.2f} (same rejection)": mass[pass_d2],
    }
    class_histograms(ax, groups, bins)
    ax.set_xlabel("leading-jet mass [GeV]")
    ax.set_ylabel("normalised")
    save_figure(fig, path, dpi=100)
