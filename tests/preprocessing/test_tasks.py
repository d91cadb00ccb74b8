"""Independent work as Dask tasks: serial and local-cluster runs give the same results, retries
name the failing task's seed, and a generated sample is the same file array for array whether its
shards ran serially or on a 2-worker LocalCluster."""

import h5py
import numpy as np
import pytest

from preprocessing import tasks
from preprocessing.errors import DataError

_calls = {}


def flaky_square(task):
    """Fails on the first try of task 3, then succeeds (counted per process)."""
    x, key = task
    _calls[key] = _calls.get(key, 0) + 1
    if x == 3 and _calls[key] == 1:
        raise RuntimeError("transient failure")
    return x * x


def always_fails(task):
    raise RuntimeError(f"broken input {task}")


def bad_data(task):
    _calls["bad"] = _calls.get("bad", 0) + 1
    raise DataError("no jet passed the selection")


def test_serial_run_yields_in_order_and_retries(capsys):
    out = list(tasks.run_tasks(flaky_square, [(x, f"s{x}") for x in range(5)], scheduler="serial", progress=False))
    assert out == [(i, i * i) for i in range(5)]
    assert "retrying task 3" in capsys.readouterr().err


def test_failure_names_the_task_and_its_seed():
    labels = ["shard 0 (seed 111)", "shard 1 (seed 222)"]
    with pytest.raises(tasks.TaskFailed, match=r"shard 0 \(seed 111\) failed 2 time"):
        list(tasks.run_tasks(always_fails, [0, 1], labels, workers=1, retries=1, progress=False))


def test_data_errors_are_not_retried():
    _calls.pop("bad", None)
    with pytest.raises(DataError, match="no jet passed"):
        list(tasks.run_tasks(bad_data, [0], scheduler="serial", retries=3, progress=False))
    assert _calls["bad"] == 1


def test_local_cluster_runs_every_task_once_and_retries(dask_scheduler):
    out = sorted(tasks.run_tasks(flaky_square, [(x, f"c{x}") for x in range(4)], scheduler=dask_scheduler))
    assert out == [(i, i * i) for i in range(4)]


def test_scheduler_address_is_checked():
    with pytest.raises(DataError, match="scheduler address"):
        tasks.check_scheduler("nonsense")
    assert tasks.check_scheduler("tcp://127.0.0.1:8786")


def _arrays(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[...]) if isinstance(obj, h5py.Dataset) else None)
        return out, f.attrs["label_names"]


def test_generated_file_is_the_same_serially_and_on_a_local_cluster(tmp_path, dask_scheduler):
    from preprocessing.events.generator import generate_to_file

    # 160 QCD jets in 4 shards; the 2-worker run also streams shards that finish out of order
    common = dict(process_name="qcd", n_jets=160, seed=31, shard_jets=40, progress=False)
    serial = generate_to_file(tmp_path / "serial.h5", scheduler="serial", **common)
    local = generate_to_file(tmp_path / "local.h5", scheduler=dask_scheduler, cache_dir=tmp_path / "cache", **common)
    assert serial[1:] == local[1:]
    a, names_a = _arrays(serial[0])
    b, names_b = _arrays(local[0])
    assert sorted(a) == sorted(b) and names_a == names_b
    for name in a:
        assert a[name].dtype == b[name].dtype
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert len(list((tmp_path / "cache").glob("shard-*.npz"))) == 4  # kept for a rerun to resume


def test_commands_refuse_a_bad_scheduler_before_any_work(tmp_path, capsys):
    from preprocessing.generate import main as generate_main
    from training.fit import main as fit_main

    out = tmp_path / "x.h5"
    assert generate_main(["--process", "qcd", "--n-jets", "4", "--out", str(out), "--scheduler", "nowhere"]) == 2
    assert "--scheduler 'nowhere'" in capsys.readouterr().err
    assert fit_main(["--model", "dvae", "--export-dir", str(tmp_path), "--scheduler", "nowhere"]) == 2
    assert "--scheduler 'nowhere'" in capsys.readouterr().err
    assert not out.exists()
