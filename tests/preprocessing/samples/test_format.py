"""The HDF5 sample format: round trip, clear errors, atomic writes, joining samples."""

import h5py
import numpy as np
import pytest

from preprocessing.errors import DataError
from preprocessing.samples import format as sample_mod
from preprocessing.samples.format import (
    JetSample,
    concatenate,
    read_sample,
    write_sample,
)


def _toy(n=5, label="qcd", event_offset=0):
    rng = np.random.default_rng(n)
    c = rng.normal(size=(n, 7, 4)).astype(np.float32)
    return JetSample(
        constituents=c,
        n_constituents=np.full(n, 7, np.int32),
        labels=np.zeros(n, np.int32),
        event=np.arange(n) + event_offset,
        jets={k: rng.normal(size=n).astype(np.float32) for k in ("pt", "eta", "phi", "mass", "energy")},
        label_names=[label],
        provenance={"seed": 1},
    )


def test_round_trip(tmp_path):
    s = _toy()
    back = read_sample(write_sample(tmp_path / "a.h5", s))
    np.testing.assert_array_equal(back.constituents, s.constituents)
    np.testing.assert_array_equal(back.jets["mass"], s.jets["mass"])
    assert back.label_names == ["qcd"] and back.provenance == {"seed": 1}
    assert not list(tmp_path.glob(".*part"))


def test_missing_dataset_is_named(tmp_path):
    path = write_sample(tmp_path / "a.h5", _toy())
    with h5py.File(path, "a") as f:
        del f["jets/mass"]
    with pytest.raises(DataError, match=r"a.h5: missing dataset '/jets/mass'"):
        read_sample(path)


def test_nan_is_named(tmp_path):
    path = write_sample(tmp_path / "a.h5", _toy())
    with h5py.File(path, "a") as f:
        f["constituents"][2, 0, 1] = np.nan
    with pytest.raises(DataError, match=r"'/constituents' contains NaN .* jet 2"):
        read_sample(path)


def test_wrong_and_truncated_files(tmp_path):
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(DataError, match="text.h5: not a readable HDF5 file"):
        read_sample(tmp_path / "text.h5")
    with pytest.raises(DataError, match="no such sample file"):
        read_sample(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["table"] = np.zeros(3)
    with pytest.raises(DataError, match="not an anomalous-jet-sample file"):
        read_sample(tmp_path / "other.h5")
    good = write_sample(tmp_path / "good.h5", _toy(300))
    data = good.read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.h5"):
        read_sample(tmp_path / "cut.h5")


def test_failed_write_keeps_old_file_and_leaves_no_partial(tmp_path, monkeypatch):
    path = write_sample(tmp_path / "a.h5", _toy(3))
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(sample_mod.h5py.Group, "create_group", boom)
    with pytest.raises(OSError, match="disk full"):
        write_sample(path, _toy(9))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.h5"]


def test_inconsistent_lengths_rejected(tmp_path):
    s = _toy()
    s.labels = s.labels[:3]
    with pytest.raises(DataError, match="'/constituents' has 5 entries but '/labels' has 3"):
        write_sample(tmp_path / "a.h5", s)


def test_concatenate_merges_label_tables_and_keeps_events_distinct():
    a, b, c = _toy(3, "qcd"), _toy(4, "top"), _toy(2, "qcd")
    joined = concatenate([a, b, c])
    assert joined.label_names == ["qcd", "top"]
    assert joined.labels.tolist() == [0, 0, 0, 1, 1, 1, 1, 0, 0]
    assert len(np.unique(joined.event)) == 9
    assert len(joined.provenance["sources"]) == 3


def test_file_without_observables_still_reads(tmp_path):
    # files written before observables existed hold only the five required jet fields
    s = _toy(4)
    back = read_sample(write_sample(tmp_path / "old.h5", s))
    assert sorted(back.jets) == sorted(sample_mod.REQUIRED_JET_FIELDS)


def test_sample_writer_appends_chunks_like_write_sample(tmp_path):
    a, b = _toy(300), _toy(7, event_offset=1000)
    with sample_mod.SampleWriter(tmp_path / "w.h5", ["qcd"], {"seed": 1}, n_particles=7) as w:
        w.append(a)
        w.append(b)
    back = read_sample(tmp_path / "w.h5")
    np.testing.assert_array_equal(back.constituents, np.concatenate([a.constituents, b.constituents]))
    np.testing.assert_array_equal(back.event, np.concatenate([a.event, b.event]))
    np.testing.assert_array_equal(back.jets["eta"], np.concatenate([a.jets["eta"], b.jets["eta"]]))
    assert back.provenance == {"seed": 1, "n_jets": 307}
    assert [p.name for p in tmp_path.iterdir()] == ["w.h5"]


def test_sample_writer_leaves_nothing_on_error(tmp_path):
    bad = _toy(3)
    bad.constituents[1, 0, 0] = np.inf
    with (
        pytest.raises(DataError, match=r"'/constituents' contains NaN or infinity \(first at jet 1\)"),
        sample_mod.SampleWriter(tmp_path / "w.h5", ["qcd"], {}, n_particles=7) as w,
    ):
        w.append(_toy(2))
        w.append(bad)
    other = _toy(2)
    other.jets["tau21"] = np.zeros(2, np.float32)
    with (
        pytest.raises(DataError, match="chunk has jet fields"),
        sample_mod.SampleWriter(tmp_path / "w.h5", ["qcd"], {}, n_particles=7) as w,
    ):
        w.append(_toy(2))
        w.append(other)
    assert list(tmp_path.iterdir()) == []
