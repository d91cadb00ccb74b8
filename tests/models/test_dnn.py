"""cheng2020 supervised baseline: the scaler sees QCD rows only, the mass-decorrelating weights
flatten the signal mass distribution onto the QCD one, training and export."""

import keras
import numpy as np
import tensorflow as tf

from models.dnn import DNN
from preprocessing.samples import resample
from tests.cheng2020_synthetic import constituents
from tests.conftest import minimal_card
from training.export import export_tagger, load_tagger


def test_weights_scaler_training_and_export(tmp_path):
    qcd, m_qcd = constituents(300, seed=9, width=0.1)
    sig, m_sig = constituents(300, seed=10, width=0.13)
    x = np.concatenate([qcd, sig])
    mass = np.concatenate([m_qcd, m_sig])
    y = np.r_[np.zeros(300, np.int32), np.ones(300, np.int32)]
    model = DNN(mass_decorrelate=True, mass_bins=10)
    model.fit_scaler({"constituents": x, "jet_mass": mass, "class_target": y})
    scaled = keras.ops.convert_to_numpy(model.scale_inputs(qcd)).reshape(300, -1)
    np.testing.assert_allclose(scaled.mean(0), 0.0, atol=1e-3)  # QCD rows only
    w = keras.ops.convert_to_numpy(model.sample_weights(tf.constant(mass), tf.constant(y, tf.float32)))
    np.testing.assert_array_equal(w[:300], 1.0)
    edges = keras.ops.convert_to_numpy(model.mass_edges)
    # where both populate a bin, the weighted signal histogram is the QCD one (other bins cannot be matched)
    shared = (resample.histogram(m_sig, edges) > 0) & (resample.histogram(m_qcd, edges) > 0)
    qcd_h = np.where(shared, resample.histogram(m_qcd, edges), 0.0)
    before = resample.jensen_shannon(np.where(shared, resample.histogram(m_sig, edges), 0.0), qcd_h)
    after = resample.jensen_shannon(np.where(shared, resample.histogram(m_sig, edges, w[300:]), 0.0), qcd_h)
    assert after < 1e-6 < before
    keras.utils.set_random_seed(0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit({"constituents": x, "jet_mass": mass}, y, epochs=2, batch_size=100, shuffle=True, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    shapes = {"constituents": (20, 4)}
    export_tagger(model, shapes, tmp_path / "dnn", minimal_card(model, "constituents", shapes, "dnn"))
    fn, _, _, _ = load_tagger(tmp_path / "dnn")
    got = fn(constituents=tf.constant(x[:64]))["anomaly_score"].numpy()
    want = keras.ops.convert_to_numpy(model.anomaly_scores(x[:64])["signal_probability"])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_default_network_is_the_papers_256_128_64_6_sigmoid():
    """cheng2020 App. B: ReLu(256) -> ReLu(128) -> ReLu(64) -> ReLu(6) -> Sigmoid on the 80 scaled inputs."""
    model = DNN()
    dense = [layer for layer in model.network.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [256, 128, 64, 6, 1]
    assert [layer.activation.__name__ for layer in dense] == ["relu"] * 4 + ["linear"]  # sigmoid in call()
    assert [tuple(layer.kernel.shape) for layer in dense] == [(80, 256), (256, 128), (128, 64), (64, 6), (6, 1)]
    p = keras.ops.convert_to_numpy(model(np.random.default_rng(0).normal(size=(5, 20, 4)).astype(np.float32)))
    assert p.shape == (5,) and ((p > 0) & (p < 1)).all()
