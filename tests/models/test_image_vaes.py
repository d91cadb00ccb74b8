"""AE1D, VAE1D and GMVAE: architecture facts, scores, label-free orientation, trained prior."""

import keras
import numpy as np
import pytest

from models.ae1d import AE1D
from models.gmvae import GMVAE
from models.vae1d import VAE1D


def _blobs(n, width, seed):
    rows, cols = np.mgrid[0:40, 0:40] - 19.5
    w = width * (1 + 0.3 * np.random.default_rng(seed).random((n, 1, 1)))
    img = np.exp(-(rows**2 + cols**2)[None] / (2 * w**2))
    return (img / img.sum((1, 2), keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("cls", [AE1D, VAE1D, GMVAE])
def test_architecture_and_scores(cls):
    m = cls(filters=4, hidden_units=16)
    convs = [layer for layer in m.encoder.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(c.kernel_size == (5, 5) for c in convs)
    assert any(isinstance(layer, keras.layers.AveragePooling2D) for layer in m.encoder.layers)
    ups = [layer for layer in m.decoder.layers if isinstance(layer, keras.layers.UpSampling2D)]
    assert len(ups) == 1 and ups[0].interpolation == "nearest"
    x = _blobs(8, 2.0, 0)
    scores = {k: keras.ops.convert_to_numpy(v) for k, v in m.anomaly_scores(x).items()}
    assert m.default_score in scores and all(v.shape == (8,) for v in scores.values())
    assert cls.from_config(m.get_config()).get_config() == m.get_config()


def test_latent_orientation_follows_image_spread():
    m = AE1D(filters=4, hidden_units=16)
    x = np.concatenate([_blobs(50, 1.5, 1), _blobs(50, 5.0, 2)])
    # force a bottleneck that *decreases* with spread: the calibration must flip its sign
    dense = m.encoder.layers[-1]
    m.calibrate(x)
    raw = keras.ops.convert_to_numpy(m.encode(x))[:, 0]
    score = keras.ops.convert_to_numpy(m.anomaly_scores(x)["latent"])
    np.testing.assert_allclose(np.abs(score), np.abs(raw), rtol=1e-6)
    assert np.corrcoef(score, np.r_[np.zeros(50), np.ones(50)])[0, 1] >= 0
    kernel, bias = dense.get_weights()
    dense.set_weights([-kernel, -bias])
    m.calibrate(x)
    flipped = keras.ops.convert_to_numpy(m.anomaly_scores(x)["latent"])
    np.testing.assert_allclose(flipped, score, rtol=1e-5, atol=1e-7)


def test_gmvae_prior_is_trained_and_modes_repel():
    keras.utils.set_random_seed(0)
    m = GMVAE(filters=4, hidden_units=16, repulsion=0.05)
    before = {w.name: keras.ops.convert_to_numpy(w).copy() for w in (m.prior_means, m.prior_log_vars, m.prior_logits)}
    m.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = np.concatenate([_blobs(64, 1.5, 3), _blobs(64, 5.0, 4)])
    h = m.fit(x, epochs=5, batch_size=32, verbose=0)
    for w in (m.prior_means, m.prior_log_vars, m.prior_logits):
        assert not np.allclose(keras.ops.convert_to_numpy(w), before[w.name]), w.name
    assert h.history["repulsion"][-1] < h.history["repulsion"][0]  # modes pushed apart
    assert m.calibrate(x) in (0, 1)
    resp = keras.ops.convert_to_numpy(m.latent(x)["responsibilities"])
    np.testing.assert_allclose(resp.sum(1), 1.0, rtol=1e-5)
