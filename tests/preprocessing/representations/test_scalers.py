"""Scalers: agreement with scikit-learn, masks, and a round trip through a JSON model card."""

import json

import numpy as np
import pytest
from sklearn import preprocessing as skp

from preprocessing.errors import DataError
from preprocessing.representations.scalers import (
    KINDS,
    FeatureScaler,
    fit_scaler,
    max_abs_scale,
)

SK = {"maxabs": skp.MaxAbsScaler, "robust": skp.RobustScaler, "standard": skp.StandardScaler}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    x = rng.normal([5.0, -2.0, 0.0], [3.0, 0.5, 10.0], size=(200, 20, 3))
    x[..., 2] = np.abs(x[..., 2]) ** 1.5  # skewed: robust and standard differ
    mask = rng.uniform(size=(200, 20)) < 0.6
    x[~mask] = 1e6  # padding garbage that the fit must ignore
    return x, mask


@pytest.mark.parametrize("kind", KINDS)
def test_matches_sklearn_on_real_entries(data, kind):
    x, mask = data
    scaler = fit_scaler(kind, x, mask)
    rows = x[mask]
    ref = SK[kind]().fit(rows)
    out = scaler.transform(x, mask)
    np.testing.assert_allclose(out[mask], ref.transform(rows), rtol=1e-5, atol=1e-6)
    assert np.all(out[~mask] == 0)
    assert scaler.n_fit == mask.sum()
    np.testing.assert_allclose(scaler.inverse_transform(out, mask)[mask], rows, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_through_model_card(data, kind, tmp_path):
    x, mask = data
    scaler = fit_scaler(kind, x, mask)
    card = {"representation": {"name": "constituents"}, "scalers": {"constituents": scaler.to_dict()}}
    path = tmp_path / "model_card.json"
    path.write_text(json.dumps(card, indent=2))
    back = FeatureScaler.from_dict(json.loads(path.read_text())["scalers"]["constituents"])
    assert back.kind == kind
    np.testing.assert_array_equal(back.offset, scaler.offset)
    np.testing.assert_array_equal(back.scale, scaler.scale)
    np.testing.assert_array_equal(back.transform(x, mask), scaler.transform(x, mask))
    assert FeatureScaler.from_json(scaler.to_json()).to_dict() == scaler.to_dict()


def test_constant_feature_and_errors():
    x = np.stack([np.arange(10.0), np.full(10, 3.0)], axis=1)
    s = fit_scaler("standard", x)
    assert s.scale[1] == 1.0  # zero spread: scale 1 as in scikit-learn, no division by zero
    with pytest.raises(DataError, match="fitted on 2 features, got 3"):
        s.transform(np.zeros((4, 3)))
    with pytest.raises(DataError, match="unknown scaler 'minmax'"):
        FeatureScaler("minmax")
    with pytest.raises(DataError, match="before it was fitted"):
        FeatureScaler("robust").transform(x)
    with pytest.raises(DataError, match="lacks 'scale'"):
        FeatureScaler.from_dict({"kind": "maxabs", "offset": [0.0]})


def test_max_abs_scale_is_the_max_abs_scaler():
    rng = np.random.default_rng(4)
    x = rng.normal(0.0, [1.0, 50.0, 3.0], size=(300, 3))
    x[:, 2] = 0.0  # a feature that is zero everywhere gets scale 1
    scale = max_abs_scale(x)
    assert scale.dtype == np.float32
    np.testing.assert_array_equal(scale, np.where(np.abs(x).max(0) > 0, np.abs(x).max(0), 1.0).astype(np.float32))
    np.testing.assert_array_equal(max_abs_scale(x, dtype=np.float64)[:2], skp.MaxAbsScaler().fit(x).scale_[:2])
    assert max_abs_scale(x)[2] == 1.0
    np.testing.assert_array_equal(fit_scaler("maxabs", x).scale, max_abs_scale(x, dtype=np.float64))
    np.testing.assert_array_equal(max_abs_scale(x.T, axis=1), scale)
