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
