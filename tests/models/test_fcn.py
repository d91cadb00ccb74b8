"""FCN baseline: trains a step, exports, and the SavedModel reproduces the in-memory outputs."""

import keras
import numpy as np
import tensorflow as tf

from models.fcn import FCN
from models.registry import MODELS
from tests.conftest import minimal_card
from training.export import export_tagger, load_tagger


def test_fcn_trains_exports_and_reproduces(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 64)
    x = (rng.normal(size=(64, 20, 4)) * (1 + y[:, None, None]) * 50).astype(np.float32)
    keras.utils.set_random_seed(0)
    model = FCN(seed=0)
    model.fit_scaler({"constituents": x, "jet_mass": np.ones(64)})  # training-only arrays are ignored
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    model.calibrate(x, y)
    shapes = {"constituents": (20, 4)}
    export_tagger(model, shapes, tmp_path / "fcn", minimal_card(model, "constituents", shapes, "fcn"))
    fn, _, _, _ = load_tagger(tmp_path / "fcn")
    got = {k: v.numpy() for k, v in fn(constituents=tf.constant(x)).items()}
    want = {k: keras.ops.convert_to_numpy(v) for k, v in model.anomaly_scores(x).items()}
    want["class_probabilities"] = keras.ops.convert_to_numpy(model.extra_outputs(x)["class_probabilities"])
    for k, v in want.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-5, atol=1e-5)
    assert MODELS["fcn"].training["batch_size"] == 256


def test_default_is_the_papers_256_128_12_network():
    """cheng2022 App. A, Table 6, read off the built model: 80 standardised numbers -> Dense 256 ->
    Dropout 0.2 -> Dense 128 -> Dropout 0.2 -> Dense 12 (ReLU, the penultimate h) -> Dense 3."""
    model = FCN()
    model.build((None, 20, 4))
    kernels = [(w.path.split("/", 1)[1], tuple(w.shape)) for w in model.weights if w.path.endswith("kernel")]
    assert kernels == [
        ("ava_backbone/dense0/kernel", (80, 256)),
        ("ava_backbone/dense1/kernel", (256, 128)),
        ("ava_backbone/dense2/kernel", (128, 12)),
        ("ava_logits/kernel", (12, 3)),
    ]
    backbone = model.networks[0][0]
    assert [layer.activation.__name__ for layer in backbone.hidden] == ["relu"] * 3
    assert [drop.rate for drop in backbone.drops] == [0.2, 0.2]
    x = np.random.default_rng(0).normal(size=(5, 20, 4)).astype(np.float32)
    assert tuple(model.penultimate(x)[0].shape) == (5, 12)
