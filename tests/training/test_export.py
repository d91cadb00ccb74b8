"""Exports: SavedModels reproduce the in-memory scores, load in graph mode (saved_model_cli), and
the loader names what is missing."""

import json
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
            "representation",  # serving_default takes raw constituents; the image-level signature
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


class Identity(tf.Module):
    """A SavedModel without a serving_default signature."""

    default_score = "x"

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.float32)])
    def f(self, x):
        return x


def test_load_tagger_names_what_is_missing(tmp_path):
    bad = tmp_path / "bad" / "1"
    module = Identity()
    tf.saved_model.save(module, str(bad), signatures={"other": module.f})
    with pytest.raises(DataError, match="no assets.extra/model_card.json"):
        load_tagger(bad)
    (bad / "assets.extra").mkdir()
    (bad / "assets.extra" / "model_card.json").write_text("{}")
    with pytest.raises(DataError, match=r"model_card.json: missing field\(s\) \['citation', 'class_name'"):
        load_tagger(bad)
    minimal_card(module, "jet_image", {"x": ()}).write(bad)
    with pytest.raises(DataError, match="no 'serving_default' signature"):
        load_tagger(tmp_path / "bad")
    with pytest.raises(DataError, match="neither a SavedModel"):
        load_tagger(tmp_path / "nothing")


def test_a_version_taken_while_exporting_is_skipped(tmp_path):
    """The rename claims the version: when another export lands on the chosen number first, this one
    takes the next free number, with its model card saying so, and the other export is untouched."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])

    class Tiny(keras.Model):
        default_score = "s"
        has_latent = False
        has_reconstruction = False

        def __init__(self):
            super().__init__()
            self.net = model
            self.built = True

        def anomaly_scores(self, x):
            return {"s": self.net(x)[:, 0]}

        def extra_outputs(self, x):
            return {}

        def extra_signatures(self):
            return {}

    tagger = Tiny()
    base = tmp_path / "tiny"
    (base / "1").mkdir(parents=True)
    (base / "1" / "saved_model.pb").write_bytes(b"an earlier export")

    def someone_else_exports(folder):
        # while this export writes its extras, two others complete versions 2 and 3
        for v in (2, 3):
            (base / str(v)).mkdir()
            (base / str(v) / "saved_model.pb").write_bytes(f"export {v}".encode())

    card = minimal_card(tagger, "highlevel", {"x": (3,)})
    final = export_tagger(tagger, {"x": (3,)}, base, card, write_extras=someone_else_exports)
    assert final == base / "4"
    assert json.loads((final / "assets.extra" / "model_card.json").read_text())["version"] == 4
    for v in (1, 2, 3):
        assert (base / str(v) / "saved_model.pb").read_bytes() != (final / "saved_model.pb").read_bytes()
    assert (base / "2" / "saved_model.pb").read_bytes() == b"export 2"
    fn, _, _, _ = load_tagger(base)
    np.testing.assert_allclose(fn(x=tf.ones((2, 3)))["anomaly_score"].numpy(), tagger.net(np.ones((2, 3)))[:, 0])
    assert sorted(p.name for p in base.iterdir()) == ["1", "2", "3", "4"]  # no temporary folder left
