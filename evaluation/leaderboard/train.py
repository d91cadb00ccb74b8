"""Cached trainings of the bench: one Dask task per entry, keyed by model, preset, data recipe and seed.

    task = TrainTask.of(entry, scale, seed, paths)     # paths: the entry's materialised sample files
    info = train_task(task)                            # trains and exports, or reuses the cached export

A training runs the fit pipeline's stages (``training.pipeline``: resolve, ``training.data.rows``:
load, split by event 80/10/10, train one member, evaluate on its own held-out rows for the card) and
exports the tagger with ``training.export.export_tagger`` into the cache folder
``<data cache>/leaderboard/<key>/``, beside ``training.json`` (wall time, jets/s, parameter count,
sizes). The key hashes the model name and preset, the settings the scale overrides (epochs, batch
size), the training recipe (processes, seeds, options, size), the training seed and the source of
the model's module, so an edited model trains again; ``--retrain`` ignores the cache. On a Dask
cluster (``--scheduler``) the workers must see the same data cache (``$ANOMJET_DATA``).
"""

import dataclasses
import hashlib
import inspect
import json
import os
import pathlib
import shutil
import sys
import time

import numpy as np

INFO = "training.json"
CACHE_FORMAT = 2  # the fields of training.json; a new field makes the old cache unusable


@dataclasses.dataclass(frozen=True)
class TrainTask:
    name: str  # the entry's export name
    model: str
    sets: tuple  # ((key, value), ...) --set overrides of the scale
    recipe: object  # models.registry.DatasetRecipe (sized, seeds moved)
    paths: tuple  # its sample files (str)
    seed: int
    cache: str  # the cache folder of this key
    retrain: bool = False
    n_jets: int | None = None  # a seeded subset of the files' jets (the scale's train_cap), None: all

    @classmethod
    def of(cls, entry, scale, seed, paths, retrain=False):
        from evaluation.leaderboard import tasks

        cfg = tasks.SCALES[scale]
        sets = {"epochs": tasks.epochs(scale, entry.model)}
        if cfg["batch_size"]:
            sets["batch_size"] = cfg["batch_size"]
        sets = tuple(sorted(sets.items()))
        cap = cfg["train_cap"].get(entry.model) if entry.task != tasks.EVENT_TASK else None
        cap = cap if cap is not None and cap < entry.recipe.n_jets else None
        return cls(
            entry.name,
            entry.model,
            sets,
            entry.recipe,
            tuple(str(p) for p in paths),
            seed,
            str(cache_root() / key(entry.model, sets, entry.recipe, seed, cap)),
            retrain,
            cap,
        )


def cache_root():
    from training.data.datasets import cache_dir

    return cache_dir() / "leaderboard"


def key(model, sets, recipe, seed, n_jets=None):
    """The cache key of a training: 20 hex digits of a hash of everything that defines it."""
    from models.registry import MODELS

    spec = MODELS[model]
    source = pathlib.Path(inspect.getsourcefile(spec.cls)).read_bytes()
    record = {
        "format": CACHE_FORMAT,
        "model": model,
        "preset": spec.default_preset,
        "sets": [list(s) for s in sets],
        "recipe": dataclasses.asdict(recipe),
        "seed": seed,
        "model_source": hashlib.sha256(source).hexdigest(),
    }
    if n_jets is not None:
        record["n_jets"] = n_jets
    text = json.dumps(record, sort_keys=True, default=str)
    return f"{model}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def step_timer():
    """A Keras callback that times every training step (``.times``: seconds per step)."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self._start = [], None

        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter() - self._start)

    return StepTimer()


def steady_rate(times, rows_per_call, fallback):
    """Rows per second of the batch calls after the first two (graph tracing and compilation), from the
    median call time; `fallback` (the whole run's rate) when there are fewer than four calls."""
    if len(times) < 4:
        return fallback
    return rows_per_call / float(np.median(times[2:]))


def cached(task):
    """The training info of a finished cached training, else None."""
    path = pathlib.Path(task.cache) / INFO
    if task.retrain or not path.is_file():
        return None
    return json.loads(path.read_text())


def train_task(task):
    """Train, evaluate on the training sample's own held-out rows and export one entry (a Dask task).

    Returns:
        the training info: {"cache", "export", "seconds", "jets_per_second", "epochs", "n_train",
        "n_validation", "rows", "parameters", "preset", "default_score", "representation", "cached"}.
    """
    found = cached(task)
    if found is not None:
        return {**found, "cached": True}
    import keras  # noqa: F401  (TensorFlow before the pipeline's imports, as the fit command)

    from models.registry import SUPERVISED
    from preprocessing.version import code_version
    from training import pipeline
    from training.data import rows
    from training.export import export_tagger

    settings = pipeline.resolve(task.model, None, dict(task.sets))
    inputs = rows.load_inputs(settings, list(task.paths), n_jets=task.n_jets, seed=task.seed, workers=1)
    split = rows.split_rows(inputs, seed=task.seed)
    targets = {}
    if settings.spec.mode == SUPERVISED:
        targets = {
            "y_train": rows.class_targets(settings.spec, inputs, split.train),
            "y_val": rows.class_targets(settings.spec, inputs, split.validation),
        }
    final = pathlib.Path(task.cache)
    work = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    shutil.rmtree(work, ignore_errors=True)
    try:
        start = time.perf_counter()
        timer = step_timer()
        member = pipeline.train_member(
            settings,
            inputs.training_inputs(split.train, seed=task.seed),
            inputs.training_inputs(split.validation, seed=task.seed),
            task.seed,
            work / "run",
            callbacks=[timer],
            verbose=0,
            **targets,
        )
        model = member.model
        evaluation = pipeline.evaluate(model, inputs, split.test, settings.spec.signal_label)
        card = pipeline.model_card(settings, model, [member], inputs, split, evaluation, task.seed, code_version())
        folder = export_tagger(
            model, inputs.shapes(), work / "export" / task.name, card, warmup=rows.warmup_jets(inputs, split)
        )
        epochs_run = len(member.history["loss"])
        rate = len(split.train) * epochs_run / member.seconds
        # Keras calls batch callbacks once per execution: steps_per_execution batches (the VRNN runs 16)
        batch = min(settings.training["batch_size"], len(split.train)) * getattr(model, "steps_per_execution", 1)
        info = {
            "export": str(folder.relative_to(work)),
            "seconds": round(member.seconds, 2),
            "wall_seconds": round(time.perf_counter() - start, 2),  # + evaluation and export
            "jets_per_second": round(rate, 1),
            "steady_rows_per_second": round(steady_rate(timer.times, batch, rate), 1),
            "timed_calls": len(timer.times),
            "epochs": epochs_run,
            "n_train": int(len(split.train)),
            "n_validation": int(len(split.validation)),
            "rows": inputs.unit,
            "parameters": int(model.count_params()),
            "preset": settings.preset,
            "default_score": model.default_score,
            "representation": settings.representation,
            "stopping": member.stopping.reason,
            "files": [str(p) for p in task.paths],
        }
        shutil.rmtree(work / "run", ignore_errors=True)
        (work / INFO).write_text(json.dumps(info, indent=1))
        shutil.rmtree(final, ignore_errors=True)  # --retrain: the old training of this key goes
        os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        inputs.close()
    print(
        f"leaderboard: trained {task.name} ({task.model}) on {info['n_train']} {info['rows']} in {info['seconds']} s",
        file=sys.stderr,
    )
    return {**info, "cached": False}


def train_all(train_tasks, scheduler=None, workers=None):
    """{entry name: training info} of every task: cached ones at once, the others as Dask tasks."""
    from preprocessing.tasks import run_tasks

    out, todo = {}, []
    for task in train_tasks:
        found = cached(task)
        if found is not None:
            out[task.name] = {**found, "cached": True}
        else:
            todo.append(task)
    labels = [f"training {t.name} (seed {t.seed})" for t in todo]
    for i, info in run_tasks(train_task, todo, labels, scheduler=scheduler, workers=workers, desc="trainings"):
        out[todo[i].name] = info
    return {t.name: out[t.name] for t in train_tasks}


def install(task, info, export_base):
    """Copy the cached export of `task` into `export_base/<name>/` as its next version; returns the folder."""
    from training.export import _next_version
    from training.model_card import ModelCard

    source = pathlib.Path(task.cache) / info["export"]
    base = pathlib.Path(export_base) / task.name
    base.mkdir(parents=True, exist_ok=True)
    version = _next_version(base)
    target = base / str(version)
    tmp = base / f".tmp-install-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    card = ModelCard.read(tmp)
    card.version = version
    card.write(tmp)
    os.rename(tmp, target)
    return target
