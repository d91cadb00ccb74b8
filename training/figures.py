"""Figures drawn for every export (matplotlib with the Agg backend; no display needed), and the
one helper that writes a figure file atomically."""

import os
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from training.metrics import roc  # noqa: E402


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


def plot_roc(curves, path, title=""):
    """ROC curves as background rejection 1/epsilon_B against epsilon_S (log scale).

    Args:
        curves: {label: (scores, is_signal)}.
    """
    fig, ax = plt.subplots(figsize=(5, 4.2), layout="constrained")
    for label, (scores, is_signal) in curves.items():
        fpr, tpr = roc(scores, is_signal)
        ok = fpr > 0
        ax.plot(tpr[ok], 1.0 / fpr[ok], label=label)
    x = np.linspace(0.01, 1, 100)
    ax.plot(x, 1.0 / x, "k:", label="random")
    ax.set_yscale("log")
    ax.set_xlabel(r"signal efficiency $\epsilon_S$")
    ax.set_ylabel(r"background rejection $1/\epsilon_B$")
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
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


def plot_score_distributions(scores, labels, label_names, path, xlabel="score"):
    """Normalised histograms of one score per class."""
    fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    bins = np.histogram_bin_edges(scores, bins=50)
    for k, name in enumerate(label_names):
        sel = labels == k
        if sel.any():
            ax.hist(scores[sel], bins=bins, histtype="step", density=True, label=f"{name} ({sel.sum()})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
