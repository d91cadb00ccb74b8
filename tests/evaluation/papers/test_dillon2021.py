"""The dillon2021 reproduction runs every scenario end to end (smoke scale) and writes its report."""

import json

import pytest

from evaluation import reproduce


@pytest.mark.slow  # every scenario end to end: ~2-4 minutes on 2 cores
def test_dillon2021_smoke_run_writes_report_and_figures(small_samples, tmp_path, capsys):
    data = [str(small_samples["qcd_path"]), str(small_samples["top_path"])]
    assert reproduce.main(["dillon2021", "--scale", "smoke", "--out", str(tmp_path), "--data", *data]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    scenarios = {r["scenario"] for r in summary["results"]}
    assert {"balanced", "r2 t/Q=0.01", "r2 Q/t=1.0", "r3 t/Q=0.01", "r3 Q/t=0.01", "lund t/Q=1.0"} <= scenarios
    models = {r["model"] for r in summary["results"] if r["scenario"] == "balanced"}
    assert models == {"ae1d", "vae1d", "gmvae", "dvae"}
    assert all(0.0 <= r["auc"] <= 1.0 for r in summary["results"])
    # the balanced scenario (t/Q = 1, no rare class): the DVAE's label-free default must rank tops
    # above QCD with a margin (measured 0.79 at this scale, seed 0); an inverted choice fails
    (default,) = [
        r
        for r in summary["results"]
        if r["scenario"] == "balanced" and r["model"] == "dvae" and r["score"].startswith("label-free default")
    ]
    assert default["auc"] > 0.65, default
    report = (tmp_path / "report.md").read_text()
    assert "| balanced | dvae | mixture_weight (default) |" in report and "0.89" in report
    for fig in (
        "roc_balanced_top_signal.png",
        "latent_evolution_dvae.png",
        "fraction_scan_dvae_r2.png",
        "mixture_images_r3_qcd_anomalous.png",
        "gibbs_r3_top_anomalous.png",
        "mixture_images_lund.png",
    ):
        assert (tmp_path / fig).stat().st_size > 1000, fig


class _Model:
    def __init__(self, alpha, values):
        self.alpha, self.values, self.rule_observable = alpha, values, "width"

    def component_observable(self):
        return self.values


def _result(auc, alpha, values, k):
    return {
        "metrics": {"mixture_weight": {"auc": auc}},
        "default_score": "mixture_weight",
        "anomalous_component": k,
        "model_obj": _Model(alpha, values),
    }


def test_below_reason_reads_the_rule_margin_of_the_trained_model():
    from evaluation.papers.dillon2021 import below_reason

    assert below_reason(_result(0.85, (1.0, 0.25), (1.0, 7.0), 1)) == ""  # reaches 0.8: nothing to explain
    at_margin = below_reason(_result(0.16, (1.0, 0.25), (6.71, 6.21), 1))  # r2 Q/t = 0.01 of the small run
    assert "barely differ" in at_margin and "(8% apart)" in at_margin
    apart = below_reason(_result(0.6, (1.0, 0.25), (2.0, 7.0), 1))
    assert "as the rule expects" in apart and "(111% apart)" in apart
    assert "balanced prior" in below_reason(_result(0.1, (1.0, 1.0), (7.12, 0.79), 0))
