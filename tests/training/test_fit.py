"""training.fit end to end: versioned exports, event rows and ensembles, default datasets, clear errors."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from models.registry import MODELS
from preprocessing import representations
from preprocessing.samples.format import write_sample
from tests.synthetic import event_sample
from training import fit, score

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def events_file(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("events") / "events.h5", event_sample(6000, 0.05, 1))


def test_fit_exports_versions_and_never_overwrites(fitted):
    base, summaries, digests = fitted
    assert summaries[0]["export"].endswith("dvae/1") and summaries[1]["export"].endswith("dvae/2")
    assert digests[0] == digests[1]  # version 1 untouched by the second run
    for v in (1, 2):
        folder = base / "dvae" / str(v)
        assert (folder / "saved_model.pb").is_file()
        card = json.loads((folder / "assets.extra" / "model_card.json").read_text())
        assert card["metrics"]["auc"] == summaries[v - 1]["metrics"]["auc"]
        assert card["model"] == "dvae" and card["preset"] == "balanced" and card["version"] == v
        assert card["data"]["n_test"] > 0 and card["data"]["provenance"]["sources"][1]["process"] == "top"
        for fig in ("roc.png", "mixture_images.png"):
            assert (folder / "assets.extra" / fig).stat().st_size > 1000
    assert set(summaries[0]["metrics"]) >= {"auc", "r50"}
    assert not list((base / "dvae").glob(".tmp-*"))


# three fit processes at once (31 s on loaded cores): slow, to keep CI clear of 20 minutes
@pytest.mark.slow
def test_concurrent_fits_into_one_base_all_land_with_distinct_versions(small_samples, tmp_path):
    """Three fits started at once into one export base: versions 1, 2 and 3, each complete and
    loadable; checkpoints removed after the export except where --keep-runs asks to keep them."""
    from training.export import load_tagger

    base = tmp_path / "exported"
    data = [str(small_samples["qcd_path"]), str(small_samples["top_path"])]
    argv = ["--model", "dvae", "--data", *data, "--n-jets", "200", "--epochs", "1", "--export-dir", str(base)]
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "training.fit", *argv, "--seed", str(seed)] + (["--keep-runs"] if seed == 2 else []),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for seed in range(3)
    ]
    outputs = [run.communicate(timeout=900) for run in runs]
    for run, (_, err) in zip(runs, outputs):
        assert run.returncode == 0, err[-3000:]
    exports = [pathlib.Path(json.loads(out.strip().splitlines()[-1])["export"]) for out, _ in outputs]
    assert sorted(e.name for e in exports) == ["1", "2", "3"]
    assert sorted(p.name for p in (base / "dvae").iterdir()) == ["1", "2", "3"]  # no temporary folder left
    images = representations.build("jet_image", small_samples["top"].subset(np.arange(5)))["jet_image"]
    for seed, folder in enumerate(exports):
        fn, card, loaded_from, _ = load_tagger(folder)
        assert loaded_from == folder and card.version == int(folder.name) and card.training["seed"] == seed
        assert np.all(np.isfinite(fn(jet_image=images)["anomaly_score"].numpy()))
    kept = list((base / ".runs").iterdir())
    assert len(kept) == 1 and (kept[0] / "member0" / "best.weights.h5").is_file()


def test_fit_ensemble_exports_one_model_and_scores_events(events_file, tmp_path, capsys):
    argv = [
        "--model",
        "bumphunt_vae",
        "--data",
        str(events_file),
        "--epochs",
        "10",
        "--batch-size",
        "100",
        "--ensemble",
        "2",
        "--workers",
        "1",  # members as serial Dask-path tasks; the cluster path is tests/training/test_members.py (slow)
        "--export-dir",
        str(tmp_path),
        "--set",
        "learning_rate=1.0",
    ]
    assert fit.main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    folder = pathlib.Path(summary["export"])
    card = json.loads((folder / "assets.extra" / "model_card.json").read_text())
    assert card["data"]["rows"] == "events" and card["representation"]["name"] == "highlevel"
    assert card["ensemble"]["members"] == 2 and len(card["training"]["stopping"]) == 2
    assert card["inputs"] == {"highlevel": [6]}
    assert card["data"]["n_test"] + card["data"]["n_train"] + card["data"]["n_validation"] == 6000
    # the planted cluster is separated and the default (rarity: the training events' tail
    # probabilities, label-free) is documented to rank the rare events high (README "Scores"), so
    # event rows, labels and scores line up *and* point the right way; an inverted default fails
    auc = summary["metrics"]["auc"]
    assert auc > 0.6, auc  # 0.1 above chance: 3 standard errors with 30 test signal events
    assert (folder / "assets.extra" / "member1.weights.h5").is_file()

    out = str(tmp_path / "s.h5")
    assert score.main(["--model", str(folder), "--data", str(events_file), "--out", out]) == 0
    scored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scored["n_rows"] == 6000 and scored["rows"] == "event"
    assert set(scored["auc"]) >= {"anomaly_score", "rarity", "rarity_std", "latent_nll", "kl"}


def test_mjj_never_reaches_the_encoder(events_file, tmp_path):
    """Changing every event's m_jj changes no input row of the model."""
    from preprocessing.samples.format import read_sample

    s = read_sample(events_file)
    a = representations.build("highlevel", s)["highlevel"]
    s.jets["mjj"] = s.jets["mjj"] * 1.7 + 100.0
    b = representations.build("highlevel", s)["highlevel"]
    np.testing.assert_array_equal(a, b)


def test_bad_inputs_get_clear_errors(small_samples, tmp_path, capsys):
    data = str(small_samples["qcd_path"])
    cases = [
        (["--model", "nope"], "unknown model 'nope'"),
        (["--model", "dvae", "--preset", "nope"], "has no preset 'nope'"),
        (["--model", "dvae", "--set", "alhpa=[1,1]", "--data", data], "unknown --set key 'alhpa'"),
        (["--model", "dvae", "--set", "beta_kl"], "--set expects KEY=VALUE"),
        (
            ["--model", "dvae", "--data", str(tmp_path / "missing.h5")],
            "--data " + str(tmp_path / "missing.h5") + ": no such file",
        ),
        (
            ["--model", "dvae", "--data", data, "--representation", "constituents"],
            "takes one input, but representation 'constituents' builds",
        ),
    ]
    for argv, message in cases:
        assert fit.main(argv + ["--export-dir", str(tmp_path / "e")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "e" / "dvae").exists()


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory):
    """A private $ANOMJET_DATA shared by the default-dataset runs of this module."""
    return tmp_path_factory.mktemp("anomjet-data")


def _one_model_per_dataset():
    """Every model; by default only the first of each default dataset runs (the rest with -m slow)."""
    seen, params = set(), []
    for name in sorted(MODELS):
        recipe = MODELS[name].dataset.name
        params.append(pytest.param(name, marks=[pytest.mark.slow] if recipe in seen else [], id=name))
        seen.add(recipe)
    return params


@pytest.mark.parametrize("name", _one_model_per_dataset())
def test_every_model_trains_on_its_own_default_dataset(name, data_cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ANOMJET_DATA", str(data_cache))
    spec = MODELS[name]
    argv = ["--model", name, "--n-jets", "400", "--epochs", "1", "--export-dir", str(tmp_path)]
    if spec.cls.__name__ in ("AE1D", "VAE1D", "GMVAE"):
        argv += ["--set", "filters=4", "--set", "hidden_units=16"]  # small convolutions keep the test fast
    assert fit.main(argv) == 0, capsys.readouterr().err[-2000:]
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    card = json.loads((pathlib.Path(summary["export"]) / "assets.extra" / "model_card.json").read_text())
    processes = [source["process"] for source in card["data"]["provenance"]["sources"]]
    assert processes == [c.process for c in spec.dataset.components]
    cached = sorted(p.name for p in data_cache.glob("*.h5"))
    for c in spec.dataset.components:
        assert any(n.startswith(f"{c.process}_n") and f"_seed{c.seed}" in n for n in cached), cached
