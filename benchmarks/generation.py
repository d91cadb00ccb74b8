"""Generation throughput: events/s of the full pipeline (Pythia8 nextBatch + FastJet + selection
+ observables) per worker, against bare Pythia ``next()`` with the same settings, the 1 -> 2
worker speed-up, and where the time per event goes.

    python -m benchmarks.generation [--process qcd] [--events 3000] [--jets 2000]

Rates (events per second):

* bare: ``Pythia.next()`` after ``init()`` (no conversion, no clustering);
* pipeline per worker: ``nextBatch`` + ``select_jets`` + observables (once over all jets, as a
  shard computes them) after ``init()``. Bare and pipeline are timed in alternating blocks of
  200 events in one process, so that a drifting machine speed affects both alike; fraction =
  pipeline rate / bare rate, with the time per event split into its parts;
* speed-up: wall clock of a spawn pool running one shard on 1 worker against two shards on 2
  workers (process start, imports and Pythia initialisation included in both);
* end to end: ``generate(...)`` in this process, one shard, Pythia initialisation included, as a
  user running the command gets it.

Wall-clock timings: run on an otherwise idle machine; the load average is printed with the
result. Prints a table on stderr and a final JSON line on stdout.
"""

import json
import multiprocessing
import os
import sys
import time

from benchmarks.table import Figure
from preprocessing.cli import CommandParser, integer
from preprocessing.console import c_stdout_to_stderr
from preprocessing.errors import run_command
from preprocessing.events.generator import generate, select_jets
from preprocessing.events.processes import PROCESSES
from preprocessing.events.pythia import make_pythia
from preprocessing.jets.clustering import add_observables
from preprocessing.jets.selection import SELECTIONS

# arguments of `python -m benchmarks --quick`
QUICK = ["--events", "400", "--jets", "100"]
BARE = "bare Pythia next(), same run, alternating blocks"
FIGURES = [
    Figure(
        "bare_pythia_events_per_s",
        "bare Pythia next(), events/s (one core)",
        340.0,
        "DESIGN.md environment facts: QCD dijets at pTHatMin 500 GeV, bare, per core",
    ),
    Figure(
        "per_worker_events_per_s", "pipeline per worker, events/s", same_run="bare_pythia_events_per_s", source=BARE
    ),
    Figure("speedup_2_workers", "pool speed-up, 1 -> 2 workers", 2.0, "two workers on two free cores (linear)"),
    Figure(
        "end_to_end_1_worker_events_per_s",
        "generate() end to end, 1 worker, events/s",
        same_run="bare_pythia_events_per_s",
        source=BARE,
    ),
]


def interleaved(process, n_events, block=200, seed=1):
    """Bare ``next()`` and the pipeline timed in alternating blocks of `block` events.

    Two Pythia instances with the same settings take turns, so a drift of the machine's speed
    (other jobs, CPU steal on a shared VM) affects both sides alike. Returns (bare events/s,
    pipeline events/s, ms per event of bare next, nextBatch, selection and observables, and the
    pipeline's process CPU time over its wall time: about 1 when it ran on one core, above 1 if
    threads, e.g. BLAS ones, did work on other cores); the observables are computed once over all
    selected jets, as a shard does.
    """
    sel = SELECTIONS[PROCESSES[process].preset]
    with c_stdout_to_stderr():
        bare_py = make_pythia(PROCESSES[process], seed)
        pipe_py = make_pythia(PROCESSES[process], seed + 1)
        for _ in range(20):  # warm-up
            bare_py.next()
        pipe_py.nextBatch(20)
        t_bare = t_batch = t_select = cpu = 0.0
        done, parts = 0, []
        while done < n_events:
            t0 = time.perf_counter()
            for _ in range(block):
                bare_py.next()
            t1 = time.perf_counter()
            c1 = time.process_time()
            batch = pipe_py.nextBatch(block)
            t2 = time.perf_counter()
            parts.append(select_jets(batch, PROCESSES[process], sel, observables_now=False))
            t3 = time.perf_counter()
            cpu += time.process_time() - c1
            t_bare += t1 - t0
            t_batch += t2 - t1
            t_select += t3 - t2
            done += block
        t0, c0 = time.perf_counter(), time.process_time()
        add_observables(parts)
        t_obs = time.perf_counter() - t0
        cpu += time.process_time() - c0
    pipeline = t_batch + t_select + t_obs
    ms = {
        k: round(1e3 * v / done, 4)
        for k, v in (
            ("bare_next_ms", t_bare),
            ("next_batch_ms", t_batch),
            ("select_ms", t_select),
            ("observables_ms", t_obs),
        )
    }
    return done / t_bare, done / pipeline, ms, cpu / pipeline


def worker_loop(task):
    """Generate `n_jets` selected jets like a shard does; returns (events, init seconds, loop seconds)."""
    process, n_jets, seed = task
    sel = SELECTIONS[PROCESSES[process].preset]
    with c_stdout_to_stderr():
        t0 = time.perf_counter()
        py = make_pythia(PROCESSES[process], seed)
        t1 = time.perf_counter()
        have = events = 0
        parts = []
        while have < n_jets:  # the loop of generate_shard
            batch = py.nextBatch(200)
            parts.append(select_jets(batch, PROCESSES[process], sel, observables_now=False))
            have += len(parts[-1]["event"])
            events += len(batch)
        add_observables(parts, n_jets)
        return events, t1 - t0, time.perf_counter() - t1


def pool_run(process, n_jets, workers, seed=10):
    """Wall-clock events/s of `workers` spawned workers, one shard of `n_jets` each, and their loop rates."""
    ctx = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with ctx.Pool(workers) as pool:
        res = pool.map(worker_loop, [(process, n_jets, seed + i) for i in range(workers)])
    wall = time.perf_counter() - start
    return sum(r[0] for r in res) / wall, [r[0] / r[2] for r in res]


def pipeline_rate(process, n_jets, workers, shard_jets, seed=1):
    start = time.perf_counter()
    sample = generate(process, n_jets, seed=seed, workers=workers, shard_jets=shard_jets, progress=False)
    seconds = time.perf_counter() - start
    return sample.provenance["n_events"] / seconds, len(sample) / seconds, sample.provenance["n_events"]


def build_parser():
    parser = CommandParser(prog="python -m benchmarks.generation", description=__doc__)
    parser.add_argument("--process", default="qcd", choices=sorted(PROCESSES))
    parser.add_argument(
        "--events",
        type=integer(1),
        default=3000,
        help="events timed on each side of the interleaved bare/pipeline comparison",
    )
    parser.add_argument("--jets", type=integer(1), default=2000, help="selected jets per worker (one shard each)")
    return parser


def main(argv=None):
    return run_command(run, build_parser().parse_args(argv))


def collect(args):
    """The figures of one run as a JSON-ready dict (``run`` prints them)."""
    load_before = os.getloadavg()[0]
    bare, per_worker, parts, cpu_per_wall = interleaved(args.process, args.events)
    one_wall, one_loop = pool_run(args.process, args.jets, 1)
    two_wall, two_loop = pool_run(args.process, args.jets, 2)
    end_to_end, end_jets, n1 = pipeline_rate(args.process, args.jets, 1, args.jets)
    result = {
        "process": args.process,
        "cores": os.cpu_count(),
        "load_average_1min": round(load_before, 2),
        "selection": SELECTIONS[PROCESSES[args.process].preset].__dict__,
        "bare_pythia_events_per_s": round(bare, 1),
        "per_worker_events_per_s": round(per_worker, 1),
        "per_worker_fraction_of_bare": round(per_worker / bare, 3),
        "breakdown_ms_per_event": parts,
        "pipeline_cpu_over_wall": round(cpu_per_wall, 3),
        "pool_1_worker_events_per_s": round(one_wall, 1),
        "pool_2_workers_events_per_s": round(two_wall, 1),
        "speedup_2_workers": round(two_wall / one_wall, 2),
        "loop_events_per_s": {
            "1_worker": [round(r, 1) for r in one_loop],
            "2_workers": [round(r, 1) for r in two_loop],
        },
        "end_to_end_1_worker_events_per_s": round(end_to_end, 1),
        "end_to_end_jets_per_s": round(end_jets, 1),
        "jets_per_worker": args.jets,
        "interleaved_events": args.events,
        "end_to_end_events": n1,
    }
    return result


def run(args):
    result = collect(args)
    bare, per_worker, parts = (
        result["bare_pythia_events_per_s"],
        result["per_worker_events_per_s"],
        result["breakdown_ms_per_event"],
    )
    one_wall, two_wall = result["pool_1_worker_events_per_s"], result["pool_2_workers_events_per_s"]
    end_to_end, end_jets = result["end_to_end_1_worker_events_per_s"], result["end_to_end_jets_per_s"]
    print(f"{'bare Pythia next()':<34}{bare:10.1f} events/s  ({parts['bare_next_ms']:.3f} ms/event)", file=sys.stderr)
    print(
        f"{'pipeline per worker':<34}{per_worker:10.1f} events/s  ({per_worker / bare:.0%} of bare; nextBatch "
        f"{parts['next_batch_ms']:.3f} + selection {parts['select_ms']:.3f} + observables "
        f"{parts['observables_ms']:.3f} ms/event)",
        file=sys.stderr,
    )
    print(
        f"{'pool, 1 -> 2 workers':<34}{one_wall:10.1f} -> {two_wall:.1f} events/s  (x{two_wall / one_wall:.2f})",
        file=sys.stderr,
    )
    print(
        f"{'end to end, 1 worker':<34}{end_to_end:10.1f} events/s  ({end_jets:.1f} jets/s, init included)",
        file=sys.stderr,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
