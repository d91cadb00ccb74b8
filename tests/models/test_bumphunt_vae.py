"""bortolato2021 VAE: inputs (no m_jj), baked scaler, frozen encoder in the mass decoder."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.bumphunt_vae import FEATURES, BumpHuntVAE, MassDecoder, tail_score, tail_table


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


def test_default_score_is_rarity_and_kl_keeps_its_direction():
    m = BumpHuntVAE()
    assert m.default_score == "rarity" and "kl" in m.score_rule and "Fisher" in m.score_rule
    x, _ = _events(64)
    m.fit_scaler(x)
    s = {k: np.asarray(v) for k, v in m.anomaly_scores(x).items()}
    assert set(s) == {"rarity", "latent_nll", "kl", "reconstruction"}
    z = np.asarray(m.encode(x)[0])[:, 0].astype(np.float64)
    # before calibrate: the N(0, 1) prior's negative log density
    np.testing.assert_allclose(s["latent_nll"], 0.5 * z**2 + 0.5 * np.log(2 * np.pi), rtol=1e-5, atol=1e-5)
    mean, log_var = (np.asarray(v, np.float64) for v in m.encode(x))
    kl = 0.5 * (mean**2 + np.exp(log_var) - log_var - 1).sum(1)  # larger = further from the prior
    np.testing.assert_allclose(s["kl"], kl, rtol=1e-4, atol=1e-6)
    # before calibrate the tail tables are the identity on [0, log 1e5]: rarity = sum of the clipped terms
    want = np.clip(s["latent_nll"], 0, None) + np.clip(s["reconstruction"], 0, None)
    np.testing.assert_allclose(s["rarity"], want, rtol=1e-4, atol=1e-4)


def _tail(levels, quantiles, scale, values):
    return np.asarray(
        tail_score(
            tf.constant(values, tf.float32),
            tf.constant(levels, tf.float32),
            tf.constant(quantiles, tf.float32),
            tf.constant(scale, tf.float32),
        )
    )


def test_tail_score_is_minus_log_survival_for_a_known_distribution():
    """Exponential training scores: P(S >= s) = exp(-s), so -log P = s, and the mean excess over any
    threshold is 1 (memoryless), which sets the slope past the largest training score."""
    s = np.random.default_rng(0).exponential(size=50_000)
    levels, quantiles, scale = tail_table(s)
    assert levels[0] == 0 and abs(levels[-1] - np.log(50_000)) < 1e-9
    assert np.all(np.diff(quantiles) >= 0) and abs(scale - 1.0) < 0.1
    values = np.array([0.0, 0.25, 1.0, 2.0, 4.0, 7.0])
    np.testing.assert_allclose(_tail(levels, quantiles, scale, values), values, atol=0.1)
    far = quantiles[-1] + np.array([1.0, 3.0])  # beyond every training score: exponential tail, slope 1/scale
    np.testing.assert_allclose(
        _tail(levels, quantiles, scale, far), levels[-1] + (far - quantiles[-1]) / scale, rtol=1e-5
    )
    assert _tail(levels, quantiles, scale, np.array([-5.0]))[0] == 0  # below every training score: P = 1
    # ties (a constant training score) stay finite and monotone
    levels, quantiles, scale = tail_table(np.full(100, 3.0))
    t = _tail(levels, quantiles, scale, np.array([2.0, 3.0, 4.0]))
    assert np.all(np.isfinite(t)) and t[0] <= t[1] < t[2]


def test_rarity_is_fishers_sum_of_the_training_tails():
    """Hand check: each term is -log of the fraction of training events with a score at least as large."""
    m, x = _trained(n=3000, seed=5)
    m.calibrate(x)
    held_out, _ = _events(500, seed=6)
    train = {k: np.asarray(v, np.float64) for k, v in m.anomaly_scores(x).items()}
    test = {k: np.asarray(v, np.float64) for k, v in m.anomaly_scores(held_out).items()}
    want = np.zeros(len(held_out))
    for name in ("latent_nll", "reconstruction"):
        p = (train[name][None, :] >= test[name][:, None]).mean(1)  # empirical P_train(score >= value)
        want += -np.log(np.maximum(p, 1 / len(x)))
    bulk = want < np.log(len(x) / 20)  # away from the last few training events, where a table is coarse
    assert bulk.mean() > 0.9
    np.testing.assert_allclose(test["rarity"][bulk], want[bulk], atol=0.1)
    assert np.corrcoef(np.argsort(np.argsort(test["rarity"])), np.argsort(np.argsort(want)))[0, 1] > 0.999


def test_a_collapsed_latent_leaves_the_reconstruction_ranking():
    """Known case: an encoder whose mean is the same for every event carries no latent information;
    the latent term is then one constant and rarity ranks events exactly as the reconstruction."""
    from scipy import stats

    m, x = _trained(n=2000, seed=7)
    head = m.encoder.layers[-1]
    kernel, bias = head.get_weights()
    kernel[:, 0] = 0.0  # z_mean = bias: constant
    head.set_weights([kernel, bias])
    m.calibrate(x)
    held_out, _ = _events(400, seed=8)
    s = {k: np.asarray(v, np.float64) for k, v in m.anomaly_scores(held_out).items()}
    assert np.ptp(s["latent_nll"]) == 0
    assert np.ptp(s["rarity"]) > 0
    assert stats.spearmanr(s["rarity"], s["reconstruction"]).statistic > 0.999


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


SCORE_PARAMETERS = (
    "density_log_weights",
    "density_means",
    "density_precision_cholesky",
    "tail_levels",
    "tail_quantiles",
    "tail_scales",
)


def _score_parameters(m):
    return {name: np.asarray(getattr(m, name)).copy() for name in SCORE_PARAMETERS}


def test_score_parameters_use_training_inputs_only():
    """The pipeline's calibration step (training.pipeline.calibrate_member, which holds the training
    labels) run twice on the same training events with the labels permuted stores the same density
    and tail tables; calibrate has no way to receive labels."""
    import inspect

    from models.registry import SUPERVISED
    from training.pipeline import calibrate_member, resolve

    assert list(inspect.signature(BumpHuntVAE.calibrate).parameters) == ["self", "train_features", "max_events"]
    supervised = resolve("bumphunt_vae").spec.mode == SUPERVISED
    assert not supervised
    x, _ = _events(800, seed=3)
    labels = (np.random.default_rng(0).random(len(x)) < 0.3).astype(int)  # a 30 % "signal" among the events
    fitted = []
    for shuffled in (labels, np.random.default_rng(1).permutation(labels), 1 - labels):
        m, _ = _trained(seed=3)
        calibrate_member(m, x, shuffled, supervised)
        fitted.append(_score_parameters(m))
    assert np.ptp(fitted[0]["tail_quantiles"][1]) > 0  # the tables were fitted (not the initial identity)
    for again in fitted[1:]:
        for name in SCORE_PARAMETERS:
            np.testing.assert_array_equal(again[name], fitted[0][name], err_msg=name)


def test_the_pipeline_calibrates_on_exactly_the_training_events(monkeypatch, tmp_path):
    """train_member hands calibrate the training events, as given and nothing else: no labels, no
    validation rows."""
    from training.pipeline import resolve, train_member

    seen = []
    calibrate = BumpHuntVAE.calibrate

    def spy(self, *args, **kwargs):
        seen.append((args, kwargs))
        return calibrate(self, *args, **kwargs)

    monkeypatch.setattr(BumpHuntVAE, "calibrate", spy)
    settings = resolve("bumphunt_vae", sets={"epochs": 1, "batch_size": 100})
    x_train, _ = _events(300, seed=1)
    x_val, _ = _events(100, seed=2)
    y_train, y_val = np.arange(300) % 2, np.arange(100) % 2
    member = train_member(settings, x_train, x_val, 0, tmp_path, y_train=y_train, y_val=y_val, verbose=0)
    assert len(seen) == 1
    (args, kwargs) = seen[0]
    assert kwargs == {} and len(args) == 1
    np.testing.assert_array_equal(np.asarray(args[0]), x_train)
    stored = _score_parameters(member.model)
    member.model.calibrate(x_train)  # by hand, on the training events: the same tables
    for name, value in _score_parameters(member.model).items():
        np.testing.assert_array_equal(value, stored[name], err_msg=name)


def test_score_parameters_are_in_the_export(tmp_path):
    from tests.conftest import minimal_card
    from training.export import export_tagger, load_tagger

    m, x = _trained(seed=3)
    held_out, _ = _events(300, seed=4)
    m.calibrate(x)
    version = export_tagger(
        m,
        {"features": (6,)},
        tmp_path / "bumphunt_vae",
        minimal_card(m, "highlevel", {"features": (6,)}, "bumphunt_vae"),
    )
    fn, card, _, loaded = load_tagger(version)
    out = {k: v.numpy() for k, v in fn(features=tf.constant(held_out)).items()}
    want = {k: np.asarray(v) for k, v in m.anomaly_scores(held_out).items()}
    assert set(want) == {"rarity", "latent_nll", "kl", "reconstruction"}
    for k, v in want.items():
        np.testing.assert_allclose(out[k], v, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["anomaly_score"], want["rarity"], rtol=1e-5, atol=1e-5)
    stored = {v.name.split(":")[0].split("/")[-1]: v.numpy() for v in loaded.variables}
    for name in SCORE_PARAMETERS:
        np.testing.assert_array_equal(stored[name], np.asarray(getattr(m, name)))
    assert card.default_score == "rarity" and "Fisher" in card.score_rule and "training events" in card.score_rule


def test_calibrate_takes_fewer_training_events_than_the_tail_percentiles_need():
    """80 events: the 99th-percentile knot of the tail tables does not exist; the last one stands in."""
    rng = np.random.default_rng(0)
    model = BumpHuntVAE(seed=0)
    x = rng.uniform(0.1, 1.0, (80, 6)).astype("float32")
    model.fit_scaler(x)
    model.calibrate(x)
    for tail in model.tails.values():
        assert np.isfinite(tail["q99"]) and tail["q99"] >= tail["median"]


def test_calibrate_works_for_every_training_size_the_split_allows():
    """From the fewest training events a train/validation/test split leaves (rows.split_rows refuses
    fewer events) through the 99th-percentile boundary at 100: finite tables, finite scores; below
    the calibration's own minimum, one clear DataError."""
    from models.bumphunt_vae import MIN_CALIBRATION_EVENTS
    from preprocessing.errors import DataError
    from training.data.datasets import split

    smallest = next(n for n in range(1, 100) if min(len(p) for p in split(np.arange(n))) > 0)
    fewest_train = len(split(np.arange(smallest))[0])
    assert fewest_train >= MIN_CALIBRATION_EVENTS
    rng = np.random.default_rng(1)
    test = rng.uniform(0.1, 1.0, (30, 6)).astype("float32")
    for n in sorted({MIN_CALIBRATION_EVENTS, fewest_train, fewest_train + 1, 20, 99, 100, 101}):
        model = BumpHuntVAE(seed=0)
        x = rng.uniform(0.1, 1.0, (n, 6)).astype("float32")
        model.fit_scaler(x)
        model.calibrate(x)
        quantiles = keras.ops.convert_to_numpy(model.tail_quantiles)
        assert np.all(np.isfinite(quantiles)) and np.all(np.diff(quantiles, axis=1) >= 0), n
        for tail in model.tails.values():
            assert np.isfinite(tail["q99"]) and tail["q99"] >= tail["median"] and tail["tail_scale"] > 0, (n, tail)
        for name, values in model.anomaly_scores(test).items():
            assert np.all(np.isfinite(np.asarray(values))), (n, name)
    model = BumpHuntVAE(seed=0)
    model.fit_scaler(test)
    with pytest.raises(DataError, match=f"needs at least {MIN_CALIBRATION_EVENTS} training events.*got 1"):
        model.calibrate(test[:1])
