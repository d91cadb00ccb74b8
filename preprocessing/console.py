"""Keeping stdout for results while C/C++ libraries print.

Pythia8 and FastJet print banners and statistics from C++ on file descriptor 1, which Python's
``sys.stdout`` redirection does not reach. Command lines keep stdout for their results (a JSON
summary, an output path), so that output is sent to stderr at the file-descriptor level.
"""

import contextlib
import ctypes
import os
import sys


def _flush_all():
    """Flush Python's stdout and every C stdio stream (C++ iostreams synced with stdio included)."""
    sys.stdout.flush()
    ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def c_stdout_to_stderr():
    """Within the block, everything written to file descriptor 1 goes to stderr.

    Python's and C's buffers are flushed before the switch (so earlier output keeps its place on
    stdout) and after it (so nothing printed inside the block reaches stdout later).
    """
    _flush_all()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        _flush_all()
        os.dup2(saved, 1)
        os.close(saved)
