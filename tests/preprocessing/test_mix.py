"""The mix and inspect command lines: a contaminated sample written, then summarised as JSON."""

import json

import numpy as np
import pytest

from preprocessing import inspect as inspect_mod
from preprocessing.mix import main as mix_main
from preprocessing.samples.format import read_sample, write_sample
from tests.preprocessing.samples.test_mix import _events


@pytest.fixture(scope="module")
def parts():
    return _events(180, "qcd", 50.0, 1), _events(40, "signal", 500.0, 2)


def test_command_lines_mix_then_inspect(tmp_path, parts, capsys):
    bkg, sig = parts
    b, s, out = tmp_path / "b.h5", tmp_path / "s.h5", tmp_path / "m.h5"
    write_sample(b, bkg)
    write_sample(s, sig)
    assert mix_main(["--background", str(b), "--signal", str(s), "--fraction", "0.1", "--out", str(out)]) == 0
    capsys.readouterr()
    assert inspect_mod.main([str(out), "--indent", "0"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["jets"] == 400 and summary["events"] == 200
    assert summary["labels"]["signal"] == {"jets": 40, "events": 20, "means": summary["labels"]["signal"]["means"]}
    assert summary["labels"]["signal"]["means"]["mass"] == pytest.approx(
        float(np.mean(read_sample(out).jets["mass"][read_sample(out).labels == 1])), rel=1e-5
    )
    assert summary["provenance"]["mix"]["fraction"] == 0.1
    assert (
        mix_main(["--background", str(b), "--signal", str(b), "--fraction", "0.1", "--out", str(tmp_path / "x.h5")])
        == 2
    )
    assert "share class name" in capsys.readouterr().err
    (tmp_path / "junk.h5").write_text("x")
    assert inspect_mod.main([str(tmp_path / "junk.h5")]) == 2
    assert "not a readable HDF5 file" in capsys.readouterr().err
