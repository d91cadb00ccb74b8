"""Datasets for training: the cached default dataset of each model, user files, event-grouped splits.

Files are joined with fresh event numbers per file, so a split by event cannot see a jet that two
files share: ``load`` refuses a file given twice and jets that occur more than once (compared by
their constituents), which would otherwise sit in both the training and the test rows.
"""

import os
import pathlib
import sys

import numpy as np

from preprocessing.errors import DataError
from preprocessing.events.generator import generate
from preprocessing.samples.format import concatenate, read_sample, write_sample


def cache_dir():
    """Where generated default samples live: $ANOMJET_DATA, else ~/.cache/anomalous-jet-tagging."""
    return pathlib.Path(os.environ.get("ANOMJET_DATA", pathlib.Path.home() / ".cache" / "anomalous-jet-tagging"))


def generated_path(stem, process, n, seed, options=(), selection=None):
    """The cache file of a generated sample: named by (stem, process, size, seed, options) and the
    fingerprint of the selection it was made with (the process default when `selection` is None), so
    that a sample made under other cuts is never reused."""
    from preprocessing.events.processes import make_process
    from preprocessing.jets.selection import selection_tag

    options = tuple(options.items()) if isinstance(options, dict) else tuple(options)
    settings = dict(options)
    selection = selection or settings.pop("selection", None) or make_process(process, **settings).preset
    suffix = "".join(f"_{key}{value:g}" if isinstance(value, float) else f"_{key}{value}" for key, value in options)
    prefix = f"{stem}_" if stem else ""
    return cache_dir() / f"{prefix}{process}_n{n}_seed{seed}{suffix}_sel{selection_tag(selection)}.h5"


def component_jets(component, n_jets):
    """Jets of one recipe component in a dataset of n_jets: its share, rounded to whole events of two jets."""
    return max(2, 2 * round(component.share * n_jets / 2))


def materialise(recipe, n_jets=None, workers=None, progress=True):
    """Paths of the sample files of `recipe` (a models.registry.DatasetRecipe), generating missing ones.

    Each component is one file named by (process, jets, seed, options) in cache_dir(); a cached
    file is reused when its name matches. Generation writes atomically, so an interrupted run
    leaves no file and is redone next time.
    """
    n_jets = n_jets or recipe.n_jets
    workers = workers or min(2, os.cpu_count() or 1)
    paths = []
    for component in recipe.components:
        n = component_jets(component, n_jets)
        path = generated_path("", component.process, n, component.seed, component.options)
        if not path.exists():
            print(
                f"default dataset {recipe.name}: generating {n} {component.process} jets into {path} "
                f"(cached for later runs)",
                file=sys.stderr,
            )
            write_sample(
                path,
                generate(
                    component.process,
                    n,
                    seed=component.seed,
                    workers=workers,
                    progress=progress,
                    **dict(component.options),
                ),
            )
        paths.append(path)
    return paths


def _words(values, multipliers):
    """(rows,) uint64: sum of the rows' 32-bit words times `multipliers`, wrapping mod 2^64."""
    words = np.ascontiguousarray(values, dtype=np.float32).reshape(len(values), -1).view(np.uint32)
    return (words.astype(np.uint64) * multipliers[: words.shape[1]]).sum(axis=1)


def _jet_hashes(sample, fields, multipliers, chunk=2048):
    """(jets,) uint64 hash of each jet's constituents and its `fields`; zero padding adds nothing,
    so the padding width of a file does not change a jet's hash. Vectorised, `chunk` jets at a time."""
    out = np.empty(len(sample), np.uint64)
    for start in range(0, len(sample), chunk):
        rows = slice(start, start + chunk)
        kinematics = np.stack([sample.jets[k][rows] for k in fields], axis=1) if fields else np.zeros((0, 0))
        out[rows] = _words(sample.constituents[rows], multipliers[1]) + _words(kinematics, multipliers[0])
    return out


def overlap_keys(widths, field_sets):
    """(fields, multipliers) of the jet hash for files of particle `widths` and per-jet `field_sets`:
    the fields every file has, and seeded odd multipliers (the same for every caller)."""
    width = max(widths, default=0)
    fields = sorted(set.intersection(*field_sets)) if field_sets else []
    rng = np.random.default_rng(0)
    multipliers = [rng.integers(0, 2**63, n, dtype=np.uint64) * 2 + 1 for n in (max(len(fields), 1), 4 * width)]
    return fields, multipliers


SPLIT_REASON = (
    "a split by event would put copies in both the training and the test rows; "
    "give each jet once (overlapping files, or one file twice?)"
)


def check_overlap(samples, paths, why=SPLIT_REASON):
    """DataError if a jet occurs twice, within one file (in two events) or across files.

    Jets are compared by their constituents and the per-jet fields that every file has (mass,
    observables, ...): hashed first, then candidates compared exactly. `why` ends the message.
    """
    fields, multipliers = overlap_keys([s.constituents.shape[1] for s in samples], [set(s.jets) for s in samples])

    def jet(f, i):
        s = samples[f]
        return s.constituents[i, : s.n_constituents[i]], [s.jets[k][i] for k in fields], s.event[i]

    report_repeats([_jet_hashes(s, fields, multipliers) for s in samples], jet, paths, why)


def report_repeats(hashes, jet, paths, why=SPLIT_REASON):
    """DataError naming a repeated jet, from per-file jet hashes (``_jet_hashes``).

    Args:
        hashes: one (jets,) uint64 array per file.
        jet: (file, index) -> (constituents, fields, event) of one jet, for the exact comparison
            of hash collisions.
        paths: the files, for the message.
        why: what the repeat would break, the end of the message.
    """
    owner = np.concatenate([np.full(len(h), f) for f, h in enumerate(hashes)] + [np.empty(0, int)])
    index = np.concatenate([np.arange(len(h)) for h in hashes] + [np.empty(0, int)])
    hashes = np.concatenate(list(hashes) + [np.empty(0, np.uint64)])
    order = np.argsort(hashes, kind="stable")
    same = np.flatnonzero(hashes[order][1:] == hashes[order][:-1])  # order[k] and order[k + 1] collide

    first, repeated = None, set()
    for k in same:
        a, b = order[k], order[k + 1]
        (ca, fa, ea), (cb, fb, eb) = jet(owner[a], index[a]), jet(owner[b], index[b])
        if (owner[a] == owner[b] and ea == eb) or not (np.array_equal(ca, cb) and np.array_equal(fa, fb)):
            continue
        repeated.add(b)
        first = first or (a, b)
    if repeated:
        a, b = first
        pa, pb = paths[owner[a]], paths[owner[b]]
        where = pa if pa == pb else f"{pa} and {pb}"
        raise DataError(
            f"{where}: {len(repeated)} jet(s) occur twice (e.g. jet {index[a]} of {pa} = jet {index[b]} of {pb}); {why}"
        )


def same_file(p, q):
    """Whether paths `p` and `q` name one file (the same path, a link, or a hard link)."""
    return pathlib.Path(p).resolve() == pathlib.Path(q).resolve() or (
        os.path.exists(p) and os.path.exists(q) and os.path.samefile(p, q)
    )


def check_distinct(paths):
    """DataError if one file is given twice (by path or as the same file)."""
    for i, p in enumerate(paths):
        for q in paths[:i]:
            if same_file(p, q):
                raise DataError(f"{p}: given twice ({q}); each file may be used once")


def subset_rows(n_rows, n_jets, seed=0):
    """Sorted indices of the seeded random `n_jets` of `n_rows` jets that ``load`` keeps (--n-jets)."""
    if n_jets > n_rows:
        raise DataError(f"--n-jets {n_jets} asks for more jets than the data holds ({n_rows})")
    return np.sort(np.random.default_rng(seed).choice(n_rows, n_jets, replace=False))


def load(paths, n_jets=None, seed=0):
    """Read and join sample files; keep a random n_jets of them if given (seeded).

    A file given twice, or a jet that occurs twice (within a file in two events, or across files),
    is a DataError: the split by event could not keep the copies apart.
    """
    paths = list(paths)
    check_distinct(paths)
    samples = [read_sample(p) for p in paths]
    check_overlap(samples, [str(p) for p in paths])
    for p, s in zip(paths, samples):
        s.provenance = {"file": str(p), **s.provenance}
    sample = concatenate(samples) if len(samples) > 1 else samples[0]
    if n_jets is not None:
        sample = sample.subset(subset_rows(len(sample), n_jets, seed))
    return sample


def split(event, fractions=(0.8, 0.1, 0.1), seed=0):
    """Train/validation/test index arrays; all rows of one event land in the same split.

    Args:
        event: (rows,) event identifiers.
        fractions: shares of events in each split.

    Returns:
        three sorted index arrays that partition range(len(event)).
    """
    fractions = np.asarray(fractions, float)
    if np.any(fractions <= 0) or not np.isclose(fractions.sum(), 1.0):
        raise ValueError(f"split fractions must be positive and sum to 1, got {fractions.tolist()}")
    events, inverse = np.unique(np.asarray(event), return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(events))
    bounds = np.round(np.cumsum(fractions)[:-1] * len(events)).astype(int)
    part_of_event = np.empty(len(events), int)
    for k, chunk in enumerate(np.split(order, bounds)):
        part_of_event[chunk] = k
    part = part_of_event[inverse]
    return tuple(np.flatnonzero(part == k) for k in range(len(fractions)))
