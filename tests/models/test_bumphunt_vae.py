"""bortolato2021 VAE: inputs (no m_jj), baked scaler, frozen encoder in the mass decoder."""

import keras
import numpy as np
import tensorflow as tf

from models.bumphunt_vae import FEATURES, BumpHuntVAE, MassDecoder


def _events(n, seed=0):
    rng = np.random.default_rng(seed)
    masses = np.sort(rng.gamma(2.0, 60.0, size=(n, 2)), axis=1)[:, ::-1]  # heavier first
    taus = rng.uniform(0.2, 0.9, size=(n, 4))
    x = np.concatenate([masses, taus], axis=1).astype("float32")
    mjj = rng.uniform(2500, 6000, size=n).astype("float32")
    return x[:, [0, 1, 2, 3, 4, 5]], mjj


def test_inputs_are_six_observables_without_mjj():
    assert FEATURES == ("m_j1", "m_j2", "tau21_j1", "tau32_j1", "tau21_j2", "tau32_j2")
    assert not any("jj" in f for f in FEATURES)
    m = BumpHuntVAE()
    assert tuple(m.encoder.inputs[0].shape) == (None, 6)
    assert [layer.units for layer in m.encoder.layers] == [64, 64, 64, 2]
    assert all(layer.activation.__name__ == "selu" for layer in m.encoder.layers[:3])


def test_scaler_is_part_of_the_model():
    x, _ = _events(200)
    m = BumpHuntVAE()
    scale = m.fit_scaler(x)
    np.testing.assert_allclose(scale, np.abs(x).max(0), rtol=1e-6)
    mean, _ = m.encode(x)
    raw = m.encoder(x / scale)[:, :1]
    np.testing.assert_allclose(np.asarray(mean), np.asarray(raw), rtol=1e-5)


def test_training_with_adadelta_reduces_the_loss():
    keras.utils.set_random_seed(0)
    x, _ = _events(2000)
    m = BumpHuntVAE()
    m.fit_scaler(x)
    m.compile(optimizer=keras.optimizers.Adadelta(learning_rate=1.0))
    h = m.fit(x, epochs=5, batch_size=200, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert set(h.history) == {"loss", "reconstruction", "kl"}


def test_mass_decoder_keeps_the_encoder_frozen_and_learns():
    keras.utils.set_random_seed(0)
    x, mjj = _events(1000, seed=2)
    vae = BumpHuntVAE()
    vae.fit_scaler(x)
    before = [w.copy() for w in vae.get_weights()]
    dec = MassDecoder(vae, mjj.mean(), mjj.std())
    assert all(not w.trainable for w in vae.weights)
    assert {id(w) for w in dec.trainable_weights}.isdisjoint({id(w) for w in vae.weights})
    assert len(dec.trainable_weights) == 8  # the new decoder only: 4 dense layers
    dec.compile(optimizer=keras.optimizers.Adam(1e-3))
    h = dec.fit((x, mjj), epochs=4, batch_size=100, verbose=0)
    assert h.history["reconstruction"][-1] < h.history["reconstruction"][0]
    for a, b in zip(before, vae.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # bit-identical
    grid = dec.decode(tf.zeros((5, 1)), tf.constant(np.linspace(2000, 8000, 5), tf.float32))
    assert grid.shape == (5, 6)
