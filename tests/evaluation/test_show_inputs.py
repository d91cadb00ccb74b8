"""show_inputs command line: every kind writes its figures, stdout is one JSON line, errors are clean."""

import json
import pathlib

import numpy as np

from evaluation import show_inputs


def test_all_kinds_write_pngs(small_samples, tmp_path, capsys):
    out = tmp_path / "figs"
    code = show_inputs.main(
        [
            "--kind",
            "all",
            "--data",
            str(small_samples["qcd_path"]),
            "--data",
            str(small_samples["top_path"]),
            "--out",
            str(out),
            "--max-jets",
            "200",
        ]
    )
    stdout = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(stdout) == 1
    result = json.loads(stdout[0])
    names = sorted(p.split("/")[-1] for p in result["figures"])
    assert names == [
        "highlevel_features.png",
        "jet_images.png",
        "lund_images.png",
        "mass_resampling.png",
        "vrnn_pt_fraction_table.png",
        "vrnn_sequences.png",
    ]
    for p in result["figures"]:
        data = pathlib.Path(p).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000  # a real, non-empty figure
    assert not list(out.glob(".*"))  # no temporary files left behind
    top = result["resample"]["classes"]["top"]
    assert result["resample"]["reference"] == "qcd"
    assert top["jsd_after"] < top["jsd_before"]


def test_bad_reference_is_an_error(small_samples, tmp_path, capsys):
    code = show_inputs.main(
        [
            "--kind",
            "resample",
            "--data",
            str(small_samples["qcd_path"]),
            "--data",
            str(small_samples["top_path"]),
            "--out",
            str(tmp_path),
            "--reference",
            "higgs",
            "--max-jets",
            "50",
        ]
    )
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "reference class 'higgs' not in the data" in captured.err
    assert not list(tmp_path.glob("*.png"))


def test_highlevel_needs_two_jet_events(small_samples, tmp_path, capsys):
    # keep one jet per event: no dijet event is left
    from preprocessing.samples.format import write_sample

    s = small_samples["qcd"]
    _, first = np.unique(s.event, return_index=True)
    path = write_sample(tmp_path / "single.h5", s.subset(np.sort(first)))
    assert show_inputs.main(["--kind", "highlevel", "--data", str(path), "--out", str(tmp_path)]) == 2
    assert "no event has exactly two jets" in capsys.readouterr().err
