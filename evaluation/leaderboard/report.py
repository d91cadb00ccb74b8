"""report.md of a bench run, written from the reloaded results.json only (``write(results, out)``).

Tables: the AUC of every model's label-free default score per signal with its bootstrap 68 % interval
("ours"), R50 and max SIC, the event-level bump table, robustness (contamination of the training set and
QCD from a shifted simulation), sculpting, the best named output chosen with labels (information only), cost, and the
scales. Every number printed is a value of results.json, rounded.
"""

import pathlib

NOTES = [
    "Jets: anti-kT R = 1.0, 550 < pT < 650 GeV, |eta| < 2 (the cheng2020 selection) for every jet-level training "
    "set and for the top, W(80), W(120) and hh4b test signals; QCD test jets of the same selection are their "
    "background.",
    "The X 2-prong and X 3-prong jets are the heavier jet of LHCO-like W'(3.5 TeV) -> X(500) Y(100) events (leading "
    "jet pT > 1.2 TeV, R = 1.0): no 550-650 GeV jet holds a 500 GeV resonance, so their background is the heavier "
    "jet of LHCO-like QCD dijet events of the same selection, and every jet-level model meets them far above the "
    "pT of its training jets.",
    "dvae, ae1d, vae1d, gmvae: the jet image (40 x 40 pixels of 0.029 x 0.035 in eta x phi, made for dillon2021's "
    "R = 0.8 jets) covers |eta'| < 0.58, |phi'| < 0.70 of these R = 1.0 jets; constituents outside it are dropped.",
    "vrnn: kahn2021 trains on LHCO jets above 1.2 TeV; here the jet-level VRNN trains on the 550-650 GeV QCD "
    "jets, and jets with fewer than 3 constituents after its Algorithm 1 have no score (counted in n).",
    "oe_vae: its outlier jets are the model's own generated set (mass-rescaled W jets, R = 1.0, pT > 450 GeV, "
    "models.registry.CHENG2020_OUTLIERS), a quarter as many as its training jets.",
    "Event level: bumphunt_vae (bortolato2021's six dijet observables) and the VRNN Event Score (kahn2021, the "
    "larger rho' of the two leading jets) train on LHCO-like dijet events with signal at the stated S/B and are "
    "tested on independent background and signal events of both prong types.",
    "Supervised models (particlenet lite, fcn: QCD, W(80), top; dnn: QCD, W(80)) learn from labels; a signal "
    "that is one of their training classes is marked (class), every other signal is out of distribution.",
]


def _f(value, digits=3):
    if value is None:
        return "inf" if digits == 1 else "n/a"
    return f"{value:.{digits}f}"


def _auc_cell(r):
    cell = f"{_f(r['auc'])} [{_f(r['auc_low'])}, {_f(r['auc_high'])}]"
    return cell + (" (class)" if r.get("in_training_classes") else "")


def _table(header, rows):
    if not rows:
        return ["(no entry of this run has these numbers)"]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _jet_records(results):
    return [r for r in results["records"] if not r["task"].startswith("3")]


def _by_entry(records):
    out = {}
    for r in records:
        out.setdefault(r["entry"], {})[r["signal"]] = r
    return out


def auc_table(results):
    signals = results["meta"]["signals"]
    table = _by_entry(_jet_records(results))
    info = {e["name"]: e for e in results["entries"]}
    rows = []
    for name, cells in table.items():
        e = info[name]
        rows.append([name, e["task"], e["variant"], e["default_score"]] + [_auc_cell(cells[s]) for s in signals])
    return _table(["model", "task", "training set", "default score"] + signals, rows)


def _per_signal_table(results, cell):
    """A table of one row per jet-level entry and one column per signal, each cell `cell(record)`."""
    signals = results["meta"]["signals"]
    rows = [[name] + [cell(c[s]) for s in signals] for name, c in _by_entry(_jet_records(results)).items()]
    return _table(["model"] + signals, rows)


def r50_sic_table(results):
    return _per_signal_table(results, lambda r: f"{_f(r['r50'], 1)} / {_f(r['sic_max'], 2)}")


def n_table(results):
    return _per_signal_table(results, lambda r: f"{r['n_signal']} / {r['n_background']}")


def best_table(results):
    signals = results["meta"]["signals"]
    rows = []
    for name, c in _by_entry(_jet_records(results)).items():
        best = [c[s]["best_with_labels"] for s in signals]
        rows.append([name] + [f"{b['score']} {_f(b['auc'])}" if b else "" for b in best])
    return _table(["model"] + signals, rows)


def event_table(results):
    eff_b = results["meta"]["event_eff_b"]
    rows = []
    for r in results["records"]:
        if not r["task"].startswith("3"):
            continue
        b = r["bump"]
        best = r["best_with_labels"]
        rows.append(
            [
                r["entry"],
                r["variant"],
                r["signal"] + ("" if r["trained_on_this_signal"] else " (other prong)"),
                r["default_score"],
                _auc_cell(r),
                _f(r["sic_max"], 2),
                _f(b["eff_s"]),
                _f(b["z_before"], 2),
                _f(b["z_after"], 2),
                f"{best['score']} {_f(best['auc'])}" if best else "",
            ]
        )
    header = ["model", "training set", "test signal", "default score", "AUC [68 %]", "max SIC"]
    header += [f"eps_S at eps_B = {eff_b}", "Z before", "Z after", "best, chosen with labels (information only)"]
    return _table(header, rows)


def contamination_table(results):
    by = _by_entry(_jet_records(results))
    rows = []
    for e in results["entries"]:
        if not e["name"].endswith("_top1pc") or e["model"] not in by:
            continue
        for s in results["meta"]["signals"]:
            clean, dirty = by[e["model"]][s]["auc"], by[e["name"]][s]["auc"]
            rows.append([e["model"], s, _f(clean), _f(dirty)])
    return _table(["model", "signal", "AUC, QCD training", "AUC, QCD + 1 % top training"], rows)


def mismodelling_table(results):
    """Per jet-level entry and shifted QCD sample: eps_B at the nominal 1 % threshold and the shifted-vs-nominal AUC."""
    rows = []
    for e in results["entries"]:
        for shift, m in (e.get("mismodelling") or {}).items():
            rows.append(
                [
                    e["name"],
                    shift,
                    _f(m["eff_b_shifted"], 4),
                    f"{_f(m['auc'])} [{_f(m['auc_low'])}, {_f(m['auc_high'])}]",
                    str(m["n"]),
                ]
            )
    eff = results["meta"]["mismodelling_eff_b"]
    head = ["model", "shifted QCD", f"eps_B of shifted QCD at the nominal eps_B = {eff:g} threshold (ideal {eff:g})"]
    return _table([*head, "AUC shifted vs nominal QCD (ideal 0.5)", "shifted jets"], rows)


def sculpting_table(results):
    rows = [
        [e["name"], e["sculpting"]["observable"], _f(e["sculpting"]["jsd"], 4)]
        for e in results["entries"]
        if e["sculpting"] is not None
    ]
    eff_b = results["meta"]["sculpting_eff_b"]
    return _table(["model", "background observable", f"JSD after the cut at eps_B = {eff_b} (bits)"], rows)


def cost_table(results):
    rows = []
    for e in results["entries"]:
        p = e["projected_train_seconds"]
        rows.append(
            [
                e["name"],
                str(e["parameters"]),
                f"{e['n_train']} {e['rows']}",
                str(e["epochs"]),
                _f(e["train_seconds"], 1),
                _f(e["train_rows_per_second"], 0),
                _f(e["train_steady_rows_per_second"], 0),
                _f(e["score_rows_per_second"], 0),
                e["signature"],
                "yes" if e["cached"] else "no",
                _f(p["small"] / 60, 1),
                _f(p["paper"] / 3600, 1),
            ]
        )
    header = ["model", "parameters", "training rows", "epochs", "training s", "training rows/s", "steady rows/s"]
    header += ["scoring rows/s (SavedModel)", "signature", "cached", "small: training min (projected)"]
    header += ["paper: training h (projected)"]
    return _table(header, rows)


def projection_table(results):
    projected = results["meta"]["projected_training_hours"]
    workers = list(next(iter(projected.values())))
    rows = [[scale] + [_f(hours[w], 2) for w in workers] for scale, hours in projected.items()]
    return _table(["scale: projected training wall time [h]"] + workers, rows)


def scales_table(results):
    scales = results["meta"]["scales"]
    keys = ["train_jets", "train_events", "test_jets", "test_qcd", "test_events", "test_signal_events", "bootstrap"]
    rows = []
    for name, cfg in scales.items():
        epochs = ", ".join(f"{k} {v}" for k, v in cfg["epochs"].items())
        caps = ", ".join(f"{k} {v}" for k, v in cfg["train_cap"].items()) or "none"
        batch = str(cfg["batch_size"] or "model's")
        rows.append([name] + [str(cfg[k]) for k in keys] + [epochs, caps, batch, cfg["description"]])
    return _table(["scale"] + keys + ["epochs", "training jets cap", "batch size", "purpose"], rows)


def render(results, figure_names=()):
    """The report's text from a results.json dict."""
    meta = results["meta"]
    sec = meta["seconds"]
    lines = [f"# {meta['title']}", "", *meta["protocol"]]
    lines += [
        "## Run",
        "",
        f"Command: `{meta['command']}`; code {meta['code_version']}; created {meta['created']}.",
        f"Wall time: generation {_f(sec['generation'], 1)} s, training {_f(sec['training'], 1)} s, scoring "
        f"{_f(sec['scoring'], 1)} s, {_f(sec['total'], 1)} s in all (cached data and trainings cost nothing).",
        "",
        "Every score is the model's label-free default (larger = more anomalous, never flipped); AUC with its "
        "bootstrap 68 % interval in brackets, on test jets generated from seeds disjoint from every training set.",
        "",
        "## Jets and representations",
        "",
        *(f"- {n}" for n in meta["notes"]),
        "",
        "## AUC of the default score (ours)",
        "",
        *auc_table(results),
        "",
        "## R50 / max SIC of the default score",
        "",
        *r50_sic_table(results),
        "",
        "Test jets per cell (signal / background):",
        "",
        *n_table(results),
        "",
        "## Event level: LHCO-like dijet events",
        "",
        "Z: kahn2021's local significance of the m_jj bump (RooStats BinomialExpZ, 15 % background uncertainty, "
        "largest over the 3-4 TeV bins) with counts scaled to 995,453 background events and the training S/B, "
        "before and after the cut at the stated background efficiency.",
        "",
        *event_table(results),
        "",
        "## Robustness",
        "",
        "Background mismodelling: " + meta["mismodelling"] + ". An anomaly tagger that flags mismodelled QCD is a "
        "false discovery waiting to happen.",
        "",
        *mismodelling_table(results),
        "",
        "Contamination of the training set (the models that claim robustness to it):",
        "",
        *contamination_table(results),
        "",
        "## Sculpting",
        "",
        *sculpting_table(results),
        "",
        "## Best named output, chosen with labels (information only)",
        "",
        *best_table(results),
        "",
        "## Cost",
        "",
        "Training rows/s: rows x epochs over the whole fit (graph tracing included); steady rows/s: rows per Keras "
        "batch call (batch size x steps per execution) over the median call time after the first two calls, or "
        "the whole fit's rate where fewer than four calls were timed (the VRNN runs 16 batches per call, so "
        "its smoke projections include tracing). Projected times: each training task's "
        "fixed cost here plus the scale's rows x epochs at the steady rate (at this run's batch size; validation "
        "passes not counted). Every training is a task; the longest bounds the wall time.",
        "",
        *projection_table(results),
        "",
        *cost_table(results),
        "",
        "## Scales",
        "",
        *scales_table(results),
        "",
    ]
    if figure_names:
        lines += ["Figures: " + ", ".join(figure_names), ""]
    return "\n".join(lines)


def write(results, out):
    out = pathlib.Path(out)
    names = sorted(p.name for p in out.glob("*.png"))
    (out / "report.md").write_text(render(results, names))
    return out / "report.md"
