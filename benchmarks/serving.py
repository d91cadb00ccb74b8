"""Serving latency and throughput on 127.0.0.1, REST and gRPC, raw constituents in.

    python -m benchmarks.serving [--model-dir exported/dvae] [--data jets.h5] [--seconds 4]

Starts ``python -m serving`` in a subprocess (batching on, as configured by default),
then for each protocol, 1 and 16 concurrent clients and batches of 1 and 256 jets, sends
requests for about ``--seconds`` and prints p50/p99 latency and jets/s. Taking turns with the
served windows (``--rounds`` of each), the same jets in the same batches are scored in this
process through the SavedModel's ``serving_default`` by one caller (the reference: the ratio of
the two is what other processes' load changes least), and the CPU time of server and clients per 1000 jets is given next to the
in-process caller's (CPU time hardly depends on the machine's load). Each client encodes its
request once and sends it again and again; the server decodes every request in full. Without
``--model-dir`` a freshly initialised DVAE is exported to a temporary folder (scores are
meaningless, timing is not); without ``--data`` 256 QCD jets are generated. The table goes to
stderr, one JSON object to stdout.
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

from benchmarks.table import Figure
from preprocessing.cli import CommandParser, check_inputs, integer, number
from preprocessing.errors import DataError, run_command

# arguments of `python -m benchmarks --quick`
QUICK = ["--seconds", "1", "--rounds", "1", "--clients", "1", "--batches", "1", "256"]
IN_PROCESS = "serving_default in this process, same jets and batches, alternating windows"


def figures(result):
    """Served jets/s of every row beside the in-process caller, and the p50 latency."""
    out = []
    for i, r in enumerate(result["rows"]):
        name = f"{r['protocol']}, {r['clients']} client(s), batch {r['batch']}"
        out.append(
            Figure(
                f"rows.{i}.jets_per_s", f"{name}: jets/s", same_run=f"rows.{i}.in_process_jets_per_s", source=IN_PROCESS
            )
        )
        out.append(
            Figure(
                f"rows.{i}.p50_ms",
                f"{name}: p50 latency, ms",
                same_run=f"rows.{i}.in_process_p50_ms",
                source=IN_PROCESS,
            )
        )
    return out


FIGURES = figures


def _start_server(model_dir, extra=()):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serving",
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
            *extra,
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=pathlib.Path(__file__).parents[1],
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


def _cpu_seconds(pid=None):
    """User + system CPU seconds of this process (every thread), or of process `pid` (Linux /proc)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Clients:
    """`n_clients` threads, each with its own connection and request, sending only while a window is open.

    Each client picks its jets once (its own random rows) and sends that request over and over,
    encoded once: the server still decodes, checks and scores every request in full, but the
    clients, which share the cores with the server, do no avoidable work.
    """

    def __init__(self, make_client, constituents, counts, n_clients, batch, model="bench"):
        self.batch, self.model = batch, model
        self.latencies, self.failures, self.jets = [], [], 0
        self.lock = threading.Lock()
        self.opened = threading.Barrier(n_clients + 1)
        self.closed = threading.Barrier(n_clients + 1)
        self.stop, self.finished = 0.0, False
        self.threads = [
            threading.Thread(target=self._worker, args=(make_client, constituents, counts, k), daemon=True)
            for k in range(n_clients)
        ]
        for t in self.threads:
            t.start()

    def _worker(self, make_client, constituents, counts, k):
        client = make_client()
        try:
            rows = _rows(k, self.batch, len(counts))
            send = client.prepared(constituents[rows], counts[rows], model=self.model)
            send()  # connected and warm before any window
            while True:
                self.opened.wait()
                if self.finished:
                    return
                while time.monotonic() < self.stop:
                    start = time.perf_counter()
                    try:
                        send()
                    except Exception as err:
                        self.failures.append(repr(err))
                        continue
                    took = time.perf_counter() - start
                    with self.lock:
                        self.latencies.append(took)
                        self.jets += self.batch
                self.closed.wait()
        except threading.BrokenBarrierError:
            pass
        except Exception as err:
            self.failures.append(repr(err))
            self.opened.abort()
            self.closed.abort()
        finally:
            client.close()

    def window(self, seconds):
        """(jets, wall seconds) of all clients sending for about `seconds`."""
        jets, start = self.jets, time.perf_counter()
        self.stop = time.monotonic() + seconds
        try:
            self.opened.wait()
            self.closed.wait()
        except threading.BrokenBarrierError:
            raise DataError(f"a benchmark client failed: {self.failures[-1] if self.failures else '?'}") from None
        return self.jets - jets, time.perf_counter() - start

    def close(self):
        self.finished = True
        try:
            self.opened.wait(timeout=60)
        except threading.BrokenBarrierError:
            pass
        for t in self.threads:
            t.join(timeout=60)


def _rows(client, batch, n_jets):
    """The jets client number `client` sends (its own random choice, the same on every run)."""
    return np.random.default_rng(client).choice(n_jets, batch, replace=batch > n_jets)


class _InProcess:
    """One caller scoring the clients' jets through `fn` in this process: the reference.

    The batches are the clients' own (the same rows, cut to their longest jet as the client cuts
    them), called in turn, fed as ready tensors and warm (each called once first), outputs read
    back to numpy.
    """

    def __init__(self, fn, constituents, counts, n_clients, batch):
        import tensorflow as tf

        self.fn, self.batch, self.feeds, self.calls, self.latencies = fn, batch, [], 0, []
        for k in range(n_clients):
            rows = _rows(k, batch, len(counts))
            n = max(1, int(counts[rows].max()))
            self.feeds.append(
                {"constituents": tf.constant(constituents[rows, :n]), "n_constituents": tf.constant(counts[rows])}
            )
        for feed in self.feeds:
            fn(**feed)

    def window(self, seconds):
        """(jets, wall seconds) of calls for about `seconds`."""
        start = now = time.perf_counter()
        n = 0
        while now - start < seconds:
            for value in self.fn(**self.feeds[self.calls % len(self.feeds)]).values():
                value.numpy()
            self.calls += 1
            n += 1
            self.latencies.append(time.perf_counter() - now)
            now = time.perf_counter()
        return n * self.batch, now - start


def _measure(make_client, fn, constituents, counts, n_clients, batch, seconds, rounds, server_pid, model="bench"):
    """One row: served and in-process windows in turn (`rounds` of each, `seconds` of each in all).

    The CPU time is counted when the server runs in process `server_pid` (None: not counted).

    Alternating short windows keeps the load from other processes, which drifts over seconds,
    about the same for both, so their ratio is what it changes least.
    """
    reference = _InProcess(fn, constituents, counts, n_clients, batch)
    clients = _Clients(make_client, constituents, counts, n_clients, batch, model)
    totals = dict.fromkeys(("jets", "wall", "cpu", "ref_jets", "ref_wall", "ref_cpu"), 0.0)
    cpu_known = True
    try:
        for _ in range(rounds):
            cpu0 = _cpu_seconds()
            jets, wall = reference.window(seconds / rounds)
            totals["ref_jets"] += jets
            totals["ref_wall"] += wall
            totals["ref_cpu"] += _cpu_seconds() - cpu0
            cpu0, server0 = _cpu_seconds(), _cpu_seconds(server_pid) if server_pid else None
            jets, wall = clients.window(seconds / rounds)
            server1 = _cpu_seconds(server_pid) if server_pid else None
            totals["jets"] += jets
            totals["wall"] += wall
            if server0 is None or server1 is None:
                cpu_known = False
            else:
                totals["cpu"] += _cpu_seconds() - cpu0 + server1 - server0
    finally:
        clients.close()
    lat = np.asarray(clients.latencies)
    served = totals["jets"] / totals["wall"]
    ref = totals["ref_jets"] / totals["ref_wall"]
    return {
        "clients": n_clients,
        "batch": batch,
        "requests": len(lat),
        "failures": len(clients.failures),
        "p50_ms": round(float(np.percentile(lat, 50)) * 1e3, 2) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)) * 1e3, 2) if len(lat) else None,
        "jets_per_s": round(served, 1),
        "in_process_jets_per_s": round(ref, 1),
        "in_process_p50_ms": round(float(np.percentile(reference.latencies, 50)) * 1e3, 2),
        "ratio": round(served / ref, 3),
        "cpu_ms_per_1k_jets": round(totals["cpu"] / totals["jets"] * 1e6, 2) if cpu_known and totals["jets"] else None,
        "in_process_cpu_ms_per_1k_jets": round(totals["ref_cpu"] / totals["ref_jets"] * 1e6, 2),
        "first_failure": clients.failures[0] if clients.failures else None,
    }


def build_parser():
    parser = CommandParser(prog="python -m benchmarks.serving", description=__doc__)
    parser.add_argument("--model-dir", help="export folder <base>/<model> with a raw-constituent serving_default")
    parser.add_argument("--data", help="sample file (.h5) whose first 256 jets are sent")
    parser.add_argument("--seconds", type=number(above=0), default=4.0, help="per measurement (default 4)")
    parser.add_argument("--clients", type=integer(1), nargs="+", default=[1, 16])
    parser.add_argument("--batches", type=integer(1), nargs="+", default=[1, 256])
    parser.add_argument("--protocols", nargs="+", choices=["rest", "grpc"], default=["rest", "grpc"])
    parser.add_argument(
        "--server-flag",
        action="append",
        default=[],
        metavar="FLAG",
        help="a flag for the server (python -m serving), e.g. --server-flag=--num_batch_threads=1 (repeatable)",
    )
    parser.add_argument(
        "--rounds", type=integer(1), default=4, help="served and in-process windows in turn per row (default 4)"
    )
    return parser


def main(argv=None):
    return run_command(run, build_parser().parse_args(argv))


def collect(args):
    """The figures of one run as a JSON-ready dict (``run`` prints them)."""
    if args.model_dir is not None and not pathlib.Path(args.model_dir).is_dir():
        raise DataError(f"--model-dir {args.model_dir}: no such folder")
    if args.data:
        check_inputs([args.data], "--data")
    from serving.client import GrpcClient, RestClient

    if args.data:
        from preprocessing.samples.format import read_sample

        sample = read_sample(args.data)
        sample = sample.subset(np.arange(min(256, len(sample))))
    else:
        from preprocessing.events.generator import generate

        sample = generate("qcd", 256, seed=5, progress=False)
    counts = np.asarray(sample.n_constituents, np.int32)
    constituents = np.asarray(sample.constituents[:, : counts.max()], np.float32)
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = pathlib.Path(args.model_dir) if args.model_dir else _fresh_export(pathlib.Path(tmp) / "bench")
        from training.export import load_tagger

        _, _, _, loaded = load_tagger(model_dir)
        fn = loaded.signatures["serving_default"]
        if sorted(fn.structured_input_signature[1]) != ["constituents", "n_constituents"]:
            raise DataError(f"--model-dir {model_dir}: serving_default does not take raw constituents")

        proc, ready = _start_server(model_dir, args.server_flag)
        try:
            rest_url = ready["rest"].split("/v1/")[0]
            makers = {
                "rest": lambda: RestClient(rest_url, timeout=60),
                "grpc": lambda: GrpcClient(ready["grpc"], timeout=60),
            }
            rows = []
            for protocol in args.protocols:
                for n_clients in args.clients:
                    for batch in args.batches:
                        row = _measure(
                            makers[protocol],
                            fn,
                            constituents,
                            counts,
                            n_clients,
                            batch,
                            args.seconds,
                            args.rounds,
                            proc.pid,
                        )
                        rows.append({"protocol": protocol, **row})
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    load_after = os.getloadavg()
    return {"cores": os.cpu_count(), "load_average": [list(load_before), list(load_after)], "rows": rows}


def run(args):
    result = collect(args)
    rows, (load_before, load_after) = result["rows"], result["load_average"]
    print(
        f"cores {os.cpu_count()}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after", file=sys.stderr
    )
    print(
        f"{'protocol':<9}{'clients':>8}{'batch':>7}{'requests':>10}{'fail':>6}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'jets/s':>10}{'in-proc':>10}{'ratio':>7}{'in-p50':>8}{'cpu/1k':>8}{'in-proc':>8}",
        file=sys.stderr,
    )
    for r in rows:
        cpu = "-" if r["cpu_ms_per_1k_jets"] is None else f"{r['cpu_ms_per_1k_jets']:.1f}"
        print(
            f"{r['protocol']:<9}{r['clients']:>8}{r['batch']:>7}{r['requests']:>10}{r['failures']:>6}"
            f"{r['p50_ms']!s:>9}{r['p99_ms']!s:>9}{r['jets_per_s']:>10}{r['in_process_jets_per_s']:>10}"
            f"{r['ratio']:>7}{r['in_process_p50_ms']:>8}{cpu:>8}{r['in_process_cpu_ms_per_1k_jets']:>8.1f}",
            file=sys.stderr,
        )
    print(
        "jets/s: served by the clients; in-proc: one caller of serving_default in this process, the clients' "
        "jets and batches, in windows taking turns with the served ones; ratio = jets/s / in-proc; cpu/1k: CPU ms per 1000 jets, "
        "server + clients (in-proc: the caller's process)",
        file=sys.stderr,
    )
    print(json.dumps(result, default=lambda x: list(x)))
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
