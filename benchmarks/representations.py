"""Representation throughput: jets/s of every registered representation, and the VRNN check
that 100k jets are prepared in under 2 minutes (kahn2021's Algorithm 1 is iterative).

    python -m benchmarks.representations [--data FILE ...] [--jets 2000] [--vrnn-jets 100000]

Without --data, ``--jets`` jets (half QCD, half top) are generated first (not timed). The VRNN
check tiles that sample up to ``--vrnn-jets`` jets: the work per jet is the same as for fresh
jets, and generating 100k jets would take far longer than the check itself. Progress and a
table go to stderr; the last line on stdout is a JSON summary. Wall-clock timings: run on an
otherwise idle machine.
"""

import json
import os
import sys

from benchmarks.table import Figure
from preprocessing.cli import CommandParser, check_inputs, integer
from preprocessing.errors import run_command
from preprocessing.representations.benchmark import (
    representation_rates,
    vrnn_scale_check,
)
from preprocessing.samples.format import concatenate, read_sample

# arguments of `python -m benchmarks --quick`
QUICK = ["--jets", "200", "--vrnn-jets", "5000"]


def figures(result):
    """jets/s (events/s for event rows) of every representation that ran, and the VRNN check."""
    out = []
    for name, rate in result["representations"].items():
        if rate:
            unit = next(k for k in rate if k.endswith("_per_s"))
            out.append(Figure(f"representations.{name}.{unit}", f"{name}, {unit.replace('_per_s', '')}/s"))
    check = result.get("vrnn_scale_check")
    if check:
        target = f"under {check['limit_s']:.0f} s for 100000 jets (kahn2021's Algorithm 1 is iterative)"
        out.append(Figure("vrnn_scale_check.seconds", f"VRNN sequences of {check['jets']} jets, s", target=target))
    return out


FIGURES = figures


def load_or_generate(paths, n_jets, seed):
    if paths:
        samples = [read_sample(p) for p in paths]
        return concatenate(samples) if len(samples) > 1 else samples[0]
    from preprocessing.events.generator import generate

    print(f"generating {n_jets} jets (half QCD, half top) for the benchmark ...", file=sys.stderr)
    return concatenate([generate(p, n_jets // 2, seed=seed + i, progress=False) for i, p in enumerate(("qcd", "top"))])


def build_parser():
    parser = CommandParser(prog="python -m benchmarks.representations", description=__doc__)
    parser.add_argument("--data", nargs="*", action="extend", default=[], help="sample files (default: generate)")
    parser.add_argument("--jets", type=integer(2), default=2000, help="jets to generate when no --data is given")
    parser.add_argument("--vrnn-jets", type=integer(0), default=100_000, help="jets for the VRNN scale check (0: skip)")
    parser.add_argument("--seed", type=integer(0), default=1)
    return parser


def main(argv=None):
    return run_command(run, build_parser().parse_args(argv))


def collect(args):
    """The figures of one run as a JSON-ready dict (``run`` prints them)."""
    check_inputs(args.data, "--data")
    sample = load_or_generate(args.data, args.jets, args.seed)
    result = {"cores": os.cpu_count(), "jets": len(sample), "representations": representation_rates(sample)}
    if args.vrnn_jets:
        result["vrnn_scale_check"] = vrnn_scale_check(sample, args.vrnn_jets)
    return result


def run(args):
    print(json.dumps(collect(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
