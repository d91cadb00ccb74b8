"""Figures drawn for every export (seaborn's theme from training.figure_style, matplotlib's Agg
backend), the one helper that writes a figure file atomically, and the per-class histogram every
score-distribution figure draws with."""

import os
import pathlib

import numpy as np
import pandas as pd
import seaborn as sns

from training.figure_style import pyplot
from training.metrics import roc

plt = pyplot()


def save_figure(fig, path, dpi=120):
    """Write `fig` to `path` atomically (a hidden temporary file in the same folder, then a rename) and close it."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part.png")
    try:
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


def roc_frame(curves):
    """Long-form ROC table for seaborn: one row per point of every curve, columns ``curve``,
    ``eps_S`` and ``rejection`` (1/eps_B; points with eps_B = 0 left out).

    Args:
        curves: {label: (scores, is_signal)}.
    """
    parts = []
    for label, (scores, is_signal) in curves.items():
        fpr, tpr = roc(scores, is_signal)
        ok = fpr > 0
        parts.append(pd.DataFrame({"curve": label, "eps_S": tpr[ok], "rejection": 1.0 / fpr[ok]}))
    return pd.concat(parts, ignore_index=True)


def roc_axes(ax, frame, hue="curve", legend=True):
    """ROC lines of a `roc_frame` on `ax` (seaborn lineplot, one colour per `hue` value), with the
    random tagger dotted, 1/eps_B on a log scale."""
    sns.lineplot(frame, x="eps_S", y="rejection", hue=hue, estimator=None, sort=False, legend=legend, ax=ax)
    x = np.linspace(0.01, 1, 100)
    ax.plot(x, 1.0 / x, "k:", label="random")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel(r"signal efficiency $\epsilon_S$")
    ax.set_ylabel(r"background rejection $1/\epsilon_B$")
    ax.grid(alpha=0.3, which="both")
    if legend:
        ax.legend(fontsize=8)
    return ax


def plot_roc(curves, path, title=""):
    """ROC curves as background rejection 1/epsilon_B against epsilon_S (log scale).

    Args:
        curves: {label: (scores, is_signal)}.
    """
    fig, ax = plt.subplots(figsize=(5, 4.2), layout="constrained")
    roc_axes(ax, roc_frame(curves))
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def plot_images(images, titles, path, suptitle="", log=True, axis_labels=(r"$\eta'$ pixel", r"$\phi'$ pixel")):
    """A row of 2-D images (e.g. DVAE mixture components or average jet images)."""
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(4.0 * n, 3.4), squeeze=False, layout="constrained")
    for ax, img, title in zip(axes[0], images, titles):
        data = np.log10(np.maximum(img, 1e-8)) if log else img
        im = ax.imshow(data, origin="lower", cmap="viridis", vmin=data.max() - 5 if log else None)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(axis_labels[0])
        ax.set_ylabel(axis_labels[1])
        fig.colorbar(im, ax=ax, fraction=0.046, label="log10 intensity" if log else "intensity")
    fig.suptitle(suptitle, fontsize=10)
    return save_figure(fig, path)


def class_histograms(ax, groups, bins, legend=True, **kwargs):
    """Step histograms of one quantity per class on `ax`, each normalised on its own (seaborn histplot
    with the class as hue, so every figure gives a class the same kind of line).

    Args:
        groups: {class label: values}; empty classes are left out.
        bins: common bin edges.
        kwargs: passed to seaborn.histplot (e.g. ``palette``, ``linestyle``).
    """
    groups = {k: np.asarray(v, np.float64).ravel() for k, v in groups.items() if len(v)}
    if not groups:
        return ax
    frame = pd.DataFrame(
        {
            "value": np.concatenate(list(groups.values())),
            "class": np.repeat(list(groups), [len(v) for v in groups.values()]),
        }
    )
    sns.histplot(
        frame,
        x="value",
        hue="class",
        hue_order=list(groups),
        bins=bins,
        stat="density",
        common_norm=False,
        element="step",
        fill=False,
        legend=legend,
        ax=ax,
        **kwargs,
    )
    ax.set_xlabel("")
    ax.set_ylabel("density")
    if legend and ax.get_legend() is not None:
        ax.get_legend().set_title(None)
    return ax


def plot_score_distributions(scores, labels, label_names, path, xlabel="score"):
    """Normalised histograms of one score per class."""
    fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    bins = np.histogram_bin_edges(scores, bins=50)
    groups = {f"{name} ({np.sum(labels == k)})": scores[labels == k] for k, name in enumerate(label_names)}
    class_histograms(ax, groups, bins)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    return save_figure(fig, path)
