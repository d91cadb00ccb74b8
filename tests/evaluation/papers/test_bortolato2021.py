"""The bortolato2021 reproduction (smoke scale); its (z, m_jj) characterisation is tested in
tests/evaluation/test_characterise.py."""

import json

import pytest

from evaluation import reproduce
from tests.synthetic import event_sample


# about a minute: the second slowest test of the default suite, slow since CI neared its 20 minutes
# (the bump hunt still trains, exports and scores by default in tests/training/test_fit.py)
@pytest.mark.slow
def test_bortolato2021_smoke_run(tmp_path, capsys):
    from preprocessing.samples.format import write_sample

    bkg = event_sample(1500, 0.0, 3)
    sig = event_sample(300, 1.0, 4)
    paths = [str(write_sample(tmp_path / "bkg.h5", bkg)), str(write_sample(tmp_path / "sig.h5", sig))]
    argv = ["bortolato2021", "--scale", "smoke", "--out", str(tmp_path / "out"), "--data", *paths]
    assert reproduce.main([*argv, "--workers", "1"]) == 0  # members serially: no cluster start-up in the fast tests
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["fraction"] for r in summary["results"]] == [0.1, 0.01, 0.0]
    # the planted signal cluster is easy: the label-free default (rarity) must rank it high at every
    # S/B (measured 0.95, 0.99, 1.00; members 0.88-1.00); an inverted or unoriented default fails
    assert all(r["auc"] > 0.8 and r["sic_at_0.5"] > 1 for r in summary["results"]), summary["results"]
    for r in summary["results"]:  # both weight choices are scored, per member
        assert len(r["member_auc"]) == len(r["last_epoch"]["member_auc"]) == len(r["latent_spread"]) == 2
        assert all(1 <= p <= e <= 6 for p, e in zip(r["peak_epochs"], r["last_epoch"]["epochs"], strict=True))
    for r in summary["results"]:  # the label-free default, the paper's KL and the label-chosen best, side by side
        assert r["default_score"] == "rarity" and r["paper_score"]["score"] == "kl"
        assert set(r["terms"]) == {"latent_nll", "reconstruction"}
        assert (
            r["best_with_labels"]["auc"] >= max(r["auc"], r["paper_score"]["auc"], 1 - r["paper_score"]["auc"]) - 1e-9
        )
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| S/B | score | weights | AUC |" in report and "| last epoch |" in report
    assert (
        "label-free default: rarity" in report
        and "term of the default: reconstruction" in report
        and "chosen with labels, for information only" in report
    )
    for fig in (
        "roc_sb0.1.png",
        "stability_adadelta_vs_adam.png",
        "heatmaps_sb0.01.png",
        "heatmaps_sb0.png",
        "marginals.png",
    ):
        assert (tmp_path / "out" / fig).stat().st_size > 1000, fig
