"""The one style of every figure in the project: seaborn's theme over matplotlib's Agg backend (files
only, no display needed).

Every module that draws calls `pyplot()` before its first figure and draws with the pyplot it
returns; the theme is set once per process, here and nowhere else. It lives in training/ because
that is the lowest layer that draws (training.figures, for every export) and evaluation/ may import
training/ but not the reverse.

The theme: seaborn's ``ticks`` style (no background grid, so that images and heatmaps are not
crossed by grid lines; line plots that want a grid ask for one), the ``paper`` context (figures are
read as PNG files at 100-120 dpi, several panels wide) and the colour-blind-safe palette.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

THEME = {
    "context": "paper",
    "style": "ticks",
    "palette": "colorblind",
    "font_scale": 1.1,
    "rc": {"image.cmap": "viridis", "legend.frameon": False},
}

_applied = False


def pyplot():
    """matplotlib.pyplot with the project's theme applied (once per process)."""
    global _applied
    if not _applied:
        sns.set_theme(**THEME)
        _applied = True
    return plt
