"""EdgeConv against a direct numpy computation; padding and permutation invariance of ParticleNet."""

import math

import keras
import numpy as np
import pytest

from models.edge_conv import EdgeConv, edge_features, knn_indices, pack_real_particles
from models.particlenet import ParticleNet, auto_packed_slots


def _cloud(seed, n_real, slots, dims=2, width=3):
    rng = np.random.default_rng(seed)
    points = np.zeros((1, slots, dims), np.float32)
    feats = np.zeros((1, slots, width), np.float32)
    points[0, :n_real] = rng.normal(size=(n_real, dims))
    feats[0, :n_real] = rng.normal(size=(n_real, width))
    mask = (np.arange(slots) < n_real).astype(np.float32)[None]
    return points, feats, mask


def _numpy_knn(points, n_real, k):
    d = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    out = []
    for i in range(n_real):
        order = [j for j in np.argsort(d[i, :n_real], kind="stable") if j != i]
        out.append(order[:k])
    return np.array(out)


def _bn(x, norm):
    gamma, beta, mean, var = (keras.ops.convert_to_numpy(w) for w in norm.weights)
    return gamma * (x - mean) / np.sqrt(var + norm.epsilon) + beta


def test_knn_and_edge_features_match_numpy():
    points, feats, mask = _cloud(0, 12, 20)
    k = 4
    idx = keras.ops.convert_to_numpy(knn_indices(points, mask, k))[0]
    want = _numpy_knn(points[0], 12, k)
    np.testing.assert_array_equal(idx[:12], want)
    edges = keras.ops.convert_to_numpy(edge_features(feats, idx[None]))[0]  # (slots, k, 2C)
    for i in range(12):
        for a, j in enumerate(want[i]):
            np.testing.assert_allclose(edges[i, a], np.r_[feats[0, i], feats[0, j] - feats[0, i]], atol=1e-6)


def test_edge_conv_block_matches_numpy():
    points, feats, mask = _cloud(1, 9, 15, width=3)
    layer = EdgeConv(k=4, channels=(5, 6, 7))
    layer.build((points.shape, feats.shape, mask.shape))
    rng = np.random.default_rng(2)
    for norm in layer.norms + [layer.shortcut_norm]:  # non-trivial inference statistics
        c = norm.gamma.shape[0]
        norm.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 2, c)])
    got = keras.ops.convert_to_numpy(layer(points, feats, mask, training=False))[0]

    idx = _numpy_knn(points[0], 9, 4)
    want = np.zeros((15, 7))
    for i in range(9):
        e = np.stack([np.r_[feats[0, i], feats[0, j] - feats[0, i]] for j in idx[i]])  # (k, 6)
        for conv, norm in zip(layer.convs, layer.norms):
            e = np.maximum(_bn(e @ keras.ops.convert_to_numpy(conv.kernel), norm), 0)
        short = _bn(feats[0, i] @ keras.ops.convert_to_numpy(layer.shortcut.kernel), layer.shortcut_norm)
        want[i] = np.maximum(short + e.mean(axis=0), 0)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    assert np.all(got[9:] == 0)  # padded slots are zero


def _tiny_particlenet(**kw):
    keras.utils.set_random_seed(3)
    model = ParticleNet(k=3, channels=[[4, 4, 4], [6, 6, 6]], fc_units=8, seed=3, **kw)
    x = {
        "points": np.zeros((2, 10, 2), np.float32),
        "features": np.zeros((2, 10, 4), np.float32),
        "mask": np.ones((2, 10), np.float32),
    }
    model(x)
    model.calibrate(
        {k: np.random.default_rng(0).normal(size=(6,) + v.shape[1:]).astype(np.float32) for k, v in x.items()},
        np.array([0, 0, 0, 1, 2, 0]),
    )
    return model


def _jet(slots, order=None, n_real=6):  # n_real <= k: some neighbours are padding, masked out
    points, feats, mask = _cloud(5, n_real, slots, width=4)
    if order is not None:
        points[0, :n_real], feats[0, :n_real] = points[0, order], feats[0, order]
    return {"points": points, "features": feats, "mask": mask}


def _outputs(model, x):
    scores = {k: keras.ops.convert_to_numpy(v) for k, v in model.anomaly_scores(x).items()}
    scores["class_probabilities"] = keras.ops.convert_to_numpy(model.extra_outputs(x)["class_probabilities"])
    return scores


@pytest.mark.parametrize("n_real", [3, 6])
def test_padded_slots_change_nothing(n_real):
    model = _tiny_particlenet()
    short, long = _outputs(model, _jet(10, n_real=n_real)), _outputs(model, _jet(100, n_real=n_real))
    for name in short:
        np.testing.assert_allclose(short[name], long[name], rtol=1e-5, atol=1e-5)


def test_permuting_the_particles_changes_nothing():
    model = _tiny_particlenet()
    base = _outputs(model, _jet(12))
    permuted = _outputs(model, _jet(12, order=np.random.default_rng(9).permutation(6)))
    for name in base:
        np.testing.assert_allclose(base[name], permuted[name], rtol=1e-5, atol=1e-5)


def test_pack_real_particles_lists_the_real_slots_first():
    mask = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], np.float32)  # flat real slots 0, 1, 4, 6
    rows, inverse = (keras.ops.convert_to_numpy(a) for a in pack_real_particles(mask, 6))
    np.testing.assert_array_equal(rows, [0, 1, 4, 6, 2, 3])  # real in order, then padded slots in order
    np.testing.assert_array_equal(inverse, [0, 1, 4, 5, 2, 6, 3, 6])  # slots 5 and 7 left out: the zero row


def _batch(seed, counts, slots=30):
    rng = np.random.default_rng(seed)
    mask = (np.arange(slots)[None] < np.asarray(counts)[:, None]).astype(np.float32)
    points = rng.normal(size=(len(counts), slots, 2)).astype(np.float32) * mask[..., None]
    feats = rng.normal(size=(len(counts), slots, 4)).astype(np.float32) * mask[..., None]
    return {"points": points, "features": feats, "mask": mask}


@pytest.mark.parametrize("training", [False, True])
def test_packed_blocks_give_the_same_numbers(training):
    """Evaluating only the packed real particles equals evaluating every slot, in inference and in
    training (batch statistics over real edges only), and so does a batch too full to pack."""
    x = _batch(4, [3, 12, 20, 7])  # 42 real of 120 slots, one jet with fewer than k + 1 particles
    outputs = {}
    for slots in (None, 15, 10):  # every slot; packed (capacity 60 >= 42); too full (40 < 42): every slot
        keras.utils.set_random_seed(6)
        model = ParticleNet(k=4, channels=[[5, 5, 5], [6, 6, 6]], fc_units=8, seed=6, packed_slots=slots)
        model(x)
        outputs[slots] = keras.ops.convert_to_numpy(model.networks[0][0](x, training=training))
    np.testing.assert_allclose(outputs[15], outputs[None], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outputs[10], outputs[None], rtol=1e-5, atol=1e-5)
    if training:  # the statistics really are over real particles: a different padding gives the same batch
        wider = {
            k: np.concatenate([v, np.zeros(v.shape[:1] + (11,) + v.shape[2:], v.dtype)], axis=1) for k, v in x.items()
        }
        keras.utils.set_random_seed(6)
        model = ParticleNet(k=4, channels=[[5, 5, 5], [6, 6, 6]], fc_units=8, seed=6, packed_slots=None)
        model(wider)
        got = keras.ops.convert_to_numpy(model.networks[0][0](wider, training=True))
        np.testing.assert_allclose(got, outputs[None], rtol=1e-5, atol=1e-5)


def test_auto_packed_slots_follow_the_training_multiplicity():
    x = _batch(7, [10, 20, 30, 40], slots=50)  # mean 25
    model = ParticleNet(k=3, channels=[[4, 4, 4]], fc_units=8, seed=1)
    assert model.packed_slots == "auto"
    model.fit_scaler(x)
    assert model.packed_slots == math.ceil(1.05 * 25) + 2 == model.networks[0][0].packed_slots
    assert model.get_config()["packed_slots"] == 29
    assert auto_packed_slots(np.ones((3, 30))) == 30  # never more than the slots
    with pytest.raises(ValueError, match="packed_slots"):
        ParticleNet(packed_slots=0)
