"""Throughput measurements shared by the benchmark commands: training and scoring rows per second.

Both time steady-state work only: training after one warm-up epoch that traces the step, scoring
after one warm-up chunk that traces the scorer.
"""

import time

from models.base import n_rows


def head(x, n):
    """The first `n` rows of an array or of every array of a dict."""
    return {k: v[:n] for k, v in x.items()} if isinstance(x, dict) else x[:n]


def training_rate(model, x, epochs, batch_size, y=None):
    """Rows per second of ``model.fit`` over `x` (and targets `y`) for `epochs` epochs.

    A first ``fit`` of one epoch over all of `x` is not timed: it traces the train step, and every
    variant of it the timed epochs need (a last, smaller batch; a last, shorter run of steps with
    ``steps_per_execution``), so no tracing is timed.
    """
    model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    return n_rows(x) * epochs / (time.perf_counter() - start)


def scoring_rate(score, x, chunk=4096):
    """Rows per second of ``score(rows)`` over `x` in chunks of `chunk` rows, after one warm-up chunk."""
    n = n_rows(x)
    score(head(x, chunk))
    start = time.perf_counter()
    for i in range(0, n, chunk):
        score({k: v[i : i + chunk] for k, v in x.items()} if isinstance(x, dict) else x[i : i + chunk])
    return n / (time.perf_counter() - start)
