"""The seed study of the bump hunt's default (issue 32): its table, and one smoke run end to end."""

import json

import pytest

from evaluation import bumphunt_seeds


def _member(seed, found, auc_largest, auc_last):
    return {
        "run_seed": 5,
        "fraction": 0.001,
        "member_seed": seed,
        "found_peak": found,
        "kept_epoch": 1,
        "final_epoch": 100,
        "final_train_loss": 70.0,
        "latent_spread": 0.3,
        "largest KL": {"auc": auc_largest, "sic_at_0.5": 1.0},
        "last epoch": {"auc": auc_last, "sic_at_0.5": 2.0},
    }


def test_the_table_has_a_row_per_member_and_per_ensemble():
    rows = [
        _member(5, False, 0.683, 0.896),
        _member(6, True, 0.91, 0.91),
        {
            "run_seed": 5,
            "fraction": 0.001,
            "ensemble": "median of 2",
            "fallback": "last epoch",
            "auc": 0.9,
            "sic_at_0.5": 2.2,
        },
    ]
    text = bumphunt_seeds.markdown(rows)
    assert "| 5 | 0.1% | 5 | no | 1 | 70.0 | 0.3 | 0.683 / 1.00 | 0.896 / 2.00 |" in text
    assert "| 5 | 0.1% | 6 | yes |" in text
    assert "| 5 | 0.1% | median of 2 | last epoch | 0.900 | 2.20 |" in text


@pytest.mark.slow
def test_a_smoke_run_scores_both_fallbacks_of_every_member(tmp_path, monkeypatch):
    monkeypatch.setenv("ANOMJET_DATA", str(tmp_path / "data"))
    out = tmp_path / "out"
    argv = ["--scale", "smoke", "--run-seeds", "0", "--members", "2", "--fractions", "0.1", "--out", str(out)]
    assert bumphunt_seeds.main(argv) == 0
    rows = json.loads((out / "results.json").read_text())
    members = [r for r in rows if "member_seed" in r]
    assert [r["member_seed"] for r in members] == [0, 1]
    for r in members:  # a member with a clean peak keeps it under both fallbacks
        assert 0.0 <= r["largest KL"]["auc"] <= 1.0 and 0.0 <= r["last epoch"]["auc"] <= 1.0
        if r["found_peak"]:
            assert r["largest KL"] == r["last epoch"]
    assert {r["ensemble"] for r in rows if "ensemble" in r} == {"mean of 2", "median of 2"}
    assert (out / "report.md").read_text().startswith("# bump-hunt default by training seed")


def test_the_summary_takes_the_worst_auc_and_the_median_sic_over_members():
    rows = [_member(5, False, 0.683, 0.896), _member(6, True, 0.91, 0.91), _member(7, True, 0.88, 0.88)]
    rows[1]["last epoch"]["sic_at_0.5"] = 3.0
    by = {s["fallback"]: s for s in bumphunt_seeds.summary(rows)}
    assert by["largest KL"]["worst_auc"] == 0.683 and by["last epoch"]["worst_auc"] == 0.88
    assert by["largest KL"]["median_sic"] == 1.0 and by["last epoch"]["median_sic"] == 2.0
    assert by["last epoch"]["members"] == 3 and by["last epoch"]["samples"] == 1


def test_a_report_says_whether_its_seeds_chose_the_fallback():
    assert "**Confirmation run**" in bumphunt_seeds.report([_member(5000, False, 0.9, 0.9)])
    chosen = bumphunt_seeds.report([{**_member(1000, False, 0.68, 0.9), "run_seed": 1000}])
    assert "**Not a confirmation run**" in chosen and "1011" in chosen
