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


def _trained(n=800, seed=0):
    """A VAE with a fitted scaler and random weights (the density fit needs no training to be tested)."""
    keras.utils.set_random_seed(seed)
    x, _ = _events(n, seed=seed)
    m = BumpHuntVAE(seed=seed)
    m.fit_scaler(x)
    return m, x


def test_default_score_is_the_latent_density_and_kl_keeps_its_direction():
    m = BumpHuntVAE()
    assert m.default_score == "latent_nll" and "kl" in m.score_rule
    x, _ = _events(64)
    m.fit_scaler(x)
    s = {k: np.asarray(v) for k, v in m.anomaly_scores(x).items()}
    assert set(s) == {"latent_nll", "kl", "reconstruction"}
    z = np.asarray(m.encode(x)[0])[:, 0].astype(np.float64)
    # before calibrate: the N(0, 1) prior's negative log density
    np.testing.assert_allclose(s["latent_nll"], 0.5 * z**2 + 0.5 * np.log(2 * np.pi), rtol=1e-5, atol=1e-5)
    mean, log_var = (np.asarray(v, np.float64) for v in m.encode(x))
    kl = 0.5 * (mean**2 + np.exp(log_var) - log_var - 1).sum(1)  # larger = further from the prior
    np.testing.assert_allclose(s["kl"], kl, rtol=1e-4, atol=1e-6)


def test_latent_density_matches_an_independent_mixture_fit():
    from sklearn.mixture import GaussianMixture

    m, x = _trained()
    summary = m.calibrate(x)
    assert len(summary["weights"]) == 8 and abs(sum(summary["weights"]) - 1) < 1e-3
    z = np.asarray(m.encode(x)[0], np.float64)
    centre, width = z.mean(0), z.std(0)
    gmm = GaussianMixture(8, covariance_type="full", random_state=0, reg_covar=1e-4).fit((z - centre) / width)
    want = -(gmm.score_samples((z - centre) / width) - np.log(width).sum())
    np.testing.assert_allclose(np.asarray(m.anomaly_scores(x)["latent_nll"]), want, rtol=1e-4, atol=1e-4)
    # rare latent positions score higher than the bulk (larger = more anomalous)
    far = np.asarray(m.latent_log_density(tf.constant([[float(np.median(z))], [float(z.max() + 5 * width[0])]])))
    assert far[0] > far[1]


def test_latent_density_uses_training_inputs_only_and_is_in_the_export(tmp_path):
    import inspect

    from tests.conftest import minimal_card
    from training.export import export_tagger, load_tagger

    m, x = _trained(seed=3)
    # the fit sees the inputs alone: there is no labels argument, and shuffled labels cannot change it
    assert list(inspect.signature(m.calibrate).parameters) == ["train_features", "max_events"]
    labels = np.random.default_rng(0).integers(0, 2, len(x))
    fitted = []
    for perm in (np.arange(len(x)), np.random.default_rng(1).permutation(len(x))):
        _ = labels[perm]  # the labels travel with the events in a real split; calibrate never gets them
        m.calibrate(x)
        fitted.append([np.asarray(w).copy() for w in (m.density_log_weights, m.density_means)])
    for a, b in zip(*fitted, strict=True):
        np.testing.assert_array_equal(a, b)
    version = export_tagger(
        m,
        {"features": (6,)},
        tmp_path / "bumphunt_vae",
        minimal_card(m, "highlevel", {"features": (6,)}, "bumphunt_vae"),
    )
    fn, card, _, loaded = load_tagger(version)
    out = {k: v.numpy() for k, v in fn(features=tf.constant(x)).items()}
    want = {k: np.asarray(v) for k, v in m.anomaly_scores(x).items()}
    for k, v in want.items():
        np.testing.assert_allclose(out[k], v, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["anomaly_score"], want["latent_nll"], rtol=1e-5, atol=1e-5)
    names = {v.name.split(":")[0].split("/")[-1] for v in loaded.variables}
    assert {"density_log_weights", "density_means", "density_precision_cholesky"} <= names
    stored = {v.name.split(":")[0].split("/")[-1]: v.numpy() for v in loaded.variables}
    np.testing.assert_allclose(stored["density_means"], np.asarray(m.density_means), rtol=0, atol=0)
    assert card.default_score == "latent_nll" and "latent means" in card.score_rule
