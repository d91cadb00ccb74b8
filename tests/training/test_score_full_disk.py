"""``training.score`` on a full disk (issue 27, class 4): one error line naming OUT, exit 2, no
partial file left, a previous OUT byte-identical, and no crash in libhdf5 (exit 139 before: the
scores file was written by libhdf5 straight to disk, and its failed write left handles that
crashed the interpreter at exit)."""

import pathlib
import subprocess
import sys

import pytest

from tests.full_disk import NO_SPACE, TOO_LARGE, FullDisk, file_size_limit, state
from tests.serving.conftest import export_dvae

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def export_and_data(small_samples, tmp_path_factory):
    folder = tmp_path_factory.mktemp("full_disk")
    version, _ = export_dvae(folder / "dvae", small_samples["qcd"], warmup=False)
    return version, small_samples["qcd_path"]


def test_no_space_left_while_writing_scores_is_one_line(export_and_data, tmp_path, capsys, monkeypatch):
    from training import score

    version, data = export_and_data
    out = tmp_path / "scores.h5"
    out.write_bytes(b"the previous scores")
    before = state(tmp_path)

    monkeypatch.setattr(score, "open", FullDisk, raising=False)  # the writer of the scores file
    code = score.main(["--model", str(version), "--data", str(data), "--out", str(out)])
    err = capsys.readouterr().err.splitlines()
    assert code == 2
    assert err == [f"error: {out}: {NO_SPACE}; free some space and run again"]
    assert state(tmp_path) == before  # no .part left, the previous OUT unchanged


def test_a_file_size_limit_is_one_line_and_no_crash(export_and_data, tmp_path):
    """A real failing write (RLIMIT_FSIZE: write() fails with EFBIG past 8 KiB), in a fresh process."""
    version, data = export_and_data
    out = tmp_path / "scores.h5"

    cmd = [sys.executable, "-m", "training.score", "--model", str(version), "--data", str(data), "--out", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=file_size_limit(8192), timeout=300, cwd=ROOT)
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.strip().splitlines()[-1] == f"error: {out}: {TOO_LARGE}"
    assert "Traceback" not in run.stderr
    assert list(tmp_path.iterdir()) == []
