"""python -m evaluation.characterise: a decoder on (z, m_jj) behind the frozen encoder of an export."""

import json

import numpy as np
import pytest

from evaluation import characterise
from evaluation.characterise import load_encoder
from preprocessing.errors import DataError
from tests.synthetic import event_sample
from training import fit


@pytest.fixture(scope="module")
def events_file(tmp_path_factory):
    from preprocessing.samples.format import write_sample

    return write_sample(tmp_path_factory.mktemp("events") / "events.h5", event_sample(6000, 0.05, 1))


def test_characterisation_trains_a_decoder_on_mjj(events_file, tmp_path, capsys):
    assert (
        fit.main(
            [
                "--model",
                "bumphunt_vae",
                "--data",
                str(events_file),
                "--epochs",
                "6",
                "--export-dir",
                str(tmp_path),
                "--set",
                "learning_rate=1.0",
            ]
        )
        == 0
    )
    export = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["export"]
    vae, _, _ = load_encoder(export)
    before = [w.copy() for w in vae.get_weights()]
    out = tmp_path / "char"
    assert characterise.main(["--encoder", export, "--data", str(events_file), "--out", str(out), "--epochs", "5"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["z_range"][0] < summary["z_range"][1] and summary["z_range_reason"]
    assert summary["epochs_run"] >= 1 and set(summary["marginal_max_deviation"]) == {
        "m_j1",
        "m_j2",
        "tau21_j1",
        "tau32_j1",
        "tau21_j2",
        "tau32_j2",
    }
    for fig in ("heatmaps.png", "marginals.png"):
        assert (out / fig).stat().st_size > 1000
    vae_after, _, _ = load_encoder(export)
    for a, b in zip(before, vae_after.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert characterise.main(["--encoder", str(tmp_path / "nothing"), "--data", str(events_file)]) == 2


def test_z_range_must_be_increasing(capsys):
    with pytest.raises(SystemExit) as err:
        characterise.main(["--encoder", "x", "--data", "y.h5", "--z-range", "0", "-1"])
    assert err.value.code == 2 and "LOW must be below HIGH" in capsys.readouterr().err


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
        d = characterise.score_direction(vae, x)
        assert d["side"] == side and d["t_max"] > 0
        t = d["to_axis"](z)
        assert np.all(t[rare] > 0)
        assert [v for v, _ in d["levels"]] == sorted(v for v, _ in d["levels"])


def test_latent_range_keeps_the_paper_range_only_where_the_events_are():
    rng = np.random.default_rng(0)
    inside = rng.uniform(-2.4, -0.1, 1000)
    assert characterise.latent_range(inside)[0] == characterise.Z_RANGE
    elsewhere = rng.normal(0.3, 0.2, 1000)  # a latent centred near +0.3: mostly outside [-2.5, 0]
    (low, high), reason = characterise.latent_range(elsewhere)
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
        characterise.load_encoder(_fake_export(tmp_path / "dvae" / "1", "dvae"))
    with pytest.raises(DataError, match="member0.weights.h5"):
        characterise.load_encoder(_fake_export(tmp_path / "bumphunt_vae" / "1", "bumphunt_vae").parent)
    (tmp_path / "card-less" / "1").mkdir(parents=True)
    (tmp_path / "card-less" / "1" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(DataError, match="no assets.extra/model_card.json"):
        characterise.load_encoder(tmp_path / "card-less")
