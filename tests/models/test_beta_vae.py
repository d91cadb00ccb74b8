"""cheng2020 beta-VAE: the authors' KL annealing table, scaler inside the model, scores against
numpy, reconstruction in physical units, and an export equal to the in-memory model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.beta_vae import BetaVAE, cyclic_ramp
from tests.cheng2020_synthetic import constituents
from tests.conftest import minimal_card
from training.export import export_tagger, load_tagger

# the authors' KL annealing weight per epoch, 0-29 (SPECS: 0, +0.25 per epoch to 1 at 4, held to 9,
# reset at 10 and 20, constant 1 from 25)
AUTHORS_TABLE = [0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 1] * 2 + [0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 1]


def test_cyclic_annealing_matches_the_authors_table():
    assert [cyclic_ramp(e) for e in range(30)] == AUTHORS_TABLE
    assert all(cyclic_ramp(e) == 1.0 for e in range(25, 60))


@pytest.fixture(scope="module")
def data():
    x, mass = constituents(400, seed=3)
    return x, mass


def _trained(cls=BetaVAE, x=None, epochs=1, **config):
    keras.utils.set_random_seed(0)
    model = cls(**config)
    model.fit_scaler(x)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(x, validation_data=(x[:100],), epochs=epochs, batch_size=100, verbose=0)
    return model, history


def test_annealing_is_applied_per_epoch_and_validation_is_unannealed(data):
    x, _ = data
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(float(self.model.kl_anneal.numpy()))

    model = BetaVAE()
    model.fit_scaler(x)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x, epochs=3, batch_size=200, verbose=0, callbacks=[Spy()])
    assert seen == [0.0, 0.25, 0.5]
    assert float(model.kl_anneal.numpy()) == 1.0  # scoring and later evaluation are unannealed
    terms = model.loss_terms(x[:50])
    model.kl_anneal.assign(0.0)
    unannealed = float(model.total_loss(terms, annealed=False))
    want = float(np.mean(terms["reconstruction"] + 0.1 * terms["kl"]))
    np.testing.assert_allclose(unannealed, want, rtol=1e-6)


@pytest.fixture(scope="module")
def trained(data):
    return _trained(x=data[0])


def test_scaler_scores_and_reconstruction(data, trained):
    x, _ = data
    model, _ = trained
    scaled = keras.ops.convert_to_numpy(model.scale_inputs(x)).reshape(len(x), -1)
    np.testing.assert_allclose(scaled.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(scaled.std(0), 1.0, atol=1e-3)
    scores = {k: keras.ops.convert_to_numpy(v) for k, v in model.anomaly_scores(x).items()}
    assert set(scores) == {"nll", "mse", "kl", "mss"} and model.default_score == "nll"
    np.testing.assert_allclose(scores["mss"], (scaled**2).mean(1), rtol=1e-5)
    np.testing.assert_allclose(scores["nll"], scores["mse"] + scores["kl"], rtol=1e-6)
    # MSE at the posterior mean, by hand from the reconstruction in physical units
    rec = keras.ops.convert_to_numpy(model.reconstruction(x))
    assert rec.shape == (len(x), 20, 4)
    offset, scale = (keras.ops.convert_to_numpy(w) for w in (model.offset, model.scale))
    mse = (((x - offset) / scale - (rec - offset) / scale) ** 2).reshape(len(x), -1).mean(1)
    np.testing.assert_allclose(scores["mse"], mse, rtol=1e-3, atol=1e-6)
    robust = BetaVAE(scaler="robust")
    robust.fit_scaler(x)
    median = np.median(x.reshape(len(x), -1), axis=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(robust.offset).ravel(), median, rtol=1e-5)


@pytest.mark.parametrize("architecture", ["fcn", pytest.param("lstm", marks=pytest.mark.slow)])
def test_export_equals_in_memory_model(architecture, data, trained, tmp_path):
    x, _ = data
    model, history = trained if architecture == "fcn" else _trained(x=x, architecture=architecture, lstm_units=16)
    assert np.isfinite(history.history["loss"]).all()
    shapes = {"constituents": (20, 4)}
    export_tagger(model, shapes, tmp_path / "beta_vae", minimal_card(model, "constituents", shapes, "beta_vae"))
    fn, _, _, loaded = load_tagger(tmp_path / "beta_vae")
    got = {k: v.numpy() for k, v in fn(constituents=tf.constant(x[:64])).items()}
    want = {k: keras.ops.convert_to_numpy(v) for k, v in model.anomaly_scores(x[:64]).items()}
    assert set(got) == {"anomaly_score", *want}
    for k, v in want.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-5, atol=1e-5)
    if "reconstruction" in loaded.signatures:
        rec = loaded.signatures["reconstruction"](constituents=tf.constant(x[:8]))["reconstruction"].numpy()
        np.testing.assert_allclose(rec, keras.ops.convert_to_numpy(model.reconstruction(x[:8])), rtol=1e-5, atol=1e-3)


def test_encoder_sees_only_the_scaled_constituents():
    model = BetaVAE()
    assert tuple(model.encoder.inputs[0].shape) == (None, 20, 4)
    assert tuple(model.decoder.outputs[0].shape) == (None, 20, 4)
    assert model.get_config()["beta"] == 0.1


def _dense_layers(network):
    """[(kernel shape, activation)] of the Dense layers of a built network, in order."""
    return [
        (tuple(layer.kernel.shape), layer.activation.__name__)
        for layer in network.layers
        if isinstance(layer, keras.layers.Dense)
    ]


def test_default_networks_are_the_papers_256_128_64_with_a_10d_latent():
    """cheng2020 Fig. 3, read off the built networks: encoder 80 -> 256 -> 128 -> 64 (ReLU) -> 2 x 10
    (mean, log sigma^2); decoder 10 -> 64 -> 128 -> 256 (ReLU) -> 80 linear."""
    model = BetaVAE()
    assert _dense_layers(model.encoder) == [
        ((80, 256), "relu"),
        ((256, 128), "relu"),
        ((128, 64), "relu"),
        ((64, 20), "linear"),
    ]
    assert _dense_layers(model.decoder) == [
        ((10, 64), "relu"),
        ((64, 128), "relu"),
        ((128, 256), "relu"),
        ((256, 80), "linear"),
    ]
    mean, log_var = model.encode(np.zeros((3, 20, 4), np.float32))
    assert tuple(mean.shape) == tuple(log_var.shape) == (3, 10)


@pytest.mark.slow
def test_saved_model_cli_returns_every_named_score(data, trained, tmp_path):
    """The graph-mode loader (as TF Serving's) runs the export and returns every named score."""
    import pathlib
    import shutil
    import subprocess
    import sys

    x, _ = data
    model, _ = trained
    shapes = {"constituents": (20, 4)}
    folder = export_tagger(model, shapes, tmp_path / "beta_vae", minimal_card(model, "constituents", shapes))
    np.save(tmp_path / "x.npy", x[:4])
    cli = shutil.which("saved_model_cli") or str(pathlib.Path(sys.executable).parent / "saved_model_cli")
    argv = [cli, "run", "--dir", str(folder), "--tag_set", "serve", "--signature_def", "representation"]
    argv += ["--inputs", f"constituents={tmp_path / 'x.npy'}", "--outdir", str(tmp_path / "cli")]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    want = {k: keras.ops.convert_to_numpy(v) for k, v in model.anomaly_scores(x[:4]).items()}
    for name in ("anomaly_score", *want):
        got = np.load(tmp_path / "cli" / f"{name}.npy")
        np.testing.assert_allclose(got, want.get(name, want["nll"]), rtol=1e-5, atol=1e-5)
