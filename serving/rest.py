"""TF Serving's REST API on a threaded HTTP server.

    GET  /v1/models/{name}[/versions/{v}]             status of every loaded version (or one)
    GET  /v1/models/{name}[/versions/{v}]/metadata    {"model_spec", "metadata": {"signature_def": {"signature_def": ...}}}
    POST /v1/models/{name}[/versions/{v}]:predict     {"signature_name"?, "instances" | "inputs"}

Errors are ``{"error": message}`` with TF Serving's status for the code (``errors.CODES``).
The server keeps a real listen backlog (1024), answers HTTP/1.1 keep-alive connections on one
thread each, and drops a connection whose request does not arrive completely within the
timeout (``--rest_api_timeout_in_ms``), so a slow or truncated client blocks nobody else.
"""

import http.server
import json
import re
import sys

from google.protobuf import json_format

from serving import tensors
from serving.errors import ServingError, invalid, not_found

ROUTE = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?:/labels/(?P<label>[^/:]+))?"
    r"(?P<rest>:predict|:classify|:regress|/metadata)?$"
)
MAX_BODY = 512 * 1024 * 1024


def _version(text):
    if text is None:
        return None
    if not text.isdigit():
        raise invalid(f"version {text!r} is not an integer")
    return int(text)


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


def metadata_json(store, name, version=None):
    servable = store.metadata_servable(name, version)
    sig_map = json_format.MessageToDict(
        signature_def_map(servable), always_print_fields_with_no_presence=True, preserving_proto_field_name=True
    )
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(servable.version)},
        "metadata": {"signature_def": sig_map},
    }


def predict_json(store, name, version, body):
    request = tensors.parse_json(body)
    signature_name = request.get("signature_name", "serving_default")
    if not isinstance(signature_name, str):
        raise invalid("'signature_name' must be a string")
    servable = store.servable(name, version)
    signature = servable.signature(signature_name)
    arrays, row_format = tensors.rest_inputs(request, signature.input_specs)
    return tensors.rest_outputs(signature.run(arrays), row_format)


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
            data = json.dumps(payload, allow_nan=False).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, err):
            self._send(err.http_status, {"error": err.message})

        def _route(self):
            m = ROUTE.match(self.path.split("?", 1)[0])
            if not m:
                raise not_found(f"Malformed request: {self.command} {self.path}")
            if m["label"] is not None:
                raise ServingError("UNIMPLEMENTED", "version labels are not supported by this server")
            return m

        def handle_one_request(self):
            try:
                super().handle_one_request()
            except (TimeoutError, ConnectionError):
                self.close_connection = True  # the client stalled or went away: drop it

        def do_GET(self):
            try:
                m = self._route()
                if m["rest"] in (":predict", ":classify", ":regress"):
                    raise ServingError("UNIMPLEMENTED", f"{m['rest'][1:]} needs POST")
                version = _version(m["version"])
                if m["rest"] == "/metadata":
                    return self._send(200, metadata_json(store, m["name"], version))
                return self._send(200, status_json(store, m["name"], version))
            except ServingError as err:
                return self._error(err)

        def do_POST(self):
            try:
                length = self.headers.get("Content-Length")
                if length is None or not length.isdigit():
                    self.close_connection = True
                    raise invalid("a POST needs a Content-Length header")
                if int(length) > MAX_BODY:
                    self.close_connection = True
                    raise ServingError("RESOURCE_EXHAUSTED", f"request body over {MAX_BODY} bytes")
                body = self.rfile.read(int(length))  # times out after `timeout` seconds of silence
                if len(body) < int(length):
                    self.close_connection = True
                    return None  # the client closed early: nobody to answer
                m = self._route()
                if m["rest"] in (":classify", ":regress"):
                    raise ServingError("UNIMPLEMENTED", f"{m['rest'][1:]} is not supported; use :predict")
                if m["rest"] != ":predict":
                    raise ServingError("UNIMPLEMENTED", "POST is only for :predict")
                return self._send(200, predict_json(store, m["name"], _version(m["version"]), body))
            except ServingError as err:
                return self._error(err)

    return Handler


def serve_rest(store, host="127.0.0.1", port=8501, timeout_s=30.0, verbose=False):
    """A started REST server (daemon thread); returns the server, whose server_port is the port."""
    import threading

    server = Server((host, port), make_handler(store, timeout_s, verbose))
    thread = threading.Thread(target=server.serve_forever, name="rest", daemon=True)
    thread.start()
    server.thread = thread
    return server
