"""Pythia8 set-up and reading its event record.

``make_pythia`` initialises Pythia (``pythia8mc``) for a process with the common settings and a
seed; ``visible_final_state`` reads the visible final-state particles (status > 0, neutrinos
removed) of a ``nextBatch`` record as flat numpy arrays, the form the clustering takes.
"""

import os
import tempfile

import numpy as np

from preprocessing.errors import DataError
from preprocessing.events.processes import COMMON_SETTINGS, resolve_process
from preprocessing.jets.clustering import flat_columns

NEUTRINOS = (12, 14, 16)


def make_pythia(process, seed, lhe_events=1000):
    """An initialised Pythia for `process` with random seed `seed`.

    For processes fed from parton-level events (``process.lhe``), `lhe_events` events are
    written from the same seed to a temporary Les Houches file, which is unlinked once Pythia
    has opened it (the open stream keeps it readable).
    """
    import pythia8mc

    process = resolve_process(process)
    py = pythia8mc.Pythia("", False)
    extra = ("Random:setSeed = on", f"Random:seed = {seed}")
    lhe_file = None
    if process.lhe:
        from preprocessing.events import lhe

        fd, lhe_file = tempfile.mkstemp(prefix="anomjet-", suffix=".lhe")
        os.close(fd)
        lhe.write_lhef(lhe_file, lhe_events, seed, **dict(process.lhe))
        extra += (f"Beams:LHEF = {lhe_file}",)
    try:
        for line in COMMON_SETTINGS + process.settings + extra:
            if not py.readString(line):
                raise DataError(f"Pythia rejected the setting {line!r}")
        if not py.init():
            raise DataError(
                f"Pythia failed to initialise process {process.label!r} with settings {list(process.settings)}"
            )
    finally:
        if lhe_file is not None:
            os.unlink(lhe_file)
    return py


def visible_final_state(prt):
    """Visible final-state particles of a batch's event record ``prt``, flat.

    Returns:
        ((events + 1,) offsets: event i's particles are rows offsets[i]:offsets[i + 1]),
        [e, px, py, pz] flat arrays of those particles (GeV).
    """
    # selected on the flat record with numpy (cheaper than jagged ufuncs)
    offsets, (ids, status, e, px, py, pz) = flat_columns(prt, ("id", "status", "p.e", "p.px", "p.py", "p.pz"))
    final = np.flatnonzero(status > 0)
    pid = np.abs(ids[final])
    visible = final[(pid != NEUTRINOS[0]) & (pid != NEUTRINOS[1]) & (pid != NEUTRINOS[2])]
    # event i's visible particles are those of its record entries offsets[i]:offsets[i + 1]
    return np.searchsorted(visible, offsets), [c[visible] for c in (e, px, py, pz)]


def pythia_version():
    """The installed pythia8mc version, or 'unknown'."""
    from importlib import metadata

    try:
        return metadata.version("pythia8mc")
    except metadata.PackageNotFoundError:
        return "unknown"
