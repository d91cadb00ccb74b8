"""ParticleNet: both presets (shrunk) and the SNGP head train a step, export with three named inputs,
and the SavedModel reproduces the in-memory scores and class probabilities."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.particlenet import INPUTS, PRESETS, ParticleNet
from models.registry import MODELS
from tests.conftest import minimal_card
from training.data.batches import BatchSource
from training.export import export_tagger, load_tagger

SHAPES = {"points": (100, 2), "features": (100, 4), "mask": (100,)}


def synthetic_clouds(n, seed=0):
    """n random point clouds of 3 classes with different multiplicities, and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    counts = rng.integers(5, 60, n) + 20 * labels
    mask = (np.arange(100)[None] < counts[:, None]).astype(np.float32)
    points = rng.normal(scale=0.3, size=(n, 100, 2)).astype(np.float32) * mask[..., None]
    feats = np.concatenate([rng.normal(size=(n, 100, 2)), points], axis=-1).astype(np.float32) * mask[..., None]
    return {"points": points, "features": feats, "mask": mask}, labels


def shrunk(preset):
    """The preset's config with narrow layers (same k and number of blocks) for fast tests."""
    config = dict(PRESETS[preset]["config"])
    config["channels"] = [[4, 4, 4] for _ in config["channels"]]
    config["fc_units"] = 8
    return config


def train_and_export(config, folder, n=48):
    x, y = synthetic_clouds(n)
    keras.utils.set_random_seed(0)
    model = ParticleNet(seed=0, **config)
    model.fit_scaler(x)  # as training.fit: sets the packing capacity, so fit and export run packed
    assert isinstance(model.packed_slots, int) and model.packed_slots < 100
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    # batches as training.fit makes them: a tf.data stream whose batch size is unknown to the graph
    # (36 + 12 rows), so XLA compiles the packed and the every-slot branch without a static batch
    source = BatchSource(x, y, batch_size=36, shuffle=True, seed=0)
    history = model.fit(source.dataset(1), steps_per_epoch=source.steps, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    model.calibrate(x, y)
    model.anomaly_scores(x)  # eager scoring before the export, as training.fit evaluates first
    version = export_tagger(model, SHAPES, folder, minimal_card(model, "pointcloud", SHAPES, "particlenet"))
    return model, x, version


# every preset's export under -m slow (the lite one was the slowest test of the default suite, 72 s
# in a fresh clone); by default tests/serving/test_every_model_raw.py exports ParticleNet-Lite and
# holds its raw-constituent SavedModel to the offline path
@pytest.mark.slow
@pytest.mark.parametrize("preset", ["lite", "paper", "sngp"])
def test_saved_model_equals_in_memory(preset, tmp_path):
    model, x, _ = train_and_export(shrunk(preset), tmp_path / "particlenet")
    fn, _, _, _ = load_tagger(tmp_path / "particlenet")
    assert set(fn.structured_input_signature[1]) == set(INPUTS)
    got = {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in x.items()}).items()}
    want = {k: keras.ops.convert_to_numpy(v) for k, v in model.anomaly_scores(x).items()}
    want["class_probabilities"] = keras.ops.convert_to_numpy(model.extra_outputs(x)["class_probabilities"])
    assert set(got) == {"anomaly_score", "p_qcd", "mahalanobis", "class_probabilities"}
    for k, v in want.items():
        # the Mahalanobis distance is a quadratic form through the inverse covariance of the features:
        # float32 round-off of the features (equal to 1e-5 above, in the probabilities) grows by its
        # condition number; measured on this machine up to 1.4e-5 relative between the two graphs
        rtol = 1e-4 if k == "mahalanobis" else 1e-5
        np.testing.assert_allclose(got[k], v, rtol=rtol, atol=1e-5)
    np.testing.assert_allclose(got["anomaly_score"], want["p_qcd"], rtol=1e-5, atol=1e-5)
    assert np.all(want["mahalanobis"] >= 0) and np.all((want["p_qcd"] >= 0) & (want["p_qcd"] <= 1))


def test_registry_entry_and_presets():
    spec = MODELS["particlenet"]
    assert spec.inputs == INPUTS and spec.classes == ("qcd", "w", "top") and spec.default_preset == "lite"
    assert spec.training["batch_size"] == 384
    for name in PRESETS:
        ParticleNet(**PRESETS[name]["config"])  # every preset builds


# the networks of cheng2022 Sec. 3 / Qu & Gouskos: k, the three 1x1 convolution widths of every
# EdgeConv block, and the dense layer after pooling; 4 input features per particle, 3 classes
PAPER_NETWORKS = {
    "paper": (16, [(64, 64, 64), (128, 128, 128), (256, 256, 256)], 256),
    "lite": (7, [(32, 32, 32), (64, 64, 64)], 128),
}


@pytest.mark.parametrize("preset", ["paper", "lite"])
def test_presets_build_the_papers_networks(preset, monkeypatch):
    """Read off the built model: the kernel shapes of every layer, and the k the EdgeConv blocks
    actually pass to the neighbour search in a forward pass."""
    from models import edge_conv

    k, channels, fc_units = PAPER_NETWORKS[preset]
    model = ParticleNet(**PRESETS[preset]["config"])
    model.build({name: (None, *shape) for name, shape in SHAPES.items()})
    kernels = {w.path.split("/", 1)[1]: tuple(w.shape) for w in model.weights if w.path.endswith("kernel")}
    want, width = {}, 4  # (log E, log pT, d_eta, d_phi)
    for b, widths in enumerate(channels):
        inputs = 2 * width  # the first convolution sees the edge feature [x_i, x_j - x_i]
        for i, c in enumerate(widths):
            want[f"ava_backbone/edge{b}/edge{b}_conv{i}/kernel"] = (inputs, c)
            inputs = c
        want[f"ava_backbone/edge{b}/edge{b}_shortcut/kernel"] = (width, widths[-1])
        width = widths[-1]
    want["ava_backbone/fc/kernel"] = (width, fc_units)
    want["ava_logits/kernel"] = (fc_units, 3)
    assert kernels == want
    assert model.networks[0][1].rate == 0.1  # dropout before the output layer
    seen = []

    def spy(coordinates, mask, k):
        seen.append(k)
        return knn_indices(coordinates, mask, k)

    knn_indices = edge_conv.knn_indices
    monkeypatch.setattr(edge_conv, "knn_indices", spy)
    x, _ = synthetic_clouds(2)
    model(x)
    assert seen == [k] * len(channels)
