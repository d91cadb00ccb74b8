"""A model server with TF Serving's REST and gRPC APIs, for machines without ``tensorflow_model_server``.

    python -m serving --model_name dvae --model_base_path exported/dvae [--port 8500] [--rest_api_port 8501]
    python -m serving --model_config_file models.config
    python -m serving --model-dir exported/dvae [--model-dir exported/vae1d ...]   # older form

Clients written against TF Serving work unchanged (``../shared/SPECS.md``, "Serving contract"):

    REST  GET  /v1/models/<name>[/versions/<v>]            version status (every loaded version)
          GET  /v1/models/<name>[/versions/<v>]/metadata   SignatureDefMap as TF Serving writes it
          POST /v1/models/<name>[/versions/<v>]:predict    {"signature_name"?, "instances" | "inputs"}
    gRPC  tensorflow.serving.PredictionService/Predict, GetModelMetadata; ModelService/GetModelStatus

Flags follow ``tensorflow_model_server``: ``--port`` (gRPC, 8500), ``--rest_api_port`` (8501),
``--model_name`` + ``--model_base_path`` or ``--model_config_file`` (text ``ModelServerConfig``
with ``latest{N}``/``all{}``/``specific{}`` policies and ``version_labels``),
``--model_config_file_poll_wait_seconds`` (re-read the config file; 0: never, TF Serving's default),
``--allow_version_labels_for_unavailable_models``, ``--file_system_poll_wait_seconds``
(new versions are served without a restart), ``--enable_batching``, ``--batching_parameters_file``
(text ``BatchingParameters``: ``max_batch_size``, ``batch_timeout_micros``, ``num_batch_threads``,
``max_enqueued_batches``; ``deploy/batching.config`` serves both servers), the same fields as
flags (``--max_batch_size``, ``--batch_timeout_micros``, ``--num_batch_threads``, which win over
the file), ``--enable_model_warmup``, ``--rest_api_timeout_in_ms``. Port 0 means any free port;
the ports in use are printed on stderr as one JSON line.

It binds 127.0.0.1 unless ``--host`` says otherwise: ``--host 0.0.0.0`` listens on every interface
as ``tensorflow_model_server`` does (``server.cc`` binds ``0.0.0.0``), for a container or a
cluster; the server has no authentication, so only do that behind a network you trust.
"""

import argparse
import errno
import json
import pathlib
import sys

from preprocessing.cli import CommandParser, integer
from preprocessing.errors import DataError, run_command


def _bool(text):
    value = str(text).lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


_bool.__name__ = "true/false"


class Running:
    """A started server: `store`, `rest` (HTTP server or None), `grpc` (grpc.Server or None), ports."""

    def __init__(self, store, rest, grpc_server, grpc_port):
        self.store = store
        self.rest = rest
        self.grpc = grpc_server
        self.grpc_port = grpc_port

    @property
    def rest_port(self):
        return self.rest.server_port if self.rest is not None else None

    @property
    def server_port(self):  # the REST port, as the old stand-in's server object had it
        return self.rest_port

    def shutdown(self):
        if self.rest is not None:
            self.rest.shutdown()
            self.rest.server_close()
        if self.grpc is not None:
            self.grpc.stop(grace=1).wait(5)
        self.store.stop()


def configs_from(model_dirs=None, model_name=None, model_base_path=None, model_config_file=None, policy=None):
    """[ModelConfig] from exactly one way of naming models; DataError otherwise."""
    from serving.config import ModelConfig, VersionPolicy, check_unique, read_config_file
    from training.export import versions

    given = [x for x in (model_dirs, model_base_path, model_config_file) if x]
    if len(given) != 1:
        raise DataError(
            "name the models one way: --model_base_path (+ --model_name), --model_config_file or --model-dir"
        )
    policy = policy or VersionPolicy()
    if model_config_file:
        return read_config_file(model_config_file)
    if model_base_path:
        base = pathlib.Path(model_base_path)
        if not base.is_dir():
            raise DataError(f"--model_base_path {base}: no such folder")
        return [ModelConfig(model_name or "default", base.resolve(), policy)]
    configs = []
    for d in model_dirs:
        d = pathlib.Path(d)
        if not d.is_dir():
            raise DataError(f"--model-dir {d}: no such folder")
        if not versions(d):
            raise DataError(f"--model-dir {d}: no integer version folders to serve")
        configs.append(ModelConfig(d.name, d.resolve(), policy))
    return check_unique(configs)


def start(
    model_dirs=None,
    host="127.0.0.1",
    port=8501,
    verbose=False,
    *,
    grpc_port=None,
    configs=None,
    poll_s=1.0,
    batching=True,
    max_batch_size=256,
    batch_timeout_s=0.0,
    num_batch_threads=None,
    warmup=False,
    timeout_s=30.0,
    max_enqueued_batches=None,
    config_file=None,
    config_poll_s=0,
    allow_unavailable_labels=False,
):
    """Start serving in background threads; returns a Running.

    Args:
        model_dirs: export folders <base>/<model> served under their folder names (all versions
            with ``configs`` None: the old stand-in's behaviour), or use `configs`.
        port: the REST port (0: any free port; None: no REST).
        grpc_port: the gRPC port (0: any free port; None: no gRPC).
        configs: [ModelConfig] instead of `model_dirs`.
        poll_s: seconds between scans of the base paths (0: no hot reload).
        config_file, config_poll_s: the models.config re-read every `config_poll_s` seconds (0: never).
        allow_unavailable_labels: a new label may name a version that is not AVAILABLE.
    """
    from serving.config import VersionPolicy
    from serving.store import ModelStore

    if configs is None:
        configs = configs_from(model_dirs=model_dirs, policy=VersionPolicy("all"))
    batch = (
        {
            "max_batch_size": max_batch_size,
            "batch_timeout_s": batch_timeout_s,
            "num_batch_threads": num_batch_threads,
            "max_enqueued_batches": max_enqueued_batches,
        }
        if batching
        else None
    )
    rest = grpc_server = bound = None
    store = ModelStore(
        configs,
        poll_s=poll_s,
        batching=batch,
        warmup=warmup,
        config_file=config_file,
        config_poll_s=config_poll_s,
        allow_unavailable_labels=allow_unavailable_labels,
    )
    try:
        # bind first, gRPC then REST: a port in use is reported before any model loads
        if grpc_port is not None:
            from serving.grpc_service import serve_grpc

            grpc_server, bound = _bind(lambda: serve_grpc(store, host, grpc_port), "--port", host, grpc_port)
        if port is not None:
            from serving.rest import serve_rest

            flag = "--rest_api_port" if grpc_port is not None else "--port"
            rest = _bind(lambda: serve_rest(store, host, port, timeout_s, verbose), flag, host, port)
        store.start()
    except BaseException:
        Running(store, rest, grpc_server, bound).shutdown()
        raise
    return Running(store, rest, grpc_server, bound)


def _bind(make, flag, host, port):
    try:
        return make()
    except OSError as err:
        if err.errno == errno.EADDRINUSE or "in use" in str(err):
            raise DataError(f"{flag} {port}: {host}:{port} is already in use; choose another port") from None
        if err.errno == errno.EACCES:
            raise DataError(f"{flag} {port}: permission denied (ports below 1024 need privileges)") from None
        raise DataError(f"{flag} {port}: cannot listen on {host}:{port} ({err.strerror or err})") from None


def main(argv=None):
    parser = CommandParser(prog="python -m serving", description=__doc__)
    parser.add_argument("--port", type=integer(0, 65535), default=8500, help="gRPC port (default 8500; 0: any free)")
    parser.add_argument("--rest_api_port", type=integer(0, 65535), default=8501, help="REST port (default 8501)")
    parser.add_argument("--model_name", help="name of the model of --model_base_path (default 'default')")
    parser.add_argument("--model_base_path", help="folder of integer version folders")
    parser.add_argument("--model_config_file", help="text-format ModelServerConfig")
    parser.add_argument("--model-dir", action="append", help="export folder served under its name, every version")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1; 0.0.0.0: every interface, as tensorflow_model_server)",
    )
    parser.add_argument("--file_system_poll_wait_seconds", type=integer(0), default=1, help="0: no hot reload")
    parser.add_argument(
        "--model_config_file_poll_wait_seconds",
        type=integer(0),
        default=0,
        help="re-read --model_config_file every N seconds (default 0: never)",
    )
    parser.add_argument(
        "--allow_version_labels_for_unavailable_models",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        help="a new version label may name a version not loaded yet (default false)",
    )
    parser.add_argument(
        "--enable_batching", type=_bool, nargs="?", const=True, default=True, help="true/false (default true)"
    )
    parser.add_argument("--batching_parameters_file", help="text-format BatchingParameters (TF Serving's flag)")
    parser.add_argument("--max_batch_size", type=integer(1), default=None, help="most rows per batched call (256)")
    parser.add_argument("--batch_timeout_micros", type=integer(0), default=None, help="wait for company (default 0)")
    parser.add_argument(
        "--num_batch_threads", type=integer(1), default=None, help="most batches run at once (default: one per core)"
    )
    parser.add_argument(
        "--enable_model_warmup", type=_bool, nargs="?", const=True, default=True, help="replay warmup requests on load"
    )
    parser.add_argument("--rest_api_timeout_in_ms", type=integer(1), default=30000, help="drop stalled requests")
    args = parser.parse_args(argv)
    if args.model_name and not args.model_base_path:
        parser.error("--model_name needs --model_base_path")
    return run_command(run, args)


def batching_options(args):
    """{max_batch_size, batch_timeout_s, num_batch_threads, max_enqueued_batches}: the file's values
    (``--batching_parameters_file``), then the flags given on the command line over them."""
    from serving.config import read_batching_parameters

    params = read_batching_parameters(args.batching_parameters_file) if args.batching_parameters_file else {}
    for name in ("max_batch_size", "batch_timeout_micros", "num_batch_threads"):
        given = getattr(args, name)
        if given is not None:
            params[name] = given
    return {
        "max_batch_size": params.get("max_batch_size", 256),
        "batch_timeout_s": params.get("batch_timeout_micros", 0) / 1e6,
        "num_batch_threads": params.get("num_batch_threads"),
        "max_enqueued_batches": params.get("max_enqueued_batches"),
    }


def run(args):
    from serving.config import VersionPolicy

    if args.model_config_file_poll_wait_seconds and not args.model_config_file:
        raise DataError("--model_config_file_poll_wait_seconds needs --model_config_file")
    batch = batching_options(args)
    configs = configs_from(
        model_dirs=args.model_dir,
        model_name=args.model_name,
        model_base_path=args.model_base_path,
        model_config_file=args.model_config_file,
        policy=VersionPolicy("all") if args.model_dir else None,
    )
    running = start(
        host=args.host,
        port=args.rest_api_port,
        verbose=True,
        grpc_port=args.port,
        configs=configs,
        poll_s=args.file_system_poll_wait_seconds,
        batching=args.enable_batching,
        warmup=args.enable_model_warmup,
        timeout_s=args.rest_api_timeout_in_ms / 1000,
        config_file=args.model_config_file,
        config_poll_s=args.model_config_file_poll_wait_seconds,
        allow_unavailable_labels=args.allow_version_labels_for_unavailable_models,
        **batch,
    )
    print(
        json.dumps(
            {
                "models": [c.name for c in configs],
                "grpc": f"{args.host}:{running.grpc_port}",
                "rest": f"http://{args.host}:{running.rest_port}/v1/models/<name>",
            }
        ),
        file=sys.stderr,
        flush=True,
    )
    try:
        running.rest.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        running.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
