"""A smoke-scale bench run on two cheap models, made once per test session (its own data cache)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[3]
SMOKE_MODELS = ("beta_vae", "fcn")  # one unsupervised and one supervised jet model, both on constituents


def run_bench(out, cache, models=None, workers=1, timeout=900):
    """`python -m evaluation.leaderboard --scale smoke` into `out`; returns its last stdout line (JSON)."""
    cmd = [sys.executable, "-m", "evaluation.leaderboard", "--scale", "smoke", "--workers", str(workers)]
    cmd += ["--out", str(out)] + (["--models", *models] if models else [])
    env = {**os.environ, "ANOMJET_DATA": str(cache)}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """(output folder, results.json dict, data cache) of a smoke run of SMOKE_MODELS."""
    base = tmp_path_factory.mktemp("leaderboard")
    out = base / "run"
    run_bench(out, base / "cache", SMOKE_MODELS)
    return out, json.loads((out / "results.json").read_text()), base / "cache"


def suite_sample(results, cache, suite):
    """The JetSample of a test suite of a run (by its name in results.json)."""
    from preprocessing.samples.format import read_sample

    name = next(k for k in results["meta"]["samples"] if k.startswith(f"leaderboard-test-{suite}-"))
    (file,) = results["meta"]["samples"][name]
    return read_sample(pathlib.Path(cache) / file)
