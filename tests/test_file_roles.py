"""Commands read the roles of their input files from the files' labels and provenance, not from
their order (issue 27, section 2; ``training.data.roles``): every reproduction that takes --data,
``--set outliers=`` of ``oe_vae`` and the supervised models' classes. Each bad case is exit status
2, exactly one ``error:`` line (the one in the table), no traceback, and every file that was there
before byte-identical after (and none added); swapped files are assigned by their labels."""

import os

import numpy as np
import pytest

from evaluation import reproduce
from evaluation.papers import bortolato2021, kahn2021
from preprocessing.samples.format import concatenate, write_sample
from tests.preprocessing.samples.test_mix import _events
from tests.synthetic import event_sample
from tests.test_command_lines import _snapshot, call
from training import fit

SIGNAL2 = {"process": "lhco-signal", "process_options": {"prongs": 2}}
SIGNAL3 = {"process": "lhco-signal", "process_options": {"prongs": 3}}


def _events_with(n, fraction, seed, provenance=None, names=None):
    sample = event_sample(n, fraction, seed)
    sample.provenance = provenance or sample.provenance
    sample.label_names = names or sample.label_names
    return sample


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("roles")
    bkg = _events_with(60, 0.0, 3)
    sig = _events_with(20, 1.0, 4, SIGNAL2)
    write_sample(d / "bkg.h5", bkg)
    write_sample(d / "bkg2.h5", _events_with(60, 0.0, 5))
    write_sample(d / "sig.h5", sig)
    write_sample(d / "sig3.h5", _events_with(20, 1.0, 6, SIGNAL3))
    write_sample(d / "sig_unrecorded.h5", _events_with(20, 1.0, 7))
    write_sample(d / "mixed.h5", _events_with(60, 0.2, 8))  # a "background" file holding 12 signal events
    write_sample(d / "top.h5", _events_with(20, 0.0, 9, names=["top", "signal"]))
    shared = sig.subset(np.arange(2))  # one signal event, labelled background: the same jets in two files
    shared.labels[:] = 0
    shared.event = shared.event + 1000
    write_sample(d / "bkg_shares_sig.h5", concatenate([bkg, shared]))
    os.symlink(d / "bkg.h5", d / "link.h5")
    # jets for the supervised models and outlier exposure
    write_sample(d / "qcd.h5", _events(180, "qcd", 50.0, 1))
    write_sample(d / "w.h5", _events(40, "w", 80.0, 2))
    (d / "qcd_copy.h5").write_bytes((d / "qcd.h5").read_bytes())
    os.symlink(d / "qcd.h5", d / "qcd_link.h5")
    return d


BORTOLATO = "background events (class qcd or background); signal events (class signal, prongs 2)"
KAHN = (
    "background events (class qcd or background); 2-prong signal events (class signal, prongs 2); "
    "3-prong signal events (class signal, prongs 3)"
)
OUT = "--scale smoke --workers 1 --out {d}/o --data"
EXPECTED = "exact error line ({d} is the folder)"

# (command, arguments, the error line)
CASES = [
    # one file where two are needed, swapped-in wrong roles, mixed and foreign files
    (
        reproduce,
        f"bortolato2021 {OUT} {{d}}/bkg.h5",
        f"bortolato2021 --data takes 2 files, one per role ({BORTOLATO}), got 1: {{d}}/bkg.h5",
    ),
    (
        reproduce,
        f"bortolato2021 {OUT} {{d}}/mixed.h5 {{d}}/sig.h5",
        f"{{d}}/mixed.h5: holds 96 'background', 24 'signal' jets, which fits no role of bortolato2021 --data: "
        f"{BORTOLATO}",
    ),
    (
        reproduce,
        f"bortolato2021 {OUT} {{d}}/sig.h5 {{d}}/mixed.h5",
        f"{{d}}/mixed.h5: holds 96 'background', 24 'signal' jets, which fits no role of bortolato2021 --data: "
        f"{BORTOLATO}",
    ),
    (
        reproduce,
        f"bortolato2021 {OUT} {{d}}/bkg.h5 {{d}}/bkg2.h5",
        f"{{d}}/bkg.h5 and {{d}}/bkg2.h5: both hold background events (class qcd or background); "
        f"bortolato2021 --data takes {BORTOLATO}",
    ),
    (
        reproduce,
        f"bortolato2021 {OUT} {{d}}/bkg.h5 {{d}}/sig3.h5",
        f"{{d}}/sig3.h5: holds 40 'signal' jets, which fits no role of bortolato2021 --data: {BORTOLATO}",
    ),
    (
        reproduce,
        f"bortolato2021 {OUT} {{d}}/top.h5 {{d}}/sig.h5",
        f"{{d}}/top.h5: holds 40 'top' jets, which fits no role of bortolato2021 --data: {BORTOLATO}",
    ),
    (
        reproduce,
        f"bortolato2021 {OUT} {{d}}/bkg.h5 {{d}}/link.h5",
        "--data names {d}/link.h5 twice ({d}/bkg.h5 and {d}/link.h5 are the same file); its jets would be "
        "counted twice and could land in both the training and the test split",
    ),
    (
        reproduce,
        f"bortolato2021 {OUT} {{d}}/sig.h5 {{d}}/bkg_shares_sig.h5",
        "{d}/sig.h5 and {d}/bkg_shares_sig.h5: 2 jet(s) occur twice (e.g. jet 0 of {d}/sig.h5 = jet 120 of "
        "{d}/bkg_shares_sig.h5); a split by event would put copies in both the training and the test rows; "
        "give each jet once (overlapping files, or one file twice?)",
    ),
    (
        reproduce,
        f"kahn2021 {OUT} {{d}}/bkg.h5 {{d}}/sig.h5",
        f"kahn2021 --data takes 3 files, one per role ({KAHN}), got 2: {{d}}/bkg.h5 {{d}}/sig.h5",
    ),
    (
        reproduce,
        f"kahn2021 {OUT} {{d}}/bkg.h5 {{d}}/sig.h5 {{d}}/sig_unrecorded.h5",
        "{d}/sig_unrecorded.h5: could be 2-prong signal events or 3-prong signal events: its provenance "
        "records no process option prongs to tell them apart",
    ),
    (
        reproduce,
        f"kahn2021 {OUT} {{d}}/sig3.h5 {{d}}/mixed.h5 {{d}}/sig.h5",
        f"{{d}}/mixed.h5: holds 96 'background', 24 'signal' jets, which fits no role of kahn2021 --data: {KAHN}",
    ),
    (
        reproduce,
        f"kahn2021 {OUT} {{d}}/sig.h5 {{d}}/sig3.h5 {{d}}/sig3.h5",
        "--data names {d}/sig3.h5 twice; its jets would be counted twice and could land in both the training "
        "and the test split",
    ),
    (
        reproduce,
        f"dillon2021 {OUT} {{d}}/qcd.h5 {{d}}/w.h5",
        "{d}/qcd.h5, {d}/w.h5: no 'top' jets (they hold 360 'qcd', 80 'w' jets); "
        "dillon2021 --data takes jets of the classes ['qcd', 'top']",
    ),
    (
        reproduce,
        f"cheng2020 {OUT} {{d}}/qcd.h5",
        "cheng2020 generates (and caches) its own training, outlier and test jets; --data is not used",
    ),
    (
        reproduce,
        f"cheng2022 {OUT} {{d}}/qcd.h5",
        "cheng2022 generates its own training, augmentation and test sets; --data is not supported",
    ),
    # supervised models given fewer classes than they learn
    (
        fit,
        "--model dnn --data {d}/qcd.h5 --export-dir {d}/e --epochs 1",
        "{d}/qcd.h5: no 'w' jets; the supervised model learns the classes ['qcd', 'w'] and needs jets of "
        "every one (it holds ['qcd'])",
    ),
    (
        fit,
        "--model fcn --data {d}/qcd.h5 {d}/w.h5 --export-dir {d}/e --epochs 1",
        "{d}/qcd.h5, {d}/w.h5: no 'top' jets; the supervised model learns the classes ['qcd', 'w', 'top'] and "
        "needs jets of every one (it holds ['qcd', 'w'])",
    ),
    (
        fit,
        "--model particlenet --data {d}/qcd.h5 --export-dir {d}/e --epochs 1",
        "{d}/qcd.h5: no 'w' or 'top' jets; the supervised model learns the classes ['qcd', 'w', 'top'] and "
        "needs jets of every one (it holds ['qcd'])",
    ),
    # outlier exposure given its own training jets as the outliers
    (
        fit,
        "--model oe_vae --data {d}/qcd.h5 --set outliers={d}/qcd.h5 --export-dir {d}/e --epochs 1",
        "--set outliers={d}/qcd.h5: it is a training file (--data {d}/qcd.h5); outlier exposure needs other jets",
    ),
    (
        fit,
        "--model oe_vae --data {d}/qcd.h5 --set outliers={d}/qcd_link.h5 --export-dir {d}/e --epochs 1",
        "--set outliers={d}/qcd_link.h5: it is a training file (--data {d}/qcd.h5); outlier exposure needs other jets",
    ),
    (
        fit,
        "--model oe_vae --data {d}/qcd.h5 --set outliers={d}/qcd_copy.h5 --export-dir {d}/e --epochs 1",
        "{d}/qcd.h5 and {d}/qcd_copy.h5: 360 jet(s) occur twice (e.g. jet 118 of {d}/qcd.h5 = jet 118 of "
        "{d}/qcd_copy.h5); outlier jets must not be training jets (--set outliers=PATH)",
    ),
]


def _id(case):
    module, argv, _ = case
    return f"{module.__name__.split('.')[-1]}: {argv.replace('{d}/', '')}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_files_in_the_wrong_role_are_one_error_line_and_change_nothing(case, folder, capsys, monkeypatch):
    module, argv, line = case
    monkeypatch.setenv("ANOMJET_DATA", str(folder / "cache"))  # nothing may be generated either
    before = _snapshot(folder)
    code, out, err = call(module.main, argv.format(d=folder).split(), capsys)
    lines = [x for x in err.strip().splitlines() if x]
    assert code == 2, err
    assert "Traceback" not in err and out == ""
    assert [x for x in lines if x.startswith("error:")] == [f"error: {line.format(d=folder)}"], err
    assert len(lines) == 1, err
    assert _snapshot(folder) == before


def test_swapped_files_are_assigned_by_their_labels(folder, capsys):
    paths = [str(folder / "bkg.h5"), str(folder / "sig.h5")]
    cfg = bortolato2021.SCALES["smoke"]
    given = bortolato2021.samples(cfg, 0, paths)
    swapped = bortolato2021.samples(cfg, 0, paths[::-1])
    for a, b in zip(given, swapped, strict=True):
        np.testing.assert_array_equal(a.constituents, b.constituents)
    assert set(np.unique(given[0].labels)) == {0} and set(np.unique(given[1].labels)) == {1}
    err = capsys.readouterr().err
    assert err.count(f"bortolato2021 --data: background events from {paths[0]}, signal events from {paths[1]}") == 2


def test_kahn2021_signals_are_told_apart_by_their_recorded_prongs(folder, capsys):
    names = ["sig3.h5", "bkg.h5", "sig.h5"]
    data = kahn2021.samples(kahn2021.SCALES["smoke"], 0, [str(folder / n) for n in names])
    assert data[2].provenance == SIGNAL2 and data[3].provenance == SIGNAL3
    assert set(np.unique(data["background"].labels)) == {0}
    assert "3-prong signal events from " + str(folder / "sig3.h5") in capsys.readouterr().err
