"""A local stand-in for TF Serving's REST API, for machines without the model server.

    python -m training.serve --model-dir exported/dvae [--model-dir exported/vae1d ...] [--port 8501]

Serves every integer version of each export folder under the folder's name, with the endpoints
and JSON formats of TF Serving's REST API, so that clients written against it work unchanged:

    GET  /v1/models/<name>                          version status
    GET  /v1/models/<name>/metadata                 signature inputs and outputs
    POST /v1/models/<name>[/versions/<v>]:predict   {"instances": [...]}  -> {"predictions": [...]}
                                                    {"inputs": {...}}     -> {"outputs": {...}}

It binds to 127.0.0.1 by default; it is a development tool, not a production server (use
``tensorflow_model_server --rest_api_port=8501 --model_base_path=...`` for that).
"""

import errno
import http.server
import json
import pathlib
import re
import sys
import threading

import numpy as np

from preprocessing.cli import CommandParser, integer
from preprocessing.errors import DataError, run_command

ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<rest>:predict|/metadata)?$")


class ModelStore:
    """SavedModels by (name, version), loaded once; the newest version answers by default."""

    def __init__(self, model_dirs):
        from training.export import versions

        self.dirs = {}
        for d in model_dirs:
            d = pathlib.Path(d)
            if not d.is_dir():
                raise DataError(f"--model-dir {d}: no such folder")
            found = versions(d)
            if not found:
                raise DataError(f"--model-dir {d}: no integer version folders to serve")
            if d.name in self.dirs:
                raise DataError(f"--model-dir {d}: a second model named {d.name!r} ({self.dirs[d.name][0]})")
            self.dirs[d.name] = (d, found)
        self.loaded = {}
        self.lock = threading.Lock()

    def signature(self, name, version=None):
        from training.export import load_tagger

        if name not in self.dirs:
            raise KeyError(f"Servable not found for request: Latest({name})")
        folder, found = self.dirs[name]
        version = int(version) if version is not None else found[-1]
        if version not in found:
            raise KeyError(f"Servable not found for request: Specific({name}, {version})")
        with self.lock:
            if (name, version) not in self.loaded:
                fn, card, _, keep = load_tagger(folder / str(version))
                self.loaded[(name, version)] = (fn, card, keep)
        return self.loaded[(name, version)][0], version


def predict(fn, body):
    """TF Serving's row ("instances") or columnar ("inputs") predict semantics on one signature."""
    import tensorflow as tf

    names = sorted(fn.structured_input_signature[1])
    if "instances" in body:
        rows = body["instances"]
        if len(names) == 1 and not (rows and isinstance(rows[0], dict)):
            feed = {names[0]: rows}
        else:
            feed = {n: [r[n] for r in rows] for n in names}
        row_format = True
    elif "inputs" in body:
        inputs = body["inputs"]
        feed = inputs if isinstance(inputs, dict) else {names[0]: inputs}
        row_format = False
    else:
        raise ValueError("request body needs 'instances' or 'inputs'")
    missing = set(names) - set(feed)
    if missing:
        raise ValueError(f"missing input(s) {sorted(missing)}; the signature takes {names}")
    out = fn(**{n: tf.constant(np.asarray(feed[n], np.float32)) for n in names})
    out = {k: v.numpy().tolist() for k, v in out.items()}
    if row_format:
        n = len(next(iter(out.values())))
        return {"predictions": [{k: v[i] for k, v in out.items()} for i in range(n)]}
    return {"outputs": out}


def make_handler(store):
    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, code, payload):
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):  # requests go to stderr only when asked
            if getattr(self.server, "verbose", False):
                sys.stderr.write("serve: " + fmt % args + "\n")

        def do_GET(self):
            m = ROUTE.match(self.path)
            if not m or m["rest"] == ":predict":
                return self._send(404, {"error": f"no such endpoint: {self.path}"})
            try:
                fn, version = store.signature(m["name"], m["version"])
            except KeyError as err:
                return self._send(404, {"error": str(err).strip("'\"")})
            if m["rest"] == "/metadata":
                sig = {
                    "inputs": {k: {"shape": list(v.shape)} for k, v in fn.structured_input_signature[1].items()},
                    "outputs": sorted(fn.structured_outputs),
                }
                return self._send(
                    200,
                    {
                        "model_spec": {"name": m["name"], "version": str(version)},
                        "metadata": {"signature_def": {"serving_default": sig}},
                    },
                )
            return self._send(
                200,
                {
                    "model_version_status": [
                        {
                            "version": str(version),
                            "state": "AVAILABLE",
                            "status": {"error_code": "OK", "error_message": ""},
                        }
                    ]
                },
            )

        def do_POST(self):
            m = ROUTE.match(self.path)
            if not m or m["rest"] != ":predict":
                return self._send(404, {"error": f"no such endpoint: {self.path}"})
            try:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                fn, _ = store.signature(m["name"], m["version"])
                return self._send(200, predict(fn, body))
            except KeyError as err:
                return self._send(404, {"error": str(err).strip("'\"")})
            except (ValueError, TypeError, json.JSONDecodeError) as err:
                return self._send(400, {"error": str(err)})
            except Exception as err:  # a graph error on bad shapes: report it like TF Serving does
                return self._send(400, {"error": f"{type(err).__name__}: {err}"})

    return Handler


def bind(host, port):
    """A server bound to (host, port) with no handler yet; a port in use or a bad host is a DataError."""
    try:
        return http.server.ThreadingHTTPServer((host, port), http.server.BaseHTTPRequestHandler)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise DataError(f"--port {port}: {host}:{port} is already in use; choose another port") from None
        if err.errno == errno.EACCES:
            raise DataError(f"--port {port}: permission denied (ports below 1024 need privileges)") from None
        raise DataError(f"--host {host} --port {port}: cannot listen there ({err.strerror or err})") from None


def start(model_dirs, host="127.0.0.1", port=8501, verbose=False):
    """Start the server in a background thread; returns (server, thread). server.server_port is the port.

    The folders are checked and the port is bound before any model is loaded, so mistakes are
    reported at once.
    """
    store = ModelStore(model_dirs)
    server = bind(host, port)
    server.RequestHandlerClass = make_handler(store)
    server.verbose = verbose
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def main(argv=None):
    parser = CommandParser(prog="python -m training.serve", description=__doc__)
    parser.add_argument("--model-dir", action="append", required=True, help="export folder <base>/<model>")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=integer(0, 65535), default=8501, help="0: any free port")
    args = parser.parse_args(argv)
    return run_command(run, args)


def run(args):
    server, thread = start(args.model_dir, args.host, args.port, verbose=True)
    print(
        f"serving {args.model_dir} on "
        f"http://{args.host}:{server.server_port}/v1/models/<name>:predict (Ctrl-C to stop)",
        file=sys.stderr,
    )
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
