"""training.score: every named score per row from an export, AUCs when both classes are present."""

import json

import h5py
import numpy as np

from training import score


def test_score_command_writes_every_score_and_auc(fitted, small_samples, tmp_path, capsys):
    base, _, _ = fitted
    from preprocessing.samples.format import concatenate, write_sample

    mixed = write_sample(
        tmp_path / "mixed.h5",
        concatenate([small_samples["qcd"].subset(np.arange(100)), small_samples["top"].subset(np.arange(100))]),
    )
    assert score.main(["--model", str(base / "dvae"), "--data", str(mixed), "--out", str(tmp_path / "s.h5")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["model"].endswith("dvae/2")  # newest version by default
    assert set(result["auc"]) == {"anomaly_score", "mixture_weight", "reconstruction", "kl"}
    with h5py.File(tmp_path / "s.h5") as f:
        assert f["scores/anomaly_score"].shape == (200,)
        np.testing.assert_array_equal(f["scores/anomaly_score"][...], f["scores/mixture_weight"][...])
    assert (
        score.main(
            ["--model", str(base / "dvae"), "--version", "1", "--data", str(mixed), "--out", str(tmp_path / "s1.h5")]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["model"].endswith("dvae/1")
