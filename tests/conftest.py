"""Shared fixtures: small generated samples, made once per test session."""

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
