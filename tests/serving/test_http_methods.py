"""Every HTTP method on every path gets TF Serving's JSON error body ({"error": ...}), never an HTML
page (issue 27, class 5): PUT, DELETE and PATCH are routed like TF Serving's handler routes them
(400 "Malformed request" under /v1/, 404 outside); a method http.server has no handler for, a
malformed request line, an over-long URI or an unknown HTTP version is answered by its
``send_error``, which the server makes JSON too. No model is needed: the routes fail first."""

import json
import socket

import pytest

from serving.rest import serve_rest


@pytest.fixture(scope="module")
def port():
    server = serve_rest(store=None, port=0)
    yield server.server_port
    server.shutdown()
    server.server_close()


def _raw(port, request):
    """(status, headers, body) of one raw HTTP request; the server closes the connection after it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _call(port, method, path, body=b""):
    request = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    return _raw(port, request.encode() + body)


PATHS = [
    ("/v1/models/dvae", 400),
    ("/v1/models/dvae:predict", 400),
    ("/v1/models/dvae/versions/1/metadata", 400),
    ("/v1/models", 400),
    ("/", 404),
    ("/index.html", 404),
    ("/v2/models/dvae", 404),
]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path, status", PATHS)
def test_put_delete_patch_are_json_errors_on_every_path(port, method, path, status):
    code, headers, body = _call(port, method, path, b'{"instances": [1]}')
    assert code == status and headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error.startswith("Malformed request: " if status == 400 else "Malformed request")
    assert f"{method} {path}" in error


@pytest.mark.parametrize(
    "request_bytes, status, words",
    [
        (b"TRACE /v1/models/dvae HTTP/1.1\r\nHost: x\r\n\r\n", 501, "Unsupported method ('TRACE')"),
        (b"FOO /v1/models/dvae HTTP/1.1\r\nHost: x\r\n\r\n", 501, "Unsupported method ('FOO')"),
        (b"put /v1/models/dvae HTTP/1.1\r\nHost: x\r\n\r\n", 501, "Unsupported method ('put')"),
        (b"CONNECT example.org:443 HTTP/1.1\r\nHost: x\r\n\r\n", 501, "Unsupported method ('CONNECT')"),
        (b"PUT /v1/models/dvae HTTP/2.0\r\nHost: x\r\n\r\n", 505, "Invalid HTTP version"),
        (b"PUT /v1/models/dvae\r\n\r\n", 400, "Bad HTTP/0.9 request type"),
        (b"PUT a b c d\r\n\r\n", 400, "Bad request version ('d')"),
        (b"PUT /" + b"x" * 70000 + b" HTTP/1.1\r\n\r\n", 414, "Request-URI Too Long"),
    ],
)
def test_what_http_server_refuses_itself_is_json_too(port, request_bytes, status, words):
    code, headers, body = _raw(port, request_bytes)
    assert code == status and headers["content-type"] == "application/json"
    assert headers.get("connection") == "close"
    assert words in json.loads(body)["error"], body
