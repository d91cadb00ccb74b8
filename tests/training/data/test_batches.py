"""training.data.batches.BatchSource: the seeded batch order, with and without full batches."""

import numpy as np

from training.data.batches import BatchSource


def test_batches_follow_each_epoch_permutation_with_a_smaller_last_batch():
    source = BatchSource(np.arange(10.0)[:, None], batch_size=4, shuffle=True, seed=3)
    batches = list(source.index_batches(2))
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2]
    np.testing.assert_array_equal(np.concatenate(batches[:3]), source.order(0))
    np.testing.assert_array_equal(np.concatenate(batches[3:]), source.order(1))
    assert not np.array_equal(source.order(0), source.order(1))


def test_full_batches_cut_the_permutations_back_to_back():
    source = BatchSource(np.arange(10.0)[:, None], batch_size=4, shuffle=True, seed=3, full_batches=True)
    batches = list(source.index_batches(3))
    assert source.steps == 3 and len(batches) == 9
    assert all(len(b) == 4 for b in batches)
    stream = np.concatenate([source.order(p) for p in range(4)])  # 36 rows need four permutations
    np.testing.assert_array_equal(np.concatenate(batches), stream[:36])


def test_full_batches_when_the_batch_is_larger_than_the_rows():
    source = BatchSource(np.arange(3.0)[:, None], batch_size=7, shuffle=True, seed=1, full_batches=True)
    (batch,) = list(source.index_batches(1))
    np.testing.assert_array_equal(batch, np.concatenate([source.order(0), source.order(1), source.order(2)])[:7])


def test_full_batches_dataset_yields_the_rows_and_targets_of_each_batch():
    x, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    source = BatchSource(x, y, batch_size=4, shuffle=True, seed=5, full_batches=True)
    got = list(source.dataset(2))
    assert len(got) == 2 * source.steps
    for (xb, yb), index in zip(got, source.index_batches(2)):
        np.testing.assert_array_equal(xb.numpy(), x[index])
        np.testing.assert_array_equal(yb.numpy(), y[index])
