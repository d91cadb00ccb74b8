"""cheng2022 classifier scores: OVA-AVA product and sum, ensemble means, training-only arrays."""

import keras
import numpy as np
import pytest

from models.base import Tagger
from models.classifier import split_training_arrays
from models.ensemble import Ensemble
from models.fcn import FCN


def _fixed_head(network, probabilities):
    """Make a network's output layer return log(probabilities) for every input (zero kernel)."""
    out = network[2]
    out.kernel.assign(np.zeros(out.kernel.shape, np.float32))
    out.bias.assign(np.log(np.asarray(probabilities, np.float32)))


def test_ova_ava_multiplies_p_qcd_and_sums_distances():
    keras.utils.set_random_seed(0)
    model = FCN(units=(8, 4), ova_ava=True, seed=0)
    x = np.random.default_rng(0).normal(size=(6, 20, 4)).astype(np.float32)
    model.fit_scaler(x)
    model.calibrate(x, np.array([0, 0, 0, 1, 2, 0]))
    _fixed_head(model.networks[0], [0.5, 0.3, 0.2])  # AVA: p_QCD = 0.5
    _fixed_head(model.networks[1], [0.8, 0.2])  # OVA: p_QCD = 0.8
    scores = {k: keras.ops.convert_to_numpy(v) for k, v in model.anomaly_scores(x).items()}
    np.testing.assert_allclose(scores["p_qcd"], 1 - 0.5 * 0.8, rtol=1e-6)
    h_ava, h_ova = model.penultimate(x)
    want = keras.ops.convert_to_numpy(model.distances[0](h_ava) + model.distances[1](h_ova))
    np.testing.assert_allclose(scores["mahalanobis"], want, rtol=1e-6)
    probs = keras.ops.convert_to_numpy(model.extra_outputs(x)["class_probabilities"])
    np.testing.assert_allclose(probs, np.tile([0.5, 0.3, 0.2], (6, 1)), rtol=1e-6)


class _Constant(Tagger):
    default_score = "p_qcd"

    def __init__(self, p, md, **kwargs):
        super().__init__(**kwargs)
        self.p, self.md = p, md

    def anomaly_scores(self, inputs):
        ones = keras.ops.ones((keras.ops.shape(inputs)[0],))
        return {"p_qcd": self.p * ones, "mahalanobis": self.md * ones}


def test_ensemble_averages_p_and_mahalanobis():
    ens = Ensemble([_Constant(0.2, 10.0), _Constant(0.6, 30.0), _Constant(0.7, 2.0)])
    got = {k: keras.ops.convert_to_numpy(v) for k, v in ens.anomaly_scores(np.zeros((2, 3), np.float32)).items()}
    np.testing.assert_allclose(got["p_qcd"], [0.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(got["mahalanobis"], [14.0, 14.0], rtol=1e-6)
    np.testing.assert_allclose(got["p_qcd_std"], np.std([0.2, 0.6, 0.7]), rtol=1e-5)


def test_training_only_arrays_are_split_off():
    x, extra = split_training_arrays({"constituents": np.ones((2, 20, 4)), "jet_mass": np.ones(2)})
    assert x.shape == (2, 20, 4) and set(extra) == {"jet_mass"}
    x, extra = split_training_arrays({"points": 1, "features": 2, "mask": 3, "jet_mass": 4})
    assert x == {"points": 1, "features": 2, "mask": 3} and extra == {"jet_mass": 4}


def test_disco_needs_the_mass_and_bad_options_are_named():
    from preprocessing.errors import DataError

    with pytest.raises(DataError, match="head"):
        FCN(head="gp")
    with pytest.raises(DataError, match="decorrelate"):
        FCN(decorrelate="planing")
    model = FCN(units=(8, 4), disco_weight=100.0)
    x = np.zeros((4, 20, 4), np.float32)
    with pytest.raises(DataError, match="jet mass"):
        model.loss_terms(x, np.array([0, 1, 2, 0]))
    terms = model.loss_terms(x, np.array([0, 1, 2, 0]), mass=np.array([10.0, 80.0, 170.0, 40.0], np.float32))
    assert set(terms) == {"cross_entropy", "disco"}
