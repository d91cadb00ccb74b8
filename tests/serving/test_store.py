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
        code, body = _get(running.rest_port, "/v1/models/dvae/versions/2/metadata")
        assert code >= 400 and "failed to load" in body["error"]
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
