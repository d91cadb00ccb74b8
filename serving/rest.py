"""TF Serving's REST API on a threaded HTTP server.

    GET  /v1/models/{name}[/versions/{v} | /labels/{label}]             status of every loaded version (or one)
    GET  /v1/models/{name}[/versions/{v} | /labels/{label}]/metadata    {"model_spec", "metadata": {"signature_def": ...}}
    POST /v1/models/{name}[/versions/{v} | /labels/{label}]:predict     {"signature_name"?, "instances" | "inputs"}

Paths are matched as ``http_rest_api_util.cc`` matches them: ``/v1/`` case-insensitively, model
names and labels URL-decoded, versions as digits. A path under ``/v1/`` that matches neither
pattern (a GET of ``:predict``, a POST of status or metadata, any other method) is 400
"Malformed request"; ``GET /v1/models`` is 400 "Missing model name in request."; a path outside
``/v1/`` is 404, as TF Serving's dispatcher ignores it. PUT, DELETE and PATCH are 400 "Malformed
request" under ``/v1/`` and 404 outside it; any other method is 501. Errors are ``{"error": message}`` with
TF Serving's status for the code (``errors.CODES``, from ``http_server.cc``).

Bodies come with ``Content-Length`` or ``Transfer-Encoding: chunked`` (TF Serving's libevent server
reads both); a POST with neither has an empty body. Before a body is parsed, its size is bounded
(``MAX_BODY``: 413 beyond it, without reading it) and its nesting depth too (``MAX_DEPTH``: 400),
so a hostile body cannot exhaust memory or the parser's recursion. Outputs that are NaN or
±infinite are written ``NaN``, ``Infinity`` and ``-Infinity``, as ``json_tensor.cc`` writes them.

The server keeps a real listen backlog (1024), answers HTTP/1.1 keep-alive connections on one
thread each, and drops a connection whose request does not arrive completely within the
timeout (``--rest_api_timeout_in_ms``), so a slow or truncated client blocks nobody else.
"""

import http.server
import json
import re
import sys
import urllib.parse

from google.protobuf import json_format

from serving import tensors
from serving.errors import ServingError, from_exception, invalid

# http_rest_api_util.h: the handler takes every path under /v1/ (case-insensitive)
HANDLED = re.compile(r"(?i)/v1/.*", re.DOTALL)
# http_rest_api_util.cc: the predict path (POST) and the status / metadata path (GET)
PREDICT_PATH = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)", re.DOTALL
)
STATUS_PATH = re.compile(
    r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:\/(metadata))?", re.DOTALL
)
MAX_BODY = 512 * 1024 * 1024  # bytes of one request body (gRPC's message limit here is the same)
MAX_DEPTH = 64  # nesting of arrays and objects; a predict body of any signature here needs at most 5


class Route:
    """A matched /v1/ path: model name, version (int or None), label (or None), method, subresource."""

    def __init__(self, name, version, label, method=None, subresource=None):
        self.name, self.version, self.label = name, version, label
        self.method, self.subresource = method, subresource


def route(http_method, path):
    """The Route of a request, or a ServingError as TF Serving's handler answers for it."""
    malformed = invalid(f"Malformed request: {http_method} {path}")
    if http_method == "POST":
        m = PREDICT_PATH.fullmatch(path)
    elif http_method == "GET":
        m = STATUS_PATH.fullmatch(path)
    else:
        raise malformed
    if m is None:
        raise malformed
    name, version, label, last = m.groups()
    name = urllib.parse.unquote(name) if name else ""
    label = urllib.parse.unquote(label) if label else None
    version = int(version) if version else None
    if http_method == "POST":
        return Route(name, version, label, method=last)
    if not name:
        raise invalid("Missing model name in request.")
    return Route(name, version, label, subresource=last)


def status_json(store, name, version=None):
    return {
        "model_version_status": [
            {
                "version": str(v),
                "state": state,
                "status": {
                    "error_code": "OK" if err is None else err.code,
                    "error_message": "" if err is None else err.message,
                },
            }
            for v, state, err in store.status(name, version)
        ]
    }


def signature_def_map(servable):
    from tensorflow_serving.apis import get_model_metadata_pb2

    proto = get_model_metadata_pb2.SignatureDefMap()
    for k, v in servable.signature_defs.items():
        proto.signature_def[k].CopyFrom(v)
    return proto


def metadata_json(store, name, version=None, label=None):
    servable = store.metadata_servable(name, version, label)
    sig_map = json_format.MessageToDict(
        signature_def_map(servable), always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(servable.version)},
        "metadata": {"signature_def": sig_map},
    }


def predict_json(store, name, version, body, label=None):
    request = tensors.parse_json(body)
    signature_name = request.get("signature_name", "serving_default")
    if not isinstance(signature_name, str):
        raise invalid("'signature_name' must be a string")
    servable = store.servable(name, version, label)
    signature = servable.signature(signature_name)
    arrays, row_format = tensors.rest_inputs(request, signature.input_specs)
    return tensors.rest_outputs(signature.run(arrays), row_format)


class BodyTooLarge(Exception):
    """A request body over MAX_BODY bytes (answered 413 and the connection closed)."""


def read_chunked(rfile, limit=MAX_BODY):
    """The body of a ``Transfer-Encoding: chunked`` request (RFC 9112 section 7.1); trailers are skipped.

    Raises:
        BodyTooLarge past `limit` bytes (before reading the chunk that would pass it);
        ServingError INVALID_ARGUMENT for a malformed chunk size;
        ConnectionError if the client closed the connection mid-body.
    """
    parts, total = [], 0
    while True:
        line = rfile.readline(1026)
        if not line:
            raise ConnectionError("the client closed the connection inside a chunked body")
        size_text = line.split(b";", 1)[0].strip()  # chunk extensions are ignored
        try:
            size = int(size_text, 16)
        except ValueError:
            raise invalid(f"malformed chunked body: chunk size {size_text[:20]!r} is not hexadecimal") from None
        if size < 0:
            raise invalid("malformed chunked body: negative chunk size")
        if size == 0:
            while True:  # trailer fields up to the empty line
                trailer = rfile.readline(8194)
                if not trailer or trailer in (b"\r\n", b"\n"):
                    return b"".join(parts)
        total += size
        if total > limit:
            raise BodyTooLarge(total)
        chunk = rfile.read(size)
        if len(chunk) < size:
            raise ConnectionError("the client closed the connection inside a chunk")
        parts.append(chunk)
        if rfile.readline(3) not in (b"\r\n", b"\n"):
            raise invalid("malformed chunked body: a chunk does not end with CRLF")


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024  # listen backlog: bursts of connections wait instead of being reset
    daemon_threads = True
    allow_reuse_address = True


def make_handler(store, timeout_s=30.0, verbose=False):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once; no 40 ms delayed-ACK stalls
        timeout = timeout_s  # socket timeout: a request that stalls is dropped
        server_version = "anomalous-jet-tagging-serve"

        def log_message(self, fmt, *args):
            if verbose:
                sys.stderr.write("serve: " + fmt % args + "\n")

        def _send(self, code, payload):
            # json_tensor.cc writes non-finite outputs as NaN, Infinity and -Infinity: so does allow_nan
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _error(self, err):
            self._send(err.http_status, {"error": err.message})

        def send_error(self, code, message=None, explain=None):
            """What http.server answers before a handler runs (a method without a handler such as TRACE
            or FOO: 501; a malformed request line: 400; a URI or header over its limit: 414, 431; an HTTP
            version it cannot speak: 505) as JSON like every other answer, not its HTML page."""
            self.close_connection = True  # the request (and any body) was not read: the stream is lost
            if self.request_version == self.default_request_version:  # the request line was not understood:
                self.request_version = "HTTP/1.0"  # a status line and headers all the same (HTTP/0.9 has none)
            self.log_error("code %d, message %s", code, message)
            short = self.responses.get(code, ("error",))[0]
            self._send(code, {"error": message or short})

        def handle_one_request(self):
            try:
                super().handle_one_request()
            except (TimeoutError, ConnectionError):
                self.close_connection = True  # the client stalled or went away: drop it

        def _linger(self, seconds=1.0):
            """Half-close, then discard what the client still sends for a moment: closing a socket with
            unread data resets the connection, and the client could lose the answer already sent."""
            import socket
            import time

            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_WR)
                end = time.monotonic() + seconds
                self.connection.settimeout(seconds)
                while time.monotonic() < end and self.connection.recv(65536):
                    pass
            except OSError:
                pass

        def _read_body(self):
            """The request body (b"" when there is none); None when the client went away mid-body."""
            encoding = self.headers.get("Transfer-Encoding", "").lower()
            if encoding:
                if [e.strip() for e in encoding.split(",")][-1] != "chunked":
                    self.close_connection = True
                    raise invalid(f"Transfer-Encoding {encoding!r} is not supported (only chunked)")
                try:
                    return read_chunked(self.rfile, MAX_BODY)
                except ConnectionError:
                    self.close_connection = True
                    return None
                except ServingError:
                    self.close_connection = True  # the stream position is lost
                    raise
            length = self.headers.get("Content-Length")
            if length is None:
                return b""  # neither header: no body (RFC 9112 section 6.3)
            if not length.strip().isdigit():
                self.close_connection = True
                raise invalid(f"Content-Length {length!r} is not a number")
            if int(length) > MAX_BODY:
                raise BodyTooLarge(int(length))
            body = self.rfile.read(int(length))  # times out after `timeout` seconds of silence
            if len(body) < int(length):
                self.close_connection = True
                return None  # the client closed early: nobody to answer
            return body

        def _handle(self):
            path = self.path.split("?", 1)[0]  # TF Serving routes on the URI path, without the query
            try:
                body = self._read_body()
            except BodyTooLarge as err:
                self.close_connection = True  # the unread body is not read
                self._send(413, {"error": f"request body of {err.args[0]} bytes is over {MAX_BODY} bytes"})
                return self._linger()
            except ServingError as err:
                return self._error(err)
            if body is None:
                return None
            if not HANDLED.fullmatch(path):
                return self._send(404, {"error": f"Malformed request: {self.command} {path} (not under /v1/)"})
            try:
                if self.command == "OPTIONS":  # a CORS preflight, as http_server.cc answers it
                    if re.search(r"https?://", self.headers.get("Origin", "")):
                        return self._send(200, {})
                    raise ServingError("FAILED_PRECONDITION", "Origin header is missing in CORS preflight")
                r = route(self.command, path)
                if self.command == "POST":
                    if r.method != "predict":  # :classify and :regress (and a :PREDICT that the regex let in)
                        if r.method in ("classify", "regress"):
                            raise ServingError("UNIMPLEMENTED", f"{r.method} is not supported; use :predict")
                        raise invalid(f"Malformed request: {self.command} {path}")
                    return self._send(200, predict_json(store, r.name, r.version, body, r.label))
                if r.subresource == "metadata":
                    return self._send(200, metadata_json(store, r.name, r.version, r.label))
                return self._send(200, status_json(store, r.name, r.version))  # labels: every version (TF Serving)
            except ServingError as err:
                return self._error(err)
            except Exception as err:  # anything unforeseen is still an answer (500), never a dropped connection
                return self._error(from_exception(err))

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    return Handler


def serve_rest(store, host="127.0.0.1", port=8501, timeout_s=30.0, verbose=False):
    """A started REST server (daemon thread); returns the server, whose server_port is the port."""
    import threading

    server = Server((host, port), make_handler(store, timeout_s, verbose))
    thread = threading.Thread(target=server.serve_forever, name="rest", daemon=True)
    thread.start()
    server.thread = thread
    return server
