"""End to end: fit -> SavedModel (versioned, never overwritten) -> load back / saved_model_cli / score."""

import json
import pathlib
import shutil
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from models.registry import MODELS
from preprocessing.errors import DataError
from preprocessing.images import jet_images
from training import fit, score
from training.export import export_tagger, load_tagger


def test_fit_exports_versions_and_never_overwrites(fitted):
    base, summaries, digests = fitted
    assert summaries[0]["export"].endswith("dvae/1") and summaries[1]["export"].endswith("dvae/2")
    assert digests[0] == digests[1]  # version 1 untouched by the second run
    for v in (1, 2):
        folder = base / "dvae" / str(v)
        assert (folder / "saved_model.pb").is_file()
        card = json.loads((folder / "assets.extra" / "model_card.json").read_text())
        assert 0.0 <= card["metrics"]["auc"] <= 1.0
        assert card["model"] == "dvae" and card["preset"] == "balanced" and card["version"] == v
        assert card["data"]["n_test"] > 0 and card["data"]["provenance"]["sources"][1]["process"] == "top"
        for fig in ("roc.png", "mixture_images.png"):
            assert (folder / "assets.extra" / fig).stat().st_size > 1000
    assert set(summaries[0]["metrics"]) >= {"auc", "r50"}
    assert not list((base / "dvae").glob(".tmp-*"))


def _trained_export(name, small_samples, folder, n=300):
    """A briefly trained, calibrated model of registry entry `name`, exported; (model, images, version dir)."""
    s = small_samples["top"]
    x = jet_images(s.constituents[:n], s.n_constituents[:n])
    spec = MODELS[name]
    config = dict(spec.presets[spec.default_preset]["config"])
    if name != "dvae":
        config.update(filters=4, hidden_units=16)  # small convolutions keep the test fast
    keras.utils.set_random_seed(1)
    model = spec.cls(**config)
    model.compile(optimizer=keras.optimizers.Adam(5e-3))
    model.fit(x, epochs=1, batch_size=50, verbose=0)
    model.calibrate(x)
    version = export_tagger(model, {"jet_image": (40, 40)}, folder / name, {"representation": {"name": "jet_image"}})
    return model, x, version


IMAGE_MODELS = sorted(n for n, spec in MODELS.items() if spec.representation == "jet_image")


@pytest.mark.parametrize("name", IMAGE_MODELS)  # bumphunt_vae: tests/models/test_bumphunt_vae.py
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
    out = subprocess.run([cli, "run", "--dir", str(folder), "--tag_set", "serve", "--signature_def",
                          "serving_default", "--inputs", f"jet_image={tmp_path / 'x.npy'}",
                          "--outdir", str(tmp_path / "cli")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "cli" / "anomaly_score.npy"), want[:4], atol=1e-5)


def test_score_command_writes_every_score_and_auc(fitted, small_samples, tmp_path, capsys):
    base, _, _ = fitted
    from preprocessing.sample import concatenate, write_sample

    mixed = write_sample(tmp_path / "mixed.h5", concatenate([small_samples["qcd"].subset(np.arange(100)),
                                                             small_samples["top"].subset(np.arange(100))]))
    assert score.main(["--model", str(base / "dvae"), "--data", str(mixed), "--out", str(tmp_path / "s.h5")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["model"].endswith("dvae/2")  # newest version by default
    assert set(result["auc"]) == {"anomaly_score", "mixture_weight", "reconstruction", "kl"}
    with h5py.File(tmp_path / "s.h5") as f:
        assert f["scores/anomaly_score"].shape == (200,)
        np.testing.assert_array_equal(f["scores/anomaly_score"][...], f["scores/mixture_weight"][...])
    assert score.main(["--model", str(base / "dvae"), "--version", "1", "--data", str(mixed),
                       "--out", str(tmp_path / "s1.h5")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["model"].endswith("dvae/1")


def test_bad_inputs_get_clear_errors(small_samples, tmp_path, capsys):
    data = str(small_samples["qcd_path"])
    cases = [
        (["--model", "nope"], "unknown model 'nope'"),
        (["--model", "dvae", "--preset", "nope"], "has no preset 'nope'"),
        (["--model", "dvae", "--set", "alhpa=[1,1]", "--data", data], "unknown --set key 'alhpa'"),
        (["--model", "dvae", "--set", "beta_kl"], "--set expects KEY=VALUE"),
        (["--model", "dvae", "--data", str(tmp_path / "missing.h5")], "missing.h5: no such sample file"),
        (["--model", "dvae", "--data", data, "--representation", "constituents"],
         "takes one input, but representation 'constituents' builds"),
    ]
    for argv, message in cases:
        assert fit.main(argv + ["--export-dir", str(tmp_path / "e")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "e" / "dvae").exists()

    # an export folder without the expected signature or card
    class Plain(tf.Module):
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
    with pytest.raises(DataError, match="no 'serving_default' signature"):
        load_tagger(tmp_path / "bad")
    with pytest.raises(DataError, match="neither a SavedModel"):
        load_tagger(tmp_path / "nothing")
