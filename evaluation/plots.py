"""Figures written next to exported taggers (matplotlib with the Agg backend; no display needed)."""

import os
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from evaluation.metrics import roc  # noqa: E402


def _save(fig, path):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
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
    return _save(fig, path)


def plot_images(images, titles, path, suptitle="", log=True):
    """A row of 2-D images (e.g. DVAE mixture components or average jet images)."""
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(4.0 * n, 3.4), squeeze=False, layout="constrained")
    for ax, img, title in zip(axes[0], images, titles):
        data = np.log10(np.maximum(img, 1e-8)) if log else img
        im = ax.imshow(data, origin="lower", cmap="viridis", vmin=data.max() - 5 if log else None)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(r"$\eta'$ pixel")
        ax.set_ylabel(r"$\phi'$ pixel")
        fig.colorbar(im, ax=ax, fraction=0.046, label="log10 intensity" if log else "intensity")
    fig.suptitle(suptitle, fontsize=10)
    return _save(fig, path)


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
    return _save(fig, path)
