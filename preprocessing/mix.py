"""Build a contaminated sample: background with signal events mixed in at a chosen fraction.

For the weakly supervised / unsupervised set-ups of bortolato2021 (S/B = 10 %, 1 %, 0.1 %) and
kahn2021 (signal contamination from 0.01 % to 50 %). With N_B background events kept, the number
of signal events is::

    N_S = round(F / (1 - F) * N_B),   so that   F = N_S / (N_S + N_B),   S/B = F / (1 - F).

Whole events are drawn (both jets of an event-level sample stay together), signal events without
replacement, with ``--seed``; the events are then shuffled so that the signal is not at the end.
The truth labels are kept (label table merged by class name) for evaluation only: training code
on a contaminated sample must not read them.

    python -m preprocessing.mix --background B.h5 --signal S.h5 --fraction 0.01 --out OUT.h5
"""

import argparse
import datetime
import sys

import numpy as np

from preprocessing.errors import DataError
from preprocessing.sample import concatenate, read_sample, write_sample
from preprocessing.version import code_version


def _events(sample, chosen):
    """Rows of `sample` whose event number is in `chosen`."""
    return sample.subset(np.isin(sample.event, chosen))


def mix(background, signal, fraction, seed=0, n_background=None, background_name="", signal_name=""):
    """Mix `signal` into `background` (JetSamples) at signal fraction `fraction` of events.

    Args:
        background, signal: JetSamples with different class names.
        fraction: F in [0, 1), signal events / all events.
        seed: seed of the event draws and of the shuffle.
        n_background: background events to keep (default all), drawn at random.
        background_name, signal_name: where they came from, for provenance.

    Returns:
        the mixed JetSample, events shuffled, truth labels kept.
    """
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"--fraction must be in [0, 1), got {fraction}")
    shared = set(background.label_names) & set(signal.label_names)
    if shared:
        raise DataError(f"background ({background_name}) and signal ({signal_name}) share class name(s) "
                        f"{sorted(shared)}; the truth labels would be lost")
    rng = np.random.default_rng(seed)
    ev_b, ev_s = np.unique(background.event), np.unique(signal.event)
    if n_background is not None:
        if not 0 < n_background <= len(ev_b):
            raise DataError(f"--n-background {n_background} outside 1..{len(ev_b)} (events in {background_name})")
        ev_b = np.sort(rng.choice(ev_b, n_background, replace=False))
    n_s = round(fraction / (1.0 - fraction) * len(ev_b))
    if n_s > len(ev_s):
        raise DataError(f"fraction {fraction} with {len(ev_b)} background events needs {n_s} signal events, "
                        f"but {signal_name or 'the signal'} has only {len(ev_s)}")
    ev_s = np.sort(rng.choice(ev_s, n_s, replace=False))
    parts = [_events(background, ev_b)]
    if n_s:
        parts.append(_events(signal, ev_s))
    joined = concatenate(parts)
    if not n_s:  # keep the signal class in the table even with no signal drawn
        joined.label_names += [n for n in signal.label_names if n not in joined.label_names]
    # shuffle whole events: a random rank per event, rows sorted by it (stable within an event)
    events = np.unique(joined.event)
    rank = dict(zip(events.tolist(), rng.permutation(len(events)).tolist()))
    order = np.argsort(np.array([rank[e] for e in joined.event.tolist()]), kind="stable")
    out = joined.subset(order)
    out.provenance = {
        "mix": {"fraction": fraction, "signal_over_background": fraction / (1.0 - fraction),
                "background_events": len(ev_b), "signal_events": n_s, "seed": seed,
                "background": background_name, "signal": signal_name,
                "labels": "truth, for evaluation only"},
        "sources": joined.provenance["sources"] if n_s else [background.provenance, signal.provenance],
        "code_version": code_version(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m preprocessing.mix", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--background", required=True)
    parser.add_argument("--signal", required=True)
    parser.add_argument("--fraction", type=float, required=True, help="signal events / all events, in [0, 1)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-background", type=int, help="background events to keep (default: all)")
    args = parser.parse_args(argv)
    try:
        out = mix(read_sample(args.background), read_sample(args.signal), args.fraction, args.seed,
                  args.n_background, args.background, args.signal)
        write_sample(args.out, out)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    m = out.provenance["mix"]
    print(f"wrote {len(out)} jets ({m['background_events']} background + {m['signal_events']} signal events) "
          f"to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
