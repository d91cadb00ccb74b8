"""training.distribute and ``training.fit --distribute``: two workers on 127.0.0.1, one replica
against no strategy, two replicas' gradient mean and batch-norm sync, clear errors."""

import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from preprocessing.errors import DataError
from training import distribute, fit

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (held open together while chosen, so they differ)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _tf_config(ports, index):
    return json.dumps(
        {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
    )


def _run_together(commands, envs, timeout):
    """Start every command at once; wait for all (killing the rest when one fails or time runs out).
    Returns [(returncode, stdout, stderr)]."""
    procs = [
        subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for cmd, env in zip(commands, envs)
    ]
    deadline = time.monotonic() + timeout
    try:
        while any(p.poll() is None for p in procs):
            failed = any(p.poll() not in (None, 0) for p in procs)  # a peer left: the others would wait forever
            if failed or time.monotonic() > deadline:
                for p in procs:
                    if p.poll() is None:
                        p.kill()
                break
            time.sleep(0.5)
        return [(p.wait(), *p.communicate()) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def _fcn_inputs(sample_paths, n_jets=None):
    """The FCN's settings and the real jets of the small samples in its representation."""
    from training import pipeline
    from training.data.rows import load_inputs

    settings = pipeline.resolve("fcn")
    inputs = load_inputs(settings, sample_paths, n_jets=n_jets)
    return settings, inputs


def _three_classes(small_samples, folder):
    """QCD, top and "w" files for the FCN, which refuses data without one of its three classes: the
    "w" jets are the top sample's odd events relabelled (no jet in two files), enough for the
    mechanics of distributed training."""
    from preprocessing.samples.format import write_sample

    top = small_samples["top"]
    odd = top.event % 2 == 1
    w = top.subset(odd)
    w.labels[:] = 0
    w.label_names = ["w"]
    return [
        str(small_samples["qcd_path"]),
        str(write_sample(folder / "top_even.h5", top.subset(~odd))),
        str(write_sample(folder / "w_odd.h5", w)),
    ]


# two training processes on localhost (35 s on loaded cores): slow, to keep CI clear of 20 minutes
@pytest.mark.slow
def test_two_workers_on_localhost_train_one_model_and_only_the_chief_exports(small_samples, tmp_path):
    """Two `training.fit --distribute multi-worker` processes (TF_CONFIG, free ports on 127.0.0.1)
    on the same real jets: both exit 0 with the same weights (sha256 of every weight), only the
    chief (worker 0) writes an export, and that export loads, scores and holds those weights."""
    from training.export import load_tagger

    base = tmp_path / "exported"
    data = _three_classes(small_samples, tmp_path)
    argv = [
        "--model",
        "fcn",
        "--data",
        *data,
        "--epochs",
        "2",
        "--export-dir",
        str(base),
        "--distribute",
        "multi-worker",
    ]
    ports = _free_ports(2)
    envs = [{**os.environ, "TF_CONFIG": _tf_config(ports, i)} for i in range(2)]
    results = _run_together([[sys.executable, "-m", "training.fit", *argv]] * 2, envs, timeout=600)
    for rc, _, err in results:
        assert rc == 0, err[-3000:]
    summaries = [json.loads(out.strip().splitlines()[-1]) for _, out, _ in results]
    chief, other = (s["distribute"] for s in summaries)
    assert chief["task"] == "worker:0" and chief["chief"] and chief["replicas"] == 2
    assert other["task"] == "worker:1" and not other["chief"]
    assert chief["weights_sha256"] == other["weights_sha256"]  # one model, kept in step by the all-reduce

    # only the chief wrote: one version, no temporary or run folder left, the other worker's checkpoints removed
    assert summaries[0]["export"] == str(base / "fcn" / "1") and summaries[1]["export"] is None
    assert sorted(p.name for p in (base / "fcn").iterdir()) == ["1"]
    assert not (base / ".runs").exists() or not list((base / ".runs").iterdir())
    other_runs = re.search(r"checkpoints in (\S+)", results[1][2]).group(1)
    assert not other_runs.startswith(str(base)) and not pathlib.Path(other_runs).exists()

    folder = base / "fcn" / "1"
    fn, card, _, _ = load_tagger(folder)
    assert card.training["distribute"] == {
        "strategy": "multi-worker",
        "replicas": 2,
        "weights_sha256": chief["weights_sha256"],
    }
    assert card.metrics["auc"] == summaries[0]["metrics"]["auc"]
    settings, inputs = _fcn_inputs(data)
    x = inputs.model_inputs(np.arange(200))
    exported = fn(constituents=x)
    assert np.all(np.isfinite(exported["anomaly_score"].numpy()))
    # the same weights in a model rebuilt from the export's Keras weights: same digest, same scores
    model = settings.spec.cls(**settings.config, seed=0)
    model.fit_scaler(x)  # builds the variables; the loaded weights replace the scaler's values
    model.load_weights(str(folder / "assets.extra" / "member0.weights.h5"))
    assert distribute.weights_digest(model) == chief["weights_sha256"]
    np.testing.assert_allclose(
        exported["anomaly_score"].numpy(), model.anomaly_scores(x)["p_qcd"], rtol=1e-5, atol=1e-6
    )


def test_mirrored_with_one_replica_trains_what_no_strategy_trains(small_samples, tmp_path):
    """One replica (this CPU) under MirroredStrategy against no strategy, in one process: the same
    per-epoch losses, the same weights and the same test metrics, bit for bit. Exact equality is
    the right tolerance: with one replica the strategy adds no reduction, the step is the same
    XLA-compiled program on the same data in the same order (measured: identical)."""
    from training import pipeline
    from training.data.rows import class_targets, split_rows

    settings, inputs = _fcn_inputs([small_samples["qcd_path"], small_samples["top_path"]], n_jets=600)
    settings.training["epochs"] = 2
    split = split_rows(inputs)
    targets = {
        "y_train": class_targets(settings.spec, inputs, split.train),
        "y_val": class_targets(settings.spec, inputs, split.validation),
    }
    strategy = distribute.make_strategy("mirrored")
    if strategy.num_replicas_in_sync != 1:
        pytest.skip(f"this machine gives MirroredStrategy {strategy.num_replicas_in_sync} replicas")
    runs = {}
    for name, s in (("none", None), ("mirrored", strategy)):
        with distribute.scope(s):
            member = pipeline.train_member(
                settings,
                inputs.training_inputs(split.train),
                inputs.training_inputs(split.validation),
                0,
                tmp_path / name,
                callbacks=distribute.callbacks(s),
                verbose=0,
                **targets,
            )
        runs[name] = (member, pipeline.evaluate(member.model, inputs, split.test, settings.spec.signal_label))
    (plain, plain_eval), (mirrored, mirrored_eval) = runs["none"], runs["mirrored"]
    assert mirrored.model.distribute_strategy is strategy and plain.model._distribute_strategy is None
    assert plain.history == mirrored.history and len(plain.history["loss"]) == 2
    assert distribute.weights_digest(plain.model) == distribute.weights_digest(mirrored.model)
    assert plain_eval.metrics == mirrored_eval.metrics and plain_eval.metrics["p_qcd"]["auc"] > 0.5


# Runs in a fresh process: logical CPU devices must be made before TensorFlow starts.
TWO_REPLICAS = r"""
import json, sys
import numpy as np
from preprocessing.cli import quiet_tensorflow
quiet_tensorflow()
from training import distribute, pipeline
from training.data.rows import class_targets, load_inputs
distribute.split_cpu(2)
import keras

strategy = distribute.make_strategy("mirrored")
out = {"replicas": strategy.num_replicas_in_sync}
settings = pipeline.resolve("fcn")
inputs = load_inputs(settings, sys.argv[1:3])
rows = np.arange(64)
x, y = inputs.model_inputs(rows), class_targets(settings.spec, inputs, rows)

def sgd_step(strategy, corrected):
    # one SGD step of the FCN (no dropout: deterministic) on one batch of 64 real jets
    keras.utils.set_random_seed(0)
    with distribute.scope(strategy):
        model = settings.spec.cls(dropout=0.0, seed=0)
        model.fit_scaler(x)
        before = [w.copy() for w in model.get_weights()]
        optimizer = keras.optimizers.SGD(0.5)
        if corrected:
            model.compile(**distribute.compile_arguments(optimizer))
        else:  # what Keras alone does: the replicas' gradients summed
            model.compile(optimizer=optimizer, jit_compile=False)
    model.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
    return [a - b for a, b in zip(model.get_weights(), before)]

plain = sgd_step(None, True)
ratio = lambda d: float(sum(np.sum(a * b) for a, b in zip(d, plain)) / sum(np.sum(b * b) for b in plain))
corrected, summed = sgd_step(strategy, True), sgd_step(strategy, False)
out["update_ratio_corrected"] = ratio(corrected)
out["update_ratio_summed"] = ratio(summed)
out["max_update_difference"] = max(float(np.max(np.abs(a - b))) for a, b in zip(corrected, plain))
out["max_update"] = max(float(np.max(np.abs(b))) for b in plain)

# batch-norm moving statistics are replica-local; ReplicaSync averages them
pn = pipeline.resolve("particlenet", sets={"k": 3, "channels": [[8, 8, 8]], "fc_units": 8})
points = load_inputs(pn, sys.argv[1:3])
px = points.model_inputs(rows)
keras.utils.set_random_seed(0)
with strategy.scope():
    model = pn.spec.cls(**pn.config, seed=0)
    model.fit_scaler(px)
    model.compile(**distribute.compile_arguments(keras.optimizers.Adam(1e-3)))
model.fit(px, y, batch_size=32, epochs=1, verbose=0)
local = distribute.replica_local_variables(model)
bn = [v for v in local if "moving_mean" in v.name]
copies = [[c.numpy() for c in strategy.experimental_local_results(v)] for v in bn]
out["bn_variables"] = len(bn)
out["bn_copies_differ"] = bool(any(np.max(np.abs(c[0] - c[1])) > 0 for c in copies))
out["synced"] = distribute.sync_replicas(model, strategy)
after = [[c.numpy() for c in strategy.experimental_local_results(v)] for v in bn]
out["bn_copies_equal_after"] = all(np.array_equal(a[0], a[1]) for a in after)
out["bn_is_mean"] = all(np.allclose(a[0], (c[0] + c[1]) / 2, rtol=1e-6, atol=1e-7) for a, c in zip(after, copies))
# as training.fit trains: with the strategy's callbacks the copies agree at validation and at the end
model.fit(px, y, batch_size=32, epochs=1, validation_data=(px, y), callbacks=list(distribute.callbacks(strategy)), verbose=0)
ends = [[c.numpy() for c in strategy.experimental_local_results(v)] for v in bn]
out["bn_copies_equal_with_callbacks"] = all(np.array_equal(a[0], a[1]) for a in ends)
out["bn_moved"] = any(not np.array_equal(a[0], b[0]) for a, b in zip(ends, after))
print(json.dumps(out))
"""


def test_two_replicas_average_gradients_and_batch_norm_statistics(small_samples):
    """Two logical CPUs as two replicas: one SGD step on a batch of 64 jets moves the weights as
    far as without a strategy (Keras alone sums the replicas' gradients: twice as far), and the
    replicas' diverging batch-norm statistics are set to their mean."""
    out = subprocess.run(
        [sys.executable, "-c", TWO_REPLICAS, str(small_samples["qcd_path"]), str(small_samples["top_path"])],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    # float32 sums over 32 + 32 rows against 64 rows: the updates agree to rounding
    assert result["update_ratio_corrected"] == pytest.approx(1.0, abs=1e-4)
    assert result["max_update_difference"] < 1e-4 * result["max_update"]
    assert result["update_ratio_summed"] == pytest.approx(2.0, abs=1e-3)  # why compile_arguments is needed
    assert result["bn_variables"] >= 2 and result["bn_copies_differ"]
    assert result["synced"] >= result["bn_variables"]
    assert result["bn_copies_equal_after"] and result["bn_is_mean"]
    assert result["bn_copies_equal_with_callbacks"] and result["bn_moved"]


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "environment variable TF_CONFIG, which is not set"),
        ("{cluster", "TF_CONFIG is not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "TF_CONFIG has no 'cluster'"),
        ('{"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}', "'host:port' strings"),
        ('{"cluster": {"worker": ["127.0.0.1:2222"]}, "task": {"type": "worker", "index": 1}}', "task index 1"),
        ('{"cluster": {"worker": ["127.0.0.1:2222"]}, "task": {"type": "chief", "index": 0}}', "task type 'chief'"),
        ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}', "job 'ps'"),
        ('{"cluster": {"worker": ["a:1"]}}', "no 'task'"),
    ],
)
def test_bad_tf_config_is_refused_naming_it(text, message, small_samples, tmp_path, monkeypatch, capsys):
    if text is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", text)
    argv = ["--model", "fcn", "--data", str(small_samples["qcd_path"]), "--distribute", "multi-worker"]
    assert fit.main(argv + ["--export-dir", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert message in err and "TF_CONFIG" in err
    assert not (tmp_path / "e").exists()


def test_what_cannot_run_under_a_strategy_is_refused(small_samples, tmp_path, monkeypatch, capsys):
    data = [str(small_samples["qcd_path"]), str(small_samples["top_path"])]
    cases = [
        (["--model", "dvae", "--distribute", "mirrored"], "--distribute mirrored: model 'dvae' is not supported"),
        (["--model", "fcn", "--ensemble", "2", "--distribute", "mirrored"], "--ensemble 2"),
        (["--model", "fcn", "--preset", "disco", "--distribute", "mirrored"], "has disco_weight 100.0"),
        (["--model", "fcn", "--set", "disco_weight=5", "--distribute", "mirrored"], "has disco_weight 5.0"),
    ]
    for argv, message in cases:
        assert fit.main(argv + ["--data", *data, "--export-dir", str(tmp_path / "e")]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # argparse: the choices are listed
        fit.main(["--model", "fcn", "--distribute", "spread", "--export-dir", str(tmp_path / "e")])
    assert exit_.value.code == 2
    assert "argument --distribute: invalid choice: 'spread'" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()
    monkeypatch.setenv("TF_CONFIG", _tf_config([2222, 2223], 0))
    assert fit.main(["--model", "fcn", "--distribute", "multi-worker", "--export-dir", str(tmp_path / "e")]) == 2
    assert "--distribute multi-worker needs --data" in capsys.readouterr().err
    with pytest.raises(DataError, match="--memory-budget"):
        distribute.check_request("mirrored", "fcn", memory_budget=1000)


def test_chief_is_the_chief_job_else_worker_zero():
    assert distribute.parse_tf_config(_tf_config([1, 2], 1)) == (
        {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
        "worker",
        1,
    )
    assert distribute.is_chief_task({"worker": ["a:1", "b:2"]}, "worker", 0)
    assert not distribute.is_chief_task({"worker": ["a:1", "b:2"]}, "worker", 1)
    cluster = {"chief": ["c:1"], "worker": ["a:1"]}
    assert distribute.is_chief_task(cluster, "chief", 0) and not distribute.is_chief_task(cluster, "worker", 0)
    assert distribute.task_of(None) == ("local", 0, True)
