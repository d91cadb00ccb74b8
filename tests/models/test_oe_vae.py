"""cheng2020 OE-VAE: presets pick the score of their OE space; training with outlier exposure
pushes outliers' MSE (MSE-OE) or KL (KL-OE) above the inliers'; the export."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.oe_vae import OEVAE, PRESETS
from preprocessing.errors import DataError
from tests.cheng2020_synthetic import constituents
from tests.conftest import minimal_card
from training.export import export_tagger, load_tagger


@pytest.fixture(scope="module")
def data():
    inliers, _ = constituents(300, seed=7, width=0.08)
    outliers, _ = constituents(300, seed=8, width=0.25)
    return inliers, outliers


def test_presets_score_in_their_oe_space():
    assert OEVAE(**PRESETS["mse_oe"]["config"]).default_score == "mse"
    kl = OEVAE(**PRESETS["kl_oe"]["config"])
    assert kl.default_score == "kl" and kl.oe_lambda == 2.0 and kl.margin == 1.0
    with pytest.raises(DataError, match="oe_vae needs 'outliers'"):
        kl.loss_terms(np.zeros((2, 20, 4), np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("preset, term", [("mse_oe", "mse"), ("kl_oe", "kl")])
def test_exposure_raises_the_outliers_score(preset, term, data):
    """Same start, same steps: with outlier exposure the outliers' score rises relative to the
    inliers' compared with lambda = 0 (the sign of the OE term)."""
    inliers, outliers = data
    gaps = {}
    for lam in (0.0, PRESETS[preset]["config"]["oe_lambda"]):
        keras.utils.set_random_seed(0)
        model = OEVAE(**{**PRESETS[preset]["config"], "oe_lambda": lam}, oe_annealing="none", kl_annealing="none")
        model.fit_scaler(inliers)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit({"constituents": inliers, "outliers": outliers}, epochs=3, batch_size=100, verbose=0)
        s_in = keras.ops.convert_to_numpy(model.anomaly_scores(inliers)[term]).mean()
        s_out = keras.ops.convert_to_numpy(model.anomaly_scores(outliers)[term]).mean()
        gaps[lam] = s_out - s_in
    assert gaps[PRESETS[preset]["config"]["oe_lambda"]] > gaps[0.0]


@pytest.mark.slow
def test_export_equals_in_memory_model(data, tmp_path):
    inliers, outliers = data
    keras.utils.set_random_seed(0)
    model = OEVAE(**PRESETS["kl_oe"]["config"])
    model.fit_scaler(inliers)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit({"constituents": inliers, "outliers": outliers}, epochs=1, batch_size=100, verbose=0)
    shapes = {"constituents": (20, 4)}
    export_tagger(model, shapes, tmp_path / "oe_vae", minimal_card(model, "constituents", shapes, "oe_vae"))
    fn, _, _, _ = load_tagger(tmp_path / "oe_vae")
    got = fn(constituents=tf.constant(outliers[:50]))
    want = model.anomaly_scores(outliers[:50])
    np.testing.assert_allclose(got["anomaly_score"].numpy(), keras.ops.convert_to_numpy(want["kl"]), rtol=1e-5)
    for k, v in want.items():
        np.testing.assert_allclose(got[k].numpy(), keras.ops.convert_to_numpy(v), rtol=1e-5, atol=1e-5)
