"""The benchmarks' shared throughput helpers: every row is scored once, dicts and arrays alike."""

import numpy as np

from training.throughput import head, n_rows, scoring_rate


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
