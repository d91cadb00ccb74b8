"""Datasets for training: the cached default sample, loading user files, and event-grouped splits."""

import os
import pathlib
import sys

import numpy as np

from preprocessing.errors import DataError
from preprocessing.generate import generate
from preprocessing.sample import concatenate, read_sample, write_sample

# the default dataset: (process, seed) pairs; jets are split evenly between them
DEFAULT_PROCESSES = (("qcd", 1001), ("top", 2002))
DEFAULT_N_JETS = 60_000


def cache_dir():
    """Where generated default samples live: $ANOMJET_DATA, else ~/.cache/anomalous-jet-tagging."""
    return pathlib.Path(os.environ.get("ANOMJET_DATA", pathlib.Path.home() / ".cache" / "anomalous-jet-tagging"))


def default_dataset(n_jets=DEFAULT_N_JETS, workers=None, progress=True):
    """Paths of the default QCD and top samples with n_jets in total, generating missing ones.

    A cached file is reused when its name matches (process, jets, seed); generation writes
    atomically, so an interrupted run leaves no file and is redone next time.
    """
    workers = workers or min(2, os.cpu_count() or 1)
    paths = []
    for process, seed in DEFAULT_PROCESSES:
        n = n_jets // len(DEFAULT_PROCESSES)
        path = cache_dir() / f"{process}_n{n}_seed{seed}.h5"
        if not path.exists():
            print(f"default dataset: generating {n} {process} jets into {path} (cached for later runs)",
                  file=sys.stderr)
            write_sample(path, generate(process, n, seed=seed, workers=workers, progress=progress))
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
    """Train/validation/test index arrays; all jets of one event land in the same split.

    Args:
        event: (jets,) event identifiers.
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
