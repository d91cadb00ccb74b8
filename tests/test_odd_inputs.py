"""Small and odd inputs (issue 27, class 5) over every command that reads them: exit status 2, one
``error:`` line naming the file and field, setting and value, or the real reason, no traceback, and
every file that was there before byte-identical after (and no file added).

One mechanism per kind of input:
- malformed sample files (float or byte-string labels, ``/event`` shorter than ``/labels``, 2-D
  counts, ...): ``open_sample`` checks the layout of every dataset from its metadata
  (``preprocessing.samples.format``), so ``inspect``, ``mix`` and ``fit`` refuse them alike, and
  ``inspect`` makes the checks of ``read_sample`` too (it exited 0 on files the others refuse);
- model settings: ``fit`` builds the model from its settings and matches the representation's input
  shapes before reading data (``training.fit.check_model_settings``);
- public files: a NaN or infinity is refused naming the input file, column and row (the branch and
  event of a Delphes tree; ``preprocessing.samples.convert``): it was reported against the output
  file, or written;
- a split by event that cannot be made says how many events the rows come from and how many it needs.
"""

import h5py
import numpy as np
import pandas as pd
import pytest

from preprocessing import convert, inspect, mix
from preprocessing.samples.format import write_sample
from tests.preprocessing.samples.test_mix import _events
from tests.synthetic import event_sample
from tests.test_command_lines import case_id, check_one_error_line
from training import fit


def _replace(f, key, data):
    del f[key]
    f[key] = data


# file name -> how a good sample file is spoilt
MALFORMED = {
    "float_labels": lambda f: _replace(f, "labels", np.full(360, 0.5, np.float32)),
    "bytes_labels": lambda f: _replace(f, "labels", np.array([b"qcd"] * 360)),
    "float_event": lambda f: _replace(f, "event", np.full(360, 1.5)),
    "short_event": lambda f: _replace(f, "event", f["event"][:100]),
    "counts_2d": lambda f: _replace(f, "n_constituents", np.full((360, 2), 3, np.int32)),
    "mass_2d": lambda f: _replace(f, "jets/mass", np.ones((360, 2), np.float32)),
    "label_table": lambda f: f.attrs.__setitem__("label_names", "qcd"),
    "nan_constituent": lambda f: f["constituents"].__setitem__((5, 0, 0), np.nan),
    "label_outside": lambda f: _replace(f, "labels", np.full(360, 3, np.int32)),
    "negative_count": lambda f: _replace(f, "n_constituents", np.full(360, -1, np.int32)),
}


def _toptagging(path, **columns):
    """A three-jet top-tagging table of two constituents, with `columns` replaced."""
    table = {f"{k}_{i}": np.array([50.0, 40.0, 30.0]) / (i + 1) for i in range(2) for k in ("E", "PX", "PY", "PZ")}
    table["PX_0"], table["PY_0"], table["PZ_0"] = np.array([30.0, 20.0, 10.0]), np.zeros(3), np.zeros(3)
    table["is_signal_new"] = np.array([0.0, 1.0, 0.0])
    table.update(columns)
    pd.DataFrame(table).to_hdf(path, key="table", format="table")


def _delphes(path, bad_event):
    """A four-event Delphes tree (three particle-flow collections) whose track pT is NaN in `bad_event`."""
    import awkward as ak
    import uproot

    rng = np.random.default_rng(5)
    branches = {}
    for name in ("EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron"):
        for field in ("PT" if name == "EFlowTrack" else "ET", "Eta", "Phi"):
            values = rng.uniform(1.0, 50.0, (4, 6)).astype(np.float32)
            if name == "EFlowTrack" and field == "PT":
                values[bad_event, 2] = np.nan
            branches[f"{name}.{field}"] = ak.Array(list(values))
    with uproot.recreate(path) as f:
        f.mktree("Delphes", {k: "var * float32" for k in branches}, counter_name=lambda b: "n" + b.replace(".", "_"))
        f["Delphes"].extend(branches)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("odd")
    write_sample(d / "b.h5", _events(180, "qcd", 50.0, 1))
    write_sample(d / "s.h5", _events(40, "signal", 500.0, 2))
    for name, spoil in MALFORMED.items():
        (d / f"{name}.h5").write_bytes((d / "b.h5").read_bytes())
        with h5py.File(d / f"{name}.h5", "r+") as f:
            spoil(f)
    one_event = event_sample(500, 0.5, 1)  # 1000 jets, all in event 0
    one_event.event = np.zeros(1000, np.int64)
    write_sample(d / "one_event.h5", one_event)
    _toptagging(d / "nan_e.h5", E_1=np.array([10.0, np.nan, 8.0]))
    _toptagging(d / "inf_px.h5", PX_1=np.array([1.0, 1.0, np.inf]))
    _toptagging(d / "nan_label.h5", is_signal_new=np.array([0.0, np.nan, 1.0]))
    lhco = np.zeros((3, 2101))
    lhco[:, :3] = [100.0, 0.1, 0.2]
    lhco[1, 4] = np.nan
    pd.DataFrame(lhco).to_hdf(d / "nan_lhco.h5", key="df", format="fixed")
    _delphes(d / "nan_delphes.root", bad_event=2)
    return d


MIX = "--signal {d}/s.h5 --fraction 0.1 --out {d}/m.h5 --background"
FIT = "--model dvae --export-dir {d}/e --data"
SET = "--model dvae --export-dir {d}/e --data {d}/b.h5 --set"

# (command, arguments, what the error line must name)
CASES = [
    # malformed label and event datasets: every command that reads samples names the file and field
    (inspect, "{d}/float_labels.h5", ["float_labels.h5", "'/labels' must hold integers, got float32"]),
    (inspect, "{d}/bytes_labels.h5", ["bytes_labels.h5", "'/labels' must hold integers, got bytes24"]),
    (inspect, "{d}/float_event.h5", ["float_event.h5", "'/event' must hold integers, got float64"]),
    (inspect, "{d}/short_event.h5", ["short_event.h5", "'/event' has 100 entries but '/labels' has 360"]),
    (inspect, "{d}/counts_2d.h5", ["counts_2d.h5", "'/n_constituents'", "1-D", "(360, 2)"]),
    (inspect, "{d}/mass_2d.h5", ["mass_2d.h5", "'/jets/mass'", "1-D", "(360, 2)"]),
    (inspect, "{d}/label_table.h5", ["label_table.h5", "'label_names' must be a JSON list"]),
    (mix, MIX + " {d}/float_labels.h5", ["float_labels.h5", "'/labels' must hold integers"]),
    (mix, MIX + " {d}/short_event.h5", ["short_event.h5", "'/event' has 100 entries"]),
    (mix, MIX + " {d}/counts_2d.h5", ["counts_2d.h5", "'/n_constituents'", "(360, 2)"]),
    (mix, "--background {d}/b.h5 --fraction 0.1 --out {d}/m.h5 --signal {d}/bytes_labels.h5", ["bytes_labels.h5"]),
    (fit, FIT + " {d}/float_labels.h5", ["float_labels.h5", "'/labels' must hold integers"]),
    (fit, FIT + " {d}/bytes_labels.h5", ["bytes_labels.h5", "'/labels' must hold integers"]),
    (fit, FIT + " {d}/short_event.h5", ["short_event.h5", "'/event' has 100 entries"]),
    (fit, FIT + " {d}/counts_2d.h5", ["counts_2d.h5", "'/n_constituents'", "(360, 2)"]),
    # files every other command refuses: inspect refuses them too (it exited 0)
    (inspect, "{d}/nan_constituent.h5", ["nan_constituent.h5", "'/constituents' contains NaN", "jet 5"]),
    (inspect, "{d}/label_outside.h5", ["label_outside.h5", "'/labels' outside the label table"]),
    (inspect, "{d}/negative_count.h5", ["negative_count.h5", "'/n_constituents' outside [0, 3]"]),
    # model settings that cannot work: named with their value before any data is read
    (fit, SET + " alpha=[0,1]", ["--set alpha=[0, 1]", "at least two positive numbers"]),
    (fit, SET + " alpha=[1]", ["--set alpha=[1]", "at least two positive numbers"]),
    (fit, SET + " alpha=['a',1]", ["--set alpha=['a', 1]", "'a'"]),
    (fit, SET + " image_shape=[20,20]", ["--set image_shape=[20, 20]", "(40, 40)", "must be [40, 40]"]),
    (fit, SET + " image_shape=[40]", ["--set image_shape=[40]", "must be [40, 40]"]),
    (fit, SET.replace("dvae", "ae1d") + " image_shape=[0,40]", ["--set image_shape=[0, 40]", "must be [40, 40]"]),
    (fit, SET.replace("dvae", "beta_vae") + " n_constituents=10", ["--set n_constituents=10", "must be 20"]),
    (fit, SET.replace("dvae", "vrnn") + " n_features=4", ["--set n_features=4", "(20, 3)", "must be 3"]),
    # a NaN or infinity in a public table: the input file, the column and the row
    (convert, "{d}/nan_e.h5 --out {d}/c.h5", ["nan_e.h5", "nan in column 'E_1', row 1"]),
    (convert, "{d}/inf_px.h5 --out {d}/c.h5", ["inf_px.h5", "inf in column 'PX_1', row 2"]),
    (convert, "{d}/nan_label.h5 --out {d}/c.h5", ["nan_label.h5", "nan in column 'is_signal_new', row 1"]),
    (convert, "{d}/nan_lhco.h5 --out {d}/c.h5", ["nan_lhco.h5", "nan in column 4, row 1"]),
    (convert, "{d}/nan_delphes.root --out {d}/c.h5", ["nan_delphes.root", "branch 'EFlowTrack.PT', event 2"]),
    # rows that cannot be split by event: the real reason
    (fit, FIT + " {d}/one_event.h5", ["1000 jets from 1 event(s)", "keeps the rows of an event together", "8 events"]),
]


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_odd_input_is_one_error_line_and_changes_nothing(case, folder, capsys):
    check_one_error_line(case, folder, capsys)


def test_the_good_files_of_the_table_pass(folder, tmp_path, capsys):
    """The table's files are spoilt copies of good ones: the good ones are accepted."""
    assert inspect.main([str(folder / "b.h5")]) == 0
    _toptagging(tmp_path / "table.h5")
    assert convert.main([str(tmp_path / "table.h5"), "--out", str(tmp_path / "good.h5")]) == 0
    capsys.readouterr()
