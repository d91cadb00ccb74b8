"""bumphunt_vae through the command lines: event rows, Adadelta + KL-peak stopping, ensemble
export, scoring, and the (z, m_jj) characterisation with a frozen encoder."""

import json
import pathlib

import numpy as np
import pytest

from preprocessing import physics
from preprocessing.sample import JetSample, write_sample
from training import characterise, fit, score


def _event_sample(n_events, signal_fraction, seed):
    """Dijet events with the bortolato2021 observables: a falling QCD-like background and a
    W'(3.5 TeV) -> X(500) Y(100) signal; two jets per event, heavier first."""
    rng = np.random.default_rng(seed)
    n_sig = int(round(signal_fraction * n_events))
    sig = np.r_[np.zeros(n_events - n_sig, bool), np.ones(n_sig, bool)]
    m1 = np.where(sig, rng.normal(500, 25, n_events), 30 + rng.exponential(90, n_events))
    m2 = np.where(sig, rng.normal(100, 8, n_events), 20 + rng.exponential(40, n_events))
    m1, m2 = np.maximum(m1, m2), np.minimum(m1, m2)
    tau21 = np.where(sig[:, None], rng.uniform(0.15, 0.4, (n_events, 2)), rng.uniform(0.4, 0.9, (n_events, 2)))
    tau32 = rng.uniform(0.5, 0.9, (n_events, 2))
    mjj = np.where(sig, rng.normal(3500, 90, n_events), 2000 + rng.exponential(900, n_events))
    tau1 = rng.uniform(0.2, 0.5, (n_events, 2))
    jets = {"mass": np.c_[m1, m2].ravel(), "tau1": tau1.ravel(), "tau2": (tau1 * tau21).ravel(),
            "tau3": (tau1 * tau21 * tau32).ravel(), "mjj": np.repeat(mjj, 2),
            "pt": np.full(2 * n_events, 1300.0), "eta": np.zeros(2 * n_events),
            "phi": np.tile([0.0, np.pi], n_events)}
    p4 = physics.from_pt_eta_phi(jets["pt"], jets["eta"], jets["phi"], jets["mass"])
    jets["energy"] = p4[:, 0]
    c = np.zeros((2 * n_events, 2, 4), np.float32)
    c[:, 0] = p4
    return JetSample(constituents=c, n_constituents=np.ones(2 * n_events, np.int32),
                     labels=np.repeat(sig.astype(np.int32), 2), event=np.repeat(np.arange(n_events), 2),
                     jets={k: v.astype(np.float32) for k, v in jets.items()},
                     label_names=["background", "signal"], provenance={"synthetic": True, "seed": seed})


@pytest.fixture(scope="module")
def events_file(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("events") / "events.h5", _event_sample(6000, 0.05, 1))


def test_fit_ensemble_exports_one_model_and_scores_events(events_file, tmp_path, capsys):
    argv = ["--model", "bumphunt_vae", "--data", str(events_file), "--epochs", "10", "--batch-size", "100",
            "--ensemble", "2", "--export-dir", str(tmp_path), "--set", "learning_rate=1.0"]
    assert fit.main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    folder = pathlib.Path(summary["export"])
    card = json.loads((folder / "assets.extra" / "model_card.json").read_text())
    assert card["data"]["rows"] == "events" and card["representation"]["name"] == "highlevel"
    assert card["ensemble"]["members"] == 2 and len(card["training"]["stopping"]) == 2
    assert card["inputs"] == {"highlevel": [6]}
    assert card["data"]["n_test"] + card["data"]["n_train"] + card["data"]["n_validation"] == 6000
    # the planted cluster is separated, so event rows, labels and scores line up; which side of the
    # KL it lands on depends on the feature-space geometry (the physics direction is checked on
    # generated events in the reproduction, not on this synthetic sample)
    assert abs(summary["metrics"]["auc"] - 0.5) > 0.15  # 3 standard errors with 30 test signal events
    assert (folder / "assets.extra" / "member1.weights.h5").is_file()

    out = str(tmp_path / "s.h5")
    assert score.main(["--model", str(folder), "--data", str(events_file), "--out", out]) == 0
    scored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scored["n_rows"] == 6000 and scored["rows"] == "event"
    assert set(scored["auc"]) >= {"anomaly_score", "kl", "kl_std"}


def test_characterisation_trains_a_decoder_on_mjj(events_file, tmp_path, capsys):
    assert fit.main(["--model", "bumphunt_vae", "--data", str(events_file), "--epochs", "6",
                     "--export-dir", str(tmp_path), "--set", "learning_rate=1.0"]) == 0
    export = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["export"]
    vae, _, _ = characterise.load_encoder(export)
    before = [w.copy() for w in vae.get_weights()]
    out = tmp_path / "char"
    assert characterise.main(["--encoder", export, "--data", str(events_file), "--out", str(out),
                              "--epochs", "5"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["z_range"][0] < summary["z_range"][1] and summary["z_range_reason"]
    assert summary["epochs_run"] >= 1 and set(summary["marginal_max_deviation"]) == {
        "m_j1", "m_j2", "tau21_j1", "tau32_j1", "tau21_j2", "tau32_j2"}
    for fig in ("heatmaps.png", "marginals.png"):
        assert (out / fig).stat().st_size > 1000
    vae_after, _, _ = characterise.load_encoder(export)
    for a, b in zip(before, vae_after.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert characterise.main(["--encoder", str(tmp_path / "nothing"), "--data", str(events_file)]) == 2


def test_mjj_never_reaches_the_encoder(events_file, tmp_path):
    """Changing every event's m_jj changes no input row of the model."""
    from preprocessing import representations
    from preprocessing.sample import read_sample

    s = read_sample(events_file)
    a = representations.build("highlevel", s)["highlevel"]
    s.jets["mjj"] = s.jets["mjj"] * 1.7 + 100.0
    b = representations.build("highlevel", s)["highlevel"]
    np.testing.assert_array_equal(a, b)


def test_latent_range_keeps_the_paper_range_only_where_the_events_are():
    rng = np.random.default_rng(0)
    inside = rng.uniform(-2.4, -0.1, 1000)
    assert characterise.latent_range(inside)[0] == characterise.Z_RANGE
    elsewhere = rng.normal(0.3, 0.2, 1000)  # a latent centred near +0.3: mostly outside [-2.5, 0]
    (low, high), reason = characterise.latent_range(elsewhere)
    assert "percentiles" in reason
    assert np.mean((elsewhere >= low) & (elsewhere <= high)) >= 0.97
    assert high - low >= 1.0 and low < 0.3 < high
