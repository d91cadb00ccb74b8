"""Ensemble members as Dask tasks: a 3-member ensemble trained serially (in this process) and on a
2-worker LocalCluster gives the same members' scores.

Measured here: identical bit for bit (np.array_equal) between the cluster's workers and the serial
path, whose TensorFlow runs with this test session's thread pools; the assertion allows 1e-6 so
that a session with other thread pools (threaded reductions sum in another order) still passes.
"""

import pickle

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


def _particlenet_member_data():
    from benchmarks.cheng2022 import synthetic_inputs

    x, y = synthetic_inputs("particlenet", 96)
    x["jet_mass"] = np.random.default_rng(0).uniform(20, 250, 96).astype(np.float32)  # a training-only array
    data = {
        "x_train": {k: v[:64] for k, v in x.items()},
        "x_val": {k: v[64:] for k, v in x.items()},
        "y_train": y[:64],
        "y_val": y[64:],
    }
    sets = {"epochs": 1, "batch_size": 32, "channels": [[4, 4, 4], [4, 4, 4]], "fc_units": 8}
    return pipeline.resolve("particlenet", "lite", sets), data


def test_a_network_built_on_first_use_is_rebuilt_from_its_result(tmp_path):
    """ParticleNet builds its layers when it first sees data: the result carries Keras' build
    config, and the rebuilt member gives the validation loss the task recorded for its weights."""
    import keras

    settings, data = _particlenet_member_data()
    (result,) = members.train_members(settings, [3], tmp_path, shared=data, scheduler="serial", progress=False)
    assert result.build_config is not None
    pickle.loads(pickle.dumps(result))  # a cluster's worker sends it back pickled
    rebuilt = members.rebuild(settings, 3, result).model
    jets = {k: v for k, v in data["x_val"].items() if k != "jet_mass"}  # the 32 validation jets: one batch
    p = keras.ops.convert_to_numpy(rebuilt.extra_outputs(jets)["class_probabilities"])
    cross_entropy = -np.mean(np.log(p[np.arange(32), data["y_val"]]))
    np.testing.assert_allclose(cross_entropy, result.history["val_cross_entropy"][-1], rtol=1e-4)


@pytest.mark.slow  # two XLA compilations of ParticleNet: ~1.5 min on 2 cores
def test_an_xla_member_trains_without_op_determinism_and_still_repeats(tmp_path):
    from tensorflow.python.framework import config

    settings, data = _particlenet_member_data()
    determinism = config.is_op_determinism_enabled()
    first, again = members.train_members(settings, [3, 3], tmp_path, shared=data, scheduler="serial", progress=False)
    assert config.is_op_determinism_enabled() == determinism  # restored after the tasks
    assert all(np.array_equal(a, b) for a, b in zip(first.weights, again.weights))
