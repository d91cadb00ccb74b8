"""Roles of the sample files a command is given, read from what the files say, not from their order.

A reproduction that takes ``--data`` needs files in roles (background events, signal events, a
2-prong and a 3-prong signal). A ``Role`` names the classes its jets may carry (the file's label
table and labels) and, where labels cannot tell two roles apart, the process options its
provenance must record (``process_options`` of a generated file, e.g. ``prongs``). ``assign``
reads the files and gives each the one role that fits it:

* a wrong number of files, a file given twice, a file that fits no role (e.g. a "background" file
  holding signal events), a file that fits two roles (nothing recorded tells them apart), two files
  for one role, and a jet that occurs in two files (``datasets.check_overlap``, as ``fit`` refuses
  it) are each one DataError naming the file(s);
* files given in another order are assigned by their labels, and a line on stderr says which file
  plays which role, so swapped files give the right result.

``require_classes`` is the same check for commands that pool jets of several classes from any
number of files (dillon2021's QCD and top jets): every class present, no jet of another class.
"""

import dataclasses
import sys

import numpy as np

from preprocessing.errors import DataError


@dataclasses.dataclass(frozen=True)
class Role:
    """One role of a command's input files.

    Attributes:
        name: what the file holds, for messages ("background events").
        classes: class names the file's jets may carry (every jet must carry one of them).
        options: (key, value) pairs of the process options a file's provenance may record; a file
            that records another value does not fit, one that records none fits (when two roles
            then fit one file, the file is refused as ambiguous).
    """

    name: str
    classes: tuple
    options: tuple = ()

    def describe(self):
        options = "".join(f", {k} {v}" for k, v in self.options)
        return f"{self.name} (class {' or '.join(self.classes)}{options})"


def class_counts(sample):
    """{class name: jets} of the classes a sample's jets carry (not merely its label table)."""
    counts = np.bincount(np.asarray(sample.labels, np.int64), minlength=len(sample.label_names))
    return {name: int(n) for name, n in zip(sample.label_names, counts) if n}


def _counts_text(counts):
    return ", ".join(f"{n} {name!r}" for name, n in counts.items()) + " jets"


def recorded_options(provenance):
    """The process options a sample's provenance records (``process_options`` of a generated file)."""
    options = provenance.get("process_options") if isinstance(provenance, dict) else None
    return options if isinstance(options, dict) else {}


def _fits(role, counts, options):
    return set(counts) <= set(role.classes) and all(options.get(k, v) == v for k, v in role.options)


def assign(paths, roles, what):
    """{role name: JetSample} of `paths`, each file in the one role its labels and provenance fit.

    Args:
        paths: the files, in any order.
        roles: the Roles the command needs, one file each.
        what: the command and flag, for messages ("bortolato2021 --data").

    Raises:
        DataError: one line naming the file(s), see the module docstring.
    """
    from preprocessing.samples.format import read_sample
    from training.data import datasets

    paths = [str(p) for p in paths]
    wanted = "; ".join(r.describe() for r in roles)
    if len(paths) != len(roles):
        raise DataError(
            f"{what} takes {len(roles)} files, one per role ({wanted}), got {len(paths)}: {' '.join(paths) or 'none'}"
        )
    datasets.check_distinct(paths)
    samples = [read_sample(p) for p in paths]
    owner = {}
    for path, sample in zip(paths, samples):
        counts, options = class_counts(sample), recorded_options(sample.provenance)
        if not counts:
            raise DataError(f"{path}: holds no jets; {what} takes {wanted}")
        fits = [r for r in roles if _fits(r, counts, options)]
        if not fits:
            raise DataError(f"{path}: holds {_counts_text(counts)}, which fits no role of {what}: {wanted}")
        if len(fits) > 1:
            keys = sorted({k for r in fits for k, _ in r.options})
            raise DataError(
                f"{path}: could be {' or '.join(r.name for r in fits)}: its provenance records no "
                f"process option {' or '.join(keys)} to tell them apart"
            )
        role = fits[0]
        if role.name in owner:
            raise DataError(f"{owner[role.name]} and {path}: both hold {role.describe()}; {what} takes {wanted}")
        owner[role.name] = path
    datasets.check_overlap(samples, paths)
    chosen = ", ".join(f"{r.name} from {owner[r.name]}" for r in roles)
    print(f"{what}: {chosen} (by their labels and provenance)", file=sys.stderr)
    return {r.name: samples[paths.index(owner[r.name])] for r in roles}


def require_classes(sample, classes, source, what):
    """DataError unless `sample` (joined from the files `source`) holds jets of every class in
    `classes` and of no other class."""
    counts = class_counts(sample)
    missing = [c for c in classes if c not in counts]
    other = [c for c in counts if c not in classes]
    if missing or other:
        problem = f"no {' or '.join(map(repr, missing))} jets" if missing else f"jets of class {other}"
        raise DataError(
            f"{source}: {problem} (they hold {_counts_text(counts) if counts else 'no jets'}); "
            f"{what} takes jets of the classes {list(classes)}"
        )
