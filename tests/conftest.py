"""Shared fixtures: small generated samples and one pair of fit runs, made once per test session."""

import hashlib
import json
import pathlib
import subprocess
import sys

import pytest

from preprocessing.cli import quiet_tensorflow

quiet_tensorflow()  # as the command lines do, before any test imports TensorFlow


@pytest.fixture(scope="session")
def small_samples(tmp_path_factory):
    """{'qcd': JetSample, 'top': JetSample, 'qcd_path': Path, 'top_path': Path}: 600 jets each."""
    from preprocessing.events.generator import generate
    from preprocessing.samples.format import write_sample

    folder = tmp_path_factory.mktemp("samples")
    out = {}
    for process, seed in (("qcd", 11), ("top", 12)):
        sample = generate(process, 600, seed=seed, progress=False)
        out[process] = sample
        out[f"{process}_path"] = write_sample(folder / f"{process}.h5", sample)
    return out


def _tree_digest(folder):
    h = hashlib.sha256()
    for p in sorted(pathlib.Path(folder).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="session")
def fitted(small_samples, tmp_path_factory):
    """Two fit runs into one export folder, shared by the training (export, score) and serving tests;
    returns (export base, summaries, digests of version 1)."""
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
            cwd=pathlib.Path(__file__).parents[1],
        )
        assert out.returncode == 0, out.stderr[-3000:]
        summaries.append(json.loads(out.stdout.strip().splitlines()[-1]))
        digests.append(_tree_digest(base / "dvae" / "1"))
    return base, summaries, digests


def minimal_card(model, representation, inputs, model_name="test"):
    """A ModelCard for exporting `model` in tests: representation name and {input: shape} only."""
    from training.model_card import ModelCard

    return ModelCard.bare(model_name, model, representation, inputs, preset="test")


@pytest.fixture(scope="session")
def dask_scheduler():
    """Address of a 2-worker LocalCluster shared by the tests (started once: workers import
    TensorFlow and Pythia in seconds each), passed as --scheduler like a remote cluster's."""
    from distributed import Client

    from preprocessing.tasks import _local_cluster

    with _local_cluster(2) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        yield cluster.scheduler_address
