"""The bortolato2021 reproduction (smoke scale), the z range of the (z, m_jj) scan and the
checks on the exported encoder."""

import json

import numpy as np
import pytest

from evaluation import reproduce
from evaluation.papers import bortolato2021
from preprocessing.errors import DataError
from tests.synthetic import event_sample


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


def test_score_direction_points_to_the_side_of_the_rare_events():
    """The scan's direction comes from the training events' default score (no labels)."""
    import keras

    from models.bumphunt_vae import BumpHuntVAE
    from tests.models.test_bumphunt_vae import _events

    keras.utils.set_random_seed(0)
    x, _ = _events(600)
    vae = BumpHuntVAE()
    vae.fit_scaler(x)
    z = np.asarray(vae.encode(x)[0])[:, 0]
    for side in (1.0, -1.0):
        # a bulk plus a few events far on one side of the latent: the mixture makes them rare
        rare = side * (z - np.median(z)) > np.percentile(side * (z - np.median(z)), 97)
        vae.calibrate(x[~rare])
        d = bortolato2021.score_direction(vae, x)
        assert d["side"] == side and d["t_max"] > 0
        t = d["to_axis"](z)
        assert np.all(t[rare] > 0)
        assert [v for v, _ in d["levels"]] == sorted(v for v, _ in d["levels"])


def test_latent_range_keeps_the_paper_range_only_where_the_events_are():
    rng = np.random.default_rng(0)
    inside = rng.uniform(-2.4, -0.1, 1000)
    assert bortolato2021.latent_range(inside)[0] == bortolato2021.Z_RANGE
    elsewhere = rng.normal(0.3, 0.2, 1000)  # a latent centred near +0.3: mostly outside [-2.5, 0]
    (low, high), reason = bortolato2021.latent_range(elsewhere)
    assert "percentiles" in reason
    assert np.mean((elsewhere >= low) & (elsewhere <= high)) >= 0.97
    assert high - low >= 1.0 and low < 0.3 < high


def _fake_export(folder, model):
    """A version folder with a model card of `model` (no weights, no graph)."""
    from training.model_card import ModelCard

    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    ModelCard(
        model=model,
        class_name="X",
        citation="",
        preset="paper",
        config={},
        representation={"name": "x"},
        inputs={},
        outputs=["anomaly_score"],
        default_score="kl",
        signal_label="signal",
    ).write(folder)
    return folder


def test_load_encoder_takes_only_bumphunt_exports_with_member_weights(tmp_path):
    with pytest.raises(DataError, match="not 'bumphunt_vae'"):
        bortolato2021.load_encoder(_fake_export(tmp_path / "dvae" / "1", "dvae"))
    with pytest.raises(DataError, match="member0.weights.h5"):
        bortolato2021.load_encoder(_fake_export(tmp_path / "bumphunt_vae" / "1", "bumphunt_vae").parent)
    (tmp_path / "card-less" / "1").mkdir(parents=True)
    (tmp_path / "card-less" / "1" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(DataError, match="no assets.extra/model_card.json"):
        bortolato2021.load_encoder(tmp_path / "card-less")
