"""``preprocessing.convert`` and ``preprocessing.generate`` on a full disk (issue 27, class 4): one
line ``error: OUT: reason``, exit 2, no traceback, no ``.part`` file, shard cache or partial output
left, and a previous OUT byte-identical. Before, a failed write surfaced as libhdf5 errors from
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

from preprocessing import convert, generate
from preprocessing.jets import physics
from preprocessing.samples import format as sample_format
from tests.full_disk import NO_SPACE, TOO_LARGE, FullDisk, file_size_limit, state

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIMIT = 100_000  # bytes: the 4-jet shard of generate fits (17 kB), neither sample file does (330 kB)


@pytest.fixture(scope="module")
def toptagging_table(tmp_path_factory):
    """A 30-jet top-tagging reference table (the input of convert), outside the output folder."""
    rng = np.random.default_rng(3)
    n, real = 30, rng.integers(3, 40, 30)
    c = np.zeros((n, 200, 4))
    for i in range(n):
        pt = np.sort(rng.uniform(1, 200, real[i]))[::-1]
        c[i, : real[i]] = physics.from_pt_eta_phi(pt, rng.normal(0, 0.3, real[i]), rng.normal(0, 0.3, real[i]))
    cols = {f"{k}_{i}": c[:, i, j] for i in range(200) for j, k in enumerate(("E", "PX", "PY", "PZ"))}
    src = tmp_path_factory.mktemp("input") / "test.h5"
    pd.DataFrame({**cols, "is_signal_new": rng.integers(0, 2, n)}).to_hdf(src, key="table", format="table")
    return src


COMMANDS = {
    "convert": lambda src, out: ["preprocessing.convert", str(src), "--out", str(out), "--chunk", "7"],
    "generate": lambda src, out: [
        "preprocessing.generate",
        *("--process", "qcd", "--n-jets", "4", "--seed", "2", "--scheduler", "serial", "--out", str(out)),
    ],
}
MAINS = {"convert": convert.main, "generate": generate.main}


@pytest.mark.parametrize("previous", [None, b"the previous sample"], ids=["new", "previous"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_no_space_left_is_one_line(command, previous, toptagging_table, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out.h5"
    if previous is not None:
        out.write_bytes(previous)
    before = state(tmp_path)
    monkeypatch.setattr(sample_format, "open", FullDisk, raising=False)  # the sample files' writer
    code = MAINS[command](COMMANDS[command](toptagging_table, out)[1:])
    err = capsys.readouterr().err
    assert code == 2
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: {out}: {NO_SPACE}; free some space and run again"
    ]
    assert "Traceback" not in err
    assert state(tmp_path) == before  # no .part, no shard cache, a previous OUT unchanged


@pytest.mark.parametrize("previous", [None, b"the previous sample"], ids=["new", "previous"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_file_size_limit_is_one_line_and_no_crash(command, previous, toptagging_table, tmp_path):
    out = tmp_path / "out.h5"
    if previous is not None:
        out.write_bytes(previous)
    before = state(tmp_path)
    cmd = [sys.executable, "-m", *COMMANDS[command](toptagging_table, out)]
    run = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=file_size_limit(LIMIT), timeout=300, cwd=ROOT)
    assert run.returncode == 2, run.stderr[-3000:]
    assert run.stderr.rstrip().splitlines()[-1].split("\r")[-1] == f"error: {out}: {TOO_LARGE}"
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr
    assert state(tmp_path) == before


def test_the_same_commands_write_their_files_without_a_limit(toptagging_table, tmp_path):
    """The table's commands are sound: without a full disk each writes its sample."""
    for command in sorted(COMMANDS):
        out = tmp_path / f"{command}.h5"
        assert MAINS[command](COMMANDS[command](toptagging_table, out)[1:]) == 0
        assert len(sample_format.read_sample(out)) in (4, 30)
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
