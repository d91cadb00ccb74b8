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
import time

import numpy as np

from benchmarks.table import Figure
from preprocessing.cli import CommandParser, check_inputs, integer
from preprocessing.errors import run_command
from preprocessing.representations import highlevel, registry, vrnn
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


VRNN_LIMIT_S = 120.0


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def _tile(sample, n_jets):
    """`sample` repeated (with trimmed padding) until it has n_jets jets."""
    width = int(sample.n_constituents.max())
    reps = int(np.ceil(n_jets / len(sample)))
    idx = np.tile(np.arange(len(sample)), reps)[:n_jets]
    return sample.constituents[idx, :width], sample.n_constituents[idx]


def representation_rates(sample):
    """{name: {"jets_per_s" or "events_per_s": rate, "jets" or "events": rows} or None if skipped}
    of every registered representation built from `sample` (after a warm-up on 50 rows)."""
    rates = {}
    for name in registry.NAMES:
        rows = sample
        if name == "highlevel":
            rows = highlevel.complete_events(sample)
            missing = [k for k in ("tau1", "tau2", "tau3") if k not in rows.jets]
            if len(rows) == 0 or missing:
                rates[name] = None
                print(f"{name:<14} skipped (needs two-jet events with tau1..tau3)", file=sys.stderr)
                continue
        registry.build(name, rows.subset(np.arange(min(len(rows), 50))))  # warm-up: imports, banners
        out, seconds = _timed(registry.build, name, rows)
        n = len(next(iter(out.values())))
        unit = "events" if name == "highlevel" else "jets"
        rates[name] = {f"{unit}_per_s": round(n / seconds, 1), unit: n}
        print(f"{name:<14}{n / seconds:12.1f} {unit}/s  ({n} {unit}, {seconds:.2f} s)", file=sys.stderr)
    return rates


def vrnn_scale_check(sample, n_jets):
    """VRNN sequences of `sample` tiled to `n_jets` jets, timed against VRNN_LIMIT_S: the work per
    jet is the same as for fresh jets. Returns a JSON-ready dict."""
    constituents, counts = _tile(sample, n_jets)
    print(f"vrnn: preparing {n_jets} jets ...", file=sys.stderr)
    out, seconds = _timed(vrnn.sequences, constituents, counts)
    n_steps = out["vrnn_mask"].sum(1)
    result = {
        "jets": n_jets,
        "seconds": round(seconds, 2),
        "jets_per_s": round(n_jets / seconds, 1),
        "limit_s": VRNN_LIMIT_S,
        "passed": seconds < VRNN_LIMIT_S,
        "mean_steps": round(float(n_steps.mean()), 2),
        "one_step_jets": int((n_steps == 1).sum()),
    }
    print(
        f"vrnn {n_jets} jets: {seconds:.1f} s ({'under' if seconds < VRNN_LIMIT_S else 'OVER'} "
        f"the {VRNN_LIMIT_S:.0f} s limit)",
        file=sys.stderr,
    )
    return result


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
