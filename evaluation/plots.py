"""Figures of the paper reproductions, in the project's seaborn theme (training.figure_style).

Score distributions are seaborn histograms with the class as hue (training.figures.class_histograms).
The latent heatmaps stay matplotlib pcolormesh: their axes are physical coordinates (m_jj in TeV, z)
shared with the event contours drawn over them, which seaborn.heatmap's categorical cells would
not keep; the Gibbs triangles are 2-D histograms in ternary coordinates, and the line plots
(fraction scans, marginals, ROC bands, training curves) gain nothing from seaborn beyond its theme.
"""

import matplotlib.colors
import numpy as np

from training.figure_style import pyplot
from training.figures import class_histograms, save_figure
from training.metrics import roc

plt = pyplot()


def plot_snapshots(snapshots, is_signal, names, path, title=""):
    """Score distributions of background and signal probe jets at several epochs (small multiples)."""
    epochs = sorted(snapshots)
    fig, axes = plt.subplots(1, len(epochs), figsize=(3.0 * len(epochs), 2.8), squeeze=False, layout="constrained")
    for ax, epoch in zip(axes[0], epochs):
        values = np.asarray(snapshots[epoch])
        bins = np.histogram_bin_edges(values, bins=40)
        groups = {names[0]: values[~is_signal], names[1]: values[is_signal]}
        class_histograms(ax, groups, bins, legend=ax is axes[0][0])
        ax.set_title(f"epoch {epoch}", fontsize=9)
        ax.set_yticks([])
        ax.set_ylabel("")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_fraction_scan(fractions, scan, path):
    """AUC against the anomalous fraction for the default (mixture-weight) and reconstruction scores."""
    fig, ax = plt.subplots(figsize=(5.2, 4), layout="constrained")
    for anomalous, runs in scan.items():
        label = "t/Q" if anomalous == "top" else "Q/t"
        for score, style in (("mixture_weight", "-o"), ("reconstruction", "--s")):
            ax.plot(
                fractions[: len(runs)],
                [r["metrics"][score]["auc"] for r in runs],
                style,
                label=f"anomalous {anomalous}: {score}",
            )
        ax.set_xlabel(f"anomalous fraction ({label} or Q/t)")
    ax.set_xscale("log")
    ax.axhline(0.5, color="k", lw=0.5)
    ax.set_ylabel("AUC (anomalous class positive)")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def _ternary(r):
    """Gibbs-triangle coordinates of points on the 3-simplex: (1,0,0), (0,1,0), (0,0,1) -> corners."""
    return r[:, 1] + 0.5 * r[:, 2], 0.5 * np.sqrt(3.0) * r[:, 2]


def plot_gibbs(alpha, r, is_signal, names, path, title="", n_prior=5000, seed=0):
    """Gibbs triangles of the R=3 latent space: prior samples, background jets, anomalous jets."""
    from losses.dirichlet import dirichlet_laplace_prior

    mean, var = dirichlet_laplace_prior(alpha)
    z = np.random.default_rng(seed).normal(mean, np.sqrt(var), size=(n_prior, len(alpha)))
    prior = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    panels = [("prior (Laplace approx.)", prior), (names[0], r[~is_signal]), (f"{names[1]} (anomalous)", r[is_signal])]
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.4), layout="constrained")
    corners = np.array([[0, 0], [1, 0], [0.5, np.sqrt(3) / 2], [0, 0]])
    for ax, (label, pts) in zip(axes, panels):
        x, y = _ternary(pts)
        ax.hist2d(
            x, y, bins=40, range=[[0, 1], [0, np.sqrt(3) / 2]], cmap="viridis", cmin=1, norm=matplotlib.colors.LogNorm()
        )
        ax.plot(corners[:, 0], corners[:, 1], "k-", lw=0.8)
        for k, (cx, cy) in enumerate(corners[:3]):
            ax.annotate(f"r{k}=1", (cx, cy), fontsize=8, ha="center", va="top" if cy == 0 else "bottom")
        ax.set_title(f"{label} ({len(pts)})", fontsize=9)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def _density_levels(hist, fractions):
    """Histogram heights above which the given fractions of the entries lie (highest-density regions)."""
    values = np.sort(hist.ravel())[::-1]
    cum = np.cumsum(values) / max(values.sum(), 1e-300)
    return sorted(float(values[min(np.searchsorted(cum, f), len(values) - 1)]) for f in fractions)


def plot_latent_heatmaps(z, m, grid, names, z_events, m_events, is_signal, path, title="", ylabel="z", levels=()):
    """bortolato2021 Fig. 7: decoded observables over (m_jj, z) with 68/95 % regions of the events.

    Args:
        z, m: grid axes; grid: (len(z), len(m), features) decoded observables.
        z_events, m_events: latent mean and m_jj (GeV) of test events; is_signal: their truth
            (None draws the background contours only).
        ylabel: name of the latent axis (e.g. a coordinate along the default score's direction).
        levels: (value, label) pairs drawn as horizontal lines (e.g. where the score passes a quantile).
    """
    n = grid.shape[-1]
    fig, axes = plt.subplots(2, (n + 1) // 2, figsize=(4.2 * ((n + 1) // 2), 7), squeeze=False, layout="constrained")
    bins = [np.linspace(m[0], m[-1], 41), np.linspace(z[0], z[-1], 41)]
    groups = [("background", np.ones(len(z_events), bool) if is_signal is None else ~is_signal, "k")]
    if is_signal is not None and is_signal.any():
        groups.append(("signal", is_signal, "r"))
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.axis("off")
            continue
        im = ax.pcolormesh(m / 1000.0, z, grid[:, :, k], shading="auto", cmap="viridis")
        fig.colorbar(im, ax=ax, fraction=0.046)
        for _label, sel, color in groups:
            h, xe, ye = np.histogram2d(m_events[sel], z_events[sel], bins=bins)
            if h.sum() < 10:
                continue
            heights = _density_levels(h, (0.95, 0.68))
            if not heights[0] < heights[1]:  # events packed into a few bins: the two regions coincide
                continue
            xc, yc = 0.5 * (xe[1:] + xe[:-1]) / 1000.0, 0.5 * (ye[1:] + ye[:-1])
            ax.contour(xc, yc, h.T, levels=heights, colors=color, linestyles=["dotted", "dashed"], linewidths=1)
        for (value, label), style in zip(levels, ("--", "-")):
            ax.axhline(value, color="w", lw=0.8, ls=style, label=label)
        if levels and k == 0:
            ax.legend(fontsize=6, loc="upper right")
        ax.set_title(f"decoded {names[k]}", fontsize=9)
        ax.set_xlabel(r"$m_{jj}$ [TeV]")
        ax.set_ylabel(ylabel, fontsize=8 if len(ylabel) > 10 else None)
    fig.suptitle(title + "  (dashed 68 %, dotted 95 %; black background, red signal)", fontsize=9)
    return save_figure(fig, path)


def plot_marginals(
    m, grid, names, path, bands=None, ratio=None, ylabel=r"$\langle O\rangle_z / \langle O\rangle_{z,m_{jj}}$"
):
    """bortolato2021 Fig. 9: <O>_z / <O>_{z, m_jj} against m_jj; optional (low, high) bands per feature.

    Args:
        grid: (len(z), len(m), features) decoded observables; ignored when `ratio` is given.
        ratio: precomputed (len(m), features) marginal ratio.

    Returns the (len(m), features) ratio array.
    """
    if ratio is None:
        ratio = grid.mean(axis=0) / grid.mean(axis=(0, 1))  # (m, features)
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    for k, name in enumerate(names):
        (line,) = ax.plot(m / 1000.0, ratio[:, k], label=name)
        if bands is not None:
            ax.fill_between(m / 1000.0, bands[0][:, k], bands[1][:, k], color=line.get_color(), alpha=0.2)
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_xlabel(r"$m_{jj}$ [TeV]")
    ax.set_ylabel(ylabel, fontsize=8 if len(ylabel) > 60 else None)
    ax.legend(fontsize=7, ncol=2)
    save_figure(fig, path)
    return ratio


def plot_ensemble_roc(mean, std, is_signal, path, title="", score_name="ensemble mean KL"):
    """bortolato2021 Figs. 3-4: ROC (1/eps_B vs eps_S) and SIC of an ensemble-mean score, with the
    band spanned by the mean -/+ one standard deviation over members, and the score distributions."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    curves = {}
    for label, score in (("mean", mean), ("mean - std", mean - std), ("mean + std", mean + std)):
        fpr, tpr = roc(score, is_signal)
        ok = fpr > 0
        curves[label] = (tpr[ok], fpr[ok])
    grid = np.linspace(0.02, 1, 200)
    for ax, fn, ylabel in (
        (axes[0], lambda t, f: 1 / f, r"$1/\epsilon_B$"),
        (axes[1], lambda t, f: t / np.sqrt(f), r"SIC $\epsilon_S/\sqrt{\epsilon_B}$"),
    ):
        ys = {k: np.interp(grid, t, fn(t, f)) for k, (t, f) in curves.items()}
        ax.fill_between(
            grid,
            np.minimum(ys["mean - std"], ys["mean + std"]),
            np.maximum(ys["mean - std"], ys["mean + std"]),
            alpha=0.3,
            label="+-1 std over members",
        )
        ax.plot(grid, ys["mean"], "k-", label=score_name)
        ax.set_xlabel(r"$\epsilon_S$")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].plot(grid, 1 / grid, "k:", label="random")
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=7)
    bins = np.histogram_bin_edges(mean, bins=50)
    class_histograms(axes[2], {"background": mean[~is_signal], "signal": mean[is_signal]}, bins)
    axes[2].set_xlabel(score_name)
    axes[2].set_yscale("log")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_curves(curves, path, xlabel="", ylabel="", title=""):
    """Several named y-series against their index + 1 (e.g. a metric per epoch)."""
    fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
    for label, ys in curves.items():
        ax.plot(np.arange(1, len(ys) + 1), ys, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)
