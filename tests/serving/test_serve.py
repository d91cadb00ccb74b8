"""serving.serve (``python -m serving``) on real fit exports: flags like tensorflow_model_server, warmup, the old
--model-dir form."""

import json
import pathlib
import subprocess
import sys
import urllib.request

import numpy as np
import tensorflow as tf

from serving import serve
from serving.client import score
from training.export import load_tagger
from training.warmup import WARMUP_PATH, read_warmup

ROOT = pathlib.Path(__file__).parents[2]


def test_fit_exports_carry_warmup_requests_of_held_out_jets(fitted):
    base, _, _ = fitted
    requests = read_warmup(base / "dvae" / "1")
    assert (base / "dvae" / "1" / WARMUP_PATH).is_file()
    assert [int(tf.make_ndarray(r.inputs["n_constituents"]).shape[0]) for r in requests] == [1, 2, 8]
    assert all(r.model_spec.signature_name == "serving_default" and r.model_spec.name == "dvae" for r in requests)


def test_served_fit_export_equals_the_loaded_savedmodel(fitted, small_samples):
    base, _, _ = fitted
    running = serve.start([base / "dvae"], port=0, grpc_port=0, warmup=True)
    try:
        sample = small_samples["top"]
        rows = np.arange(20)
        got = score(
            sample.constituents[rows],
            sample.n_constituents[rows],
            url=f"http://127.0.0.1:{running.rest_port}",
            version=1,
        )
        _, _, _, loaded = load_tagger(base / "dvae" / "1")
        want = loaded.signatures["serving_default"](
            constituents=tf.constant(sample.constituents[rows], tf.float32),
            n_constituents=tf.constant(sample.n_constituents[rows], tf.int32),
        )
        np.testing.assert_allclose(got["anomaly_score"], want["anomaly_score"].numpy(), rtol=1e-5, atol=1e-6)
        grpc_got = score(
            sample.constituents[rows], sample.n_constituents[rows], target=f"127.0.0.1:{running.grpc_port}", version=1
        )
        np.testing.assert_allclose(grpc_got["anomaly_score"], got["anomaly_score"], rtol=1e-6)
    finally:
        running.shutdown()


def test_command_line_with_tf_serving_flags(fitted):
    base, _, _ = fitted
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serving",
            "--model_name",
            "tagger",
            "--model_base_path",
            str(base / "dvae"),
            "--port",
            "0",
            "--rest_api_port",
            "0",
            "--file_system_poll_wait_seconds",
            "0",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = None
        for _ in range(200):  # bounded: the JSON line comes once the models are loaded
            line = proc.stderr.readline()
            if not line:
                break
            if line.startswith("{"):
                ready = json.loads(line)
                break
        assert ready is not None and ready["models"] == ["tagger"]
        with urllib.request.urlopen(ready["rest"].replace("<name>", "tagger"), timeout=30) as resp:
            status = json.loads(resp.read())
        assert [s["version"] for s in status["model_version_status"]] == ["2"]  # latest{1} by default
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_training_serve_is_the_same_command_kept_for_one_release():
    helps = [
        subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120)
        for module in ("serving", "training.serve")
    ]
    assert [h.returncode for h in helps] == [0, 0]
    assert helps[0].stdout.startswith("usage: python -m serving ") and helps[1].stdout == helps[0].stdout
