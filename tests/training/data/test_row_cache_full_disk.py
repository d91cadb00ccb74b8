"""The row cache of the streamed path (``training.data.row_cache``) on a full disk (issue 27, class 4):
a failed write, whether in a file's header, in a chunk of rows or when the last buffered rows are
flushed, is an OSError naming the cache folder, and no temporary folder or partial file is left;
through ``fit --memory-budget`` it is one ``error:`` line naming the cache."""

import errno
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from preprocessing.samples.format import write_sample
from tests.full_disk import NO_SPACE, FullDisk, file_size_limit, state
from tests.synthetic import event_sample
from training import fit
from training.data import row_cache
from training.data.row_cache import RowCache

ROOT = pathlib.Path(__file__).resolve().parents[3]
LAYOUT = {"jet_image": ((4, 4), np.float32), "mask": ((4,), np.float32)}


def _write(folder, n=50, chunk=10):
    """A row cache of `n` rows written `chunk` rows at a time."""
    with RowCache.writer(folder, LAYOUT, n) as w:
        for start in range(0, n, chunk):
            k = min(chunk, n - start)
            w.append({"jet_image": np.ones((k, 4, 4)), "mask": np.ones((k, 4))})
    return w


# where the disk fills: before the header of the first file, or after it (at the first rows)
ROOM = {"header": 0, "rows": 200}


@pytest.mark.parametrize("where", sorted(ROOM))
def test_no_space_left_names_the_cache_and_leaves_nothing(where, tmp_path, monkeypatch):
    folder = tmp_path / "rows"
    monkeypatch.setattr(row_cache, "open", FullDisk.after(ROOM[where]), raising=False)
    with pytest.raises(OSError) as caught:
        _write(folder)
    assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(folder))
    assert state(tmp_path) == {}  # no temporary folder, no partial .npy


def test_a_file_size_limit_on_the_last_rows_is_the_same_error(tmp_path):
    """A real failing write in a fresh process: rows of 80 bytes are buffered, so the write that
    fails may be the flush when the files are closed."""
    folder = tmp_path / "rows"
    code = (
        "import sys; sys.path.insert(0, '.')\n"
        "from tests.training.data.test_row_cache_full_disk import _write\n"
        f"try:\n    _write({str(folder)!r}, n=200, chunk=7)\n"
        "except OSError as err:\n    print(err.errno, err.filename)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, preexec_fn=file_size_limit(4096)
    )
    assert run.stdout.split() == [str(errno.EFBIG), str(folder)], run.stderr
    assert "Traceback" not in run.stderr and "Exception ignored" not in run.stderr
    assert state(tmp_path) == {}


def test_without_a_full_disk_the_same_rows_are_written(tmp_path):
    _write(tmp_path / "rows")
    cache = RowCache(tmp_path / "rows")
    assert len(cache.arrays["jet_image"]) == 50
    np.testing.assert_array_equal(cache.arrays["mask"].read(slice(0, 50)), np.ones((50, 4)))


def test_fit_streaming_on_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    data = write_sample(tmp_path / "data" / "events.h5", event_sample(300, 0.5, 1))
    out = tmp_path / "exported"
    before = state(tmp_path)
    monkeypatch.setattr(row_cache, "open", FullDisk, raising=False)
    argv = ["--model", "dvae", "--data", str(data), "--export-dir", str(out), "--memory-budget", "64K"]
    code = fit.main(argv + ["--epochs", "1"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and "Traceback" not in err
    pattern = rf"error: {re.escape(str(out))}/\.runs/dvae-[0-9-]+-rows: {NO_SPACE}; free some space and run again"
    assert len(errors) == 1 and re.fullmatch(pattern, errors[0]), err
    files = {k: v for k, v in state(tmp_path).items() if v != "folder"}
    assert files == {k: v for k, v in before.items() if v != "folder"}  # no file added (empty folders may be)
    assert not any(os.scandir(out / ".runs"))
