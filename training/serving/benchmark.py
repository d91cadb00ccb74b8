"""Serving latency and throughput on 127.0.0.1, REST and gRPC, raw constituents in.

    python -m training.serving.benchmark [--model-dir exported/dvae] [--data jets.h5] [--seconds 4]

Starts ``python -m training.serve`` in a subprocess (batching on, as configured by default),
then for each protocol, 1 and 16 concurrent clients and batches of 1 and 256 jets, sends
requests for about ``--seconds`` and prints p50/p99 latency and jets/s, next to in-process
scoring of the same jets through the SavedModel's ``serving_default`` (the reference for
throughput). Without ``--model-dir`` a freshly initialised DVAE is exported to a temporary folder
(scores are meaningless, timing is not); without ``--data`` 256 QCD jets are generated.
The table goes to stderr, one JSON object to stdout.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from preprocessing.cli import CommandParser, check_inputs, integer, number
from preprocessing.errors import DataError, run_command


def _start_server(model_dir):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "training.serve",
            "--model_name",
            "bench",
            "--model_base_path",
            str(model_dir),
            "--port",
            "0",
            "--rest_api_port",
            "0",
            "--file_system_poll_wait_seconds",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=pathlib.Path(__file__).parents[2],
    )
    for _ in range(500):
        line = proc.stderr.readline()
        if not line:
            break
        if line.startswith("{"):
            ready = json.loads(line)
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
            return proc, ready
    proc.kill()
    raise DataError("the model server did not start")


def _run_clients(make_client, constituents, counts, n_clients, batch, seconds):
    """(latencies in s, jets scored, wall seconds, failures) of n_clients threads for ~seconds."""
    latencies, failures = [], []
    jets = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(k):
        client = make_client()
        rng = np.random.default_rng(k)
        try:
            while time.monotonic() < stop:
                rows = rng.choice(len(counts), batch, replace=batch > len(counts))
                start = time.perf_counter()
                try:
                    client.score(constituents[rows], counts[rows], model="bench")
                except Exception as err:
                    failures.append(repr(err))
                    continue
                took = time.perf_counter() - start
                with lock:
                    latencies.append(took)
                    jets[0] += batch
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return np.asarray(latencies), jets[0], time.perf_counter() - began, failures


def main(argv=None):
    parser = CommandParser(prog="python -m training.serving.benchmark", description=__doc__)
    parser.add_argument("--model-dir", help="export folder <base>/<model> with a raw-constituent serving_default")
    parser.add_argument("--data", help="sample file (.h5) whose first 256 jets are sent")
    parser.add_argument("--seconds", type=number(above=0), default=4.0, help="per measurement (default 4)")
    parser.add_argument("--clients", type=integer(1), nargs="+", default=[1, 16])
    parser.add_argument("--batches", type=integer(1), nargs="+", default=[1, 256])
    args = parser.parse_args(argv)
    return run_command(run, args)


def run(args):
    if args.model_dir is not None and not pathlib.Path(args.model_dir).is_dir():
        raise DataError(f"--model-dir {args.model_dir}: no such folder")
    if args.data:
        check_inputs([args.data], "--data")
    import tensorflow as tf

    from training.serving.client import GrpcClient, RestClient

    if args.data:
        from preprocessing.samples.format import read_sample

        sample = read_sample(args.data)
        sample = sample.subset(np.arange(min(256, len(sample))))
    else:
        from preprocessing.events.generator import generate

        sample = generate("qcd", 256, seed=5, progress=False)
    counts = np.asarray(sample.n_constituents, np.int32)
    constituents = np.asarray(sample.constituents[:, : counts.max()], np.float32)

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = pathlib.Path(args.model_dir) if args.model_dir else _fresh_export(pathlib.Path(tmp) / "bench")
        from training.export import load_tagger

        _, _, _, loaded = load_tagger(model_dir)
        fn = loaded.signatures["serving_default"]
        if sorted(fn.structured_input_signature[1]) != ["constituents", "n_constituents"]:
            raise DataError(f"--model-dir {model_dir}: serving_default does not take raw constituents")
        feed = {"constituents": tf.constant(constituents), "n_constituents": tf.constant(counts)}
        fn(**feed)
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < args.seconds:
            fn(**feed)
            n += len(counts)
        in_process = n / (time.perf_counter() - start)
        del loaded, fn

        proc, ready = _start_server(model_dir)
        try:
            rest_url = ready["rest"].split("/v1/")[0]
            makers = {
                "rest": lambda: RestClient(rest_url, timeout=60),
                "grpc": lambda: GrpcClient(ready["grpc"], timeout=60),
            }
            rows = []
            for protocol, make in makers.items():
                _run_clients(make, constituents, counts, 1, 1, 0.5)  # warm the connections and graph shapes
                for n_clients in args.clients:
                    for batch in args.batches:
                        lat, jets, wall, failures = _run_clients(
                            make, constituents, counts, n_clients, batch, args.seconds
                        )
                        rows.append(
                            {
                                "protocol": protocol,
                                "clients": n_clients,
                                "batch": batch,
                                "requests": len(lat),
                                "failures": len(failures),
                                "p50_ms": round(float(np.percentile(lat, 50)) * 1e3, 2) if len(lat) else None,
                                "p99_ms": round(float(np.percentile(lat, 99)) * 1e3, 2) if len(lat) else None,
                                "jets_per_s": round(jets / wall, 1),
                            }
                        )
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    print(f"in-process SavedModel serving_default, batch {len(counts)}: {in_process:.0f} jets/s", file=sys.stderr)
    print(
        f"{'protocol':<9}{'clients':>8}{'batch':>7}{'requests':>10}{'fail':>6}{'p50 ms':>9}{'p99 ms':>9}{'jets/s':>10}",
        file=sys.stderr,
    )
    for r in rows:
        print(
            f"{r['protocol']:<9}{r['clients']:>8}{r['batch']:>7}{r['requests']:>10}{r['failures']:>6}"
            f"{r['p50_ms']:>9}{r['p99_ms']:>9}{r['jets_per_s']:>10}",
            file=sys.stderr,
        )
    print(json.dumps({"in_process_jets_per_s": round(in_process, 1), "cores": os.cpu_count(), "rows": rows}))
    return 0


def _fresh_export(model_dir):
    import keras

    from models.dvae import DirichletVAE
    from training.export import export_tagger
    from training.model_card import ModelCard

    keras.utils.set_random_seed(0)
    model = DirichletVAE()
    model(np.zeros((1, 40, 40), np.float32))
    card = ModelCard.bare("bench", model, "jet_image", {"jet_image": [40, 40]}, "top", "balanced")
    export_tagger(model, {"jet_image": (40, 40)}, model_dir, card)
    return model_dir


if __name__ == "__main__":
    sys.exit(main())
