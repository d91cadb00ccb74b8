"""C-level stdout redirection: output on file descriptor 1 inside the block goes to stderr."""

import ctypes
import os

from preprocessing.console import c_stdout_to_stderr


def test_file_descriptor_1_goes_to_stderr_and_comes_back(capfd):
    print("before")
    with c_stdout_to_stderr():
        os.write(1, b"fd inside\n")
        ctypes.CDLL(None).printf(b"c inside\n")  # buffered by C stdio: flushed on the way out
    print("after")
    out, err = capfd.readouterr()
    assert out == "before\nafter\n"
    assert "fd inside" in err and "c inside" in err
