"""cheng2020 DisCo-VAE: the authors' lambda annealing and learning-rate drop, the jet mass only in
the loss (never in the encoder), a clear error without masses, and the export."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from losses.correlation import distance_correlation_sq
from models.disco_vae import DiscoVAE, disco_ramp
from preprocessing.errors import DataError
from tests.cheng2020_synthetic import constituents
from tests.conftest import minimal_card
from training.export import export_tagger, load_tagger


def test_disco_annealing_matches_the_authors_table():
    # 0 for epochs 0-10, linear to 1 over 11-19, held to 29, reset at 30, ramped over 31-39, 1 from 40
    want = [0.0] * 11 + [k / 9 for k in range(1, 10)] + [1.0] * 10 + [0.0] + [k / 9 for k in range(1, 10)] + [1.0] * 5
    np.testing.assert_allclose([disco_ramp(e) for e in range(45)], want)


@pytest.fixture(scope="module")
def data():
    return constituents(300, seed=5)


def test_mass_reaches_only_the_loss_and_schedules_apply(data):
    x, mass = data
    keras.utils.set_random_seed(0)
    model = DiscoVAE(lr_drop_epoch=1)
    model.fit_scaler({"constituents": x, "jet_mass": mass})
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    rates = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    batch = {"constituents": x, "jet_mass": mass}
    history = model.fit(batch, validation_data=(batch,), epochs=2, batch_size=100, verbose=0, callbacks=[Spy()])
    np.testing.assert_allclose(rates, [1e-3, 1e-4], rtol=1e-6)  # dropped tenfold from lr_drop_epoch
    assert {"disco", "val_disco"} <= set(history.history)
    # the encoder takes the constituents alone; another mass changes the loss but not the latent space
    assert tuple(model.encoder.inputs[0].shape) == (None, 20, 4)
    shuffled = {"constituents": x[:100], "jet_mass": mass[:100][::-1].copy()}
    a = model.latent({"constituents": x[:100], "jet_mass": mass[:100]})
    b = model.latent(shuffled)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a["mean"]), keras.ops.convert_to_numpy(b["mean"]))
    terms = model.loss_terms({"constituents": x[:100], "jet_mass": mass[:100]})
    per_jet = model.per_jet_loss(terms, annealed=False)
    np.testing.assert_allclose(
        float(terms["disco"]), float(distance_correlation_sq(per_jet, tf.constant(mass[:100]))), rtol=1e-5
    )
    with pytest.raises(DataError, match="disco_vae needs 'jet_mass'"):
        model.loss_terms(x[:10])


@pytest.mark.slow
def test_export_takes_constituents_only(data, tmp_path):
    x, mass = data
    keras.utils.set_random_seed(0)
    model = DiscoVAE(disco_annealing="none")
    model.fit_scaler(x)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit({"constituents": x, "jet_mass": mass}, epochs=1, batch_size=100, verbose=0)
    shapes = {"constituents": (20, 4)}
    export_tagger(model, shapes, tmp_path / "disco_vae", minimal_card(model, "constituents", shapes, "disco_vae"))
    fn, _, _, _ = load_tagger(tmp_path / "disco_vae")
    assert set(fn.structured_input_signature[1]) == {"constituents"}
    got = fn(constituents=tf.constant(x[:50]))
    for k, v in model.anomaly_scores(x[:50]).items():
        np.testing.assert_allclose(got[k].numpy(), keras.ops.convert_to_numpy(v), rtol=1e-5, atol=1e-5)


def test_disco_term_is_dcor_squared_of_the_unannealed_per_jet_loss_and_the_mass(data):
    """Hand example: a posterior so narrow that the sampled loss is the loss at the mean, so the
    per-jet L_beta = MSE + 0.1 KL is known before the batch is formed. A mass that is an affine
    function of it has dCor^2 = 1 exactly; a mass unrelated to it gives losses.correlation's value of
    the hand-computed L_beta, whatever the annealing factors are; the total adds kappa b dCor^2."""
    x, _ = data
    x = x[:100]
    keras.utils.set_random_seed(0)
    model = DiscoVAE(hidden_units=(16, 8), latent_dim=2, disco_lambda=100.0)
    model.fit_scaler(x)
    head = model.encoder.layers[-1]
    kernel, bias = head.get_weights()
    kernel[:, :2] *= 5.0  # spread the means: the KL varies from jet to jet
    kernel[:, 2:], bias[2:] = 0.0, -24.0  # log sigma^2 = -24: z = mean to ~1e-5
    head.set_weights([kernel, bias])
    at_mean = model.vae_terms(model.scale_inputs(x), sample=False)
    rec, kl = (keras.ops.convert_to_numpy(at_mean[k]).astype(np.float64) for k in ("reconstruction", "kl"))
    per_jet = rec + 0.1 * kl  # beta = 0.1, unannealed
    assert np.ptp(per_jet) > 0 and np.corrcoef(per_jet, rec)[0, 1] < 0.999  # the KL term matters
    model.kl_anneal.assign(0.0)  # an annealed per-jet loss would be the MSE alone
    model.disco_anneal.assign(0.25)

    affine = (3.0 * per_jet + 70.0).astype(np.float32)
    terms = model.loss_terms({"constituents": x, "jet_mass": affine})
    np.testing.assert_allclose(float(terms["disco"]), 1.0, atol=1e-3)

    mass = np.random.default_rng(1).gamma(4.0, 20.0, len(x)).astype(np.float32)
    terms = model.loss_terms({"constituents": x, "jet_mass": mass})
    want = float(distance_correlation_sq(tf.constant(per_jet, tf.float32), tf.constant(mass)))
    assert 0.0 < want < 0.5
    np.testing.assert_allclose(float(terms["disco"]), want, rtol=1e-3, atol=1e-5)
    total = float(model.total_loss(terms))
    np.testing.assert_allclose(total, rec.mean() + 100.0 * 0.25 * want, rtol=1e-4)
