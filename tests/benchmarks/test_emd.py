"""benchmarks.emd: the EMD throughput command prints jets/s and refuses bad sizes."""

import json

import pytest


def test_benchmark_command_prints_jets_per_second(capsys):
    from benchmarks import emd as benchmark_emd

    assert benchmark_emd.main(["--n-jets", "300", "--workers", "1", "--rounds", "2"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n_jets"] == 300 and result["jets_per_s_1"] > 0 and result["energyflow_jets_per_s"] > 0
    # the peer loop and ours alternated in one process, with their ratio
    assert result["ours_jets_per_s"] > 0 and result["paired_jets_per_s"] > 0 and result["ratio"] > 0
    assert result["ratio_cpu"] > 0 and result["energyflow_cpu_us_per_jet"] > 0
    with pytest.raises(SystemExit) as stop:
        benchmark_emd.main(["--n-jets", "0"])
    assert stop.value.code == 2 and "--n-jets" in capsys.readouterr().err
