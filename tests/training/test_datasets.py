"""Splits keep events together and never share a jet; loading subsets and errors."""

import numpy as np
import pytest

from preprocessing.errors import DataError
from training.datasets import load, split


def test_split_partitions_jets_and_keeps_events_together():
    event = np.repeat(np.arange(500), 2)[:-1]  # mostly two jets per event
    parts = split(event, seed=3)
    allidx = np.concatenate(parts)
    assert len(allidx) == len(event) and len(np.unique(allidx)) == len(event)
    sets = [set(event[p].tolist()) for p in parts]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert abs(len(parts[0]) / len(event) - 0.8) < 0.03
    again = split(event, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    with pytest.raises(ValueError, match="sum to 1"):
        split(event, fractions=(0.5, 0.2, 0.2))


def test_load_joins_and_subsamples(small_samples):
    s = load([small_samples["qcd_path"], small_samples["top_path"]], n_jets=300, seed=1)
    assert len(s) == 300 and s.label_names == ["qcd", "top"]
    assert 0 < s.labels.mean() < 1
    with pytest.raises(DataError, match="more jets than the data holds"):
        load([small_samples["qcd_path"]], n_jets=10_000)
