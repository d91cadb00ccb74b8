"""The one figure style: seaborn's theme, set once for every module that draws."""

import matplotlib
import matplotlib.colors
import seaborn as sns

from training import figure_style


def test_pyplot_applies_the_seaborn_theme_once(monkeypatch):
    plt = figure_style.pyplot()
    assert matplotlib.get_backend().lower() == "agg"
    colours = [matplotlib.colors.to_hex(c["color"]) for c in plt.rcParams["axes.prop_cycle"]]
    assert colours[:3] == sns.color_palette(figure_style.THEME["palette"]).as_hex()[:3]
    assert plt.rcParams["axes.grid"] is False  # the ticks style: no grid across images and heatmaps
    calls = []
    monkeypatch.setattr(sns, "set_theme", lambda **kw: calls.append(kw))
    figure_style.pyplot()
    assert calls == []  # already applied: a second module drawing does not reset what the first set
