"""The bench's figures (seaborn, the project's one theme: ``training.figure_style``), drawn from results.json.

Each ``*_data`` function turns a results.json dict into the table a figure plots, so that a test can
check a figure's numbers against the file; ``draw`` writes every figure and returns those tables.

* ``auc_heatmap.png``: AUC of the default score, models x jet-level signals, the 68 % interval in each cell;
* ``roc.png``: background rejection 1/eps_B against eps_S, one panel per signal, every model;
* ``cost.png``: mean jet-level AUC against the SavedModel's scoring rate (rows per second);
* ``robustness.png``: AUC per signal after training on QCD and on QCD with 1 % top (the models that
  claim robustness to contamination), and the share of QCD from a shifted simulation above each jet-level
  model's nominal 1 % threshold (tasks.MISMODELLING);
* ``sculpting_*.png``: background mass (m_jj for event-level models) before and after the cut at
  eps_B = 0.1, with its JSD (``evaluation.sculpting.plot_sculpting``, four models per figure).
"""

import pathlib

import numpy as np
import pandas as pd


def _jet_records(results):
    return [r for r in results["records"] if not r["task"].startswith("3")]


def heatmap_data(results):
    """(AUC frame: entries x signals, annotation frame: text per cell)."""
    records = _jet_records(results)
    signals = results["meta"]["signals"]
    entries = list(dict.fromkeys(r["entry"] for r in records))
    auc = pd.DataFrame(np.nan, index=entries, columns=signals)
    text = pd.DataFrame("", index=entries, columns=signals)
    for r in records:
        auc.loc[r["entry"], r["signal"]] = r["auc"]
        mark = "\n(class)" if r.get("in_training_classes") else ""
        text.loc[r["entry"], r["signal"]] = f"{r['auc']:.2f}\n[{r['auc_low']:.2f}, {r['auc_high']:.2f}]{mark}"
    return auc, text


def roc_data(results):
    """Long frame (signal, model, eff_s, eff_b, rejection) of every jet-level ROC curve."""
    eff_s = results["meta"]["roc_eff_s"]
    rows = []
    for r in _jet_records(results):
        for s, b in zip(eff_s, r["roc_eff_b"]):
            rows.append({"signal": r["signal"], "model": r["entry"], "eff_s": s, "eff_b": b})
    frame = pd.DataFrame(rows)
    if len(frame):
        floor = 1.0 / max(r["n_background"] for r in _jet_records(results))  # eps_B = 0: below one background jet
        frame["rejection"] = 1.0 / frame["eff_b"].clip(lower=floor)
    return frame


def cost_data(results):
    """Frame (model, task, mean AUC, scoring rate, parameters) of the jet-level entries."""
    rows = [
        {
            "model": e["name"],
            "task": e["task"],
            "mean AUC": e["mean_jet_auc"],
            "rows/s": e["score_rows_per_second"],
            "parameters": e["parameters"],
        }
        for e in results["entries"]
        if e["mean_jet_auc"] is not None and e["score_rows_per_second"]
    ]
    return pd.DataFrame(rows)


def robustness_data(results):
    """Frame (model, signal, training set, AUC) for the models trained both on QCD and on QCD + 1 % top."""
    by = {(r["entry"], r["signal"]): r for r in _jet_records(results)}
    rows = []
    for e in results["entries"]:
        if not e["name"].endswith("_top1pc"):
            continue
        for s in results["meta"]["signals"]:
            for entry in (e["model"], e["name"]):
                r = by.get((entry, s))
                if r is not None:
                    rows.append({"model": e["model"], "signal": s, "training set": r["variant"], "AUC": r["auc"]})
    return pd.DataFrame(rows)


def mismodelling_data(results):
    """Frame (model, shifted QCD, eps_B at the nominal threshold) of every jet-level entry."""
    rows = [
        {"model": e["name"], "shifted QCD": shift, "eps_B [%]": 100 * m["eff_b_shifted"]}
        for e in results["entries"]
        for shift, m in (e.get("mismodelling") or {}).items()
    ]
    return pd.DataFrame(rows)


def sculpting_data(results):
    """{entry: sculpting record as ``evaluation.sculpting.plot_sculpting`` takes it}."""
    from evaluation.leaderboard.metrics import sculpting_figure_data

    return {e["name"]: sculpting_figure_data(e["sculpting"]) for e in results["entries"] if e["sculpting"]}


def _heatmap(results, path):
    import seaborn as sns

    from training.figure_style import pyplot
    from training.figures import save_figure

    auc, text = heatmap_data(results)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.5 * auc.shape[1] + 3, 0.62 * auc.shape[0] + 1.8), layout="constrained")
    sns.heatmap(
        auc, annot=text.values, fmt="", vmin=0.0, vmax=1.0, center=0.5, cmap="vlag", annot_kws={"fontsize": 7}, ax=ax
    )
    ax.set_xlabel("test signal")
    ax.set_ylabel("")
    ax.set_title(f"AUC of the default score, 68 % bootstrap interval ({results['meta']['scale']} scale)", fontsize=10)
    ax.collections[0].colorbar.set_label("AUC")
    save_figure(fig, path, dpi=110)
    return auc, text


def _roc(results, path):
    import seaborn as sns

    from training.figure_style import pyplot
    from training.figures import save_figure

    frame = roc_data(results)
    pyplot()
    models = list(dict.fromkeys(frame["model"]))
    # more models than the theme's ten colours: evenly spaced hues, and the task as the line style
    palette = sns.color_palette("husl", len(models)) if len(models) > 10 else None
    tasks = {e["name"]: e["task"] for e in results["entries"]}
    frame = frame.assign(task=frame["model"].map(tasks))
    grid = sns.relplot(
        frame,
        x="eff_s",
        y="rejection",
        hue="model",
        style="task",
        palette=palette,
        col="signal",
        col_wrap=4,
        kind="line",
        height=2.8,
        aspect=1.1,
    )
    grid.set(yscale="log", xlim=(0, 1))
    grid.set_axis_labels(r"$\epsilon_S$", r"$1/\epsilon_B$")
    grid.set_titles("{col_name}")
    grid.figure.suptitle("ROC of the default score, every model")
    grid.tight_layout()
    save_figure(grid.figure, path, dpi=100)
    return frame


def _cost(results, path):
    import matplotlib.ticker
    import seaborn as sns

    from training.figure_style import pyplot
    from training.figures import save_figure

    frame = cost_data(results)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
    sns.scatterplot(frame, x="rows/s", y="mean AUC", hue="task", size="parameters", sizes=(30, 300), ax=ax)
    for _, row in frame.iterrows():
        ax.annotate(
            row["model"], (row["rows/s"], row["mean AUC"]), fontsize=7, xytext=(4, 3), textcoords="offset points"
        )
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # decades only: minor labels overlap
    ax.set_xlabel("scoring rate through the SavedModel [jets/s]")
    ax.set_ylabel("mean AUC over the jet-level signals")
    ax.legend(fontsize=7, loc="best")
    save_figure(fig, path, dpi=110)
    return frame


def _robustness(results, path):
    import seaborn as sns

    from training.figure_style import pyplot
    from training.figures import save_figure

    frame = robustness_data(results)
    shifted = mismodelling_data(results)
    plt = pyplot()
    models = list(dict.fromkeys(frame["model"])) if len(frame) else []
    n = len(models) + bool(len(shifted))
    fig, axes = plt.subplots(1, max(n, 1), figsize=(5.5 * max(n, 1), 3.8), squeeze=False)
    if len(shifted):
        ax = axes[0][-1]
        sns.barplot(shifted, x="model", y="eps_B [%]", hue="shifted QCD", ax=ax)
        ax.axhline(100 * results["meta"].get("mismodelling_eff_b", 0.01), color="grey", lw=0.8, ls="--")
        ax.set_title("shifted QCD above the nominal 1 % threshold (ideal: the dashed line)", fontsize=9)
        ax.tick_params(axis="x", rotation=45, labelsize=7)
        ax.legend(fontsize=7, loc="upper left")
    for ax, model in zip(axes[0], models):
        sns.barplot(frame[frame["model"] == model], x="signal", y="AUC", hue="training set", ax=ax)
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_ylim(0, 1)
        ax.set_title(model)
        ax.tick_params(axis="x", rotation=30, labelsize=8)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Robustness: contamination of the training set, and QCD from a shifted simulation", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    return {"contamination": frame, "mismodelling": shifted}


def draw(results, out, per_figure=4):
    """Every figure into `out`; returns {file name: the data it plots}."""
    from evaluation.sculpting import plot_sculpting

    out = pathlib.Path(out)
    drawn = {}
    if _jet_records(results):
        drawn["auc_heatmap.png"] = _heatmap(results, out / "auc_heatmap.png")
        drawn["roc.png"] = _roc(results, out / "roc.png")
    if len(cost_data(results)):
        drawn["cost.png"] = _cost(results, out / "cost.png")
    if len(robustness_data(results)) or len(mismodelling_data(results)):
        drawn["robustness.png"] = _robustness(results, out / "robustness.png")
    sculpt = sculpting_data(results)
    kinds = {e["name"]: "events" if e["task"].startswith("3") else "jets" for e in results["entries"]}
    labels = {
        "jets": ("QCD test jets: jet mass before and after the cut on each model's default score", "jet mass [GeV]"),
        "events": ("QCD dijet test events: m_jj before and after the cut on each model's default score", "m_jj [GeV]"),
    }
    for kind, (title, xlabel) in labels.items():
        names = [n for n in sculpt if kinds[n] == kind]
        for k in range(0, len(names), per_figure):
            chunk = {n: sculpt[n] for n in names[k : k + per_figure]}
            name = f"sculpting_{kind}_{k // per_figure + 1}.png"
            ylabel = "fraction of QCD events" if kind == "events" else "fraction of QCD jets"
            plot_sculpting(chunk, out / name, title=title, xlabel=xlabel, ylabel=ylabel)
            drawn[name] = chunk
    return drawn
