"""The Tagger base: hooks have no-op defaults, batches of one or several named inputs, the selector."""

import keras
import numpy as np
import pytest

from models.base import Tagger, batched, batched_scores, gaussian_sample
from models.dvae import DirichletVAE


class Plain(Tagger):
    default_score = "mean"

    def anomaly_scores(self, inputs):
        x = inputs["a"] + inputs["b"] if isinstance(inputs, dict) else inputs
        return {"mean": np.mean(np.asarray(x), axis=1)}


def test_hooks_default_to_doing_nothing():
    m = Plain()
    x = np.ones((3, 2), np.float32)
    assert m.fit_scaler(x) is None and m.calibrate(x) is None
    assert m.anomalous_index() is None and m.component_images() is None
    assert m.extra_outputs(x) == {} and m.extra_output_names == ()
    assert not m.has_latent and DirichletVAE().has_latent
    with pytest.raises(NotImplementedError, match="no latent space"):
        m.latent(x)


def test_batched_slices_arrays_and_dicts_alike():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(10, 3)), rng.normal(size=(10, 3))
    whole = np.mean(a + b, axis=1)
    np.testing.assert_allclose(batched_scores(Plain(), {"a": a, "b": b}, batch_size=3)["mean"], whole)
    np.testing.assert_allclose(batched(lambda x: x * 2, a, batch_size=4), a * 2)


def test_component_selector_and_gaussian_sample():
    m = DirichletVAE(alpha=(1.0, 0.5, 0.25))
    assert m.anomalous_index() == 2  # the smallest alpha
    m.select_component(0)
    assert m.anomalous_index() == 0
    mean = np.full((20000, 1), 3.0, np.float32)
    z = np.asarray(gaussian_sample(mean, np.full_like(mean, np.log(4.0)), keras.random.SeedGenerator(1)))
    assert abs(z.mean() - 3.0) < 0.05 and abs(z.std() - 2.0) < 0.05
