"""The representation registry: parameters, shapes, fitting and errors of registered representations."""

import json

import numpy as np
import pytest

from preprocessing import representations
from preprocessing.errors import DataError


def test_registry_shapes_params_and_fit(small_samples):
    s = small_samples["qcd"].subset(np.arange(40))
    out = representations.build("constituents", s, {"n_constituents": 10})
    assert out["constituents"].shape == (40, 10, 4) and out["constituent_mask"].shape == (40, 10)
    assert representations.input_shapes("constituents") == {"constituents": (20, 4), "constituent_mask": (20,)}
    fitted = json.loads(json.dumps(representations.fit("constituents", out)))
    assert fitted["scaler"]["kind"] == "standard" and len(fitted["scaler"]["scale"]) == 4
    with pytest.raises(DataError, match="no parameter"):
        representations.build("constituents", s, {"n_jets": 3})
    with pytest.raises(DataError, match="unknown representation 'pixels'"):
        representations.build("pixels", s)
    # every registered representation declares the shapes its builder returns
    for name in ("jet_image", "lund_image", "vrnn", "pointcloud"):
        built = representations.build(name, s)
        assert {k: v.shape[1:] for k, v in built.items()} == representations.input_shapes(name), name
        assert all(v.dtype == np.float32 and len(v) == 40 for v in built.values())
