"""Rows of a sample, the data room's one interface to the fit pipeline.

    inputs = load_inputs(settings, paths)        # sample files -> named arrays per row (in memory or streamed)
    split = split_rows(inputs, seed)             # by event, 80/10/10
    x = inputs.training_inputs(split.train)      # model inputs (+ training-only arrays) at rows
    y = class_targets(spec, inputs, split.train) # supervised targets

Everything below it (``datasets``: files and their checks, ``memory`` and ``streaming``: the
on-disk path under a memory budget, ``training_arrays``: jet masses, class targets, outliers,
``augment``, ``batches``) is reached through these functions; ``training.pipeline`` never reaches
into the parts.
"""

import dataclasses
import pathlib

import numpy as np

from preprocessing.errors import DataError
from training.data.inputs import Inputs, input_names, take_rows
from training.data.training_arrays import CLASS_TARGET, training_arrays


def load_inputs(
    settings, paths=None, n_jets=None, seed=0, workers=None, memory_budget=None, cache_dir=None, keep_cache=False
):
    """Read sample files (or make the model's default dataset) and build its representation.

    Args:
        paths: sample files; None makes or reuses the spec's default dataset of `n_jets` jets.
        n_jets: with paths, a seeded random subset of that many jets; else the dataset size.
        memory_budget: bytes; when the in-memory footprint (``training.data.memory``, estimated from
            the files' shapes before reading them) is larger, the representation is built chunk
            by chunk into an on-disk row cache in `cache_dir` (``training.data.streaming``) and the
            returned Inputs read from it (``Inputs.close()`` removes it, as does the end of the
            process unless `keep_cache`). None: always in memory.
    """
    from preprocessing import representations
    from training.data import datasets

    if paths:
        paths = [pathlib.Path(p) for p in paths]
        subset = n_jets
    else:
        paths = datasets.materialise(settings.spec.dataset, n_jets, workers=workers)
        subset = None
    if memory_budget is not None:
        from training.data import memory

        footprint = memory.estimate_footprint(paths, settings.representation, n_jets=subset)
        if footprint.total > memory_budget:
            from training.data import streaming

            if cache_dir is None:
                raise DataError("the streamed path needs a folder for its row cache (cache_dir)")
            return streaming.load_streamed(
                settings, paths, footprint, memory_budget, cache_dir, subset, seed, keep_cache, workers
            )
    sample = datasets.load(paths, n_jets=subset, seed=seed)
    source = ", ".join(str(p) for p in paths)
    arrays = representations.build(settings.representation, sample, source=source)
    names = input_names(settings, arrays)
    event, labels = representations.rows(settings.representation, sample, source=source)
    unit = "events" if representations.row_level(settings.representation) == "event" else "jets"
    jet_rows = unit == "jets" and len(event) == len(sample)
    jet_mass = sample.jets.get("mass") if jet_rows else None
    if settings.spec.training_arrays and not jet_rows:
        raise DataError(
            f"{source}: model {settings.name!r} trains with {list(settings.spec.training_arrays)} per jet, "
            f"but the rows of representation {settings.representation!r} are not the sample's jets"
        )
    shapes = {name: tuple(arrays[name].shape[1:]) for name in names}
    training, outliers = training_arrays(settings, sample, names, shapes, source, workers)
    provenance = sample.provenance
    if outliers is not None:
        provenance = {**provenance, "outliers": {"files": outliers.files, "jets": len(outliers.mass)}}
    return Inputs(
        arrays,
        names,
        event,
        labels,
        list(sample.label_names),
        unit,
        settings.representation,
        [str(p) for p in paths],
        provenance,
        training,
        outliers,
        None if jet_mass is None else np.asarray(jet_mass, np.float32),
    )


@dataclasses.dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def split_rows(inputs, seed=0):
    """Train/validation/test rows, 80/10/10 by event; a clear error when a part would be empty."""
    from training.data.datasets import split

    parts = Split(*split(inputs.event, seed=seed))
    if min(len(parts.train), len(parts.validation), len(parts.test)) == 0:
        events = len(np.unique(inputs.event))
        need = next(n for n in range(1, 1000) if min(map(len, split(np.arange(n)))) > 0)
        raise DataError(
            f"{len(inputs)} {inputs.unit} from {events} event(s) are too few for a train/validation/test split: "
            f"the split keeps the rows of an event together and needs at least {need} events"
        )
    return parts


def class_targets(spec, inputs, rows):
    """Integer targets of a supervised model at `rows`: the index of each row's class in spec.classes."""
    lookup = {name: k for k, name in enumerate(spec.classes)}
    unknown = sorted({inputs.label_names[k] for k in np.unique(inputs.labels[rows])} - set(lookup))
    if unknown:
        raise DataError(
            f"the data holds class(es) {unknown} that the model does not learn; it learns {list(spec.classes)}"
        )
    table = np.array([lookup.get(name, -1) for name in inputs.label_names], np.int32)
    return table[inputs.labels[rows]]


def check_classes(spec, inputs):
    """DataError naming the files unless they hold jets of every class a supervised model learns:
    trained without one, its output for that class would be learned from nothing (``fit`` calls it
    before training)."""
    held = {inputs.label_names[k] for k in np.unique(inputs.labels)}
    missing = [name for name in spec.classes if name not in held]
    if missing:
        files = ", ".join(map(str, inputs.files)) or "the data"
        raise DataError(
            f"{files}: no {' or '.join(map(repr, missing))} jets; the supervised model learns the classes "
            f"{list(spec.classes)} and needs jets of every one (it holds {sorted(held)})"
        )


def warmup_jets(inputs, split, n=8):
    """The first `n` test jets for an export's warmup requests when the sample streamed (read one by
    one; the export would otherwise read every file whole to find them); None in memory (the export
    reads them back itself, ``training.warmup.held_out_jets``: the same jets)."""
    if inputs.reader is None or inputs.unit != "jets":
        return None
    return inputs.reader.take(split.test[:n])


def fitted_representation(name, inputs, rows):
    """The representation's parameters fitted on the training rows (chunk by chunk when streamed)."""
    from preprocessing import representations

    if not inputs.streamed:
        return representations.fit(name, {k: v[rows] for k, v in inputs.arrays.items()})
    from training.data.streaming import fit_representation

    return fit_representation(name, {k: take_rows(v, rows) for k, v in inputs.arrays.items()})


# -- what a fit's batches hold ---------------------------------------------------------------
def training_batches_inputs(settings, x_train, y_train, x_val, y_val, seed=0):
    """(x_train, y_train, x_val) as the model trains on them: with the class targets added where
    the spec asks for them, and, for ``--set decorrelate=augment`` (cheng2022), the training rows
    extended by mass-rescaled W/top jets (``training.data.augment``; validation rows are never
    augmented)."""
    from training.data.row_cache import is_lazy

    x_train, x_val = _with_training_arrays(settings, x_train, y_train), _with_training_arrays(settings, x_val, y_val)
    if settings.config.get("decorrelate") == "augment":
        from training.data.augment import augment

        if is_lazy(x_train):
            raise DataError(f"model {settings.name!r} augments its training rows in memory; they cannot stream")
        x_train, y_train = augment(settings, x_train, y_train, seed)
    return x_train, y_train, x_val


def fit_scaler(model, x_train):
    """The model's input scalers fitted on the training rows: in memory, or chunk by chunk from a
    streamed row cache (the same values)."""
    from training.data.row_cache import is_lazy
    from training.data.streaming import chunks

    if is_lazy(x_train):
        model.fit_scaler_in_chunks(lambda: chunks(x_train))
    else:
        model.fit_scaler(x_train)


def batch_sources(x_train, y_train, x_val, y_val, batch_size, seed=0, xla=False):
    """(training, validation) ``BatchSource``s: a seeded permutation per epoch for training (whole
    batches where the model trains under XLA), validation in order."""
    from training.data.batches import BatchSource

    return BatchSource(x_train, y_train, batch_size, True, seed, xla), BatchSource(x_val, y_val, batch_size)


def _with_training_arrays(settings, x, y):
    """x with the class targets added where the spec asks for them; a clear error when a training array is missing."""
    wanted = tuple(settings.spec.training_arrays)
    if not wanted:
        return x
    if not isinstance(x, dict):
        raise DataError(
            f"model {settings.name!r} trains with {list(wanted)} beside its inputs; "
            f"give Inputs.training_inputs(rows), not only the model inputs"
        )
    if CLASS_TARGET in wanted:
        x = {**x, CLASS_TARGET: np.asarray(y, np.int32)}
    missing = [name for name in wanted if name not in x]
    if missing:
        raise DataError(f"model {settings.name!r}: training batches lack {missing} (have {sorted(x)})")
    return x
