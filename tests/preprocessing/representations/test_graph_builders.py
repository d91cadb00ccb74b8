"""The in-graph representations (constituents, pointcloud) equal their numpy builders on real jets."""

import numpy as np
import pytest
import tensorflow as tf

from preprocessing.representations import (
    constituents,
    constituents_graph,
    graph,
    graph_ops,
    pointcloud,
    pointcloud_graph,
)


@pytest.fixture(scope="module")
def jets(small_samples):
    """Real QCD and top jets, plus jets cut to 1 and 2 constituents, with garbage in the padding."""
    qcd, top = small_samples["qcd"], small_samples["top"]
    width = max(qcd.constituents.shape[1], top.constituents.shape[1])

    def pad(a):
        return np.pad(a, ((0, 0), (0, width - a.shape[1]), (0, 0)))

    p4 = np.concatenate([pad(qcd.constituents[:40]), pad(top.constituents[:40])])
    counts = np.concatenate([qcd.n_constituents[:40], top.n_constituents[:40]]).astype(np.int32)
    counts[:3], counts[3:6] = 1, 2
    noisy = p4.copy()
    real = np.arange(width)[None, :] < counts[:, None]
    noisy[~real] = 7.0  # the count excludes it: must be ignored
    return noisy.astype(np.float32), counts


def test_lexsort_matches_numpy():
    rng = np.random.default_rng(0)
    keys = tuple(rng.integers(0, 3, (5, 9)).astype(float) for _ in range(3))
    got = graph_ops.lexsort(tuple(tf.constant(k) for k in keys)).numpy()
    np.testing.assert_array_equal(got, np.lexsort(keys, axis=-1))


def test_in_graph_constituents_equal_the_numpy_builder(jets):
    p4, counts = jets
    want, want_mask = constituents.constituent_four_vectors(p4, counts)
    got, got_mask = (
        t.numpy() for t in constituents_graph.constituent_four_vectors(tf.constant(p4), tf.constant(counts))
    )
    np.testing.assert_array_equal(got_mask, want_mask)
    np.testing.assert_allclose(got, want, atol=1e-3, rtol=1e-5)  # GeV; float32 output of float64 arithmetic
    assert got_mask[:3].sum(1).tolist() == [1, 1, 1]


def test_in_graph_point_clouds_equal_the_numpy_builder(jets):
    p4, counts = jets
    features = list(pointcloud.FEATURES)
    want = pointcloud.point_clouds(p4, counts, features=features)
    got = pointcloud_graph.point_clouds(tf.constant(p4), tf.constant(counts), features=features)
    for name in ("points", "features", "mask"):
        np.testing.assert_allclose(got[name].numpy(), want[name], atol=1e-5, err_msg=name)


def test_graph_registry_covers_the_jet_level_representations():
    assert graph.supports("constituents") and graph.supports("pointcloud")
    built = graph.build("pointcloud", tf.zeros((2, 3, 4)) + [[[10.0, 3.0, 4.0, 1.0]]], tf.constant([3, 2]))
    assert sorted(built) == ["features", "mask", "points"] and built["points"].shape[1] == 100


def test_empty_and_nan_jets_are_invalid_argument(jets):
    p4, counts = jets
    bad = counts[:2].copy()
    bad[1] = 0
    with pytest.raises(tf.errors.InvalidArgumentError, match="no constituents"):
        constituents_graph.build(tf.constant(p4[:2]), tf.constant(bad))
    nan = p4[:2].copy()
    nan[0, 0, 2] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
        pointcloud_graph.build(tf.constant(nan), tf.constant(counts[:2]))
