"""Runs benchmarks in turn and writes benchmarks.json and benchmarks.md (one row per figure).

    python -m benchmarks [NAME ...] [--quick] [--out DIR]

Without NAME every benchmark runs, in the order below. Each is the module's own command,
``python -m benchmarks.NAME`` with its defaults (or with its small ``QUICK`` arguments under
``--quick``: numbers that show the path works and roughly how fast, not ones to quote), run in a
fresh process of its own, so that no benchmark inherits another's memory, threads or compiled
graphs (a child forked from a large process would also report that process's peak memory); its
progress goes to stderr, and the JSON line it prints last is its result. The table puts every
figure beside its reference (a peer measured in the same run, or a number with where it came
from; empty where none is known) and its target. A benchmark that fails is reported with its exit
status, the others still run, and the exit status is 1.
"""

import importlib
import json
import os
import pathlib
import subprocess
import sys
import time

from benchmarks.table import figures_of, markdown, rows
from preprocessing.cli import CommandParser
from preprocessing.errors import DataError, run_command

NAMES = (
    "generation",
    "representations",
    "dvae",
    "vrnn",
    "cheng2020",
    "cheng2022",
    "emd",
    "batches",
    "memory",
    "scaling",
    "serving",
)
ROOT = pathlib.Path(__file__).resolve().parents[1]


def build_parser():
    parser = CommandParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default all: {' '.join(NAMES)})")
    parser.add_argument("--quick", action="store_true", help="each benchmark at its small size")
    parser.add_argument("--out", default="runs/benchmarks", help="folder of the two files (default runs/benchmarks)")
    return parser


def main(argv=None):
    return run_command(run, build_parser().parse_args(argv))


def measure(name, quick):
    """{"name", "argv", "seconds", "result" or "error"} of one benchmark."""
    module = importlib.import_module(f"benchmarks.{name}")
    argv = list(module.QUICK) if quick else []
    print(f"== {name} {' '.join(argv)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    entry = {"name": name, "argv": argv}
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *argv], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:  # one failing benchmark is reported; the others still run
        entry["error"] = f"exit status {done.returncode}" + ("" if lines else ", no JSON result line")
    else:
        entry["result"] = json.loads(lines[-1])
    entry["seconds"] = round(time.perf_counter() - start, 1)
    print(
        f"== {name}: {entry['seconds']} s" + (f", failed: {entry['error']}" if "error" in entry else ""),
        file=sys.stderr,
    )
    return entry, module


def run(args):
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        raise DataError(f"unknown benchmark(s) {' '.join(unknown)}; choose from {' '.join(NAMES)}")
    names = list(dict.fromkeys(args.names)) or list(NAMES)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start, load_before = time.perf_counter(), os.getloadavg()
    entries, table = [], []
    for name in names:
        entry, module = measure(name, args.quick)
        entries.append(entry)
        if "result" in entry:
            table += rows(name, figures_of(module, entry["result"]), entry["result"])
        else:
            table.append(
                {
                    "benchmark": name,
                    "quantity": "failed: " + entry["error"],
                    "value": None,
                    "reference": None,
                    "source": "",
                    "target": "",
                }
            )
    summary = {
        "quick": args.quick,
        "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "seconds": round(time.perf_counter() - start, 1),
        "benchmarks": entries,
        "table": table,
    }
    (out / "benchmarks.json").write_text(json.dumps(summary, indent=1, default=list) + "\n")
    header = (
        f"`python -m benchmarks {' '.join(names)}{' --quick' if args.quick else ''}`: {os.cpu_count()} cores, "
        f"load average {summary['load_average_before'][0]} before and {summary['load_average_after'][0]} after, "
        f"{summary['seconds']} s in all.\n\n"
    )
    text = header + markdown(table)
    (out / "benchmarks.md").write_text(text)
    print(text)
    print(f"wrote {out / 'benchmarks.json'} and {out / 'benchmarks.md'}", file=sys.stderr)
    return 1 if any("error" in e for e in entries) else 0


if __name__ == "__main__":
    sys.exit(main())
