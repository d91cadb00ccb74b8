"""python -m evaluation.characterise: a decoder on (z, m_jj) behind the frozen encoder of an export."""

import json

import numpy as np
import pytest

from evaluation import characterise
from evaluation.papers.bortolato2021 import load_encoder
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
