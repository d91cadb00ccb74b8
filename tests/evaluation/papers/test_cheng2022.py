"""cheng2022 reproduction: the report from hand-made results (fast) and the smoke run end to end (slow)."""

import numpy as np
import pytest

from evaluation.papers import cheng2022


def _metrics(auc):
    return {"auc": auc, "r50": 5.0, "sic_50": 1.1, "sic_max": 1.5, "n_signal": 10, "n_background": 10}


def test_report_puts_our_numbers_beside_the_papers(tmp_path):
    rows = [
        {
            "variant": v,
            "decorrelate": d,
            "members": 3 if v == "ensemble" else 1,
            "train_seconds": 1.0,
            "metrics": {
                s: {g: _metrics(0.5 + 0.01 * i) for i, g in enumerate(cheng2022.SIGNALS)} for s in cheng2022.SCORES
            },
        }
        for v, d in cheng2022.VARIANTS
    ]
    sculpt = {
        f"{v}/{d}": {s: {str(e): 0.01 for e in cheng2022.EFFICIENCIES} for s in cheng2022.SCORES}
        for v, d in cheng2022.VARIANTS
    }
    results = {
        "scale": "x",
        "model": "particlenet",
        "preset": "lite",
        "epochs": 1,
        "rows": rows,
        "sculpting": sculpt,
        "n_train": 100,
        "n_test": {"qcd": 10},
        "n_augment": 50,
    }
    summary = cheng2022.write_report(results, tmp_path, "x", 0, 60.0)
    text = (tmp_path / "report.md").read_text()
    assert "0.500 / 0.940" in text  # decorrelated ensemble p_qcd on H(h=20) beside the paper's 0.940
    assert len(summary) == len(cheng2022.VARIANTS) * 2 * 3
    assert all(np.isfinite(r["auc"]) for r in summary)


@pytest.mark.slow
def test_smoke_reproduction_runs(tmp_path):
    results = cheng2022.run("smoke", tmp_path, seed=0)
    assert len(results["rows"]) == len(cheng2022.VARIANTS)
    for row in results["rows"]:
        for s in cheng2022.SCORES:
            assert all(0.0 <= row["metrics"][s][g]["auc"] <= 1.0 for g in cheng2022.SIGNALS)
    # the easiest signal, three-prong top-like jets (Top(174), W=20), must sit away from QCD for the
    # single classifier by at least one of its anti-QCD scores (the QCD Mahalanobis distance needs no
    # training to see it); margin 0.05 chosen conservatively for one epoch, unmeasured at this scale
    (single,) = [r for r in results["rows"] if (r["variant"], r["decorrelate"]) == ("single", "none")]
    aucs = {s: single["metrics"][s]["top_w20"]["auc"] for s in cheng2022.SCORES}
    assert max(aucs.values()) > 0.55, aucs
    cheng2022.write_report(results, tmp_path, "smoke", 0, 1.0)
    assert (tmp_path / "report.md").exists()
