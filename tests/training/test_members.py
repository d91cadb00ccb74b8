"""Ensemble members as Dask tasks: a 3-member ensemble trained serially (in this process) and on a
2-worker LocalCluster gives the same members' scores.

Measured here: identical bit for bit (np.array_equal) between the cluster's workers and the serial
path, whose TensorFlow runs with this test session's thread pools; the assertion allows 1e-6 so
that a session with other thread pools (threaded reductions sum in another order) still passes.
"""

import numpy as np
import pytest

from training import members, pipeline


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(1.0, 0.5, (500, 6))).astype(np.float32)  # (events, observables)
    settings = pipeline.resolve("bumphunt_vae", sets={"epochs": 1, "batch_size": 100})
    return settings, {"x_train": x[:400], "x_val": x[400:]}, x


def _scores(settings, seeds, results, x):
    from models.base import batched_scores

    return [batched_scores(members.rebuild(settings, s, r).model, x)["kl"] for s, r in zip(seeds, results)]


@pytest.mark.slow  # four tiny trainings and two workers importing TensorFlow: ~1-4 min on 2 shared cores
def test_members_are_the_same_serially_and_on_a_local_cluster(tiny, dask_scheduler):
    settings, data, x = tiny
    seeds = [5, 6, 7]
    serial = members.train_members(settings, seeds, shared=data, scheduler="serial", progress=False)
    local = members.train_members(settings, seeds, shared=data, scheduler=dask_scheduler, progress=False)
    a, b = _scores(settings, seeds, serial, x), _scores(settings, seeds, local, x)
    identical = True
    for k in range(3):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-6, err_msg=f"member {k}")
        identical = identical and np.array_equal(a[k], b[k])
        assert sorted(serial[k].history) == sorted(local[k].history)
        for name, values in serial[k].history.items():
            np.testing.assert_allclose(values, local[k].history[name], rtol=1e-6, err_msg=name)
    assert not np.allclose(a[0], a[1])  # different seeds, different members
    # the rebuilt model scores like the model trained in place (weights hold scaler and calibration)
    direct = pipeline.train_member(settings, data["x_train"], data["x_val"], 5, "unused-run-dir", verbose=0)
    from models.base import batched_scores

    np.testing.assert_allclose(batched_scores(direct.model, x)["kl"], a[0], rtol=1e-6, atol=1e-6)
    print(f"serial and cluster members bit for bit identical: {identical}")
