"""Every command line over a table of bad inputs: exit status 2, one ``error:`` line naming the
flag, file or value, no traceback, and every file that was there before byte-identical after
(and no file added). Most cases call ``main(argv)`` in this process; the start-up checks that
need a fresh interpreter (no TensorFlow import for a typo, no error-level TensorFlow log line)
run the command as a subprocess."""

import errno
import hashlib
import os
import pathlib
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from benchmarks import dvae as training_benchmark
from benchmarks import generation as benchmark
from benchmarks import representations as benchmark_representations
from evaluation import characterise, show_inputs
from preprocessing import convert, generate, inspect, mix
from preprocessing.errors import run_command
from preprocessing.samples.format import write_sample
from serving import serve
from tests.preprocessing.samples.test_mix import _events
from training import fit, score

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Input files of every kind the commands read, and an export folder with one (fake) version."""
    d = tmp_path_factory.mktemp("inputs")
    write_sample(d / "b.h5", _events(180, "qcd", 50.0, 1))
    write_sample(d / "s.h5", _events(40, "signal", 500.0, 2))
    (d / "copy.h5").write_bytes((d / "b.h5").read_bytes())  # the same jets under another name
    os.symlink(d / "b.h5", d / "link.h5")
    os.link(d / "b.h5", d / "hard.h5")
    # a top-tagging table whose second jet has a constituent of negative energy
    p4 = {f"{k}_{i}": np.array([50.0, 40.0, 30.0]) / (i + 1) for i in range(2) for k in ("E", "PX", "PY", "PZ")}
    p4["PX_0"], p4["PY_0"], p4["PZ_0"] = np.array([30.0, 20.0, 10.0]), np.zeros(3), np.zeros(3)
    p4["E_1"] = np.array([10.0, -5.0, 8.0])
    pd.DataFrame({**p4, "is_signal_new": np.array([0, 1, 0])}).to_hdf(d / "negative_e.h5", key="table", format="table")
    (d / "exported" / "dvae" / "1").mkdir(parents=True)
    (d / "exported" / "dvae" / "1" / "saved_model.pb").write_bytes(b"not really")
    (d / "exported" / "empty").mkdir()
    (d / "out").mkdir()
    return d


def _snapshot(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
        if not p.is_symlink()
    }


def call(main, argv, capsys):
    """(exit status, stdout, stderr) of a command's main, argparse's SystemExit included."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


MIX = "--background {d}/b.h5 --signal {d}/s.h5 --fraction 0.1"
FIT = "--model dvae --data {d}/b.h5 --export-dir {d}/e"
SCORE = "--model {d}/exported/dvae --data {d}/b.h5"

# (command, arguments, what the error line must name)
CASES = [
    # output = input, a folder where a file goes, places that cannot be written
    (mix, MIX + " --out {d}/b.h5", ["--out", "b.h5", "--background"]),
    (mix, MIX + " --out {d}/s.h5", ["--out", "s.h5", "--signal"]),
    (mix, MIX + " --out {d}/link.h5", ["--out", "link.h5", "b.h5"]),
    (mix, MIX + " --out {d}/hard.h5", ["--out", "hard.h5", "b.h5"]),
    (mix, MIX + " --out {d}/out", ["--out", "out", "folder"]),
    (mix, MIX + " --out {d}/b.h5/m.h5", ["--out", "b.h5", "is a file"]),
    (mix, MIX + " --out /proc/no/such/m.h5", ["--out", "/proc/no/such/m.h5", "cannot write"]),
    (convert, "{d}/negative_e.h5 --out {d}/negative_e.h5", ["--out", "negative_e.h5", "input"]),
    (convert, "{d}/negative_e.h5 --out {d}/out", ["--out", "folder"]),
    (score, SCORE + " --out {d}/b.h5", ["--out", "b.h5", "--data"]),
    (score, SCORE + " --out {d}/exported/dvae/1/scores.h5", ["--out", "scores.h5", "--model"]),
    (score, SCORE + " --out {d}/out", ["--out", "folder"]),
    (generate, "--process qcd --n-jets 5 --out {d}/out", ["--out", "folder"]),
    (fit, "--model dvae --data {d}/b.h5 --export-dir {d}/b.h5", ["--export-dir", "b.h5", "is a file"]),
    (fit, "--model dvae --data {d}/b.h5 --export-dir /proc/no/e", ["--export-dir", "/proc/no/e"]),
    (show_inputs, "--kind jet_image --data {d}/b.h5 --out {d}/s.h5", ["--out", "s.h5", "is a file"]),
    (characterise, "--encoder {d}/exported/dvae --data {d}/b.h5 --out {d}/s.h5", ["--out", "s.h5"]),
    # values out of range or of the wrong type
    (fit, FIT + " --batch-size 0", ["--batch-size", "'0'"]),
    (fit, FIT + " --epochs 0", ["--epochs", "'0'"]),
    (fit, FIT + " --seed -1", ["--seed", "'-1'"]),
    (fit, FIT + " --n-jets 5", ["--n-jets", "'5'"]),
    (fit, FIT + " --n-jets many", ["--n-jets", "'many'"]),
    (fit, FIT + " --ensemble 0", ["--ensemble", "'0'"]),
    (fit, "--model dvae --workers 0", ["--workers", "'0'"]),
    (fit, FIT + " --set beta_kl=abc", ["--set", "beta_kl", "abc", "float"]),
    (fit, FIT + " --set hidden_units=1.5", ["--set", "hidden_units", "1.5", "int"]),
    (fit, FIT + " --set epochs=0", ["epochs", "0"]),
    (fit, FIT + " --set batch_size=0", ["batch_size", "0"]),
    (fit, FIT + " --epoch 3", ["--epoch", "--epochs"]),  # a typo is not an abbreviation
    (fit, "--model dvae --data {d}/missing.h5", ["--data", "missing.h5"]),
    (fit, "--model dvae --data {d}/out", ["--data", "out", "folder"]),
    (generate, "--process qcd --n-jets 0 --out {d}/q.h5", ["--n-jets", "'0'"]),
    (generate, "--process qcd --n-jets 5 --seed -1 --out {d}/q.h5", ["--seed", "'-1'"]),
    (generate, "--process qcd --n-jets 5 --workers 0 --out {d}/q.h5", ["--workers", "'0'"]),
    (generate, "--process qcd --n-jets 5 --jet-radius 0 --out {d}/q.h5", ["--jet-radius", "'0'"]),
    (generate, "--process qcd --n-jets 5 --shard-jets 0 --out {d}/q.h5", ["--shard-jets", "'0'"]),
    (generate, "--process w --n-jets 5 --w-mass -80 --out {d}/q.h5", ["--w-mass", "'-80'"]),
    (generate, "--process qcd --n-jets 5 --pt-max nan --out {d}/q.h5", ["--pt-max", "'nan'"]),
    (convert, "{d}/negative_e.h5 --out {d}/c.h5 --chunk 0", ["--chunk", "'0'"]),
    (convert, "{d}/negative_e.h5 --out {d}/c.h5 --jet-radius 0", ["--jet-radius", "'0'"]),
    (convert, "{d}/negative_e.h5 --out {d}/c.h5 --max-constituents 0", ["--max-constituents", "'0'"]),
    (convert, "{d}/missing.h5 --out {d}/c.h5", ["missing.h5"]),
    (mix, MIX.replace("0.1", "1") + " --out {d}/m.h5", ["--fraction", "'1'"]),
    (mix, MIX.replace("0.1", "nan") + " --out {d}/m.h5", ["--fraction", "'nan'"]),
    (mix, MIX + " --seed -1 --out {d}/m.h5", ["--seed", "'-1'"]),
    (mix, MIX + " --n-background 0 --out {d}/m.h5", ["--n-background", "'0'"]),
    (mix, MIX + " --frac 0.1 --out {d}/m.h5", ["--frac", "--fraction"]),
    (score, SCORE + " --version 0 --out {d}/x.h5", ["--version", "'0'"]),
    (score, SCORE + " --version 7 --out {d}/x.h5", ["--version", "7"]),
    (score, "--model {d}/nope --data {d}/b.h5 --out {d}/x.h5", ["--model", "nope"]),
    (score, "--model {d}/exported/dvae --data {d}/nope.h5 --out {d}/x.h5", ["--data", "nope.h5"]),
    (serve, "--model-dir {d}/exported/dvae --port 70000", ["--port", "'70000'"]),
    (serve, "--model-dir {d}/exported/nope", ["--model-dir", "nope"]),
    (serve, "--model-dir {d}/exported/empty", ["--model-dir", "empty"]),
    (inspect, "{d}/b.h5 --indent -1", ["--indent", "'-1'"]),
    (inspect, "{d}/negative_e.h5", ["negative_e.h5", "not an anomalous-jet-sample file"]),
    (show_inputs, "--kind jet_image --data {d}/b.h5 --out {d}/o --max-jets 0", ["--max-jets", "'0'"]),
    (show_inputs, "--kind jet_image --data {d}/nope.h5 --out {d}/o", ["--data", "nope.h5"]),
    (characterise, "--encoder {d}/exported/dvae --data {d}/b.h5 --epochs 0", ["--epochs", "'0'"]),
    (characterise, "--encoder {d}/nope --data {d}/b.h5", ["--encoder", "nope"]),
    (benchmark, "--events 0", ["--events", "'0'"]),
    (benchmark_representations, "--jets 1", ["--jets", "'1'"]),
    (benchmark_representations, "--data {d}/nope.h5", ["--data", "nope.h5"]),
    (training_benchmark, "--epochs 0", ["--epochs", "'0'"]),
    (training_benchmark, "--data {d}/nope.h5", ["--data", "nope.h5"]),
    # inputs that would silently give wrong numbers
    (fit, "--model dvae --data {d}/b.h5 {d}/b.h5 --export-dir {d}/e", ["--data", "b.h5", "twice"]),
    (fit, "--model dvae --data {d}/b.h5 {d}/link.h5 --export-dir {d}/e", ["--data", "link.h5", "twice"]),
    (fit, "--model dvae --data {d}/b.h5 {d}/copy.h5 --export-dir {d}/e", ["b.h5", "copy.h5", "twice"]),
    (mix, MIX.replace("0.1", "0.001") + " --out {d}/m.h5", ["--fraction", "0.001", "0 signal events"]),
    (convert, "{d}/negative_e.h5 --out {d}/c.h5", ["negative_e.h5", "negative constituent E", "row 1"]),
]


def case_id(case):
    """A table row's test id: the command and its arguments without the folder."""
    module, argv, _ = case
    return f"{module.__name__.split('.')[-1]}: {argv.replace('{d}/', '')}"


def check_one_error_line(case, folder, capsys):
    """Run a table row (module, argv with {d} for `folder`, words of the error line): exit 2, one
    ``error:`` line holding every word, no traceback, no output, every file in `folder` unchanged."""
    module, argv, names = case
    before = _snapshot(folder)
    code, out, err = call(module.main, argv.format(d=folder).split(), capsys)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and out == ""
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert _snapshot(folder) == before


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_bad_input_is_one_error_line_and_changes_nothing(case, folder, capsys):
    check_one_error_line(case, folder, capsys)


def test_port_in_use_is_one_error_line(folder, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["--model-dir", str(folder / "exported" / "dvae"), "--port", str(port)]
        code, _, err = call(serve.main, argv, capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: --port {port}: 127.0.0.1:{port} is already in use")


def test_environmental_failures_are_one_error_line(capsys):
    """A full disk or a permission problem met while working is a message, not a traceback."""

    def full_disk(args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "scores.h5")

    assert run_command(full_disk, None) == 2
    assert capsys.readouterr().err == f"error: scores.h5: {os.strerror(errno.ENOSPC)}; free some space and run again\n"


def test_a_typo_is_reported_without_importing_tensorflow():
    code = (
        "import sys, time\n"
        "from training import fit\n"
        "try:\n    fit.main(['--model', 'dvae', '--epoch', '3'])\n"
        "except SystemExit as stop:\n    print(stop.code, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.split() == ["2", "False", "False"], out.stderr
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "training.fit", "--model", "dvae", "--epoch", "3"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    seconds = time.perf_counter() - start
    assert out.returncode == 2 and out.stderr.startswith("error: unrecognized argument(s): --epoch")
    assert seconds < 3.0  # ~0.4 s measured; importing TensorFlow alone takes 5-10 s here


def test_an_error_after_tensorflow_starts_is_still_one_clean_line(folder):
    """Quiet start-up: no traceback and no error-level TensorFlow log line on a machine without a GPU."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # the command's own default
    out = subprocess.run(
        [sys.executable, "-m", "training.fit", *(FIT + " --set beta_kl=abc").format(d=folder).split()],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert [line for line in out.stderr.splitlines() if line.startswith("error:")] == [
        "error: --set beta_kl='abc': expected float like the default 0.1, got str"
    ]
    if not (os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/dxg")):
        assert not [line for line in out.stderr.splitlines() if re.match(r"E\d{4} ", line)], out.stderr
