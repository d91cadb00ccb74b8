"""Shared fixtures: small generated samples, made once per test session."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def small_samples(tmp_path_factory):
    """{'qcd': JetSample, 'top': JetSample, 'qcd_path': Path, 'top_path': Path}: 600 jets each."""
    from preprocessing.generate import generate
    from preprocessing.sample import write_sample

    folder = tmp_path_factory.mktemp("samples")
    out = {}
    for process, seed in (("qcd", 11), ("top", 12)):
        sample = generate(process, 600, seed=seed, progress=False)
        out[process] = sample
        out[f"{process}_path"] = write_sample(folder / f"{process}.h5", sample)
    return out
