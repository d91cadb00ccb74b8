"""Training-only arrays: what a model's training batches hold beside its inputs, never serving inputs.

``ModelSpec.training_arrays`` names them: ``jet_mass`` (the sample's /jets/mass, e.g. for DisCo
terms), ``class_target`` (added by ``pipeline.train_member`` from the class targets) and
``outliers`` (outlier jets for outlier exposure, an ``OutlierPool`` paired one-to-one with the
training rows by jet mass).
"""

import dataclasses
import pathlib

import numpy as np

from preprocessing.errors import DataError

JET_MASS, CLASS_TARGET, OUTLIERS = "jet_mass", "class_target", "outliers"
TRAINING_ARRAYS = (JET_MASS, CLASS_TARGET, OUTLIERS)


@dataclasses.dataclass
class OutlierPool:
    """Outlier jets for outlier exposure, built in the model's representation.

    Attributes:
        inputs: (pool, ...) the model input of every outlier jet.
        mass: (pool,) their jet masses, for resampling to the paired rows' mass distribution.
        files: the outlier sample files.
    """

    inputs: np.ndarray
    mass: np.ndarray
    files: list

    def paired(self, reference_mass, seed=0):
        """One outlier per reference row, (rows, ...): drawn with replacement so that the outliers'
        jet-mass histogram matches the rows' (preprocessing.samples.resample, "planing")."""
        from preprocessing.samples import resample

        index = resample.resample(self.mass, reference_mass, n=len(reference_mass), seed=seed)
        return self.inputs[index]


def _jet_radii(provenance):
    """Every selection jet_radius recorded in a (possibly nested) provenance record."""
    found = set()
    if isinstance(provenance, dict):
        selection = provenance.get("selection")
        if isinstance(selection, dict) and "jet_radius" in selection:
            found.add(float(selection["jet_radius"]))
        for value in provenance.values():
            if isinstance(value, (dict, list)):
                found |= _jet_radii(value)
    elif isinstance(provenance, list):
        for value in provenance:
            found |= _jet_radii(value)
    return found


def _files(provenance):
    """Every sample file recorded in a (possibly nested) provenance record (``datasets.load``)."""
    if isinstance(provenance, list):
        return set().union(*map(_files, provenance)) if provenance else set()
    if not isinstance(provenance, dict):
        return set()
    found = {provenance["file"]} if isinstance(provenance.get("file"), str) else set()
    return found.union(*(_files(v) for v in provenance.values() if isinstance(v, (dict, list))))


def training_arrays(settings, sample, names, shapes, source, workers=None):
    """(training arrays {name: (rows,)}, OutlierPool or None) that `settings.spec.training_arrays` asks for.

    "class_target" is added by ``train_member`` from the class targets; "jet_mass" is the sample's
    /jets/mass; "outliers" come from ``settings.training["outliers"]`` (sample files: a path, a
    comma-separated string or a list; ``--set outliers=PATH``) or the spec's generated outlier dataset
    (a quarter as many jets as the sample).
    """
    wanted = tuple(settings.spec.training_arrays)
    unknown = sorted(set(wanted) - set(TRAINING_ARRAYS))
    if unknown:
        raise DataError(f"model {settings.name!r} asks for unknown training arrays {unknown}; known: {TRAINING_ARRAYS}")
    training, pool = {}, None
    if JET_MASS in wanted:
        training[JET_MASS] = _jet_masses(sample, source, settings.name)
    if OUTLIERS in wanted:
        pool = load_outliers(settings, sample, names, shapes, source, workers)
    return training, pool


def _jet_masses(sample, source, model_name):
    mass = sample.jets.get("mass")
    if mass is None:
        raise DataError(
            f"{source}: the sample has no jet masses (/jets/mass); model {model_name!r} needs them in its training batches"
        )
    mass = np.asarray(mass, np.float32)
    if len(mass) != len(sample) or not np.all(np.isfinite(mass)):
        raise DataError(f"{source}: /jets/mass must hold one finite mass per jet ({len(sample)} jets)")
    return mass


def load_outliers(settings, sample, names, shapes, source, workers=None):
    """The OutlierPool of an outlier-exposure model; clear errors when the outliers cannot pair with the inputs."""
    from preprocessing import representations
    from training.data import datasets

    if len(names) != 1:
        raise DataError(f"model {settings.name!r}: outlier exposure needs a single-input model, not {list(names)}")
    given = settings.training.get(OUTLIERS)
    if given:
        paths = given.split(",") if isinstance(given, str) else list(given)
        paths = [pathlib.Path(str(p).strip()) for p in paths]
        for p in paths:
            if not p.is_file():
                raise DataError(f"{p}: outlier file not found (--set outliers=PATH[,PATH...])")
    elif settings.spec.outliers is not None:  # a quarter of the training sample, as in cheng2020 (120k for 480k)
        paths = datasets.materialise(settings.spec.outliers, max(len(sample) // 4, 100), workers=workers)
    else:
        raise DataError(f"model {settings.name!r} needs outlier jets: give them with --set outliers=PATH")
    outlier_source = ", ".join(str(p) for p in paths)
    # outlier exposure pushes the outliers' scores up: the training jets themselves must not be among them
    for p in paths:
        for f in sorted(_files(sample.provenance)):
            if datasets.same_file(p, f):
                raise DataError(
                    f"--set outliers={p}: it is a training file (--data {f}); outlier exposure needs other jets"
                )
    outliers = datasets.load(paths)
    if sample.constituents.shape[1]:  # in memory (a streamed sample's skeleton has no constituents)
        datasets.check_overlap(
            [sample, outliers],
            [source, outlier_source],
            why="outlier jets must not be training jets (--set outliers=PATH)",
        )
    built = representations.build(settings.representation, outliers, source=outlier_source)
    name = names[0]
    if name not in built or tuple(built[name].shape[1:]) != tuple(shapes[name]):
        got = {k: tuple(v.shape[1:]) for k, v in built.items()}
        raise DataError(
            f"{outlier_source}: outlier jets in representation {settings.representation!r} give {got}; "
            f"the model's input {name!r} has shape {tuple(shapes[name])}"
        )
    ours, theirs = _jet_radii(sample.provenance), _jet_radii(outliers.provenance)
    if ours and theirs and ours != theirs:
        raise DataError(
            f"{outlier_source}: outlier jets have jet radius R = {sorted(theirs)} (provenance selection.jet_radius), "
            f"the training jets R = {sorted(ours)} ({source}); their {settings.representation!r} inputs differ"
        )
    return OutlierPool(built[name], _jet_masses(outliers, outlier_source, settings.name), [str(p) for p in paths])
