"""Mixing signal events into background at a chosen signal fraction F of events:
N_S = round(F / (1 - F) * N_B) signal events for N_B background events, whole events drawn,
then shuffled (a fraction F > 0 that rounds to no signal event is refused; the fraction reached,
N_S / (N_S + N_B), is recorded with the one asked); the truth labels are kept for evaluation only. The command line is
``python -m preprocessing.mix``.
"""

import datetime
import math

import numpy as np

from preprocessing.errors import DataError
from preprocessing.samples.format import concatenate
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
        raise DataError(
            f"background ({background_name}) and signal ({signal_name}) share class name(s) "
            f"{sorted(shared)}; the truth labels would be lost"
        )
    rng = np.random.default_rng(seed)
    ev_b, ev_s = np.unique(background.event), np.unique(signal.event)
    if n_background is not None:
        if not 0 < n_background <= len(ev_b):
            raise DataError(f"--n-background {n_background} outside 1..{len(ev_b)} (events in {background_name})")
        ev_b = np.sort(rng.choice(ev_b, n_background, replace=False))
    n_s = round(fraction / (1.0 - fraction) * len(ev_b))
    if fraction > 0 and n_s == 0:
        need = math.floor(0.5 * (1.0 - fraction) / fraction) + 1  # round(0.5) is 0
        raise DataError(
            f"--fraction {fraction:g} of {len(ev_b)} background events rounds to 0 signal events; "
            f"use at least {need} background events or a larger fraction (--fraction 0 mixes no signal)"
        )
    if n_s > len(ev_s):
        raise DataError(
            f"fraction {fraction} with {len(ev_b)} background events needs {n_s} signal events, "
            f"but {signal_name or 'the signal'} has only {len(ev_s)}"
        )
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
        "mix": {
            "fraction": fraction,
            # whole events: the fraction reached, N_S / (N_S + N_B), differs from the one asked by rounding
            "achieved_fraction": n_s / (n_s + len(ev_b)),
            "signal_over_background": fraction / (1.0 - fraction),
            "background_events": len(ev_b),
            "signal_events": n_s,
            "seed": seed,
            "background": background_name,
            "signal": signal_name,
            "labels": "truth, for evaluation only",
        },
        "sources": joined.provenance["sources"] if n_s else [background.provenance, signal.provenance],
        "code_version": code_version(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    return out
