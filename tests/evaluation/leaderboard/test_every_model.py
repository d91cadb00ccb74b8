"""Every model of the bench at smoke scale (``pytest -m slow``): every entry trains, exports, scores every
signal with finite numbers, and ``models.config`` serves each one over REST and gRPC."""

import json

import numpy as np
import pytest

from evaluation.leaderboard import report, tasks
from tests.evaluation.leaderboard.conftest import run_bench, suite_sample
from tests.evaluation.leaderboard.served import score_every_model


@pytest.mark.slow
def test_every_model_runs_at_smoke_scale_and_is_served(tmp_path):
    from models.registry import MODELS

    out, cache = tmp_path / "run", tmp_path / "cache"
    run_bench(out, cache, workers=2, timeout=3600)
    results = json.loads((out / "results.json").read_text())
    chosen = tasks.entries("smoke", tuple(MODELS), tasks.CONFIRMATION_SEED)
    assert [e["name"] for e in results["entries"]] == [e.name for e in chosen]
    for entry in chosen:
        rows = [r for r in results["records"] if r["entry"] == entry.name]
        expected = len(tasks.SIGNAL_EVENT_TESTS) if entry.task == tasks.EVENT_TASK else len(tasks.SIGNAL_NAMES)
        assert len(rows) == expected, entry.name
        for r in rows:
            assert 0.0 <= r["auc_low"] <= r["auc"] <= r["auc_high"] <= 1.0, (entry.name, r["signal"])
            assert len(r["roc_eff_b"]) == len(results["meta"]["roc_eff_s"])
            if entry.task == tasks.EVENT_TASK:
                assert np.isfinite([r["bump"]["z_before"], r["bump"]["z_after"]]).all()
    assert (out / "report.md").read_text() == report.render(results, sorted(p.name for p in out.glob("*.png")))

    qcd, events = suite_sample(results, cache, "QCD"), suite_sample(results, cache, "QCD dijet events")
    first_event = events.subset(np.flatnonzero(events.event == events.event[0]))
    got = score_every_model(out, lambda card: first_event if card.row_level == "event" else qcd)
    assert sorted(got) == sorted(e.name for e in chosen)
    for name, (rest, grpc, saved) in got.items():
        np.testing.assert_allclose(rest, saved, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(grpc, saved, rtol=1e-5, atol=1e-6, err_msg=name)
