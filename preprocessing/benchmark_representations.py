"""Representation throughput: jets/s of every registered representation, and the VRNN check
that 100k jets are prepared in under 2 minutes (kahn2021's Algorithm 1 is iterative).

    python -m preprocessing.benchmark_representations [--data FILE ...] [--jets 2000] [--vrnn-jets 100000]

Without --data, ``--jets`` jets (half QCD, half top) are generated first (not timed). The VRNN
check tiles that sample up to ``--vrnn-jets`` jets: the work per jet is the same as for fresh
jets, and generating 100k jets would take far longer than the check itself. Progress and a
table go to stderr; the last line on stdout is a JSON summary. Wall-clock timings: run on an
otherwise idle machine.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from preprocessing import representations, vrnn
from preprocessing.errors import DataError
from preprocessing.highlevel import complete_events
from preprocessing.sample import concatenate, read_sample

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


def load_or_generate(paths, n_jets, seed):
    if paths:
        samples = [read_sample(p) for p in paths]
        return concatenate(samples) if len(samples) > 1 else samples[0]
    from preprocessing.generate import generate

    print(f"generating {n_jets} jets (half QCD, half top) for the benchmark ...", file=sys.stderr)
    return concatenate([generate(p, n_jets // 2, seed=seed + i, progress=False)
                        for i, p in enumerate(("qcd", "top"))])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m preprocessing.benchmark_representations", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="*", action="extend", default=[], help="sample files (default: generate)")
    parser.add_argument("--jets", type=int, default=2000, help="jets to generate when no --data is given")
    parser.add_argument("--vrnn-jets", type=int, default=100_000, help="jets for the VRNN scale check (0: skip)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        sample = load_or_generate(args.data, args.jets, args.seed)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    rates = {}
    for name in representations.REPRESENTATIONS:
        rows = sample
        if name == "highlevel":
            rows = complete_events(sample)
            missing = [k for k in ("tau1", "tau2", "tau3") if k not in rows.jets]
            if len(rows) == 0 or missing:
                rates[name] = None
                print(f"{name:<14} skipped (needs two-jet events with tau1..tau3)", file=sys.stderr)
                continue
        representations.build(name, rows.subset(np.arange(min(len(rows), 50))))  # warm-up: imports, banners
        out, seconds = _timed(representations.build, name, rows)
        n = len(next(iter(out.values())))
        unit = "events" if name == "highlevel" else "jets"
        rates[name] = {f"{unit}_per_s": round(n / seconds, 1), unit: n}
        print(f"{name:<14}{n / seconds:12.1f} {unit}/s  ({n} {unit}, {seconds:.2f} s)", file=sys.stderr)

    result = {"cores": os.cpu_count(), "jets": len(sample), "representations": rates}
    if args.vrnn_jets:
        constituents, counts = _tile(sample, args.vrnn_jets)
        print(f"vrnn: preparing {args.vrnn_jets} jets ...", file=sys.stderr)
        out, seconds = _timed(vrnn.sequences, constituents, counts)
        n_steps = out["vrnn_mask"].sum(1)
        result["vrnn_scale_check"] = {
            "jets": args.vrnn_jets, "seconds": round(seconds, 2), "jets_per_s": round(args.vrnn_jets / seconds, 1),
            "limit_s": VRNN_LIMIT_S, "passed": seconds < VRNN_LIMIT_S,
            "mean_steps": round(float(n_steps.mean()), 2), "one_step_jets": int((n_steps == 1).sum()),
        }
        print(f"vrnn {args.vrnn_jets} jets: {seconds:.1f} s ({'under' if seconds < VRNN_LIMIT_S else 'OVER'} "
              f"the {VRNN_LIMIT_S:.0f} s limit)", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
