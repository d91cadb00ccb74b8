"""Generation throughput: events/s of the full pipeline (Pythia8 nextBatch + FastJet + selection)
per worker, against bare Pythia ``next()`` with the same settings, and the 1 -> 2 worker speed-up.

    python -m preprocessing.benchmark [--process qcd] [--events 3000]

Prints a table and a final JSON line. Wall-clock timings: run on an otherwise idle machine.
"""

import argparse
import json
import os
import sys
import time

from preprocessing.generate import PROCESSES, Selection, _make_pythia, _stdout_to_stderr, generate


def bare_pythia_rate(process, n_events, seed=1):
    with _stdout_to_stderr():
        py = _make_pythia(PROCESSES[process], seed)
        start = time.perf_counter()
        for _ in range(n_events):
            py.next()
        return n_events / (time.perf_counter() - start)


def pipeline_rate(process, n_jets, workers, shard_jets, seed=1):
    start = time.perf_counter()
    sample = generate(process, n_jets, seed=seed, workers=workers, shard_jets=shard_jets, progress=False)
    seconds = time.perf_counter() - start
    return sample.provenance["n_events"] / seconds, len(sample) / seconds, sample.provenance["n_events"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m preprocessing.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--process", default="qcd", choices=sorted(PROCESSES))
    parser.add_argument("--events", type=int, default=3000, help="bare Pythia events to time")
    parser.add_argument("--jets", type=int, default=2000, help="selected jets per pipeline timing")
    args = parser.parse_args(argv)

    bare = bare_pythia_rate(args.process, args.events)
    # one shard per worker so that start-up costs are the same in both runs
    one, one_jets, n1 = pipeline_rate(args.process, args.jets, 1, args.jets)
    two, two_jets, n2 = pipeline_rate(args.process, 2 * args.jets, 2, args.jets)
    result = {
        "process": args.process, "cores": os.cpu_count(), "selection": Selection().__dict__,
        "bare_pythia_events_per_s": round(bare, 1),
        "pipeline_1_worker_events_per_s": round(one, 1), "pipeline_1_worker_jets_per_s": round(one_jets, 1),
        "pipeline_per_worker_fraction_of_bare": round(one / bare, 3),
        "pipeline_2_workers_events_per_s": round(two, 1), "speedup_2_workers": round(two / one, 2),
        "events": {"bare": args.events, "pipeline_1": n1, "pipeline_2": n2},
    }
    print(f"{'bare Pythia next()':<32}{bare:10.1f} events/s", file=sys.stderr)
    print(f"{'pipeline, 1 worker':<32}{one:10.1f} events/s  ({one / bare:.0%} of bare, {one_jets:.1f} jets/s)",
          file=sys.stderr)
    print(f"{'pipeline, 2 workers':<32}{two:10.1f} events/s  (x{two / one:.2f})", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
