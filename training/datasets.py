"""Datasets for training: the cached default dataset of each model, user files, event-grouped splits."""

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
        options = "".join(f"_{key}{value}" for key, value in component.options)
        path = cache_dir() / f"{component.process}_n{n}_seed{component.seed}{options}.h5"
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


def load(paths, n_jets=None, seed=0):
    """Read and join sample files; keep a random n_jets of them if given (seeded)."""
    samples = [read_sample(p) for p in paths]
    for p, s in zip(paths, samples):
        s.provenance = {"file": str(p), **s.provenance}
    sample = concatenate(samples) if len(samples) > 1 else samples[0]
    if n_jets is not None:
        if n_jets > len(sample):
            raise DataError(f"--n-jets {n_jets} asks for more jets than the data holds ({len(sample)})")
        keep = np.sort(np.random.default_rng(seed).choice(len(sample), n_jets, replace=False))
        sample = sample.subset(keep)
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
