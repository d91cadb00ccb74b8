"""Full-disk helpers shared by the tests of commands that write files (issue 27, class 4).

``FullDisk`` stands in for ``open`` in a writer's module (``monkeypatch.setattr(module, "open",
FullDisk, raising=False)``): a file whose first write lands 100 bytes and then fails with ENOSPC;
``FullDisk.after(n)`` is one whose writes succeed until the file would pass n bytes.
``file_size_limit(n)`` is a ``preexec_fn`` for a fresh process whose writes past n bytes really
fail (RLIMIT_FSIZE: EFBIG; Python ignores SIGXFSZ). ``state(folder)`` is what a failed command
must leave unchanged."""

import builtins
import errno
import hashlib
import os
import resource

NO_SPACE = os.strerror(errno.ENOSPC)
TOO_LARGE = os.strerror(errno.EFBIG)


class FullDisk:
    """A file opened like ``open(path, mode, ...)`` on a disk that fills up at the first write
    (``room`` bytes later with ``FullDisk.after(room)``)."""

    room = 0

    def __init__(self, path, mode="r", *args, **kwargs):
        self.file = builtins.open(path, mode, *args, **kwargs)  # noqa: SIM115 - closed in close/__exit__
        self.written = 0

    @classmethod
    def after(cls, room):
        """A FullDisk whose disk fills up once a file holds `room` bytes."""
        return type(f"FullDiskAfter{room}", (cls,), {"room": room})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def __getattr__(self, name):  # read, seek, tell, truncate, flush, close, ...
        return getattr(self.file, name)

    def write(self, data):
        data = bytes(data)
        if self.written + len(data) <= self.room:
            self.written += len(data)
            return self.file.write(data)
        self.file.write(data[:100])  # part of it lands, then the disk is full
        raise OSError(errno.ENOSPC, NO_SPACE)


def file_size_limit(nbytes):
    """A ``preexec_fn``: files of the child process cannot grow past `nbytes`."""

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return limit


def state(folder):
    """Every file under `folder` (hidden ones and subfolders included) -> its sha256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
        for p in sorted(folder.rglob("*"))
    }
