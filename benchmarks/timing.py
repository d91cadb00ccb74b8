"""Timing helpers of every benchmark (`python -m benchmarks`): training and scoring rows per second.

Both time steady-state work only: training after one warm-up epoch that traces (and, for XLA
models, compiles) the step, scoring after one warm-up chunk that traces the scorer.
"""

import time

import keras

from models.base import n_rows


def head(x, n):
    """The first `n` rows of an array or of every array of a dict."""
    return {k: v[:n] for k, v in x.items()} if isinstance(x, dict) else x[:n]


def training_rate(model, x, epochs, batch_size, y=None):
    """Rows per second of training `model` on `x` (and targets `y`) as ``training.fit`` trains it.

    The batches come from ``training.data.batches.BatchSource`` (seeded permutations; full batches for
    XLA-trained models, ``Tagger.xla_training``) in one ``fit`` of 1 + `epochs` epochs. The first
    epoch is not timed: it traces the train step and every variant of it the others need (a last,
    smaller batch; a last, shorter run with ``steps_per_execution``). The timed epochs run from
    their first batch to their last, so the seconds ``fit`` spends setting up and tearing down
    its data iterator, once per training, are not counted.
    """
    from training.data.batches import BatchSource

    source = BatchSource(
        x, y, batch_size, shuffle=True, seed=0, full_batches=bool(getattr(model, "xla_training", False))
    )
    timer = _EpochTimer()
    total = 1 + int(epochs)
    model.fit(source.dataset(total), steps_per_epoch=source.steps, epochs=total, verbose=0, callbacks=[timer])
    rows_per_epoch = source.steps * source.batch_size if source.full_batches else source.n
    return rows_per_epoch * epochs / sum(timer.seconds[1:])


def scoring_rate(score, x, chunk=4096):
    """Rows per second of ``score(rows)`` over `x` in chunks of `chunk` rows, after one warm-up chunk."""
    n = n_rows(x)
    score(head(x, chunk))
    start = time.perf_counter()
    for i in range(0, n, chunk):
        score({k: v[i : i + chunk] for k, v in x.items()} if isinstance(x, dict) else x[i : i + chunk])
    return n / (time.perf_counter() - start)


class _EpochTimer(keras.callbacks.Callback):
    """Wall seconds of every epoch of a ``fit``, first batch to last."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
