"""Splits keep events together and never share a jet; loading subsets and errors."""

import numpy as np
import pytest

from preprocessing.errors import DataError
from preprocessing.samples.format import write_sample
from training.data.datasets import load, split


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


def test_load_refuses_a_file_twice_and_jets_shared_by_files(small_samples, tmp_path):
    """Files get fresh event numbers when joined, so a split by event cannot keep copies apart:
    overlapping inputs are refused before any split."""
    qcd, top = small_samples["qcd_path"], small_samples["top_path"]
    with pytest.raises(DataError, match="qcd.h5: given twice"):
        load([qcd, top, qcd])
    # another file holding some of the same jets (e.g. a mixed sample next to its background)
    part = small_samples["qcd"].subset(np.arange(100, 150))
    write_sample(tmp_path / "part.h5", part)
    with pytest.raises(
        DataError, match=r"qcd.h5 and .*part.h5: 50 jet\(s\) occur twice \(e.g. jet 1\d\d of .*qcd.h5 = jet \d+ of"
    ):
        load([qcd, tmp_path / "part.h5"])
    # and a jet repeated inside one file under another event number
    s = small_samples["top"]
    twice = s.subset(np.r_[np.arange(len(s)), [7]])
    twice.event[-1] = twice.event.max() + 1
    write_sample(tmp_path / "twice.h5", twice)
    with pytest.raises(DataError, match=r"twice.h5: 1 jet\(s\) occur twice \(e.g. jet 7 of .* = jet 600 of"):
        load([tmp_path / "twice.h5"])
    assert len(load([qcd, top])) == 1200  # distinct files pass
