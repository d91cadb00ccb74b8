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
from tests.serving.server_process import start_serving
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
    args = ["--model_name", "tagger", "--model_base_path", str(base / "dvae"), "--port", "0", "--rest_api_port", "0"]
    proc, ready, _ = start_serving([*args, "--file_system_poll_wait_seconds", "0"])
    try:
        assert ready["models"] == ["tagger"]
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


def test_bind_address_flag_and_batching_parameters_file(exported):
    """model_servers/server.cc listens on 0.0.0.0 (every interface) and main.cc reads
    --batching_parameters_file: here --host 0.0.0.0 does the same (127.0.0.1 stays the default) and
    deploy/batching.config is read unchanged."""
    import socket

    base, _ = exported
    proc, ready, _ = start_serving(
        [
            "--model_name",
            "dvae",
            "--model_base_path",
            str(base / "dvae"),
            "--port",
            "0",
            "--rest_api_port",
            "0",
            "--host",
            "0.0.0.0",
            "--batching_parameters_file",
            str(ROOT / "deploy" / "batching.config"),
            "--file_system_poll_wait_seconds",
            "0",
        ]
    )
    try:
        assert ready["rest"].startswith("http://0.0.0.0:") and ready["grpc"].startswith("0.0.0.0:")
        port = int(ready["rest"].split(":")[2].split("/")[0])
        addresses = {"127.0.0.1"}
        try:  # another local interface, if the machine has one, reaches a server bound to every interface
            addresses.add(socket.gethostbyname(socket.gethostname()))
        except OSError:
            pass
        for address in addresses:
            with urllib.request.urlopen(f"http://{address}:{port}/v1/models/dvae", timeout=30) as resp:
                assert json.loads(resp.read())["model_version_status"][0]["state"] == "AVAILABLE"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    parser_default = subprocess.run(
        [sys.executable, "-m", "serving", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120
    ).stdout
    assert "default 127.0.0.1" in parser_default and "--batching_parameters_file" in parser_default


def test_batching_flags_win_over_the_batching_parameters_file():
    """main.cc has only the file; here the flags that name the same fields, when given, override it."""
    import argparse

    args = argparse.Namespace(
        batching_parameters_file=str(ROOT / "deploy" / "batching.config"),
        max_batch_size=None,
        batch_timeout_micros=None,
        num_batch_threads=1,
    )
    assert serve.batching_options(args) == {
        "max_batch_size": 256,
        "batch_timeout_s": 0.001,
        "num_batch_threads": 1,
        "max_enqueued_batches": 1000,
    }
    args.batching_parameters_file = None
    assert (
        serve.batching_options(args)["max_batch_size"] == 256 and serve.batching_options(args)["batch_timeout_s"] == 0
    )


def test_default_bind_address_is_loopback(exported):
    """The safe default: a started server listens on 127.0.0.1 only unless told otherwise."""
    from serving.config import ModelConfig

    base, _ = exported
    running = serve.start(port=0, grpc_port=None, configs=[ModelConfig("dvae", base / "dvae")], poll_s=0)
    try:
        assert running.rest.server_address[0] == "127.0.0.1"
    finally:
        running.shutdown()
