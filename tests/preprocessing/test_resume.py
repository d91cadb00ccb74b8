"""Sharded generation resumes after an interruption and gives the uninterrupted result."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from preprocessing import generate as gen
from preprocessing.sample import read_sample

N_JETS, SHARD, SEED = 40, 8, 17


def _assert_same(a, b):
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
    _assert_same(resumed, reference)

    # a damaged shard file is regenerated, not trusted
    victim = sorted(cache.glob("shard-*.npz"))[1]
    victim.write_bytes(victim.read_bytes()[:100])
    third = _Counting(real)
    monkeypatch.setattr(gen, "generate_shard", third)
    again = gen.generate("qcd", N_JETS, seed=SEED, shard_jets=SHARD, progress=False, cache_dir=cache)
    assert third.calls == 1
    _assert_same(again, reference)


def test_shard_key_changes_with_anything_that_changes_content():
    sel = gen.SELECTIONS["dillon2021"]
    base = gen._shard_key(gen.PROCESSES["qcd"], sel, 1, 10, 200)
    assert base == gen._shard_key(gen.PROCESSES["qcd"], sel, 1, 10, 200)
    assert base != gen._shard_key(gen.PROCESSES["qcd"], sel, 2, 10, 200)
    assert base != gen._shard_key(gen.PROCESSES["qcd"], sel, 1, 20, 200)
    assert base != gen._shard_key(gen.make_process("qcd", pthat_min=400), sel, 1, 10, 200)
    assert base != gen._shard_key(gen.PROCESSES["qcd"], gen.SELECTIONS["cheng2020"], 1, 10, 200)


def test_killed_command_line_run_resumes_to_the_same_file(tmp_path, reference):
    out = tmp_path / "qcd.h5"
    cache = gen.shard_cache_dir(out)
    args = ["--process", "qcd", "--n-jets", str(N_JETS), "--shard-jets", str(SHARD), "--seed", str(SEED),
            "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "preprocessing.generate", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list(cache.glob("shard-*.npz"))) < 2 and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    kept = len(list(cache.glob("shard-*.npz")))
    assert 2 <= kept < N_JETS // SHARD, "the run was not interrupted part-way"
    assert not out.exists()

    assert gen.main(args) == 0
    _assert_same(read_sample(out), reference)
    assert not cache.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["qcd.h5"]
