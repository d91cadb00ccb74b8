"""Fixtures for the training tests: one pair of fit runs shared by the export, score and serve tests."""

import hashlib
import json
import pathlib
import subprocess
import sys

import pytest


def _tree_digest(folder):
    h = hashlib.sha256()
    for p in sorted(pathlib.Path(folder).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="session")
def fitted(small_samples, tmp_path_factory):
    """Two fit runs into one export folder; returns (export base, summaries, digests of version 1)."""
    base = tmp_path_factory.mktemp("exported")
    data = [str(small_samples["qcd_path"]), str(small_samples["top_path"])]
    summaries = []
    digests = []
    for seed in (0, 1):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "training.fit",
                "--model",
                "dvae",
                "--data",
                *data,
                "--n-jets",
                "1000",
                "--epochs",
                "2",
                "--seed",
                str(seed),
                "--export-dir",
                str(base),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=pathlib.Path(__file__).parents[2],
        )
        assert out.returncode == 0, out.stderr[-3000:]
        summaries.append(json.loads(out.stdout.strip().splitlines()[-1]))
        digests.append(_tree_digest(base / "dvae" / "1"))
    return base, summaries, digests
