"""Ensemble members (and the independent trainings of a scan) as Dask tasks.

    results = train_members(settings, data, seeds, run_dir, scheduler=..., workers=...)
    members = [rebuild(settings, seed, result) for seed, result in zip(seeds, results)]

One task trains one member from (settings, its training and validation arrays, its seed) with
``pipeline.train_member`` and returns what the client needs to rebuild it: the weights (which
hold the fitted scalers and the calibration, since those are model variables), the history, the
stopping record and the training time. Tasks run on a local cluster, a remote scheduler or
serially in this process (``preprocessing.tasks``); the arrays every member shares are sent to
each worker once (scattered), not once per task.

Finished members are kept: with ``keep`` (``fit --ensemble`` passes a folder under
``<export-dir>/.runs/`` named by a digest of the settings, the training arrays, the seeds and the
code version) each member's result is written there as soon as it arrives, a rerun of the same
training loads the members found there instead of training them again, and the folder is removed
once every member is back. A lost scheduler or worker (``preprocessing.tasks``: an error within
60 s) then costs only the unfinished members.

Reproducibility: each task seeds Python, NumPy and TensorFlow from its own seed
(``keras.utils.set_random_seed``), draws Keras's initializer seeds from a private generator (a
worker's other threads also draw from Python's global one), runs with TensorFlow's op
determinism and, where TensorFlow is
not yet initialised in the process, one intra-op and one inter-op thread (local workers get this
from their environment, ``preprocessing.tasks.WORKER_ENV``). A member then comes out bit for bit
the same on any worker, in any order. A member trained serially in a process whose TensorFlow
already runs with more threads (a test session) can differ in the last bits: threaded reductions
sum in another order (tests/training/test_members.py states the measured difference).
"""

import contextlib
import dataclasses
import hashlib
import os
import pathlib
import pickle
import random
import shutil
import sys
import tempfile

from preprocessing.tasks import TaskFailed, run_tasks


@dataclasses.dataclass
class MemberTask:
    """What one member's training needs besides the shared arrays."""

    settings: object  # pipeline.Settings
    seed: int
    run_dir: str | None  # checkpoint folder; None: a temporary folder on the worker
    data: dict | None = None  # this member's own arrays (x_train, x_val, y_train, y_val); None: the shared ones
    callbacks: tuple = ()  # picklable Keras callbacks (their state comes back in the result)


@dataclasses.dataclass
class MemberResult:
    """A trained member as data: enough to rebuild the model anywhere."""

    weights: list  # model.get_weights() of the weights the stopping rule picked (scaler, calibration included)
    history: dict
    seconds: float
    stopping: object  # pipeline.Stopping
    callbacks: tuple = ()
    build_config: dict | None = None  # Keras' get_build_config(), for models built on first use (ParticleNet)


def configure_tensorflow(threads=1):
    """Deterministic TensorFlow ops; `threads` intra- and inter-op threads if TensorFlow is not yet
    running (afterwards its thread pools cannot change: the call keeps them)."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass


@contextlib.contextmanager
def _deterministic(op_determinism=True):
    """Op determinism inside the block (or explicitly none), restored afterwards (the serial path
    runs in the caller's process). Models trained with XLA (``Tagger.xla_training``) run without
    it: Keras turns XLA off under op determinism, and XLA's compiled CPU code sums in a fixed
    order for a given thread count (tests/training/test_members.py trains such a member twice)."""
    from tensorflow.python.framework import config

    before = config.is_op_determinism_enabled()
    configure_tensorflow()
    if not op_determinism:
        config.disable_op_determinism()
    try:
        yield
    finally:
        if before:
            config.enable_op_determinism()
        else:
            config.disable_op_determinism()


@contextlib.contextmanager
def _private_python_random(seed):
    """Keras draws the seed of every unseeded initializer from Python's global ``random``
    (``keras.src.random.seed_generator.make_default_seed``). In a Dask worker other threads (the
    event loop's timers) draw from it too, so members came out different from run to run
    (measured). Inside the block Keras draws from a private generator seeded like
    ``keras.utils.set_random_seed(seed)`` seeds the global one: the draws of a lone process."""
    from keras.src.random import seed_generator

    shared = seed_generator.python_random
    seed_generator.python_random = random.Random(seed)
    try:
        yield
    finally:
        seed_generator.python_random = shared


def train_member_task(task, shared=None):
    """Dask task: train one member; returns a MemberResult (module level, so workers import it)."""
    import keras

    from training import pipeline

    data = task.data if task.data is not None else shared
    data = {k: _own(v) for k, v in data.items()}
    run_dir = pathlib.Path(task.run_dir) if task.run_dir else pathlib.Path(tempfile.mkdtemp(prefix="member-"))
    try:
        with _deterministic(not task.settings.spec.cls.xla_training), _private_python_random(task.seed):
            member = pipeline.train_member(
                task.settings,
                data["x_train"],
                data["x_val"],
                task.seed,
                run_dir,
                y_train=data.get("y_train"),
                y_val=data.get("y_val"),
                callbacks=task.callbacks,
                verbose=0,
            )
        result = MemberResult(
            [w.copy() for w in member.model.get_weights()],
            member.history,
            member.seconds,
            member.stopping,
            tuple(task.callbacks),
            _plain(member.model.get_build_config()),
        )
    finally:
        if not task.run_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
    keras.backend.clear_session()  # a worker trains many members: free the last one's graph
    return result


def _plain(value):
    """Keras' build config as plain dicts and tuples (Keras' tracked containers do not pickle)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def _own(values):
    """A fresh copy of arrays that arrived from another process (dicts of arrays too): arrays
    deserialised by Dask may be read-only views at any byte offset of the message buffer."""
    import numpy as np

    if isinstance(values, dict):
        return {k: _own(v) for k, v in values.items()}
    return np.array(values, copy=True) if isinstance(values, np.ndarray) else values


def rebuild(settings, seed, result):
    """The pipeline.TrainedMember of a MemberResult: the model built from its settings and seed, with the weights."""
    from training import pipeline

    model = settings.spec.cls(**settings.config, seed=seed)
    if not model.built and result.build_config:  # models that build on first use (ParticleNet, the FCN)
        model.build_from_config(result.build_config)
    model.set_weights(result.weights)
    return pipeline.TrainedMember(model, result.history, result.seconds, result.stopping)


def train_members(
    settings,
    seeds,
    run_dir=None,
    shared=None,
    per_member=None,
    scheduler=None,
    workers=None,
    callbacks=None,
    desc=None,
    progress=True,
    keep=None,
):
    """Train one member per seed as Dask tasks; returns the MemberResults in the order of `seeds`.

    Args:
        settings: pipeline.Settings of every member, or a list with one Settings per seed.
        seeds: one seed per member.
        run_dir: checkpoints under run_dir/member<k> (None: temporary folders on the workers).
        shared: {x_train, x_val[, y_train, y_val]} used by every member (sent to each worker once).
        per_member: one such dict per member instead (e.g. members with their own outlier draws).
        scheduler, workers: see preprocessing.tasks.
        callbacks: one tuple of picklable callbacks per member (returned in MemberResult.callbacks).
        keep: a folder for finished members (``member<k>-seed<s>.pkl``, written as each arrives and
            read back instead of training on a rerun); removed when every member is back. The
            caller names it so that it belongs to exactly this training (``ensemble_keep``).
    """
    seeds = list(seeds)
    many = isinstance(settings, (list, tuple))
    if (shared is None) == (per_member is None):
        raise ValueError("give either the shared arrays or one dict per member")
    tasks = [
        MemberTask(
            settings[k] if many else settings,
            seed,
            str(pathlib.Path(run_dir) / f"member{k}") if run_dir else None,
            per_member[k] if per_member is not None else None,
            tuple(callbacks[k]) if callbacks else (),
        )
        for k, seed in enumerate(seeds)
    ]
    labels = [f"member {k} (seed {seed})" for k, seed in enumerate(seeds)]
    results = [None] * len(tasks)
    kept = [pathlib.Path(keep) / f"member{k}-seed{seed}.pkl" for k, seed in enumerate(seeds)] if keep else []
    for k, path in enumerate(kept):
        if path.is_file():
            results[k] = pickle.loads(path.read_bytes())
    todo = [k for k in range(len(tasks)) if results[k] is None]
    if kept and len(todo) < len(tasks):
        print(f"{len(tasks) - len(todo)} finished member(s) kept from an earlier run in {keep}", file=sys.stderr)
    try:
        for j, result in run_tasks(
            train_member_task,
            [tasks[k] for k in todo],
            [labels[k] for k in todo],
            scheduler=scheduler,
            workers=workers,
            desc=desc or f"train {len(tasks)} x {settings[0].name if many else settings.name}",
            unit="member",
            initial=len(tasks) - len(todo),
            total=len(tasks),
            progress=progress,
            shared=shared,
        ):
            results[todo[j]] = result
            if kept:  # atomically: a rerun never reads half a member
                kept[todo[j]].parent.mkdir(parents=True, exist_ok=True)
                part = kept[todo[j]].with_suffix(".part")
                part.write_bytes(pickle.dumps(result))
                os.replace(part, kept[todo[j]])
    except TaskFailed as err:
        done = sum(r is not None for r in results)
        if kept and done:
            raise TaskFailed(
                f"{err}; {done} finished member(s) kept in {keep}: rerun the same command to resume"
            ) from err
        raise
    if keep:
        shutil.rmtree(keep, ignore_errors=True)
    return results


def _digest(digest, value):
    """Add `value` (arrays, dicts and lists of them, None) to `digest`; False for anything else
    (e.g. rows read lazily from disk), whose content it cannot vouch for."""
    import numpy as np

    if isinstance(value, dict):
        return all(digest.update(repr(k).encode()) or _digest(digest, value[k]) for k in sorted(value))
    if isinstance(value, (list, tuple)):
        return all(_digest(digest, v) for v in value)
    if value is None:
        digest.update(b"None")
        return True
    if not isinstance(value, np.ndarray):
        return False
    values = np.ascontiguousarray(value)
    digest.update(f"{values.dtype}{values.shape}".encode())
    digest.update(memoryview(values).cast("B"))
    return True


def ensemble_keep(root, settings, seeds, arrays):
    """The folder under `root` for the finished members of one training: named by a digest of the
    settings, the seeds, every training array and the code version, so a rerun finds it and any
    other training does not; None where the arrays are not all in memory (nothing is kept)."""
    from preprocessing.version import code_version

    digest = hashlib.sha256(repr((settings.name, settings.preset, settings.representation)).encode())
    digest.update(repr((sorted(settings.config.items()), sorted(settings.training.items()))).encode())
    digest.update(repr((list(seeds), code_version())).encode())
    if not _digest(digest, arrays):
        return None
    return pathlib.Path(root) / f"{settings.name}-members-{digest.hexdigest()[:16]}"


def train_ensemble(
    settings, inputs, split, targets, seed, n_members, run_dir=None, scheduler=None, workers=None, keep_root=None
):
    """The pipeline.TrainedMembers of an ensemble with seeds seed..seed+n-1, trained as Dask tasks.

    Members share one copy of the training arrays unless the model draws per-member training
    arrays (``Inputs.training_inputs`` with outliers or other training-only arrays); checkpoints go
    under run_dir/member<k> on a local cluster and into temporary folders on a remote one. With
    `keep_root`, finished members are kept under it until the ensemble is complete (``ensemble_keep``).
    """
    seeds = [seed + k for k in range(n_members)]

    def data(s):
        if hasattr(inputs, "training_inputs"):
            pick = inputs.training_inputs
        else:
            pick = lambda rows, seed: inputs.model_inputs(rows)  # noqa: E731
        return {"x_train": pick(split.train, seed=s), "x_val": pick(split.validation, seed=s), **targets}

    per_seed = bool(getattr(inputs, "training", None)) or getattr(inputs, "outliers", None) is not None
    shared = None if per_seed else data(seed)
    per_member = [data(s) for s in seeds] if per_seed else None
    keep = None
    if keep_root is not None:
        keep = ensemble_keep(keep_root, settings, seeds, [shared] if shared is not None else per_member)
    results = train_members(
        settings,
        seeds,
        run_dir if scheduler in (None, "serial") else None,
        shared=shared,
        per_member=per_member,
        scheduler=scheduler,
        workers=workers,
        keep=keep,
    )
    return [rebuild(settings, s, r) for s, r in zip(seeds, results)]
