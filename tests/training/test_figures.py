"""Figures drawn for every export: class histograms with seaborn, ROC curves, atomic files."""

import numpy as np

from training import figures


def test_class_histograms_draw_one_normalised_line_per_nonempty_class():
    plt = figures.pyplot()
    fig, ax = plt.subplots()
    rng = np.random.default_rng(0)
    groups = {"qcd": rng.normal(0, 1, 400), "top": rng.normal(2, 1, 100), "empty": np.array([])}
    figures.class_histograms(ax, groups, np.linspace(-4, 6, 41))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["qcd", "top"]
    for patch in ax.patches:  # each step outline encloses unit area: densities normalised per class
        x, y = patch.get_path().vertices.T
        assert abs(np.sum(np.diff(x) * y[:-1]) - 1.0) < 0.05
    plt.close(fig)


def test_roc_and_score_figures_are_written(tmp_path):
    rng = np.random.default_rng(1)
    labels = (rng.random(500) < 0.3).astype(int)
    scores = rng.normal(0, 1, 500) + labels
    frame = figures.roc_frame({"s": (scores, labels.astype(bool))})
    assert set(frame["curve"]) == {"s"} and (frame["rejection"] >= 1).all()
    for path in (
        figures.plot_roc({"s": (scores, labels.astype(bool))}, tmp_path / "roc.png"),
        figures.plot_score_distributions(scores, labels, ["qcd", "top"], tmp_path / "scores.png"),
    ):
        assert path.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roc.png", "scores.png"]  # no temporary files left
