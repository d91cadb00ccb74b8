"""benchmarks.timing, the one timing helper of every benchmark: every row is scored once, dicts and arrays alike."""

import numpy as np

from benchmarks.timing import head, n_rows, scoring_rate


def test_scoring_rate_scores_every_row_once_after_one_warm_up_chunk():
    x = {"a": np.arange(10), "b": np.arange(10) * 2}
    seen = []
    rate = scoring_rate(lambda rows: seen.append(rows["a"].copy()), x, chunk=4)
    assert rate > 0
    warm, *timed = seen
    assert warm.tolist() == [0, 1, 2, 3]
    assert np.concatenate(timed).tolist() == list(range(10))
    assert [len(t) for t in timed] == [4, 4, 2]


def test_rows_and_head_of_arrays_and_dicts():
    x = np.zeros((7, 3))
    assert n_rows(x) == 7 and head(x, 2).shape == (2, 3)
    d = {"p": np.zeros((5, 2)), "m": np.ones(5)}
    assert n_rows(d) == 5 and {k: len(v) for k, v in head(d, 3).items()} == {"p": 3, "m": 3}


def test_training_rate_trains_one_untimed_epoch_then_the_timed_ones_in_one_fit():
    import keras

    from benchmarks.timing import training_rate

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(10, 3)).astype("float32")
    rate = training_rate(model, x, epochs=2, batch_size=4, y=x[:, 0])
    assert int(model.optimizer.iterations.numpy()) == 3 * 3  # (1 + 2) epochs of ceil(10 / 4) batches
    assert np.isfinite(rate) and rate > 0
    assert len(model.history.history["loss"]) == 3
