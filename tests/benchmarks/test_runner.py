"""benchmarks/__main__.py, the runner: --help works, and one run writes benchmarks.json and a
markdown table with one row per figure, references beside the values and empty cells where there
are none."""

import json
import pathlib
import subprocess
import sys

import pytest

from benchmarks import __main__ as runner
from benchmarks import emd
from benchmarks.table import Figure, markdown, rows

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_help_lists_every_benchmark():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout and "--out" in done.stdout
    for name in runner.NAMES:
        assert name in done.stdout


def test_every_benchmark_has_a_quick_size_and_figures():
    import importlib

    for name in runner.NAMES:
        module = importlib.import_module(f"benchmarks.{name}")
        module.build_parser().parse_args(module.QUICK)  # the quick arguments are valid flags
        assert callable(module.collect) and hasattr(module, "FIGURES"), name


def test_the_runner_writes_a_table_of_one_benchmark(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(emd, "QUICK", ["--n-jets", "200", "--workers", "1"])
    assert runner.main(["emd", "--quick", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "benchmarks.json").read_text())
    assert summary["quick"] and [b["name"] for b in summary["benchmarks"]] == ["emd"]
    assert summary["benchmarks"][0]["result"]["n_jets"] == 200
    table = (tmp_path / "benchmarks.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| emd |")]
    quantities = [line.split(" | ")[1] for line in lines]
    assert quantities == [
        "EnergyFlow emd.emd loop (padding stripped beforehand), jets/s",
        "four_vector_emd, 1 worker, alternated, jets/s",
        "four_vector_emd / EnergyFlow loop, alternated, jets/s ratio",
        "four_vector_emd / EnergyFlow loop, alternated, CPU-time speed-up",
        "paired_emd on (pT, eta, phi), 1 worker, alternated, jets/s",
        "four_vector_emd, 1 worker(s), jets/s",
        "CPU time per jet, 1 worker(s), us",
    ]
    # the EMD's CPU time stands beside EnergyFlow's, measured in the same run
    row = next(r for r in summary["table"] if r["quantity"] == "CPU time per jet, 1 worker(s), us")
    assert row["reference"] == pytest.approx(summary["benchmarks"][0]["result"]["energyflow_cpu_us_per_jet"])
    assert "EnergyFlow" in row["source"]
    # and our jets/s beside EnergyFlow's jets/s
    row = next(r for r in summary["table"] if r["quantity"] == "four_vector_emd, 1 worker, alternated, jets/s")
    assert row["reference"] == pytest.approx(summary["benchmarks"][0]["result"]["energyflow_jets_per_s"])
    assert table in capsys.readouterr().out


def test_a_figure_without_a_reference_leaves_its_cells_empty():
    result = {"a": {"b": 12.345}, "peer": 20.0}
    table = rows(
        "x", [Figure("a.b", "speed"), Figure("a.b", "vs peer", same_run="peer", source="peer, same run")], result
    )
    text = markdown(table)
    assert "| x | speed | 12.3 |  |  |  |" in text
    assert "| x | vs peer | 12.3 | 20 | peer, same run |  |" in text
    assert rows("x", [Figure("missing", "absent")], result) == []


def test_unknown_names_are_one_error_line(tmp_path, capsys):
    assert runner.main(["nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown benchmark(s) nope") and not list(tmp_path.iterdir())
