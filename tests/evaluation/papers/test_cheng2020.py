"""cheng2020 reproduction: the report puts our best AUCs beside the paper's; the smoke run."""

import json

import numpy as np
import pytest

from evaluation.papers import cheng2020


def _fake_results():
    tests = [name for name, _, _ in cheng2020.TEST_SETS]
    models = {}
    for k, (label, name, preset) in enumerate(cheng2020.MODELS):
        scores = ("signal_probability",) if name == "dnn" else ("nll", "mse", "kl", "mss")
        models[label] = {
            "model": name,
            "preset": preset,
            "default_score": scores[0],
            "n_train_jets": 100,
            "epochs": 2,
            "stopping_epoch": 1,
            "train_seconds": 1.0,
            "auc": {s: {t: 0.5 + 0.01 * k + 0.001 * j for j, t in enumerate(tests)} for s in scores},
            "jsd": {"0.5": 0.01, "0.1": 0.02, "0.05": 0.03},
            "decorrelation": {"eff_b": 0.05, "eff_s": 0.2, "jsd": 0.03, "inverse_jsd": 33.3},
        }
    return {
        "scale": "smoke",
        "n_train": 100,
        "n_outliers": 10,
        "n_w_train": 10,
        "n_test": {"QCD": 10, **{t: 5 for t in tests}},
        "emd": False,
        "models": models,
    }


def test_report_quotes_each_models_own_default_and_the_label_chosen_best_apart(tmp_path):
    summary = cheng2020.write_report(_fake_results(), tmp_path, "smoke", 0, 60.0)
    report = (tmp_path / "report.md").read_text()
    assert "| W(80) best AUC (beta-VAE) | 0.680 | 0.501 | beta-VAE, nll | 0.501 | beta-VAE, nll |" in report
    # ours: the default preset MSE-OE, even where KL-OE (index 3) is better on the test labels; the
    # better one appears only in the column of label-chosen maxima
    assert "| OE-VAE H(174, h=20) | 0.744 | 0.526 | MSE-OE, nll | 0.536 | KL-OE, nll |" in report
    assert "best, chosen with labels (information only)" in report
    assert [row["paper"] for row in summary] == [0.68, 0.744, 0.625, 0.721]
    assert [row["ours"] for row in summary][1] == 0.526 and summary[1]["best_with_labels"] == 0.536
    assert json.loads((tmp_path / "results.json").read_text())["scale"] == "smoke"


@pytest.mark.slow
def test_smoke_scale_end_to_end(tmp_path, monkeypatch, capsys):
    from evaluation import reproduce

    monkeypatch.setenv("ANOMJET_DATA", str(tmp_path / "cache"))
    assert reproduce.main(["cheng2020", "--scale", "smoke", "--out", str(tmp_path / "out")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Mass sculpting" in report and "W(80) best AUC" in report
    for name in ("mass_sculpting.png", "decorrelation.png", "roc_beta_vae_paper.png", "roc_dnn_decorrelated.png"):
        assert (tmp_path / "out" / name).is_file()
    assert all(row["ours"] is None or 0.0 <= row["ours"] <= 1.0 for row in summary["results"])
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    for r in results["models"].values():
        assert all(np.isfinite(v) for row in r["auc"].values() for v in row.values())
    # the easiest signal for a QCD-trained VAE, fully merged tops (mass 174 against QCD's tail): the
    # beta-VAE's default score must rank them above QCD with a margin (0.1 = 2.5 standard errors at
    # 80 signal / 150 QCD test jets; unmeasured at this scale), an inverted score fails
    beta_vae = results["models"]["beta-VAE"]
    top_auc = beta_vae["auc"][beta_vae["default_score"]]["Top(174)"]
    assert top_auc > 0.6, top_auc


def _fake_sample(events, n_jets_per_event=2):
    from preprocessing.samples.format import JetSample

    event = np.repeat(np.arange(events), n_jets_per_event)
    n = len(event)
    return JetSample(
        np.zeros((n, 3, 4), np.float32),
        np.full(n, 3, np.int32),
        np.zeros(n, np.int32),
        event,
        {"mass": np.arange(n, dtype=np.float32)},
        ["qcd"],
        {},
    )


def test_learning_curve_subsets_keep_whole_events_and_the_outlier_share():
    data = {"train": ("qcd.h5", _fake_sample(500)), "outliers": (["o.h5"], _fake_sample(125, 1)), "test": {}}
    part = cheng2020.subset(data, 200, seed=3)
    train, outliers = part["train"][1], part["outliers"][1]
    assert 200 <= len(train) <= 201  # whole events of two jets: one event past the size at most
    _, per_event = np.unique(train.event, return_counts=True)
    assert (per_event == 2).all()
    assert len(outliers) == 25  # 125 * 200 / 1000, the training share
    assert len(np.unique(outliers.jets["mass"])) == 25  # distinct rows
    again = cheng2020.subset(data, 200, seed=3)["train"][1]
    assert np.array_equal(again.event, train.event)  # seeded
    other = cheng2020.subset(data, 200, seed=4)["train"][1]
    assert not np.array_equal(other.event, train.event)  # a choice, not the first events
    assert part["test"] is data["test"]


def test_report_has_the_learning_curve_with_the_full_size_model_last(tmp_path):
    results = _fake_results()
    full = results["models"]["MSE-OE"]
    results["learning_curve"] = [
        {
            "n_train": 30,
            "n_outliers": 3,
            "n_train_jets": 24,
            "epochs": 2,
            "stopping_epoch": 2,
            "auc": {t: 0.6 for t in cheng2020.CURVE_TESTS},
        }
    ]
    cheng2020.write_report(results, tmp_path, "large", 0, 60.0)
    report = (tmp_path / "report.md").read_text()
    assert "## Learning curve (MSE-OE, default score)" in report
    assert "| 30 | 3 | 24 | 2 (2) | 0.600 | 0.600 | 0.600 |" in report
    h20 = full["auc"][full["default_score"]]["H(174, h=20)"]
    assert f"| 100 | 10 | 100 | 2 (1) | {h20:.3f} |" in report
    assert "| paper: 480000 | 120000 | | 50 | 0.744 | 0.625 | 0.721 |" in report


@pytest.mark.slow
def test_a_scale_with_a_model_subset_and_a_learning_curve_runs(tmp_path, monkeypatch, capsys):
    """The large scale's mechanics at smoke size: only the chosen models train, MSE-OE is retrained
    on a subset, and the report shows the curve."""
    from evaluation import reproduce

    monkeypatch.setenv("ANOMJET_DATA", str(tmp_path / "cache"))
    smoke = {**cheng2020.SCALES["smoke"], "models": ("MSE-OE",), "learning_curve": (200,)}
    monkeypatch.setitem(cheng2020.SCALES, "smoke", smoke)
    assert reproduce.main(["cheng2020", "--scale", "smoke", "--out", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert list(results["models"]) == ["MSE-OE"]
    (point,) = results["learning_curve"]
    assert point["n_train"] < results["n_train"] and point["n_outliers"] < results["n_outliers"]
    assert set(point["auc"]) == set(cheng2020.CURVE_TESTS)
    assert "## Learning curve" in (tmp_path / "out" / "report.md").read_text()


def test_paper_data_scale_trains_the_quoted_oe_vae_on_the_papers_training_sets():
    """issue 31: the paper's 480k QCD and 120k outlier jets and its 50 epochs, for MSE-OE, with the test
    sets of the small and large scales (whose generated samples it reuses)."""
    ours, paper = cheng2020.SCALES["paper-data"], cheng2020.SCALES["paper"]
    assert (ours["n_train"], ours["n_outliers"], ours["epochs"]) == (
        paper["n_train"],
        paper["n_outliers"],
        paper["epochs"],
    )
    assert ours["models"] == ("MSE-OE",) and "MSE-OE" in [label for label, _, _ in cheng2020.MODELS]
    for key in ("n_test_qcd", "n_test"):
        assert ours[key] == cheng2020.SCALES["large"][key] == cheng2020.SCALES["small"][key]
