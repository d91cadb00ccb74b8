"""python -m evaluation.reproduce: the name -> module table, scale checks, output files and the JSON line
(with stand-in paper modules; the papers' own runs are tested in tests/evaluation/papers)."""

import json
import types

import pytest

from evaluation import reproduce
from evaluation.papers import bortolato2021, cheng2020, dillon2021, kahn2021
from models.selection_seeds import SelectionSeeds
from preprocessing.errors import DataError


def _paper(calls, scales=("smoke",)):
    """A stand-in paper module that records its calls."""

    def run(scale, out, seed, paths=None):
        calls.append(("run", scale, out, seed, paths))
        return [{"auc": 0.75}]

    def write_report(results, out, scale, seed, seconds):
        calls.append(("write_report", results, scale, seed))
        (out / "report.md").write_text("# report\n")
        return [{"auc": r["auc"], "scale": scale} for r in results]

    def seeds(scale, seed):
        return {"generation": {seed + 1}, "member": {seed}}

    return types.SimpleNamespace(
        SCALES={s: {} for s in scales}, run=run, write_report=write_report, seeds=seeds, selection=lambda: (SELECTED,)
    )


SELECTED = SelectionSeeds("fake rule", frozenset({1, 2}), frozenset({0, 1}), "a test")


def test_every_paper_module_has_the_dispatcher_interface():
    known = {"dillon2021": dillon2021, "bortolato2021": bortolato2021, "kahn2021": kahn2021, "cheng2020": cheng2020}
    assert {name: reproduce.PAPERS.get(name) for name in known} == known
    for module in reproduce.PAPERS.values():
        assert "smoke" in module.SCALES and callable(module.run) and callable(module.write_report)
        # the protocol's interface: the seeds a run uses and the selection records of its rules
        assert callable(module.seeds) and callable(module.selection)
        for scale in module.SCALES:
            used = module.seeds(scale, 0)
            assert set(used) == {"generation", "member"} and used["generation"] and used["member"]


def test_dispatch_runs_the_paper_and_prints_the_summary(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setitem(reproduce.PAPERS, "fake2000", _paper(calls))
    monkeypatch.chdir(tmp_path)
    for name in ("a.h5", "b.h5"):
        (tmp_path / name).write_bytes(b"sample")
    assert reproduce.main(["fake2000", "--scale", "smoke", "--seed", "3", "--data", "a.h5", "b.h5"]) == 0
    out = tmp_path / "reproductions" / "fake2000-smoke"
    assert calls[0] == ("run", "smoke", out.relative_to(tmp_path), 3, ["a.h5", "b.h5"])
    assert calls[1] == ("write_report", [{"auc": 0.75}], "smoke", 3)
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1]) == {
        "report": "reproductions/fake2000-smoke/report.md",
        "results": [{"auc": 0.75, "scale": "smoke"}],
    }
    assert "report: reproductions/fake2000-smoke/report.md" in captured.err
    assert (out / "report.md").is_file()
    report = (out / "report.md").read_text()
    assert "## Protocol" in report and "Exploratory run" in report  # seed 3 shares no seed with the fake rule


def test_unknown_paper_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as err:
        reproduce.main(["nobody1999", "--scale", "smoke"])
    assert err.value.code == 2 and "invalid choice: 'nobody1999'" in capsys.readouterr().err


def test_unknown_scale_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as err:
        reproduce.main(["dillon2021", "--scale", "huge"])
    assert err.value.code == 2 and "invalid choice: 'huge'" in capsys.readouterr().err


def test_scale_of_another_paper_is_a_usage_error(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setitem(reproduce.PAPERS, "fake2000", _paper(calls, scales=("smoke", "tiny")))
    with pytest.raises(SystemExit) as err:
        reproduce.main(["dillon2021", "--scale", "tiny", "--out", str(tmp_path)])
    assert err.value.code == 2 and f"dillon2021 scales: {sorted(dillon2021.SCALES)}" in capsys.readouterr().err
    assert reproduce.main(["fake2000", "--scale", "tiny", "--out", str(tmp_path)]) == 0
    assert calls[0][1] == "tiny"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seed", "-1"], "argument --seed"),
        (["--data", "missing.h5", "other.h5"], "missing.h5"),
        (["--out", "taken.txt"], "--out"),
    ],
)
def test_bad_arguments_are_one_error_line_before_any_work(argv, message, tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setitem(reproduce.PAPERS, "fake2000", _paper(calls))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "other.h5").write_bytes(b"sample")
    (tmp_path / "taken.txt").write_text("a file where the output folder should go")
    try:
        code = reproduce.main(["fake2000", "--scale", "smoke", *argv])
    except SystemExit as err:
        code = err.code
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and message in errors[0]
    assert calls == [] and (tmp_path / "taken.txt").read_text().startswith("a file")


def test_confirm_refuses_a_seed_a_rule_was_chosen_on_and_stamps_the_report(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setitem(reproduce.PAPERS, "fake2000", _paper(calls))
    # seed 1: generation seed 2 and member seed 1 were selection seeds
    argv = ["fake2000", "--scale", "smoke", "--confirm", "--seed", "1", "--out", str(tmp_path / "a")]
    assert reproduce.main(argv) == 2
    assert "reuse selection seeds of fake rule" in capsys.readouterr().err
    assert calls == [] and not (tmp_path / "a").exists()  # refused before any work
    assert reproduce.main(["fake2000", "--scale", "smoke", "--confirm", "--out", str(tmp_path / "b")]) == 0
    assert calls[0][3] == reproduce.protocol.CONFIRMATION_SEED
    report = (tmp_path / "b" / "report.md").read_text()
    assert report.startswith("# report\n") and "**Confirmation run**" in report
    assert "selection seeds of fake rule: chosen on generation seeds 1-2 and member seeds 0-1" in report


def test_confirm_does_not_take_user_files(tmp_path, capsys):
    (tmp_path / "a.h5").write_bytes(b"x")
    with pytest.raises(SystemExit) as err:
        reproduce.main(["bortolato2021", "--scale", "smoke", "--confirm", "--data", str(tmp_path / "a.h5")])
    assert err.value.code == 2 and "--confirm generates its own samples" in capsys.readouterr().err


def test_a_paper_may_name_its_own_confirmation_seed(tmp_path, monkeypatch):
    """A paper whose earlier confirmation seeds became selection seeds of a new rule names another
    default (bortolato2021: 7000 since issue 32); --confirm without --seed starts there."""
    calls = []
    paper = _paper(calls)
    paper.CONFIRMATION_SEED = 4321
    monkeypatch.setitem(reproduce.PAPERS, "fake4321", paper)
    assert reproduce.main(["fake4321", "--scale", "smoke", "--confirm", "--out", str(tmp_path / "c")]) == 0
    assert calls[0][3] == 4321


def test_bortolato2021_confirms_on_seeds_no_rule_was_chosen_on():
    seed = reproduce.protocol.confirmation_seed(bortolato2021)
    used = reproduce.protocol.check_confirmation("bortolato2021", bortolato2021, "small", seed)
    for record in bortolato2021.selection():
        assert not record.generation_seeds & used["generation"] and not record.member_seeds & used["member"]
    with pytest.raises(DataError, match="KLPeakStopping fallback"):  # the old default, now selection data
        reproduce.protocol.check_confirmation("bortolato2021", bortolato2021, "small", 1000)
