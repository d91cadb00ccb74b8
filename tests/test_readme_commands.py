"""Every command the README lists still answers ``--help`` under its name (after each move of
the house, a renamed module would otherwise break the README silently)."""

import contextlib
import io
import pathlib
import re
import runpy
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOT_OURS = {"pytest", "pip", "venv"}


def readme_commands(text):
    """The distinct modules of every ``python -m MODULE`` in `text`, in order of first mention."""
    found = re.findall(r"python -m ([A-Za-z_][\w.]*)", text)
    return [m for m in dict.fromkeys(m.rstrip(".") for m in found) if m.split(".")[0] not in NOT_OURS]


COMMANDS = readme_commands((ROOT / "README.md").read_text())


def test_the_readme_lists_the_main_commands():
    assert {"training.fit", "training.score", "serving", "evaluation.reproduce", "benchmarks"} <= set(COMMANDS)


def test_the_command_finder_reads_names_with_digits():
    text = "run `python -m benchmarks.cheng2020 --model x` then python -m pytest -q and python -m serving."
    assert readme_commands(text) == ["benchmarks.cheng2020", "serving"]


@pytest.mark.parametrize("module", COMMANDS)
def test_every_readme_command_answers_help(module, monkeypatch):
    """``python -m MODULE --help`` exits 0 with a usage line (run in this process: one import of
    TensorFlow for all of them)."""
    monkeypatch.setattr(sys, "argv", [module, "--help"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    assert stop.value.code in (0, None), f"python -m {module} --help exited {stop.value.code}"
    assert "usage:" in out.getvalue().lower(), f"python -m {module} --help printed no usage line"
