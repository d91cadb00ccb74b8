"""Generated jets: physics checks (mass peaks, selection), reproducibility, independence of the
worker count, and resuming an interrupted sharded run to the uninterrupted result."""

import numpy as np
import pytest

from preprocessing.events import generator as gen
from preprocessing.events.generator import generate
from preprocessing.jets import physics


def _mass_peak(mass, lo=0.0, hi=300.0, width=10.0):
    counts, edges = np.histogram(mass, bins=np.arange(lo, hi + width, width))
    k = np.argmax(counts)
    return 0.5 * (edges[k] + edges[k + 1])


def test_top_jets_peak_at_top_mass_and_qcd_does_not(small_samples):
    top, qcd = small_samples["top"].jets["mass"], small_samples["qcd"].jets["mass"]
    assert 150.0 <= _mass_peak(top) <= 195.0
    assert not 150.0 <= _mass_peak(qcd) <= 195.0
    assert np.median(qcd) < 120.0 < np.median(top)


@pytest.mark.parametrize("process", ["qcd", "top"])
def test_selection_window_and_constituents(small_samples, process):
    s = small_samples[process]
    assert len(s) == 600
    assert np.all((s.jets["pt"] > 550) & (s.jets["pt"] < 650))
    assert np.all(np.abs(s.jets["eta"]) < 2.0)
    assert np.all((s.n_constituents > 0) & (s.n_constituents <= 200))
    pt = physics.pt(s.constituents)
    # pT-descending, zero padding after the real constituents
    assert np.all(np.diff(pt, axis=1)[np.arange(199)[None] < (s.n_constituents - 1)[:, None]] <= 1e-3)
    pad = np.arange(200)[None] >= s.n_constituents[:, None]
    assert np.all(s.constituents[pad] == 0)
    # the constituents add up to the jet (all jets here have < 200 constituents)
    full = s.n_constituents < 200
    total = s.constituents[full].astype(np.float64).sum(axis=1)
    np.testing.assert_allclose(physics.mass(total), s.jets["mass"][full], rtol=2e-3, atol=0.05)
    np.testing.assert_allclose(physics.pt(total), s.jets["pt"][full], rtol=1e-4)


def test_same_seed_same_jets_other_seed_other_jets():
    a = generate("qcd", 30, seed=3, progress=False)
    b = generate("qcd", 30, seed=3, progress=False)
    c = generate("qcd", 30, seed=4, progress=False)
    np.testing.assert_array_equal(a.constituents, b.constituents)
    assert not np.array_equal(a.jets["pt"], c.jets["pt"])
    assert a.provenance["seed"] == 3 and "PartonLevel:MPI = off" in a.provenance["settings"]


def test_result_does_not_depend_on_where_shards_ran(dask_scheduler):
    one = generate("top", 40, seed=8, workers=1, shard_jets=20, progress=False)
    two = generate("top", 40, seed=8, scheduler=dask_scheduler, shard_jets=20, progress=False)
    np.testing.assert_array_equal(one.constituents, two.constituents)
    np.testing.assert_array_equal(one.event, two.event)
    for k in one.jets:
        np.testing.assert_array_equal(one.jets[k], two.jets[k], err_msg=k)


N_JETS, SHARD, SEED = 40, 8, 17


def assert_same_sample(a, b):
    np.testing.assert_array_equal(a.constituents, b.constituents)
    np.testing.assert_array_equal(a.event, b.event)
    assert sorted(a.jets) == sorted(b.jets)
    for k in a.jets:
        np.testing.assert_array_equal(a.jets[k], b.jets[k], err_msg=k)
    assert a.provenance["n_events"] == b.provenance["n_events"]


@pytest.fixture(scope="module")
def reference():
    return gen.generate("qcd", N_JETS, seed=SEED, shard_jets=SHARD, progress=False)


class _Counting:
    """Stands in for generate_shard: counts calls and raises KeyboardInterrupt at call `stop`."""

    def __init__(self, real, stop=None):
        self.real, self.stop, self.calls = real, stop, 0

    def __call__(self, task):
        self.calls += 1
        if self.calls == self.stop:
            raise KeyboardInterrupt
        return self.real(task)


def test_interrupted_run_redoes_only_missing_shards(tmp_path, monkeypatch, reference):
    cache = tmp_path / ".out.h5.shards"
    real = gen.generate_shard
    first = _Counting(real, stop=3)
    monkeypatch.setattr(gen, "generate_shard", first)
    with pytest.raises(KeyboardInterrupt):
        gen.generate("qcd", N_JETS, seed=SEED, shard_jets=SHARD, progress=False, cache_dir=cache)
    assert len(list(cache.glob("shard-*.npz"))) == 2

    second = _Counting(real)
    monkeypatch.setattr(gen, "generate_shard", second)
    resumed = gen.generate("qcd", N_JETS, seed=SEED, shard_jets=SHARD, progress=False, cache_dir=cache)
    assert second.calls == N_JETS // SHARD - 2
    assert_same_sample(resumed, reference)

    # a damaged shard file is regenerated, not trusted
    victim = sorted(cache.glob("shard-*.npz"))[1]
    victim.write_bytes(victim.read_bytes()[:100])
    third = _Counting(real)
    monkeypatch.setattr(gen, "generate_shard", third)
    again = gen.generate("qcd", N_JETS, seed=SEED, shard_jets=SHARD, progress=False, cache_dir=cache)
    assert third.calls == 1
    assert_same_sample(again, reference)
