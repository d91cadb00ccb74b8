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
        ("/v1/models/dvae:predict", {"instances": []}, 400, "No values in 'instances'"),
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


@pytest.mark.parametrize(
    "value, words",
    [
        ("NaN", "NaN or infinite"),
        ("Infinity", "NaN or infinite"),
        ("-Infinity", "NaN or infinite"),
        ("1e999", "NaN or infinite"),
        ("nan", "JSON Parse error"),
    ],
)
def test_non_finite_numbers_parse_but_are_refused_as_inputs(server, value, words):
    """util/json_tensor.cc parses with kParseNanAndInfFlag: NaN, Infinity and -Infinity are numbers
    (lower-case nan is not JSON); the input check then refuses them with a 400 naming the input."""
    text = '{"signature_name": "representation", "instances": [[[' + ", ".join([value] * 40) + "]" * 3 + "}"
    code, out = _request(server.rest_port, "POST", "/v1/models/dvae:predict", raw=text.encode())
    assert code == 400 and words in out["error"], out
    if words != "JSON Parse error":
        assert "jet_image" in out["error"]  # parsed, then refused as a value of the input


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


@pytest.mark.parametrize(
    "method, path, status, words",
    [
        ("GET", "/v1/models/dvae:predict", 400, "Malformed request: GET /v1/models/dvae:predict"),
        ("POST", "/v1/models/dvae", 400, "Malformed request: POST /v1/models/dvae"),
        ("POST", "/v1/models/dvae/metadata", 400, "Malformed request"),
        ("GET", "/v1/models/dvae/versions/x", 400, "Malformed request"),
        ("GET", "/v1/models", 400, "Missing model name in request."),
        ("GET", "/v1/models/", 400, "Malformed request"),
        ("PUT", "/v1/models/dvae", 400, "Malformed request: PUT"),
        ("DELETE", "/v1/models/dvae", 400, "Malformed request: DELETE"),
        ("POST", "/v1/models/dvae:classify", 501, "classify"),
        ("GET", "/v2/models/dvae", 404, "Malformed"),
        ("GET", "/V1/MODELS/dvae", 200, ""),
        ("GET", "/v1/models/dv%61e", 200, ""),
        ("GET", "/v1/models/dvae/metadata?pretty=1", 200, ""),
        ("GET", "/v1/models/no%2Fpe", 404, "Could not find any versions of model no/pe"),
    ],
)
def test_paths_and_status_codes_as_tf_serving_routes_them(server, method, path, status, words):
    """model_servers/http_rest_api_util.cc (the case-insensitive /v1/ regexes, URL-decoded names) and
    http_rest_api_handler.cc ("Malformed request" and "Missing model name" are INVALID_ARGUMENT, 400)."""
    body = {"instances": [1]} if method in ("POST", "PUT") else None
    code, out = _request(server.rest_port, method, path, body)
    assert code == status, out
    if status != 200:
        assert set(out) == {"error"} and words in out["error"], out
    else:
        assert "model_version_status" in out or "metadata" in out


def test_predict_path_is_case_insensitive_and_url_decoded(server, jets):
    """model_servers/http_rest_api_util.cc: kPredictionApiGegex is (?i) and the model name is unescaped."""
    constituents, counts = _jets_json(jets, np.array([0, 1]))
    body = {"inputs": {"constituents": constituents, "n_constituents": counts}}
    code, out = _request(server.rest_port, "POST", "/V1/Models/d%76ae/Versions/1:predict", body)
    assert code == 200 and len(out["outputs"]["anomaly_score"]) == 2


def test_error_codes_map_to_http_as_tf_serving_does():
    """model_servers/http_server.cc, ToHTTPStatusCode: DEADLINE_EXCEEDED is 504 (GATEWAY_TO), not 408."""
    from serving.errors import CODES, ServingError

    assert ServingError("DEADLINE_EXCEEDED", "slow").http_status == 504
    want = {
        "CANCELLED": 499,
        "UNKNOWN": 500,
        "INVALID_ARGUMENT": 400,
        "NOT_FOUND": 404,
        "ALREADY_EXISTS": 409,
        "PERMISSION_DENIED": 403,
        "RESOURCE_EXHAUSTED": 429,
        "FAILED_PRECONDITION": 400,
        "ABORTED": 409,
        "OUT_OF_RANGE": 400,
        "UNIMPLEMENTED": 501,
        "INTERNAL": 500,
        "UNAVAILABLE": 503,
        "DATA_LOSS": 500,
        "UNAUTHENTICATED": 401,
    }
    assert {k: CODES[k][0] for k in want} == want


def _chunked(port, path, pieces, extension=b""):
    """(status, JSON) of a POST whose body is sent as `pieces` with Transfer-Encoding: chunked."""
    raw = b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in pieces) + b"0\r\nX-Trailer: 1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + raw
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_chunked_request_bodies_are_read(server, jets):
    """model_servers/http_server.cc reads the body with ReadRequestBytes until it ends, so libevent's
    chunked decoding serves bodies without Content-Length; the answer equals the Content-Length one."""
    constituents, counts = _jets_json(jets, np.array([3, 50]))
    data = json.dumps({"inputs": {"constituents": constituents, "n_constituents": counts}}).encode()
    code, want = _request(server.rest_port, "POST", "/v1/models/dvae:predict", raw=data)
    assert code == 200
    pieces = [data[i : i + 777] for i in range(0, len(data), 777)]
    code, got = _chunked(server.rest_port, "/v1/models/dvae:predict", pieces, extension=b";name=value")
    assert code == 200 and got == want
    code, out = _chunked(server.rest_port, "/v1/models/dvae:predict", [b"{}"])
    assert code == 400 and "Missing 'inputs' or 'instances' key" in out["error"]


def test_a_malformed_chunk_or_no_body_is_400(server):
    """util/json_tensor.cc, ParseJson: an empty document is "JSON Parse error: The document is empty"."""
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=60) as sock:
        sock.sendall(b"POST /v1/models/dvae:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400") and b"not hexadecimal" in data
    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=60)
    conn.putrequest("POST", "/v1/models/dvae:predict")
    conn.endheaders()  # neither Content-Length nor Transfer-Encoding: an empty body
    resp = conn.getresponse()
    assert resp.status == 400 and "The document is empty" in json.loads(resp.read())["error"]
    conn.close()


class _NonFiniteSignature:
    """A signature whose output holds NaN and ±inf, like the VRNN event score of an event without jets."""

    def __init__(self):
        import tensorflow as tf

        self.input_specs = {"x": tf.TensorSpec([None], tf.float32)}

    def run(self, arrays):
        rows = len(arrays["x"])
        score = np.array([np.nan, np.inf, -np.inf, 0.25], np.float32)[:rows]
        return {"score": score, "count": np.arange(rows, dtype=np.int32)}


class _FakeStore:
    def servable(self, name, version=None, label=None):
        store = self

        class _S:
            def signature(self, name):
                return store.signature

        return _S()

    signature = _NonFiniteSignature()


def test_non_finite_outputs_are_written_nan_infinity_as_tf_serving():
    """util/json_tensor.cc, WriteDecimal: NaN -> NaN, +inf -> Infinity, -inf -> -Infinity (never null)."""
    from serving.rest import serve_rest

    rest = serve_rest(_FakeStore(), "127.0.0.1", 0)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", rest.server_port, timeout=60)
        conn.request("POST", "/v1/models/m:predict", body=b'{"instances": [1.0, 2.0, 3.0, 4.0]}')
        resp = conn.getresponse()
        text = resp.read().decode()
        assert resp.status == 200
        assert '"score": NaN' in text and '"score": Infinity' in text and '"score": -Infinity' in text
        assert "null" not in text
        conn.request("POST", "/v1/models/m:predict", body=b'{"inputs": [1.0, 2.0, 3.0, 4.0]}')
        text = conn.getresponse().read().decode()
        assert '"score": [NaN, Infinity, -Infinity, 0.25]' in text
        conn.close()
    finally:
        rest.shutdown()
        rest.server_close()


def test_request_json_reads_nan_and_infinity_tokens():
    """util/json_tensor.cc, ParseJson: kParseNanAndInfFlag makes NaN, Infinity and -Infinity numbers."""
    from serving.tensors import parse_json

    got = parse_json(b'{"inputs": [NaN, Infinity, -Infinity, 1.5]}')["inputs"]
    assert np.isnan(got[0]) and got[1:] == [np.inf, -np.inf, 1.5]


def test_a_body_nested_100000_deep_is_a_clear_400(server):
    """util/json_tensor.cc parses iteratively (kParseIterativeFlag): depth cannot crash it; here the depth
    is bounded before parsing, and the server answers the next request."""
    deep = b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    start = time.monotonic()
    code, out = _request(server.rest_port, "POST", "/v1/models/dvae:predict", raw=deep)
    assert code == 400 and "nested 100001 deep" in out["error"] and "at most 64" in out["error"], out
    assert time.monotonic() - start < 10
    assert _request(server.rest_port, "GET", "/v1/models/dvae")[0] == 200


def test_nesting_depth_ignores_brackets_inside_strings():
    """The depth bound counts structure only (util/json_tensor.cc accepts any string content)."""
    from serving.tensors import nesting_depth

    assert nesting_depth(b'{"a": "' + b"[" * 500 + b'"}') == 1
    assert nesting_depth(b'{"a": "\\"[[[[", "b": [[1]]}') == 3  # an escaped quote does not end the string
    assert nesting_depth(b'{"a": "\\\\", "b": ' + b"[" * 70 + b"]" * 70 + b"}") == 71  # an escaped backslash does


def test_a_body_over_the_size_limit_is_413_without_reading_it(server, monkeypatch):
    """http_server.cc reads any body; here a body over MAX_BODY is refused from its Content-Length (or
    once its chunks pass the limit) before it is read or parsed."""
    from serving import rest

    monkeypatch.setattr(rest, "MAX_BODY", 1000)
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=60) as sock:
        sock.sendall(b"POST /v1/models/dvae:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000000\r\n\r\n{")
        data = b""
        while chunk := sock.recv(65536):  # the server answers at once and closes
            data += chunk
    assert data.startswith(b"HTTP/1.1 413") and b"5000000000 bytes is over 1000" in data
    code, out = _chunked(server.rest_port, "/v1/models/dvae:predict", [b" " * 600, b" " * 600])
    assert code == 413 and "over 1000 bytes" in out["error"]


def test_an_unforeseen_exception_is_a_json_500_not_a_dropped_connection():
    """model_servers/http_server.cc always replies with the handler's status (INTERNAL is 500)."""
    from serving.rest import serve_rest

    class _Broken:
        def servable(self, name, version=None, label=None):
            raise MemoryError("out of memory")

    rest = serve_rest(_Broken(), "127.0.0.1", 0)
    try:
        code, out = _request(rest.server_port, "POST", "/v1/models/m:predict", {"instances": [1]})
        assert code == 500 and out == {"error": "MemoryError: out of memory"}
    finally:
        rest.shutdown()
        rest.server_close()
