"""Mass-decorrelating data augmentation of cheng2022 (Sec. 4.2; the resampling of cheng2020 Sec. IV).

Mass-rescaled W and top jets (models.registry.CHENG2022_AUGMENT: W and top generated with masses
spanning the QCD jet-mass range) are resampled, per class, to the jet-mass distribution of the QCD
*training* rows (preprocessing.samples.resample, with replacement, seeded) and appended to the
training rows as extra W and top rows. The classifier then cannot use the jet mass to tell QCD
from W or top. Validation and test rows are never augmented, and augmented jets never reach the
evaluation (they are generated apart from the test data).

``train_member`` calls ``augment`` when the model's config says ``decorrelate="augment"``. The QCD
training masses come from the "jet_mass" training-only array (ModelSpec.training_arrays). The size
of the generated augmentation set is the training setting ``augment_jets`` (None: the recipe's
own, --set augment_jets=N); the pool is built once per process and representation (ensemble
members share it).
"""

import sys

import numpy as np

from preprocessing.errors import DataError

JET_MASS = "jet_mass"
_POOLS = {}  # (representation, files) -> (arrays, targets, masses)


def augmentation_pool(settings, n_jets=None, paths=None, workers=None):
    """(model inputs {name: array}, class targets, masses) of the mass-rescaled jets.

    Args:
        settings: resolved Settings (the representation and classes of the model).
        n_jets: size of the augmentation recipe (default: its own).
        paths: sample files to use instead of the generated recipe.
    """
    from models.registry import CHENG2022_AUGMENT
    from preprocessing import representations
    from training.data import datasets

    if not paths:
        paths = datasets.materialise(CHENG2022_AUGMENT, n_jets, workers=workers)
    key = (settings.representation, tuple(str(p) for p in paths))
    if key in _POOLS:
        return _POOLS[key]
    sample = datasets.load(paths)
    source = ", ".join(str(p) for p in paths)
    arrays = representations.build(settings.representation, sample, source=source)
    lookup = {name: k for k, name in enumerate(settings.spec.classes)}
    names = [sample.label_names[k] for k in sample.labels]
    unknown = sorted(set(names) - set(lookup))
    if unknown:
        raise DataError(f"{source}: augmentation jets of class(es) {unknown} that the model does not learn")
    targets = np.array([lookup[n] for n in names], np.int32)
    _POOLS[key] = (arrays, targets, np.asarray(sample.jets["mass"], np.float64))
    return _POOLS[key]


def augment(settings, x_train, y_train, seed=0, pool=None):
    """Training rows plus the augmentation resampled to the QCD training rows' mass: (x, y).

    Args:
        settings: resolved Settings.
        x_train: training inputs with the "jet_mass" training-only array (a dict).
        y_train: (rows,) class targets (0 = QCD).
        pool: (arrays, targets, masses) from ``augmentation_pool``; generated/cached if None.
    """
    from preprocessing.samples import resample

    if not isinstance(x_train, dict) or JET_MASS not in x_train:
        raise DataError(
            f"decorrelate=augment for model {settings.name!r} needs the training jets' masses "
            f"(ModelSpec.training_arrays must include {JET_MASS!r})"
        )
    if pool is None:
        pool = augmentation_pool(settings, n_jets=settings.training.get("augment_jets"))
    arrays, targets, masses = pool
    y_train = np.asarray(y_train)
    qcd_mass = np.asarray(x_train[JET_MASS])[y_train == 0]
    picks = []
    for target in np.unique(targets):
        rows = np.flatnonzero(targets == target)
        index = resample.resample(masses[rows], qcd_mass, n=len(rows), seed=seed + int(target))
        picks.append(rows[index])
        report = resample.jsd_report(masses[rows], qcd_mass, index=index)
        print(
            f"augmentation: {len(rows)} {settings.spec.classes[target]} jets resampled to the QCD training mass "
            f"(JSD {report['jsd_before']:.3f} -> {report.get('jsd_after', float('nan')):.3f})",
            file=sys.stderr,
        )
    pick = np.concatenate(picks)
    out = {}
    for name, values in x_train.items():
        if name == JET_MASS:
            extra = masses[pick]
        elif name in arrays:
            extra = arrays[name][pick]
        elif name == "class_target":
            extra = targets[pick]
        else:
            raise DataError(f"decorrelate=augment cannot extend the training array {name!r}")
        out[name] = np.concatenate([values, extra.astype(values.dtype)])
    return out, np.concatenate([y_train, targets[pick].astype(y_train.dtype)])
