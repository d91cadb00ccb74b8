"""``training.fit`` when its export cannot be written (issue 27, class 4): one error line naming the
export, the reason and the folder where the trained model is kept, exit 2, no version folder (nor a
hidden temporary one) in the export base, the data unchanged; the same command run again exports the
kept model without training. Before: a ResourceExhaustedError traceback and the trained model lost."""

import errno
import pathlib
import pickle
import re

import pytest

from preprocessing.errors import DataError
from preprocessing.samples.format import write_sample
from tests.full_disk import NO_SPACE, TOO_LARGE, state
from tests.synthetic import event_sample
from training import fit, kept


def _full_disk_saved_model(strerror, error_class):
    """keras' ExportArchive.write_out on a disk that fills up: part of the variables land, then TensorFlow's error."""

    def write_out(self, filepath, **kwargs):
        folder = pathlib.Path(filepath) / "variables"
        folder.mkdir(parents=True)
        (folder / "variables.data-00000-of-00001").write_bytes(b"\0" * 100)
        message = f"{folder}/variables.data-00000-of-00001.tempstate1; {strerror} [Op:SaveV2]"
        raise error_class(None, None, message)

    return write_out


def _error_lines(err):
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.fixture
def data(tmp_path):
    return write_sample(tmp_path / "data" / "events.h5", event_sample(300, 0.5, 1))


@pytest.mark.slow  # two fits in one process: about 30 s on 2 shared cores
def test_a_full_disk_at_the_export_keeps_the_model_and_a_rerun_exports_it(data, tmp_path, capsys, monkeypatch):
    import keras
    import tensorflow as tf

    out = tmp_path / "exported"
    before = state(data.parent)
    argv = ["--model", "dvae", "--data", str(data), "--export-dir", str(out), "--epochs", "1"]
    archive = type(keras.export.ExportArchive())  # the backend's class (ExportArchive.__new__ picks it)
    monkeypatch.setattr(archive, "write_out", _full_disk_saved_model(NO_SPACE, tf.errors.ResourceExhaustedError))
    code = fit.main(argv)
    captured = capsys.readouterr()
    errors = _error_lines(captured.err)
    assert code == 2 and "Traceback" not in captured.err
    pattern = (
        rf"error: {re.escape(str(out / 'dvae'))}: cannot write the export \({NO_SPACE}\); the trained model is kept "
        rf"in ({re.escape(str(out))}/\.runs/dvae-trained-[0-9a-f]{{16}}); run the same command again once the "
        r"export can be written: it exports the kept model without training"
    )
    assert len(errors) == 1 and re.fullmatch(pattern, errors[0]), captured.err
    keep = pathlib.Path(re.fullmatch(pattern, errors[0]).group(1))
    assert sorted(p.name for p in keep.iterdir()) == ["member0-seed0.pkl"]
    result = pickle.loads((keep / "member0-seed0.pkl").read_bytes())
    assert len(result.weights) > 0 and len(result.history["loss"]) == 1
    assert list((out / "dvae").iterdir()) == []  # no version folder, no hidden temporary folder
    assert sorted(p.name for p in (out / ".runs").iterdir()) == [keep.name]  # the run's checkpoints are gone
    assert state(data.parent) == before

    monkeypatch.undo()  # space again: the same command exports the kept model without training
    assert fit.main(argv) == 0
    captured = capsys.readouterr()
    assert f"1 trained member(s) kept from an earlier run in {keep}: exporting without training" in captured.err
    assert "Epoch" not in captured.out + captured.err
    assert sorted(p.name for p in (out / "dvae").iterdir()) == ["1"]
    assert not keep.exists()
    from training.model_card import ModelCard

    assert ModelCard.read(out / "dvae" / "1").training["history"] == result.history


@pytest.mark.parametrize(
    "err, why",
    [
        (OSError(errno.ENOSPC, NO_SPACE, "exported/dvae/.tmp-1/assets.extra/model_card.json"), NO_SPACE),
        (OSError(errno.EACCES, "Permission denied", "exported/dvae"), "Permission denied"),
        (  # h5py's, writing member0.weights.h5 into the export on a real full tmpfs: no errno, several lines
            OSError(
                "Can't synchronously write data (file write failed: time = Mon Dec  7 06:53:04 2026\n, filename = "
                "'x/member0.weights.h5', file descriptor = 3, errno = 28, error message = 'No space left on device')"
            ),
            NO_SPACE,
        ),
        (OSError(errno.ENOENT, "No such file or directory", "exported/dvae/.tmp-1"), "No such file or directory"),
        (OSError("a message\non two lines"), "a message on two lines"),
        ("out of range", TOO_LARGE),  # TensorFlow's OutOfRangeError for EFBIG (a file size limit)
        ("resource", NO_SPACE),  # its ResourceExhaustedError for ENOSPC
        (ValueError("a bug in a graph"), None),
    ],
)
def test_which_failures_are_the_machines(err, why):
    import tensorflow as tf

    if err == "out of range":
        err = tf.errors.OutOfRangeError(None, None, f"x/variables.tempstate1; {TOO_LARGE} [Op:SaveV2]")
    elif err == "resource":
        err = tf.errors.ResourceExhaustedError(None, None, f"x/variables.tempstate1; {NO_SPACE} [Op:SaveV2]")
    assert kept.environmental(err) == why


class _Member:
    """A trained member as training.kept writes it: a model with weights, a history, a stopping record."""

    def __init__(self):
        import numpy as np

        self.model = self
        self.history, self.seconds, self.stopping = {"loss": [1.0]}, 1.0, None
        self.weights = [np.arange(3.0)]

    def get_weights(self):
        return self.weights

    def get_build_config(self):
        return None


def test_when_the_model_cannot_be_kept_either_the_line_says_so(tmp_path, monkeypatch):
    run_dir = tmp_path / ".runs" / "dvae-20260101-000000-1"
    disk_full = OSError(errno.ENOSPC, NO_SPACE, str(tmp_path / "dvae"))

    def full(self, data):
        raise OSError(errno.ENOSPC, NO_SPACE, str(self))

    monkeypatch.setattr(pathlib.Path, "write_bytes", full)
    with pytest.raises(DataError) as caught:
        fit._keep_unexported(disk_full, tmp_path / "dvae", [_Member()], [0], None, run_dir)
    keep = run_dir.with_name(run_dir.name + "-trained")
    assert str(caught.value) == (
        f"{tmp_path / 'dvae'}: cannot write the export ({NO_SPACE}), nor keep the trained model in {keep} ({NO_SPACE})"
    )
    assert [k for k, v in state(tmp_path).items() if v != "folder" or "trained" in k] == []  # nothing partial


def test_a_streamed_or_distributed_run_keeps_the_model_beside_its_run_folder(tmp_path):
    run_dir = tmp_path / ".runs" / "dvae-20260101-000000-1"
    with pytest.raises(DataError) as caught:
        fit._keep_unexported(OSError(errno.EFBIG, TOO_LARGE), tmp_path / "dvae", [_Member()], [0], None, run_dir)
    keep = run_dir.with_name(run_dir.name + "-trained")
    assert str(caught.value) == (
        f"{tmp_path / 'dvae'}: cannot write the export ({TOO_LARGE}); the trained model is kept in {keep}; "
        "rebuild each member with training.members.rebuild"
    )
    assert pickle.loads((keep / "member0-seed0.pkl").read_bytes()).weights[0].tolist() == [0.0, 1.0, 2.0]


def test_a_failure_that_is_not_the_machines_keeps_the_model_and_goes_on(tmp_path, capsys):
    run_dir = tmp_path / ".runs" / "dvae-20260101-000000-1"
    keep = tmp_path / ".runs" / "dvae-trained-0123456789abcdef"
    fit._keep_unexported(ValueError("a bug"), tmp_path / "dvae", [_Member()], [0], keep, run_dir)
    assert (keep / "member0-seed0.pkl").is_file()
    assert capsys.readouterr().err.splitlines() == [
        f"note: the export failed; the trained model is kept in {keep}; run the same command again once the export "
        "can be written: it exports the kept model without training"
    ]
