"""Distributed work fails loudly and promptly (issue 27, section 3): a Dask scheduler or its only
worker killed mid-run is one error naming the address and the unfinished tasks within the stated
bound (``preprocessing.tasks``; ``ANOMJET_LOST_AFTER_S``, 60 s by default, set to 3 s here), and
``fit --ensemble`` keeps its finished members so that a rerun resumes; ``--distribute
multi-worker`` with a peer that never starts says what it waits for, stops at its timeout
(``ANOMJET_PEER_TIMEOUT_S``) with one line, and stops on SIGINT/SIGTERM (``training.distribute``).
Real scheduler and worker processes are started and killed."""

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from preprocessing import tasks
from preprocessing.samples.format import write_sample
from tests.preprocessing.samples.test_mix import _events
from tests.synthetic import event_sample
from tests.test_command_lines import _snapshot, call
from tests.training.test_distribute import _free_ports, _tf_config
from training import fit

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIMIT = 3  # ANOMJET_LOST_AFTER_S of these tests


def sleepy(task):
    """A task of about one second (module level: workers import it by name)."""
    time.sleep(1.0)
    return task


def _wait_for_output(proc, text, timeout):
    """Lines of `proc`'s stderr up to the first that holds `text` (TimeoutError after `timeout` s)."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return seen
    raise TimeoutError(f"{text!r} not seen in {timeout} s: {''.join(seen)}")


@contextlib.contextmanager
def cluster():
    """(address, scheduler process, start_worker) of a scheduler on a free port; start_worker()
    starts one single-threaded worker process (no nanny, so killing it loses it) and waits for it."""
    (port,) = _free_ports(1)
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), **tasks.WORKER_ENV, "TF_CPP_MIN_LOG_LEVEL": "3"}
    py = sys.executable
    procs = [
        subprocess.Popen(
            [py, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port)]
            + ["--no-dashboard"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]

    def start_worker():
        from distributed import Client

        worker = subprocess.Popen(
            [py, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(worker)
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(len([p for p in procs[1:] if p.poll() is None]), timeout=60)
        return worker

    try:
        yield address, procs[0], start_worker
    finally:
        for p in procs:
            p.kill()
            p.wait()


@pytest.mark.parametrize(
    "kill, error",
    [
        ("scheduler", "the Dask scheduler at {a}: lost the connection to it for 3 s; "),
        ("worker", "the Dask scheduler at {a}: it has had no worker for 3 s; "),
    ],
    ids=["scheduler killed", "only worker killed"],
)
def test_a_killed_scheduler_or_only_worker_is_one_error_within_the_bound(kill, error, monkeypatch, capsys):
    monkeypatch.setenv("ANOMJET_LOST_AFTER_S", str(LIMIT))
    with cluster() as (address, scheduler, start_worker):
        worker = start_worker()
        got, start = [], None
        with pytest.raises(tasks.TaskFailed) as failed:
            for _, result in tasks.run_tasks(sleepy, [10, 11, 12, 13], scheduler=address, progress=False):
                got.append(result)
                if start is None:  # the first result is back: kill while the second task runs
                    (scheduler if kill == "scheduler" else worker).kill()
                    start = time.monotonic()
        seconds = time.monotonic() - start
    assert got == [10]
    unfinished = "unfinished: task 1, task 2, task 3 (1 of 4 finished)"
    assert str(failed.value) == error.format(a=address) + unfinished
    assert LIMIT <= seconds < LIMIT + 10  # bounded: the limit, one poll and the client's close
    err = capsys.readouterr().err
    assert "NoneType" not in err and "Traceback" not in err and "retrying" not in err
    waiting = "is not answering" if kill == "scheduler" else "has no worker"
    assert f"the Dask scheduler at {address} {waiting}: waiting up to 3 s for it to come back" in err


@pytest.mark.slow  # two worker processes import TensorFlow and train three small members: about a minute
def test_fit_ensemble_whose_only_worker_dies_keeps_finished_members_and_resumes(tmp_path, monkeypatch, capsys):
    from training import members

    monkeypatch.setenv("ANOMJET_LOST_AFTER_S", str(LIMIT))
    data = tmp_path / "data"
    write_sample(data / "events.h5", event_sample(600, 0.0, 3))
    before = _snapshot(data)
    argv = f"--model bumphunt_vae --data {data}/events.h5 --export-dir {tmp_path}/e --epochs 1 --ensemble 3".split()
    with cluster() as (address, _, start_worker):
        worker = start_worker()
        run_tasks = members.run_tasks

        def kill_after_the_first(*args, **kwargs):  # the real run_tasks; the worker dies once a member is back
            for k, item in enumerate(run_tasks(*args, **kwargs)):
                yield item
                if k == 0:
                    worker.kill()

        monkeypatch.setattr(members, "run_tasks", kill_after_the_first)
        code, out, err = call(fit.main, [*argv, "--scheduler", address], capsys)
        kept = list((tmp_path / "e" / ".runs").glob("bumphunt_vae-members-*"))
        assert code == 2 and len(kept) == 1, err
        (keep,) = kept
        assert code == 2 and out == "" and "Traceback" not in err, err
        assert [line for line in err.splitlines() if line.startswith("error:")] == [
            f"error: the Dask scheduler at {address}: it has had no worker for 3 s; unfinished: member 1 (seed 1), "
            f"member 2 (seed 2) (1 of 3 finished); 1 finished member(s) kept in {keep}: rerun the same command to "
            "resume"
        ]
        assert sorted(p.name for p in keep.iterdir()) == ["member0-seed0.pkl"]
        assert not (tmp_path / "e" / "bumphunt_vae").exists()  # nothing exported

        monkeypatch.setattr(members, "run_tasks", run_tasks)
        start_worker()
        code, out, err = call(fit.main, [*argv, "--scheduler", address], capsys)
    assert code == 0, err
    assert f"1 finished member(s) kept from an earlier run in {keep}" in err
    assert not keep.exists() and (tmp_path / "e" / "bumphunt_vae" / "1").is_dir()
    assert _snapshot(data) == before


@pytest.fixture(scope="module")
def three_classes(tmp_path_factory):
    d = tmp_path_factory.mktemp("classes")
    for k, (label, mass) in enumerate((("qcd", 50.0), ("w", 80.0), ("top", 170.0))):
        write_sample(d / f"{label}.h5", _events(60, label, mass, k))
    return d


def _fit_waiting_for_a_peer(folder, timeout_s=None):
    ports = _free_ports(2)
    env = {**os.environ, "TF_CONFIG": _tf_config(ports, 0), "TF_CPP_MIN_LOG_LEVEL": "3"}
    if timeout_s is not None:
        env["ANOMJET_PEER_TIMEOUT_S"] = str(timeout_s)
    data = [str(folder / f"{c}.h5") for c in ("qcd", "w", "top")]
    argv = ["--model", "fcn", "--data", *data, "--distribute", "multi-worker", "--export-dir", str(folder / "e")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "training.fit", *argv, "--epochs", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, ports


# (what happens while worker 0 waits for worker 1, which never starts; exit status; the error line)
PEER_CASES = [
    (
        "timeout",
        2,
        "error: --distribute multi-worker: worker 1 at 127.0.0.1:{p1} (TF_CONFIG) did not start within "
        "3 s; start the same command there with its TF_CONFIG task (ANOMJET_PEER_TIMEOUT_S sets the wait)",
    ),
    ("SIGTERM", 143, "error: --distribute multi-worker: stopped by SIGTERM"),
    ("SIGINT", 130, "error: --distribute multi-worker: stopped by SIGINT"),
]


@pytest.mark.parametrize("event, status, line", PEER_CASES, ids=[c[0] for c in PEER_CASES])
def test_multi_worker_with_a_peer_that_never_starts_stops_with_one_line(event, status, line, three_classes):
    before = _snapshot(three_classes)
    proc, ports = _fit_waiting_for_a_peer(three_classes, LIMIT if event == "timeout" else None)
    try:
        seen = _wait_for_output(proc, "waiting up to", timeout=120)
        if event != "timeout":
            proc.send_signal(getattr(signal, event))
        _, rest = proc.communicate(timeout=60)
    finally:
        proc.kill()
    err = "".join(seen) + rest
    assert proc.returncode == status, err
    assert "Traceback" not in err
    wait = 3 if event == "timeout" else 300
    assert (
        f"--distribute multi-worker (worker 0 at 127.0.0.1:{ports[0]}): waiting up to {wait} s for worker 1 at "
        f"127.0.0.1:{ports[1]} (TF_CONFIG) to start" in err
    )
    assert [x for x in err.splitlines() if x.startswith("error:")] == [line.format(p1=ports[1])]
    assert _snapshot(three_classes) == before
