"""``kill -9`` of the commands that write files leaves nothing broken (issue 27, class 4).

Each row starts one command as a subprocess on tiny inputs, SIGKILLs it while it writes, then
checks: every file that was there before (the inputs, an earlier OUT, an earlier export version)
is byte-identical; nothing new looks like an output (every new path lies under a hidden name: a
``.OUT.*.part`` temporary, the ``.OUT.shards/`` folder, ``.runs/`` or an export's ``.tmp-*``
folder, which TF Serving ignores); and the same command run again succeeds and writes a complete
output (generate resuming from its kept shards).

Where the kill lands: ``write``: in the middle of the first write() to the named temporary file (half
of the bytes are on disk); ``rename``: just before the rename that publishes a complete temporary
(the worst moment: the file is whole but not yet in place). Both stop the process at that point
with SIGSTOP from a small launcher around the real command (``LAUNCHER``), and the test then sends
SIGKILL, so the point is exact. ``real``: the plain command, SIGKILLed as soon as a file appears
(a shard, OUT's temporary being filled by libhdf5, the run's checkpoint folder).

What a kill leaves (a SIGKILL cannot be cleaned up after): the hidden temporaries named above stay
until removed by hand; a rerun does not need them gone. About 2 minutes on 2 shared cores (four
of the rows start TensorFlow twice): marked slow.
"""

import pathlib
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from tests.full_disk import state

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]

# python -c LAUNCHER MODE REGEX MODULE ARGS...: runs MODULE as __main__ and stops itself (SIGSTOP) in
# the middle of the first write() to a file whose path matches REGEX (MODE write), or just before
# the first os.replace/os.rename onto a path matching REGEX (MODE rename)
LAUNCHER = r"""
import builtins, os, re, runpy, signal, sys
mode, pattern, module = sys.argv[1:4]
sys.argv = [module, *sys.argv[4:]]
match = re.compile(pattern).fullmatch

def stop():
    os.kill(os.getpid(), signal.SIGSTOP)

if mode == "rename":
    def stopping(real):
        def rename(src, dst, *args, **kwargs):
            if match(os.fspath(dst)):
                stop()
            return real(src, dst, *args, **kwargs)
        return rename
    os.replace, os.rename = stopping(os.replace), stopping(os.rename)
else:
    real_open = builtins.open

    class Half:
        def __init__(self, file):
            self.file = file
        def __getattr__(self, name):
            return getattr(self.file, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.file.close()
        def write(self, data):
            data = bytes(data)
            self.file.write(data[: len(data) // 2])
            self.file.flush()
            os.fsync(self.file.fileno())
            stop()
            return self.file.write(data[len(data) // 2 :])

    def opening(path, mode="r", *args, **kwargs):
        file = real_open(path, mode, *args, **kwargs)
        return Half(file) if "w" in mode and match(os.fspath(path)) else file
    builtins.open = opening
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def _stopped(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
    except (FileNotFoundError, IndexError):
        return False


def kill_while_writing(module, args, how, where, log):
    """Start `module` with `args`, SIGKILL it at the point `how` ('write', 'rename': `where` is a regex
    of the path; 'real': `where` is a callable that is true once the point is reached); True when the
    process was still running when killed."""
    if how == "real":
        cmd = [sys.executable, "-m", module, *args]
    else:
        cmd = [sys.executable, "-c", LAUNCHER, how, where, module, *args]
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if _stopped(proc.pid) if how != "real" else where():
                break
            time.sleep(0.002)
        running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return running


def _hidden(path):
    return any(part.startswith(".") for part in pathlib.PurePath(path).parts)


# -- the inputs of each command -----------------------------------------------------------------
def _toptagging_table(path, n=300, seed=3):
    import pandas as pd

    from preprocessing.jets import physics

    rng = np.random.default_rng(seed)
    real = rng.integers(3, 40, n)
    c = np.zeros((n, 200, 4))
    for i in range(n):
        c[i, : real[i]] = physics.from_pt_eta_phi(
            np.sort(rng.uniform(1, 200, real[i]))[::-1], rng.normal(0, 0.3, real[i]), rng.normal(0, 0.3, real[i])
        )
    cols = {f"{k}_{i}": c[:, i, j] for i in range(200) for j, k in enumerate(("E", "PX", "PY", "PZ"))}
    pd.DataFrame({**cols, "truthE": np.ones(n), "is_signal_new": rng.integers(0, 2, n)}).to_hdf(
        path, key="table", format="table"
    )
    return path


def _events(path):
    from preprocessing.samples.format import write_sample
    from tests.synthetic import event_sample

    return write_sample(path, event_sample(300, 0.5, 1))


def setup_generate(tmp):
    out = tmp / "qcd.h5"
    args = ["--process", "qcd", "--n-jets", "40", "--shard-jets", "8", "--seed", "17", "--out", str(out)]
    return args + ["--workers", "1"], out


def setup_convert(tmp):
    out = tmp / "top.h5"
    return [str(_toptagging_table(tmp / "table.h5")), "--out", str(out), "--chunk", "25"], out


def setup_score(tmp):
    from preprocessing.samples.format import read_sample
    from tests.serving.conftest import export_dvae

    data = _events(tmp / "events.h5")
    export_dvae(tmp / "exported" / "dvae", read_sample(data), warmup=False)
    out = tmp / "scores.h5"
    return ["--model", str(tmp / "exported" / "dvae"), "--data", str(data), "--out", str(out)], out


def setup_fit(tmp):
    data = _events(tmp / "events.h5")
    earlier = tmp / "exported" / "dvae" / "1"  # an earlier export, which no kill may touch
    earlier.mkdir(parents=True)
    (earlier / "saved_model.pb").write_bytes(b"an earlier export")
    args = ["--model", "dvae", "--data", str(data), "--export-dir", str(tmp / "exported"), "--epochs", "1"]
    return args, earlier.parent


def _appears(pattern_of):
    return lambda tmp, out: lambda: any(tmp.glob(pattern_of(out)))


CASES = {  # id: (module, setup, how, where: a regex of the path or, for 'real', a callable(tmp, out) -> condition)
    "generate-mid-shard-write": ("preprocessing.generate", setup_generate, "write", r".*/\.shard-000001-.*\.part"),
    "generate-after-a-shard": (
        "preprocessing.generate",
        setup_generate,
        "real",
        _appears(lambda out: f".{out.name}.shards/shard-*.npz"),
    ),
    "generate-before-publishing": ("preprocessing.generate", setup_generate, "rename", r".*/qcd\.h5"),
    "convert-while-hdf5-writes": (
        "preprocessing.convert",
        setup_convert,
        "real",
        _appears(lambda out: f".{out.name}.*"),
    ),
    "convert-before-publishing": ("preprocessing.convert", setup_convert, "rename", r".*/top\.h5"),
    "score-mid-write": ("training.score", setup_score, "write", r".*/\.scores\.h5\..*\.part"),
    "score-before-publishing": ("training.score", setup_score, "rename", r".*/scores\.h5"),
    "fit-while-training": ("training.fit", setup_fit, "real", _appears(lambda out: "exported/.runs/dvae-*/member0")),
    "fit-before-publishing-the-export": ("training.fit", setup_fit, "rename", r".*/exported/dvae/\d+"),
}


def _main(module):
    import importlib

    return importlib.import_module(module).main


def _check_output(module, out):
    """The rerun's output is complete: a readable sample, scores for every row, a loadable export."""
    if module in ("preprocessing.generate", "preprocessing.convert"):
        from preprocessing.samples.format import read_sample

        assert len(read_sample(out).labels) == (40 if module == "preprocessing.generate" else 300)
    elif module == "training.score":
        with h5py.File(out, "r") as f:
            assert len(f["labels"]) == 600 and np.isfinite(f["scores/anomaly_score"][:]).all()
    else:
        assert (out / "2" / "saved_model.pb").is_file()  # the next version; version 1 untouched


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_killed_command_leaves_nothing_broken_and_runs_again(case, tmp_path):
    module, setup, how, where = CASES[case]
    args, out = setup(tmp_path)
    if module != "training.fit":
        out.write_bytes(b"an earlier output")  # OUT from before: the kill must leave it as it was
    before = state(tmp_path)

    point = where(tmp_path, out) if how == "real" else where
    killed = kill_while_writing(module, args, how, point, tmp_path.parent / f"{case}.log")
    assert killed, (tmp_path.parent / f"{case}.log").read_text()[-3000:]

    after = state(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before  # every earlier file byte-identical
    new = sorted(set(after) - set(before))
    assert all(_hidden(p) for p in new), new  # nothing new outside hidden temporaries
    if how == "rename":  # the complete temporary was there, not yet published
        assert any(after[p] != "folder" for p in new), new
    if how == "write":  # half of the first write was on disk
        assert any(p.endswith(".part") and after[p] != "folder" for p in new), new

    assert _main(module)(args) == 0  # the same command again
    _check_output(module, out)
    rerun = state(tmp_path)
    replaced = str(out.relative_to(tmp_path))  # OUT is the rerun's to replace; an export gets a new version
    assert {k: v for k, v in rerun.items() if k in before and k != replaced} == {
        k: v for k, v in before.items() if k != replaced
    }
    leftovers = sorted(set(rerun) - set(before) - {replaced})
    if module == "training.fit":
        leftovers = [p for p in leftovers if not p.startswith("exported/dvae/2")]
    assert all(_hidden(p) for p in leftovers), leftovers
    print(f"{case}: left after the rerun: {[p for p in leftovers if rerun[p] != 'folder'] or 'nothing'}")
