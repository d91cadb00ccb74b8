"""``python -m serving ARGS`` as a subprocess for tests: started on the ports it is given, read
until the JSON line it prints once every model is loaded (a bounded number of stderr lines)."""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def start_serving(args, max_lines=400):
    """(process, the ready JSON line as a dict, stderr lines read) of ``python -m serving ARGS``; a
    server that exits or prints no ready line within `max_lines` is stopped and an AssertionError
    shows what it printed."""
    proc = subprocess.Popen([sys.executable, "-m", "serving", *args], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    lines = []
    for _ in range(max_lines):
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("{"):
            return proc, json.loads(line), lines
    proc.terminate()
    proc.wait(timeout=30)
    raise AssertionError("python -m serving printed no ready line:\n" + "".join(lines))
