"""python -m evaluation.leaderboard at smoke scale on two models: the report and the figures come from
results.json, the scores from the exports, the protocol holds; and the bench's metrics and recipes."""

import dataclasses
import json
import re

import numpy as np
import pytest

from evaluation.leaderboard import figures, metrics, report, tasks, train
from tests.evaluation.leaderboard.conftest import SMOKE_MODELS, suite_sample

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _leaves(value):
    """Every scalar in a JSON value, leaving out long lists (ROC points, histograms: never printed)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        if len(value) <= 10:
            for v in value:
                yield from _leaves(v)
    else:
        yield value


def _keys(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)


def _formatted(values):
    """Every way the report may print these values (rounded to 0-4 digits, minutes, hours, integers)."""
    out = set()
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        out |= {f"{v:.{d}f}" for d in range(5)} | {f"{v / 60:.1f}", f"{v / 3600:.1f}"}
        if isinstance(v, int):
            out.add(str(v))
    return out


def test_every_number_in_the_report_comes_from_results_json(smoke_run):
    out, results, _ = smoke_run
    text = (out / "report.md").read_text()
    figures_listed = sorted(p.name for p in out.glob("*.png"))
    assert text == report.render(json.loads((out / "results.json").read_text()), figures_listed)
    strings = {v for v in _leaves(results) if isinstance(v, str)} | set(_keys(results))
    strings = sorted(strings, key=len, reverse=True)
    # each table row may only show numbers of its own model (its entry and its records) or its own scale
    own = {e["name"]: list(_leaves(e)) for e in results["entries"]}
    for r in results["records"]:
        own[r["entry"]] += list(_leaves(r))
    for name, cfg in results["meta"]["scales"].items():  # the scales table and the projected times
        own[name] = list(_leaves(cfg)) + list(_leaves(results["meta"]["projected_training_hours"][name]))
    body = [ln for ln in text.splitlines() if ln.startswith("| ") and not ln.startswith(("| model |", "| scale"))]
    assert len(body) > 3 * len(SMOKE_MODELS)
    for line in body:
        cells = [c.strip() for c in line.strip("|").split("|")]
        values = [v for name, leaves in own.items() if name.startswith(cells[0]) for v in leaves]
        assert values, f"row {line!r} names no model or scale of results.json"
        numbers = _formatted(values)
        for cell in cells[1:]:
            for s in strings:  # names, variants and stored sentences
                if len(s) > 1 and s in cell:
                    cell = cell.replace(s, "")
            for token in NUMBER.findall(cell):
                assert token in numbers, f"{token!r} of {line!r} is not a number of its model in results.json"


def test_figures_are_drawn_from_results_json(smoke_run, tmp_path):
    out, results, _ = smoke_run
    drawn = figures.draw(results, tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(drawn) == sorted(p.name for p in out.glob("*.png"))
    auc, text = drawn["auc_heatmap.png"]
    roc = drawn["roc.png"]
    for r in results["records"]:
        assert auc.loc[r["entry"], r["signal"]] == r["auc"]
        assert f"[{r['auc_low']:.2f}, {r['auc_high']:.2f}]" in text.loc[r["entry"], r["signal"]]
        curve = roc[(roc["model"] == r["entry"]) & (roc["signal"] == r["signal"])]
        assert curve["eff_b"].tolist() == r["roc_eff_b"]
        assert curve["eff_s"].tolist() == results["meta"]["roc_eff_s"]
    cost = drawn["cost.png"].set_index("model")
    sculpt = {k: v for name, chunk in drawn.items() if name.startswith("sculpting") for k, v in chunk.items()}
    for e in results["entries"]:
        assert cost.loc[e["name"], "rows/s"] == e["score_rows_per_second"]
        assert cost.loc[e["name"], "mean AUC"] == e["mean_jet_auc"]
        assert sculpt[e["name"]]["before"].tolist() == e["sculpting"]["before"]
        assert sculpt[e["name"]]["cuts"][0.1]["jsd"] == e["sculpting"]["jsd"]
    shifted = drawn["robustness.png"]["mismodelling"]
    for e in results["entries"]:  # every smoke entry is jet level: each is tested on every shifted QCD sample
        assert sorted(e["mismodelling"]) == sorted(s.name for s in tasks.MISMODELLED_QCD)
        for shift, m in e["mismodelling"].items():
            (bar,) = shifted[(shifted["model"] == e["name"]) & (shifted["shifted QCD"] == shift)]["eps_B [%]"]
            assert bar == 100 * m["eff_b_shifted"]


def test_mismodelling_measures_shifted_qcd_against_the_nominal_threshold():
    rng = np.random.default_rng(1)
    nominal = rng.normal(0.0, 1.0, 20_000)
    same = metrics.mismodelling(nominal, rng.normal(0.0, 1.0, 20_000), 0.01, 50)
    assert same["eff_b_shifted"] == pytest.approx(0.01, abs=0.003) and same["auc"] == pytest.approx(0.5, abs=0.01)
    moved = metrics.mismodelling(nominal, rng.normal(1.0, 1.0, 20_000), 0.01, 50)
    # a shift of one standard deviation: 1 - Phi(2.326 - 1) of the shifted jets pass, AUC Phi(1 / sqrt 2)
    assert moved["eff_b_shifted"] == pytest.approx(0.0925, abs=0.01)
    assert moved["auc"] == pytest.approx(0.760, abs=0.01)
    assert moved["auc_low"] <= moved["auc"] <= moved["auc_high"]


def test_records_are_the_exports_own_default_scores_unflipped(smoke_run):
    from sklearn.metrics import roc_auc_score

    from training.export import load_tagger
    from training.score import score_sample

    out, results, cache = smoke_run
    qcd, top = suite_sample(results, cache, "QCD"), suite_sample(results, cache, "top")
    for e in results["entries"]:
        _, card, _, loaded = load_tagger(out / e["export"])
        fn = loaded.signatures["serving_default"]
        b, s = (score_sample(fn, card, x)["anomaly_score"] for x in (qcd, top))
        (record,) = [r for r in results["records"] if r["entry"] == e["name"] and r["signal"] == "top"]
        assert record["default_score"] == card.default_score
        assert record["auc"] == pytest.approx(roc_auc_score(np.r_[np.zeros(len(b)), np.ones(len(s))], np.r_[b, s]))
        assert record["auc_low"] <= record["auc"] <= record["auc_high"]


def test_test_jets_are_never_training_jets_and_the_run_is_a_confirmation_run(smoke_run):
    _, results, _ = smoke_run
    meta = results["meta"]
    assert meta["seed"] == tasks.CONFIRMATION_SEED and meta["confirmation"]
    used = tasks.seeds("smoke", meta["seed"])
    assert not any(any(r.overlap(used["generation"], used["member"]).values()) for r in tasks.selection())
    test_files = {f for files in meta["samples"].values() for f in files}
    for e in results["entries"]:
        assert not set(e["training_files"]) & test_files
        assert {r["signal"] for r in results["records"] if r["entry"] == e["name"]} == set(tasks.SIGNAL_NAMES)
    train_seeds = {c.seed for e in tasks.entries("smoke", tasks.SUPERVISED_JET_MODELS, 0) for c in e.recipe.components}
    test_seeds = {
        tasks.suite_recipe(s, "smoke", 0).components[0].seed
        for s in tasks.suites_for(tasks.entries("smoke", ("fcn", "bumphunt_vae"), 0))
    }
    assert train_seeds and test_seeds and not train_seeds & test_seeds


# -- the bench's parts, without a run --------------------------------------------------------------
def test_auc_interval_holds_the_auc_and_narrows_with_more_jets():
    rng = np.random.default_rng(0)
    widths = []
    for n in (200, 3200):
        b, s = rng.normal(0, 1, n), rng.normal(1, 1, n)
        m = metrics.signal_metrics(b, s, 200, seed=1)
        assert m["auc_low"] < m["auc"] < m["auc_high"]
        widths.append(m["auc_high"] - m["auc_low"])
    assert widths[1] < 0.5 * widths[0]
    # 68 % interval of a binormal AUC with d' = 1 at 3200 + 3200 jets: about +-0.005
    assert 0.006 < widths[1] < 0.016


def test_roc_points_and_bump_significance():
    b, s = np.arange(100.0), np.arange(50.0, 150.0)  # half the signal above every background jet
    eff_b = metrics.roc_points(b, s)
    at = dict(zip(metrics.ROC_EFF_S, eff_b))
    assert at[0.5] == 0.0 and at[1.0] == 0.5
    rng = np.random.default_rng(0)
    mjj_b, mjj_s = rng.uniform(1500, 6000, 20_000), rng.normal(3500, 100, 2_000)
    good = metrics.bump(mjj_b, rng.random(20_000), mjj_s, 1 + rng.random(2_000), 0.01)
    blind = metrics.bump(mjj_b, rng.random(20_000), mjj_s, rng.random(2_000), 0.01)
    assert good["z_before"] == pytest.approx(blind["z_before"])
    assert good["eff_s"] == 1.0 and good["z_after"] > 10 * max(good["z_before"], blind["z_after"])


def test_training_cache_key_names_model_recipe_seed_and_settings():
    (entry,) = tasks.entries("smoke", ("fcn",), 1000)
    base = train.key("fcn", (("epochs", 1),), entry.recipe, 1000)
    assert base == train.key("fcn", (("epochs", 1),), entry.recipe, 1000)
    other_recipe = dataclasses.replace(entry.recipe, n_jets=entry.recipe.n_jets + 2)
    changed = [
        train.key("dnn", (("epochs", 1),), entry.recipe, 1000),
        train.key("fcn", (("epochs", 2),), entry.recipe, 1000),
        train.key("fcn", (("epochs", 1),), other_recipe, 1000),
        train.key("fcn", (("epochs", 1),), entry.recipe, 1001),
    ]
    assert base not in changed and len(set(changed)) == 4


def test_entries_have_servable_unique_names_and_every_task():
    from models.registry import MODELS

    chosen = tasks.entries("small", tuple(MODELS), 1000)
    names = [e.name for e in chosen]
    assert len(set(names)) == len(names) and all(re.fullmatch(r"[a-z0-9_]+", n) for n in names)
    assert {e.task for e in chosen} == {tasks.JET_TASK, tasks.SUPERVISED_TASK, tasks.EVENT_TASK}
    assert {e.name for e in chosen if e.variant == "QCD + 1 % top"} == {"dvae_top1pc", "vrnn_top1pc"}
    events = [e for e in chosen if e.task == tasks.EVENT_TASK]
    assert sorted((e.model, e.prongs, e.fraction) for e in events) == sorted(
        (m, p, f) for m in tasks.EVENT_MODELS for p in tasks.PRONGS for f in tasks.EVENT_FRACTIONS
    )
    for e in events:  # S/B of the generated training set as stated
        dijet, signal = e.recipe.components
        assert signal.share / dijet.share == e.fraction


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--models", "nonsense"], "unknown model(s) ['nonsense']"),
        (["--models", "dvae", "--scheduler", "nohost"], "--scheduler 'nohost'"),
    ],
)
def test_bad_arguments_are_one_error_line_before_any_work(argv, words, tmp_path, capsys):
    from evaluation.leaderboard.__main__ import main

    out = tmp_path / "out"
    assert main(["--scale", "smoke", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and "Traceback" not in err
    assert not out.exists()


def test_small_scale_caps_the_slowest_networks_and_projects_from_the_steady_rate():
    from evaluation.leaderboard import bench

    chosen = {e.name: e for e in tasks.entries("small", ("ae1d", "dvae", "particlenet"), 1000)}
    jobs = {n: train.TrainTask.of(e, "small", 1000, ["x.h5"]) for n, e in chosen.items()}
    assert (jobs["ae1d"].n_jets, jobs["dvae"].n_jets, jobs["particlenet"].n_jets) == (4000, None, 9000)
    assert jobs["ae1d"].cache != train.TrainTask.of(chosen["ae1d"], "smoke", 1000, ["x.h5"]).cache
    # smoke: 320 training rows, 1 epoch in 10 s of steps at a steady 100 rows/s, 20 s for the whole task
    info = {"n_train": 320, "epochs": 1, "steady_rows_per_second": 100.0, "wall_seconds": 20.0}
    smoke = {e.name: e for e in tasks.entries("smoke", ("ae1d", "dvae"), 1000)}
    fixed = 20.0 - 3.2
    dvae = bench.projection(info, "smoke", "small", smoke["dvae"])
    assert dvae == pytest.approx(fixed + 320 * 20_000 / 400 * tasks.epochs("small", "dvae") / 100.0)
    ae1d = bench.projection(info, "smoke", "small", smoke["ae1d"])
    assert ae1d == pytest.approx(fixed + 320 * 4_000 / 400 * tasks.epochs("small", "ae1d") / 100.0)


def test_small_and_paper_scales_run_every_schedule_to_its_end():
    """A model stopped inside its own schedule is not the method: at 10 epochs the DisCo-VAE was the
    beta-VAE weight for weight, and 4 ParticleNet epochs ran only the one-cycle's warm-up."""
    from models import beta_vae, disco_vae
    from models.registry import MODELS

    for name, spec in MODELS.items():
        knots = {**spec.training, **spec.presets[spec.default_preset].get("training", {})}.get("schedule")
        if knots:
            assert tasks.SCHEDULE_END_EPOCHS[name] == knots[-1][0], name
    assert disco_vae.disco_ramp(tasks.SCHEDULE_END_EPOCHS["disco_vae"] - 1) == 1.0
    assert beta_vae.cyclic_ramp(tasks.SCHEDULE_END_EPOCHS["beta_vae"] - 1) == 1.0
    for scale in ("small", "paper"):
        for name, end in tasks.SCHEDULE_END_EPOCHS.items():
            assert tasks.epochs(scale, name) >= end, (scale, name)
