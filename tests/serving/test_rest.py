"""The REST API answers as TF Serving's documentation says (https://www.tensorflow.org/tfx/serving/api_rest)."""

import http.client
import json
import socket
import time

import numpy as np
import pytest

from preprocessing.representations import jet_image


def _request(port, method, path, body=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    text = resp.read()
    conn.close()
    return resp.status, json.loads(text)  # every answer, errors included, must be valid JSON


def _jets_json(jets, rows):
    n = int(jets.n_constituents[rows].max())
    return jets.constituents[rows, :n].tolist(), jets.n_constituents[rows].astype(int).tolist()


def test_status_lists_every_loaded_version_as_strings(server):
    code, body = _request(server.rest_port, "GET", "/v1/models/dvae")
    assert code == 200
    assert sorted(s["version"] for s in body["model_version_status"]) == ["1", "2"]
    for s in body["model_version_status"]:
        assert s["state"] == "AVAILABLE" and s["status"] == {"error_code": "OK", "error_message": ""}
    code, body = _request(server.rest_port, "GET", "/v1/models/dvae/versions/1")
    assert code == 200 and [s["version"] for s in body["model_version_status"]] == ["1"]


def test_metadata_has_signature_def_nested_twice_with_dtypes_and_string_dims(server):
    code, body = _request(server.rest_port, "GET", "/v1/models/dvae/metadata")
    assert code == 200
    assert body["model_spec"] == {"name": "dvae", "signature_name": "", "version": "2"}
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "representation", "encode"} <= set(sigs)
    default = sigs["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    c = default["inputs"]["constituents"]
    assert c["dtype"] == "DT_FLOAT" and c["name"] == "serving_default_constituents:0"
    assert c["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}] * 2 + [{"size": "4", "name": ""}],
        "unknown_rank": False,
    }
    assert default["inputs"]["n_constituents"]["dtype"] == "DT_INT32"
    assert default["outputs"]["anomaly_score"]["dtype"] == "DT_FLOAT"
    assert sigs["representation"]["inputs"]["jet_image"]["tensor_shape"]["dim"][1] == {"size": "40", "name": ""}


def test_predict_rows_and_columns_on_every_signature(server, exported, jets):
    _, model = exported
    rows = np.array([0, 1, 45])
    constituents, counts = _jets_json(jets, rows)
    images = jet_image.jet_images(jets.constituents[rows], jets.n_constituents[rows])
    want = {k: np.asarray(v) for k, v in model.anomaly_scores(images).items()}

    instances = [{"constituents": c, "n_constituents": n} for c, n in zip(constituents, counts)]
    code, body = _request(server.rest_port, "POST", "/v1/models/dvae:predict", {"instances": instances})
    assert code == 200 and len(body["predictions"]) == 3
    np.testing.assert_allclose([p["anomaly_score"] for p in body["predictions"]], want["mixture_weight"], atol=1e-5)

    cols = {"inputs": {"constituents": constituents, "n_constituents": counts}}
    code, body = _request(server.rest_port, "POST", "/v1/models/dvae/versions/1:predict", cols)
    assert code == 200
    for name in ("mixture_weight", "reconstruction", "kl"):
        np.testing.assert_allclose(body["outputs"][name], want[name], atol=1e-4)

    # the representation-level signature, bare values for its single input
    body = {"signature_name": "representation", "instances": images.tolist()}
    code, out = _request(server.rest_port, "POST", "/v1/models/dvae:predict", body)
    assert code == 200
    np.testing.assert_allclose([p["anomaly_score"] for p in out["predictions"]], want["mixture_weight"], atol=1e-5)
    code, out = _request(
        server.rest_port, "POST", "/v1/models/dvae:predict", {"signature_name": "encode", "inputs": images.tolist()}
    )
    assert code == 200 and np.asarray(out["outputs"]["mixture_weights"]).shape == (3, 2)


@pytest.mark.parametrize(
    "path, body, status, words",
    [
        ("/v1/models/nope:predict", {"instances": [1]}, 404, "Servable not found for request: Latest(nope)"),
        ("/v1/models/dvae/versions/9:predict", {"instances": [1]}, 404, "Specific(dvae, 9)"),
        ("/v1/models/dvae:predict", {"signature_name": "nope", "instances": [1]}, 400, "nope"),
        ("/v1/models/dvae:predict", {"wrong": 1}, 400, "instances"),
        ("/v1/models/dvae:predict", {"instances": [], "inputs": {}}, 400, "both"),
        ("/v1/models/dvae:predict", {"instances": []}, 400, "non-empty"),
        ("/v1/models/dvae:predict", {"signature_name": "representation", "instances": [[1.0, 2.0]]}, 400, "shape"),
        (
            "/v1/models/dvae:predict",
            {"signature_name": "representation", "instances": [[[None] * 40] * 40]},
            400,
            "null",
        ),
        (
            "/v1/models/dvae:predict",
            {"signature_name": "representation", "instances": [[["a"] * 40] * 40]},
            400,
            "strings",
        ),
        ("/v1/models/dvae:predict", {"inputs": {"constituents": [[[1, 1, 0, 0]]]}}, 400, "n_constituents"),
        (
            "/v1/models/dvae:predict",
            {"inputs": {"constituents": [[[1, 1, 0, 0]]], "n_constituents": [0]}},
            400,
            "no constituents",
        ),
        (
            "/v1/models/dvae:predict",
            {"inputs": {"constituents": [[[1, 1, 0, 0]]], "n_constituents": [1.5]}},
            400,
            "integers",
        ),
        ("/v1/models/dvae:predict", {"inputs": {"constituents": [[[1, 1, 0]]], "n_constituents": [1]}}, 400, "shape"),
        (
            "/v1/models/dvae:predict",
            {"inputs": {"constituents": [[[1e300, 1, 0, 0]]], "n_constituents": [1]}},
            400,
            "NaN or infinite",
        ),
        ("/v1/models/dvae/metadata", None, 200, ""),
        ("/v1/models/nope", None, 404, "nope"),
        ("/v1/models/dvae/versions/9", None, 404, "version 9"),
        ("/v2/whatever", None, 404, "Malformed"),
    ],
)
def test_errors_are_json_with_tf_serving_status(server, path, body, status, words):
    method = "GET" if body is None else "POST"
    code, out = _request(server.rest_port, method, path, body)
    assert code == status, out
    if status != 200:
        assert set(out) == {"error"} and words in out["error"], out


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "nan", "1e999"])
def test_non_finite_numbers_and_malformed_json_are_400(server, value):
    text = '{"signature_name": "representation", "instances": [[[' + ", ".join([value] * 40) + "]" + "]]}"
    code, out = _request(server.rest_port, "POST", "/v1/models/dvae:predict", raw=text.encode())
    assert code == 400 and "error" in out


def test_malformed_json_is_400(server):
    code, out = _request(server.rest_port, "POST", "/v1/models/dvae:predict", raw=b'{"instances": [1,')
    assert code == 400 and "JSON Parse error" in out["error"]


def test_a_nan_constituent_is_400_with_a_message(server):
    body = {"inputs": {"constituents": [[[1.0, 1.0, 0.0, 0.0]]], "n_constituents": [1]}}
    text = json.dumps(body).replace("0.0]]]", "NaN]]]")
    code, out = _request(server.rest_port, "POST", "/v1/models/dvae:predict", raw=text.encode())
    assert code == 400 and "error" in out


def test_a_truncated_request_is_dropped_without_blocking_others(exported):
    from serving import serve
    from serving.config import ModelConfig

    base, _ = exported
    running = serve.start(port=0, configs=[ModelConfig("dvae", base / "dvae")], poll_s=0, timeout_s=1.0)
    try:
        slow = socket.create_connection(("127.0.0.1", running.rest_port), timeout=10)
        slow.sendall(b'POST /v1/models/dvae:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"inst')
        start = time.monotonic()
        assert _request(running.rest_port, "GET", "/v1/models/dvae")[0] == 200  # not blocked by the slow one
        assert time.monotonic() - start < 1.0
        slow.settimeout(5)
        assert slow.recv(100) == b""  # the server hung up on the stalled request after its timeout
        assert time.monotonic() - start < 5
        slow.close()
    finally:
        running.shutdown()
