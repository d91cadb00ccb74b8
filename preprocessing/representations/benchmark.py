"""Representation throughput: jets/s of every registered representation, and the VRNN check
that 100k jets are prepared in under 2 minutes (kahn2021's Algorithm 1 is iterative). The
command line is ``python -m preprocessing.benchmark_representations``.

Progress goes to stderr. Wall-clock timings: run on an otherwise idle machine.
"""

import sys
import time

import numpy as np

from preprocessing.representations import highlevel, registry, vrnn

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
