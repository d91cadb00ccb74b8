"""Exports: SavedModels reproduce the in-memory scores, load in graph mode (saved_model_cli), and
the loader names what is missing."""

import pathlib
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.registry import MODELS
from preprocessing import representations
from preprocessing.errors import DataError
from tests.conftest import minimal_card
from training.export import export_tagger, load_tagger


def _trained_export(name, small_samples, folder, n=300):
    """A briefly trained, calibrated model of registry entry `name`, exported; (model, images, version dir)."""
    s = small_samples["top"]
    x = representations.build("jet_image", s.subset(np.arange(n)))["jet_image"]
    spec = MODELS[name]
    config = dict(spec.presets[spec.default_preset]["config"])
    if name != "dvae":
        config.update(filters=4, hidden_units=16)  # small convolutions keep the test fast
    keras.utils.set_random_seed(1)
    model = spec.cls(**config)
    model.compile(optimizer=keras.optimizers.Adam(5e-3))
    model.fit(x, epochs=1, batch_size=50, verbose=0)
    model.calibrate(x)
    version = export_tagger(
        model, {"jet_image": (40, 40)}, folder / name, minimal_card(model, "jet_image", {"jet_image": (40, 40)}, name)
    )
    return model, x, version


IMAGE_MODELS = sorted(n for n, spec in MODELS.items() if spec.representation == "jet_image")


@pytest.mark.parametrize("name", IMAGE_MODELS)  # the bump hunt's export: tests/models/test_ensemble.py
def test_every_saved_model_reproduces_in_memory_scores(name, small_samples, tmp_path):
    model, x, _ = _trained_export(name, small_samples, tmp_path)
    fn, _, _, loaded = load_tagger(tmp_path / name)
    got = {k: v.numpy() for k, v in fn(jet_image=tf.constant(x)).items()}
    want = {k: keras.ops.convert_to_numpy(v) for k, v in model.anomaly_scores(x).items()}
    assert set(got) == {"anomaly_score", *want}
    for k, v in want.items():
        np.testing.assert_allclose(got[k], v, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(got["anomaly_score"], want[model.default_score], atol=1e-5)
    enc = loaded.signatures["encode"](jet_image=tf.constant(x[:5]))
    assert all(v.shape[0] == 5 for v in enc.values())


def test_saved_model_cli_runs_the_dvae_export(small_samples, tmp_path):
    model, x, folder = _trained_export("dvae", small_samples, tmp_path)
    want = keras.ops.convert_to_numpy(model.anomaly_scores(x)["mixture_weight"])

    # graph-mode loader, like TF Serving's
    np.save(tmp_path / "x.npy", x[:4])
    cli = shutil.which("saved_model_cli") or str(pathlib.Path(sys.executable).parent / "saved_model_cli")
    out = subprocess.run(
        [
            cli,
            "run",
            "--dir",
            str(folder),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--inputs",
            f"jet_image={tmp_path / 'x.npy'}",
            "--outdir",
            str(tmp_path / "cli"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "cli" / "anomaly_score.npy"), want[:4], atol=1e-5)


def test_load_tagger_names_what_is_missing(tmp_path):
    class Plain(tf.Module):
        default_score = "x"

        @tf.function(input_signature=[tf.TensorSpec((None,), tf.float32)])
        def f(self, x):
            return x

    bad = tmp_path / "bad" / "1"
    module = Plain()
    tf.saved_model.save(module, str(bad), signatures={"other": module.f})
    with pytest.raises(DataError, match="no assets.extra/model_card.json"):
        load_tagger(bad)
    (bad / "assets.extra").mkdir()
    (bad / "assets.extra" / "model_card.json").write_text("{}")
    with pytest.raises(DataError, match=r"model_card.json: missing field\(s\) \['citation', 'class_name'"):
        load_tagger(bad)
    minimal_card(Plain(), "jet_image", {"x": ()}).write(bad)
    with pytest.raises(DataError, match="no 'serving_default' signature"):
        load_tagger(tmp_path / "bad")
    with pytest.raises(DataError, match="neither a SavedModel"):
        load_tagger(tmp_path / "nothing")
