"""Versions appear without a restart, only complete integer folders are served, load failures are reported."""

import json
import shutil
import time
import urllib.error
import urllib.request

import pytest

from preprocessing.errors import DataError
from serving import serve
from serving.config import ModelConfig, VersionPolicy
from serving.store import ModelStore


def _get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _versions(port, name="dvae"):
    code, body = _get(port, f"/v1/models/{name}")
    return {s["version"]: s for s in body.get("model_version_status", [])} if code == 200 else {}


def _wait(pred, seconds=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_a_copied_version_is_served_within_seconds_and_tmp_folders_never(exported, tmp_path):
    base, _ = exported
    shutil.copytree(base / "dvae" / "1", tmp_path / "dvae" / "1")
    running = serve.start(port=0, configs=[ModelConfig("dvae", tmp_path / "dvae")], poll_s=0.2)
    try:
        assert set(_versions(running.rest_port)) == {"1"}
        shutil.copytree(base / "dvae" / "1", tmp_path / "dvae" / ".tmp-123-abc")  # an export being written
        (tmp_path / "dvae" / "7").mkdir()  # incomplete: no saved_model.pb
        (tmp_path / "dvae" / "7" / "variables").mkdir()
        start = time.monotonic()
        shutil.copytree(base / "dvae" / "1", tmp_path / "dvae" / "3")
        assert _wait(lambda: _versions(running.rest_port).get("3", {}).get("state") == "AVAILABLE")
        assert time.monotonic() - start < 5
        # latest{1}: version 3 replaced version 1; nothing else ever appeared
        assert set(_versions(running.rest_port)) == {"3"}
        assert _get(running.rest_port, "/v1/models/dvae/metadata")[1]["model_spec"]["version"] == "3"
        shutil.rmtree(tmp_path / "dvae" / "3")  # removed: version 1 is the newest again
        assert _wait(lambda: set(_versions(running.rest_port)) == {"1"})
    finally:
        running.shutdown()


def test_a_version_that_cannot_load_is_reported_with_its_state_and_error(exported, tmp_path):
    base, _ = exported
    shutil.copytree(base / "dvae" / "1", tmp_path / "dvae" / "1")
    (tmp_path / "dvae" / "2").mkdir()
    (tmp_path / "dvae" / "2" / "saved_model.pb").write_bytes(b"not a SavedModel")
    running = serve.start(port=0, configs=[ModelConfig("dvae", tmp_path / "dvae")], poll_s=0.2)
    try:
        status = _versions(running.rest_port)
        assert status["1"]["state"] == "AVAILABLE"  # latest{1} falls back to the newest version that loads
        assert status["2"]["state"] == "END" and status["2"]["status"]["error_code"] != "OK"
        assert "failed to load" in status["2"]["status"]["error_message"]
        # get_model_metadata_impl.cc asks ServerCore for an available servable: NOT_FOUND, the error is in status
        code, body = _get(running.rest_port, "/v1/models/dvae/versions/2/metadata")
        assert code == 404 and body["error"] == "Servable not found for request: Specific(dvae, 2)"
        assert _get(running.rest_port, "/v1/models/dvae/versions/2")[1]["model_version_status"][0]["state"] == "END"
        # fixed in place: served after its files change
        shutil.rmtree(tmp_path / "dvae" / "2")
        shutil.copytree(base / "dvae" / "1", tmp_path / "dvae" / "2")
        assert _wait(lambda: _versions(running.rest_port).get("2", {}).get("state") == "AVAILABLE")
    finally:
        running.shutdown()


def test_version_policies(exported, tmp_path):
    base, _ = exported
    for v in (1, 2, 5):
        shutil.copytree(base / "dvae" / "1", tmp_path / "dvae" / str(v))
    for policy, want in [
        (VersionPolicy("latest", num_versions=2), [2, 5]),
        (VersionPolicy("all"), [1, 2, 5]),
        (VersionPolicy("specific", versions=(1, 5, 9)), [1, 5]),
    ]:
        store = ModelStore([ModelConfig("dvae", tmp_path / "dvae", policy)], poll_s=0, settle_s=0.05).start()
        try:
            assert sorted(v for v, state, _ in store.status("dvae") if state == "AVAILABLE") == want
        finally:
            store.stop()


def test_duplicate_model_names_are_refused(tmp_path):
    with pytest.raises(DataError, match="two models are named 'dvae'"):
        ModelStore([ModelConfig("dvae", tmp_path / "a"), ModelConfig("dvae", tmp_path / "b")])
    for d in ("a/dvae/1", "b/dvae/1"):
        (tmp_path / d).mkdir(parents=True)
    with pytest.raises(DataError, match="two models are named 'dvae'"):
        serve.start([tmp_path / "a" / "dvae", tmp_path / "b" / "dvae"], port=0)


def test_serving_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no integer version"):
        serve.start([tmp_path], port=0)


def _write_config(path, base, labels, policy="all {}"):
    entries = "".join(f'version_labels {{ key: "{k}" value: {v} }} ' for k, v in labels.items())
    text = f'model_config_list {{ config {{ name: "dvae" base_path: "{base}" model_platform: "tensorflow" '
    text += f"model_version_policy {{ {policy} }} {entries}}} }}"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # the poll never reads a half-written file


def test_version_labels_over_rest_and_grpc_and_their_hot_reload(exported, tmp_path):
    """model_servers/server_core.cc: labels from models.config (UpdateModelVersionLabelMap) name versions
    for predict and metadata (GetModelVersionForLabel; an unknown label is INVALID_ARGUMENT "Unrecognized
    servable version label"), only AVAILABLE versions get a label and an assigned label is not moved to
    an unavailable one; http_rest_api_util.cc routes /labels/<label>; server.cc re-reads the config
    every --model_config_file_poll_wait_seconds; model_service_impl.cc reloads it over gRPC."""
    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    base, _ = exported
    for v in (1, 2):
        shutil.copytree(base / "dvae" / "1", tmp_path / "dvae" / str(v))
    config = tmp_path / "models.config"
    _write_config(config, tmp_path / "dvae", {"stable": 1, "canary": 2})
    from serving.config import read_config_file

    running = serve.start(
        port=0, grpc_port=0, configs=read_config_file(config), poll_s=0.2, config_file=config, config_poll_s=0.2
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def label_version(label):
        code, body = _get(running.rest_port, f"/v1/models/dvae/labels/{label}/metadata")
        return body["model_spec"]["version"] if code == 200 else (code, body["error"])

    def grpc_version(label):
        req = predict_pb2.PredictRequest()
        req.model_spec.name = "dvae"
        req.model_spec.version_label = label
        req.inputs["constituents"].CopyFrom(tf.make_tensor_proto(np.array([[[10.0, 3.0, 4.0, 5.0]]], np.float32)))
        req.inputs["n_constituents"].CopyFrom(tf.make_tensor_proto(np.array([1], np.int32)))
        return stub.Predict(req, timeout=30).model_spec.version.value

    try:
        assert label_version("stable") == "1" and label_version("canary") == "2"
        assert grpc_version("stable") == 1 and grpc_version("canary") == 2
        assert label_version("nope") == (400, "Unrecognized servable version label: nope")
        with pytest.raises(grpc.RpcError) as err:
            grpc_version("nope")
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        body = json.dumps({"inputs": {"constituents": [[[10.0, 3.0, 4.0, 5.0]]], "n_constituents": [1]}}).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{running.rest_port}/v1/models/dvae/labels/canary:predict", data=body, method="POST"
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200 and len(json.loads(resp.read())["outputs"]["anomaly_score"]) == 1

        # hot reload: stable moves to 2, canary goes, "future" names a version that is not there
        _write_config(config, tmp_path / "dvae", {"stable": 2, "future": 9})
        assert _wait(lambda: label_version("stable") == "2")
        assert label_version("canary") == (400, "Unrecognized servable version label: canary")
        assert label_version("future") == (400, "Unrecognized servable version label: future")
        assert any("label 'future' is not assigned yet: version 9" in w for w in running.store.warnings)
        # an assigned label is not moved to a version that is not available
        _write_config(config, tmp_path / "dvae", {"stable": 9})
        assert _wait(lambda: any("label 'stable' stays at version 2" in w for w in running.store.warnings))
        assert label_version("stable") == "2"
        # a file that does not parse keeps the running config
        config.write_text("model_config_list { config { name: ")
        time.sleep(0.6)
        assert label_version("stable") == "2"

        # model_service_impl.cc: ModelService/HandleReloadConfigRequest applies a ModelConfigList at once
        from google.protobuf import text_format
        from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

        models = model_service_pb2_grpc.ModelServiceStub(channel)
        reload = model_management_pb2.ReloadConfigRequest()
        text_format.Parse(
            f'model_config_list {{ config {{ name: "dvae" base_path: "{tmp_path / "dvae"}" '
            'model_version_policy { all {} } version_labels { key: "stable" value: 1 } } }',
            reload.config,
        )
        assert models.HandleReloadConfigRequest(reload, timeout=60).status.error_code == 0
        assert label_version("stable") == "1" and grpc_version("stable") == 1
        reload.config.custom_model_config.SetInParent()
        with pytest.raises(grpc.RpcError) as err:
            models.HandleReloadConfigRequest(reload, timeout=60)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "Only ModelConfigList" in err.value.details()
    finally:
        channel.close()
        running.shutdown()


def test_a_version_folder_as_base_path_warns_at_start_up(exported, tmp_path, capsys):
    """TF Serving logs "No versions of servable ... found under base path" and serves nothing; here the
    warning says the folder is a version folder and names its parent."""
    base, _ = exported
    shutil.copytree(base / "dvae" / "1", tmp_path / "dvae" / "1")
    store = ModelStore([ModelConfig("dvae", tmp_path / "dvae" / "1")], poll_s=0, settle_s=0.05).start()
    try:
        err = capsys.readouterr().err
        assert "serve: warning: model 'dvae': base path" in err and "is a version folder" in err
        assert f"serve its parent {tmp_path / 'dvae'}" in err
    finally:
        store.stop()
    (tmp_path / "empty" / "x").mkdir(parents=True)
    store = ModelStore([ModelConfig("dvae", tmp_path / "empty")], poll_s=0, settle_s=0.05).start()
    store.stop()
    assert "no version folders (integer names holding saved_model.pb)" in capsys.readouterr().err
    assert "which holds x/" in store.warnings[0]


def test_a_config_naming_a_missing_version_warns_at_start_up(exported, tmp_path):
    """FileSystemStoragePathSource serves only the specific versions it finds; the warning says which
    named versions are missing and which versions are there."""
    base, _ = exported
    shutil.copytree(base / "dvae" / "1", tmp_path / "dvae" / "1")
    policy = VersionPolicy("specific", versions=(1, 3))
    store = ModelStore([ModelConfig("dvae", tmp_path / "dvae", policy)], poll_s=0, settle_s=0.05).start()
    try:
        assert store.warnings == [
            f"model 'dvae': the config names version(s) [3] (specific policy) but {tmp_path / 'dvae'} has "
            "version(s) [1]; those named are served once they appear."
        ]
        assert [v for v, state, _ in store.status("dvae")] == [1]
    finally:
        store.stop()
