"""One run of the bench: data, trainings, exports, scores, then results.json, report.md, figures and models.config.

Every number of the report and of the figures is read back from ``DIR/results.json`` after it is
written (``report.write`` and ``figures.draw`` take the reloaded file), so nothing on the page can
differ from the file.
"""

import datetime
import json
import pathlib
import sys
import time

from evaluation.leaderboard import tasks

RESULTS = "results.json"


def materialise(recipes, workers):
    """{recipe name: [paths]} of every recipe (generated where missing, as Dask tasks) and the seconds it took."""
    from training.data import datasets

    start = time.perf_counter()
    paths = {}
    for recipe in recipes:
        if recipe.name not in paths:
            paths[recipe.name] = datasets.materialise(recipe, recipe.n_jets, workers=workers)
    return paths, time.perf_counter() - start


def write_models_config(out):
    """DIR/models.config for every export, written by ``python -m serving.config`` (a command, not an import:
    nothing below serving/ imports it, tests/test_layers.py)."""
    import subprocess

    out = pathlib.Path(out).resolve()
    root = pathlib.Path(__file__).resolve().parents[2]  # the checkout holding serving/
    command = [sys.executable, "-m", "serving.config", "--export-dir", str(out / "exported")]
    done = subprocess.run(command + ["--out", str(out / "models.config")], capture_output=True, text=True, cwd=root)
    if done.returncode != 0:
        from preprocessing.errors import DataError

        raise DataError(f"python -m serving.config failed: {done.stderr.strip()[-2000:]}")
    return out / "models.config"


def projection(info, scale, target, entry):
    """Seconds of this entry's training task at `target` scale: this run's fixed cost (tracing, calibration,
    evaluation, export: the task's wall time less its steps at the steady rate) plus the target's rows x
    epochs at the steady rate measured here (``train.steady_rate``, at this run's batch size). The target's
    rows scale with its size (all classes together, capped by its train_cap)."""
    size = "train_events" if entry.task == tasks.EVENT_TASK else "train_jets"
    shares = sum(c.share for c in entry.recipe.components)
    here = shares * tasks.SCALES[scale][size]
    there = shares * tasks.SCALES[target][size]
    if entry.task != tasks.EVENT_TASK:
        there = min(there, tasks.SCALES[target]["train_cap"].get(entry.model, there))
        here = min(here, tasks.SCALES[scale]["train_cap"].get(entry.model, here))
    rows = info["n_train"] * there / here
    rate = info["steady_rows_per_second"]
    fixed = max(info["wall_seconds"] - info["n_train"] * info["epochs"] / rate, 0.0)
    return fixed + rows * tasks.epochs(target, entry.model) / rate


def run(args, argv):
    from evaluation import protocol
    from evaluation.leaderboard import evaluate, figures, report, train
    from preprocessing import tasks as dask_tasks
    from preprocessing.version import code_version

    start = time.perf_counter()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chosen = tasks.entries(args.scale, tuple(args.models), args.seed)
    used = tasks.seeds(args.scale, args.seed, args.models)
    overlaps = [r for r in tasks.selection() if any(r.overlap(used["generation"], used["member"]).values())]
    confirm = not overlaps
    with dask_tasks.shared_session(args.scheduler, args.workers):
        suites = tasks.suites_for(chosen)
        suite_recipes = {s: tasks.suite_recipe(s, args.scale, args.seed) for s in suites}
        paths, generation_seconds = materialise([e.recipe for e in chosen] + list(suite_recipes.values()), args.workers)
        jobs = [
            train.TrainTask.of(e, args.scale, args.seed, paths[e.recipe.name], retrain=args.retrain) for e in chosen
        ]
        t0 = time.perf_counter()
        infos = train.train_all(jobs, args.scheduler, args.workers)
        training_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples = evaluate.Samples({s: paths[r.name][0] for s, r in suite_recipes.items()})
    entries, records = [], []
    for entry, job in zip(chosen, jobs):
        info = infos[entry.name]
        folder = train.install(job, info, out / "exported")
        print(f"leaderboard: scoring {entry.name}", file=sys.stderr)
        numbers, rows = evaluate.evaluate_entry(entry, folder, samples, args.scale, args.seed)
        jet_aucs = [r["auc"] for r in rows if entry.task != tasks.EVENT_TASK]
        entries.append(
            {
                "name": entry.name,
                "model": entry.model,
                "task": entry.task,
                "variant": entry.variant,
                "preset": info["preset"],
                "representation": info["representation"],
                "export": str(folder.relative_to(out)),
                "parameters": info["parameters"],
                "train_seconds": info["seconds"],
                "train_rows_per_second": info["jets_per_second"],
                "train_steady_rows_per_second": info["steady_rows_per_second"],
                "train_task_seconds": info["wall_seconds"],
                "rows": info["rows"],
                "n_train": info["n_train"],
                "epochs": info["epochs"],
                "stopping": info["stopping"],
                "cached": info["cached"],
                "training_files": [pathlib.Path(p).name for p in info["files"]],
                "mean_jet_auc": sum(jet_aucs) / len(jet_aucs) if jet_aucs else None,
                "projected_train_seconds": {s: projection(info, args.scale, s, entry) for s in tasks.SCALES},
                **numbers,
            }
        )
        records += rows
    scoring_seconds = time.perf_counter() - t0
    write_models_config(out)
    projected = {}
    for scale in tasks.SCALES:  # every training a task: the longest bounds the wall time
        times = [e["projected_train_seconds"][scale] for e in entries]
        projected[scale] = {f"{n} workers": max(max(times, default=0.0), sum(times) / n) / 3600 for n in (1, 2, 100)}
    results = {
        "meta": {
            "title": f"Leaderboard ({args.scale} scale, seed {args.seed})",
            "command": "python -m evaluation.leaderboard " + " ".join(argv),
            "scale": args.scale,
            "seed": args.seed,
            "confirmation": confirm,
            "protocol": [
                line.replace(
                    f"python -m evaluation.reproduce leaderboard --scale {args.scale} --confirm",
                    f"python -m evaluation.leaderboard --scale {args.scale} --seed {tasks.CONFIRMATION_SEED}",
                )
                for line in protocol.report_section("leaderboard", tasks, args.scale, args.seed, confirm)
            ],
            "models": list(args.models),
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "code_version": code_version(),
            "seconds": {
                "generation": generation_seconds,
                "training": training_seconds,
                "scoring": scoring_seconds,
                "total": time.perf_counter() - start,
            },
            "projected_training_hours": projected,
            "scales": {name: {k: v for k, v in cfg.items()} for name, cfg in tasks.SCALES.items()},
            "roc_eff_s": [float(x) for x in evaluate.metrics.ROC_EFF_S],
            "sculpting_eff_b": evaluate.metrics.SCULPTING_EFF_B,
            "event_eff_b": evaluate.metrics.EVENT_EFF_B,
            "signals": list(tasks.SIGNAL_NAMES),
            "mismodelling": tasks.MISMODELLING,
            "mismodelling_eff_b": tasks.MISMODELLING_EFF_B,
            "notes": report.NOTES,
            "samples": {r.name: [pathlib.Path(p).name for p in paths[r.name]] for r in suite_recipes.values()},
        },
        "entries": entries,
        "records": records,
    }
    (out / RESULTS).write_text(json.dumps(results, indent=1, allow_nan=False))
    reloaded = json.loads((out / RESULTS).read_text())  # the page is drawn from the file, not from memory
    figures.draw(reloaded, out)
    report.write(reloaded, out)
    print(f"report: {out / 'report.md'}", file=sys.stderr)
    print(json.dumps({"report": str(out / "report.md"), "results": str(out / RESULTS), "entries": len(entries)}))
    return 0
