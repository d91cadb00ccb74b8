"""``preprocessing.convert``, ``preprocessing.generate`` (its sample and its shards) and
``preprocessing.mix`` on a full disk (issue 27, class 4): one line ``error: OUT: reason``, exit 2, no
traceback, no ``.part`` file, shard cache or partial output left, and a previous OUT byte-identical. Before, a failed write surfaced as libhdf5 errors from
garbage-collected handles ("Can't decrement id ref count ... File too large"), the ``.part`` file
stayed and the interpreter segfaulted at exit (139).

Each command meets the full disk twice: in this process through a patched writer (ENOSPC), and in
a fresh process whose files cannot grow past 100 kB (RLIMIT_FSIZE, a real failing write)."""

import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from preprocessing import convert, generate, mix
from preprocessing.events import shards
from preprocessing.jets import physics
from preprocessing.samples import format as sample_format
from tests.full_disk import NO_SPACE, TOO_LARGE, FullDisk, file_size_limit, state
from tests.preprocessing.samples.test_mix import _events

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIMIT = 100_000  # bytes: the 4-jet shard of generate fits (17 kB), no sample file does (150-330 kB)
SHARD_LIMIT = 5_000  # bytes: not even the shard fits


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """{"table": a 30-jet top-tagging reference table (the input of convert), "background",
    "signal": sample files (the inputs of mix)}, outside the output folder."""
    folder = tmp_path_factory.mktemp("input")
    background = sample_format.write_sample(folder / "b.h5", _events(1000, "qcd", 50.0, 1))
    signal = sample_format.write_sample(folder / "s.h5", _events(200, "signal", 500.0, 2))
    return {"table": _toptagging_table(folder / "test.h5"), "background": background, "signal": signal}


def _toptagging_table(src):
    rng = np.random.default_rng(3)
    n, real = 30, rng.integers(3, 40, 30)
    c = np.zeros((n, 200, 4))
    for i in range(n):
        pt = np.sort(rng.uniform(1, 200, real[i]))[::-1]
        c[i, : real[i]] = physics.from_pt_eta_phi(pt, rng.normal(0, 0.3, real[i]), rng.normal(0, 0.3, real[i]))
    cols = {f"{k}_{i}": c[:, i, j] for i in range(200) for j, k in enumerate(("E", "PX", "PY", "PZ"))}
    pd.DataFrame({**cols, "is_signal_new": rng.integers(0, 2, n)}).to_hdf(src, key="table", format="table")
    return src


COMMANDS = {
    "convert": lambda src, out: ["preprocessing.convert", str(src["table"]), "--out", str(out), "--chunk", "7"],
    "generate": lambda src, out: [
        "preprocessing.generate",
        *("--process", "qcd", "--n-jets", "4", "--seed", "2", "--scheduler", "serial", "--out", str(out)),
    ],
    "mix": lambda src, out: [
        "preprocessing.mix",
        *("--background", str(src["background"]), "--signal", str(src["signal"]), "--fraction", "0.1"),
        *("--out", str(out)),
    ],
}
MAINS = {"convert": convert.main, "generate": generate.main, "mix": mix.main}
# (command, module whose writes meet the full disk): sample files, and the generator's shards
WRITERS = [("convert", sample_format), ("generate", sample_format), ("generate", shards), ("mix", sample_format)]


@pytest.mark.parametrize("previous", [None, b"the previous sample"], ids=["new", "previous"])
@pytest.mark.parametrize("command, writer", WRITERS, ids=[f"{c}-{w.__name__.split('.')[-1]}" for c, w in WRITERS])
def test_no_space_left_is_one_line(command, writer, previous, inputs, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out.h5"
    if previous is not None:
        out.write_bytes(previous)
    before = state(tmp_path)
    monkeypatch.setattr(writer, "open", FullDisk, raising=False)  # the sample files' or the shards' writer
    code = MAINS[command](COMMANDS[command](inputs, out)[1:])
    err = capsys.readouterr().err
    assert code == 2
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: {out}: {NO_SPACE}; free some space and run again"
    ]
    assert "Traceback" not in err
    assert state(tmp_path) == before  # no .part, no shard cache, a previous OUT unchanged


LIMITS = [("convert", LIMIT), ("generate", LIMIT), ("generate", SHARD_LIMIT), ("mix", LIMIT)]


@pytest.mark.parametrize("previous", [None, b"the previous sample"], ids=["new", "previous"])
@pytest.mark.parametrize("command, limit", LIMITS, ids=[f"{c}-{n}" for c, n in LIMITS])
def test_a_file_size_limit_is_one_line_and_no_crash(command, limit, previous, inputs, tmp_path):
    out = tmp_path / "out.h5"
    if previous is not None:
        out.write_bytes(previous)
    before = state(tmp_path)
    cmd = [sys.executable, "-m", *COMMANDS[command](inputs, out)]
    run = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=file_size_limit(limit), timeout=300, cwd=ROOT)
    assert run.returncode == 2, run.stderr[-3000:]
    assert run.stderr.rstrip().splitlines()[-1].split("\r")[-1] == f"error: {out}: {TOO_LARGE}"
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr
    assert state(tmp_path) == before


def test_the_same_commands_write_their_files_without_a_limit(inputs, tmp_path):
    """The table's commands are sound: without a full disk each writes its sample."""
    for command in sorted(COMMANDS):
        out = tmp_path / f"{command}.h5"
        assert MAINS[command](COMMANDS[command](inputs, out)[1:]) == 0
        assert len(sample_format.read_sample(out)) == {"convert": 30, "generate": 4, "mix": 2222}[command]
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
