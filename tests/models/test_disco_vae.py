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
