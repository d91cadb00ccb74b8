"""The generation command line: files written, process options and cuts reaching the file, bad
input reported, and a killed run resumed to the same file."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from preprocessing.errors import DataError
from preprocessing.events.generator import generate
from preprocessing.events.shards import shard_cache_dir
from preprocessing.generate import main
from preprocessing.samples.format import read_sample
from tests.preprocessing.events.test_generator import (
    N_JETS,
    SEED,
    SHARD,
    assert_same_sample,
)


@pytest.fixture(scope="module")
def reference():
    return generate("qcd", N_JETS, seed=SEED, shard_jets=SHARD, progress=False)


def test_cli_writes_file_and_rejects_bad_input(tmp_path, capsys):
    out = tmp_path / "q.h5"
    assert main(["--process", "qcd", "--n-jets", "5", "--seed", "2", "--out", str(out)]) == 0
    assert len(read_sample(out)) == 5
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["--process", "qcd", "--n-jets", "0", "--out", str(tmp_path / "z.h5")])
    assert stop.value.code == 2
    assert capsys.readouterr().err == "error: argument --n-jets: must be an integer >= 1, got '0'\n"
    assert not (tmp_path / "z.h5").exists()
    with pytest.raises(SystemExit):
        main(["--process", "nope", "--n-jets", "5", "--out", str(tmp_path / "n.h5")])
    with pytest.raises(DataError, match="unknown process"):
        generate("nope", 5)


def test_cli_process_options_and_observables_reach_the_file(tmp_path):
    out = tmp_path / "w.h5"
    assert (
        main(["--process", "w", "--w-mass", "90", "--n-jets", "6", "--seed", "3", "--pt-min", "500", "--out", str(out)])
        == 0
    )
    s = read_sample(out)
    prov = s.provenance
    assert prov["process_options"] == {"w_mass": 90.0} and "24:m0 = 90" in prov["settings"]
    assert prov["selection"]["jet_radius"] == 1.0 and prov["selection"]["pt_min"] == 500
    assert np.all(s.jets["pt"] > 500) and np.all(s.jets["pt"] < 650)
    for key in ("tau1", "tau2", "tau3", "tau4", "tau21", "tau32", "d2", "n_const"):
        assert key in s.jets and np.all(np.isfinite(s.jets[key]))
    np.testing.assert_allclose(s.jets["tau21"], s.jets["tau2"] / s.jets["tau1"], rtol=1e-5)
    assert not shard_cache_dir(out).exists()  # finished shards are removed once the file is written


def test_cli_reports_bad_masses_and_cuts(tmp_path, capsys):
    out = tmp_path / "w.h5"
    assert main(["--process", "w", "--w-mass", "200", "--wprime-mass", "250", "--n-jets", "4", "--out", str(out)]) == 2
    assert "--w-mass 200 GeV is impossible" in capsys.readouterr().err
    assert main(["--process", "qcd", "--pt-min", "700", "--pt-max", "600", "--n-jets", "4", "--out", str(out)]) == 2
    assert "empty pT window" in capsys.readouterr().err
    assert main(["--process", "dijet", "--n-jets", "3", "--out", str(out)]) == 2
    assert "must be even" in capsys.readouterr().err
    assert not out.exists()


def test_killed_command_line_run_resumes_to_the_same_file(tmp_path, reference):
    out = tmp_path / "qcd.h5"
    cache = shard_cache_dir(out)
    args = [
        "--process",
        "qcd",
        "--n-jets",
        str(N_JETS),
        "--shard-jets",
        str(SHARD),
        "--seed",
        str(SEED),
        "--out",
        str(out),
        "--workers",
        "1",  # shards in order, in one process: the kill lands between shards at a known point
    ]
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "preprocessing.generate", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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

    assert main(args) == 0
    assert_same_sample(read_sample(out), reference)
    assert not cache.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["qcd.h5"]
