"""Generate jet samples with Pythia8 + FastJet and write them in the project's sample format.

Common to every process: pp at 13 TeV without multi-parton interactions, hadron level; visible
final-state particles (no neutrinos) clustered with anti-kT.

Processes (``--process``; masses in GeV are flags, Pythia mass changes are ``id:m0`` settings):

* ``qcd`` -- hard QCD 2->2 dijets, pTHat > ``--pthat-min`` (500).
* ``w`` -- W' (``--wprime-mass`` 1250, cheng2022) -> W(-> q q') Z(-> nu nu), W mass ``--w-mass``
  (cheng2020 scans 59, 80, 120, 174; default Pythia's 80.385).
* ``top`` -- Z' (``--zprime-mass`` 1300) -> t tbar, all hadronic, ``--top-mass`` and ``--w-mass``
  (cheng2020's m_t = 80 with m_W = 20).
* ``higgs4b`` -- heavy H (Pythia's H0, ``--heavy-mass`` 174) produced with a Z(-> nu nu) at
  pTHat > 500, H -> h h, h -> b bbar with ``--light-mass`` (20 or 80): cheng2020's four-prong jets.
* ``dijet`` -- event-level QCD background like the LHC Olympics R&D set (pTHat > 1100).
* ``lhco-signal`` -- event-level W' (``--wprime-mass`` 3500) -> X Y with X = W-like resonance of
  ``--x-mass`` 500 and Y = Z-like resonance of ``--y-mass`` 100, both -> q qbar (``--prongs 2``).
  X and Y are Pythia's W and Z with their masses moved, so the W' -> W Z matrix element and the
  resonance widths stay Pythia's own. ``--prongs 3``: X -> u dbar g and Y -> d dbar g, three
  colour-connected hard partons each (flat three-body phase space). Pythia's resonance machinery
  has no colour-singlet three-parton channel (a user channel X -> q qbar g gets zero width and is
  never used), so these events are generated at parton level by ``preprocessing.lhe`` and read
  by Pythia as a Les Houches event file, which then adds showers and hadronisation.

Selections (``--preset``; single cuts can be overridden):

* ``dillon2021`` (default for qcd and top): anti-kT R = 0.8, two leading jets per event with
  550 < pT < 650 GeV and |eta| < 2; a top jet must contain, within dR < 0.8, a parton-level top
  and all three of its decay quarks.
* ``cheng2020`` (default for w, higgs4b): R = 1.0, 550 < pT < 650 GeV, |eta| < 2 (test sets),
  top matching within dR < 1.0; ``cheng2020-train``: R = 1.0, pT > 450 GeV.
* ``lhco`` (default for dijet, lhco-signal): event level, R = 1.0, leading jet pT > 1.2 TeV,
  the two leading jets kept, stored heavier first (``/jets/mass_rank`` 0 and 1) with the dijet
  mass ``/jets/mjj`` on both rows of the event.

Every jet carries pt, eta, phi, mass, energy and the observables of ``preprocessing.observables``
(tau1..tau4, tau21, tau32, d2, n_const) computed from all its constituents.

Work is cut into shards of a fixed number of jets; shard i is seeded from
``SeedSequence(seed).spawn`` so the output depends on (process, options, n_jets, seed, shard
size) and not on the number of worker processes. Finished shards are kept in a hidden sibling
folder ``.<out>.shards/`` so an interrupted run, started again with the same arguments, only
generates the missing shards; the folder is removed once the output file has been written
(atomically).

Usage::

    python -m preprocessing.generate --process top --n-jets 10000 --seed 1 --out top.h5 --workers 2
    python -m preprocessing.generate --process w --w-mass 120 --n-jets 20000 --out w120.h5
    python -m preprocessing.generate --process lhco-signal --n-jets 2000 --out sig.h5
"""

import argparse
import contextlib
import dataclasses
import datetime
import hashlib
import json
import multiprocessing
import os
import pathlib
import shutil
import sys
import tempfile
import zipfile

import numpy as np

from preprocessing import observables, physics
from preprocessing.errors import DataError
from preprocessing.sample import JetSample, write_sample
from preprocessing.version import code_version

NEUTRINOS = (12, 14, 16)
COMMON_SETTINGS = (
    "Beams:eCM = 13000",
    "PartonLevel:MPI = off",
    "Print:quiet = on",
    "Next:numberCount = 0",
)
M_Z = 91.1876
M_B = 4.8
SHARD_FORMAT = 1  # bump when the content of a shard file changes meaning


@dataclasses.dataclass(frozen=True)
class Selection:
    """Jet definition and cuts; the defaults are dillon2021's.

    ``event_level`` keeps the two leading jets of an event together (LHC Olympics style):
    the leading jet must have pT > ``lead_pt_min``, both must pass |eta| < ``abs_eta_max``,
    and they are stored heavier first; ``pt_min``/``pt_max`` are then not used.
    """

    jet_radius: float = 0.8
    pt_min: float = 550.0
    pt_max: float = 650.0
    abs_eta_max: float = 2.0
    max_constituents: int = 200
    match_radius: float = 0.8
    jets_per_event: int = 2
    event_level: bool = False
    lead_pt_min: float = 0.0


SELECTIONS = {
    # dillon2021 (top-tagging reference selection)
    "dillon2021": Selection(),
    # cheng2020 test sets (W, top, H -> hh), also cheng2022's pT window
    "cheng2020": Selection(jet_radius=1.0, match_radius=1.0),
    # cheng2020 QCD training jets: pT > 450 GeV, no upper edge (generate qcd with --pthat-min 400
    # so that the 450-500 GeV jets are not thinned by the default pTHat > 500 GeV)
    "cheng2020-train": Selection(jet_radius=1.0, pt_min=450.0, pt_max=float("inf"), match_radius=1.0),
    # LHC Olympics R&D (bortolato2021, kahn2021): event level, leading jet pT > 1.2 TeV
    "lhco": Selection(jet_radius=1.0, pt_min=0.0, pt_max=float("inf"), abs_eta_max=float("inf"),
                      match_radius=1.0, event_level=True, lead_pt_min=1200.0),
}


@dataclasses.dataclass(frozen=True)
class Process:
    """A Pythia8 process: its settings, the class label of its jets and its truth matching."""

    label: str
    settings: tuple
    matching: str = ""  # "" (none) or "top"
    description: str = ""
    name: str = ""
    preset: str = "dillon2021"  # default selection
    options: tuple = ()  # ((flag, value), ...) as given, for provenance
    lhe: tuple = ()  # ((name, value), ...) of preprocessing.lhe events fed to Pythia; () for none


_HADRONIC_W = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")
_INVISIBLE_Z = ("23:onMode = off", "23:onIfAny = 12 14 16")


def _mass_window(pid, mass, low):
    """Settings moving particle `pid` to `mass`; its Breit-Wigner range is kept within
    [low, 1.5 mass] (Pythia's own limits, e.g. mMin = 86 GeV for the top or 50 GeV for h0,
    would otherwise forbid the light masses the papers use)."""
    return (f"{pid}:m0 = {mass:g}", f"{pid}:mMin = {low:g}", f"{pid}:mMax = {1.5 * mass:g}")


def _positive(name, value):
    if not np.isfinite(value) or value <= 0:
        raise DataError(f"--{name} must be a positive mass in GeV, got {value}")


def make_process(name, **options):
    """The Process for `name` with mass options (GeV); impossible masses raise DataError.

    Options: qcd/dijet ``pthat_min``; w ``w_mass``, ``wprime_mass``; top ``top_mass``,
    ``w_mass``, ``zprime_mass``; higgs4b ``heavy_mass``, ``light_mass``; lhco-signal
    ``wprime_mass``, ``x_mass``, ``y_mass``, ``prongs``. None means the default.
    """
    allowed = {
        "qcd": {"pthat_min"}, "dijet": {"pthat_min"}, "w": {"w_mass", "wprime_mass"},
        "top": {"top_mass", "w_mass", "zprime_mass"}, "higgs4b": {"heavy_mass", "light_mass"},
        "lhco-signal": {"wprime_mass", "x_mass", "y_mass", "prongs"},
    }
    if name not in allowed:
        raise DataError(f"unknown process {name!r}; choose from {sorted(allowed)}")
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - allowed[name])
    if unknown:
        raise DataError(f"process {name!r} has no option(s) {unknown}; it takes {sorted(allowed[name])}")
    for key, value in given.items():
        if key.endswith("_mass") or key == "pthat_min":
            _positive(key.replace("_", "-"), float(value))
    recorded = tuple(sorted(given.items()))

    if name in ("qcd", "dijet"):
        pthat = given.get("pthat_min", 500.0 if name == "qcd" else 1100.0)
        return Process(
            label="qcd", settings=("HardQCD:all = on", f"PhaseSpace:pTHatMin = {pthat:g}"),
            description=f"hard QCD 2->2 dijets, pTHat > {pthat:g} GeV", name=name,
            preset="dillon2021" if name == "qcd" else "lhco", options=recorded)

    if name == "w":
        m_wp = given.get("wprime_mass", 1250.0)
        settings = ("NewGaugeBoson:ffbar2Wprime = on", "Wprime:coup2WZ = 1", f"34:m0 = {m_wp:g}",
                    "34:onMode = off", "34:onIfMatch = 24 23") + _HADRONIC_W + _INVISIBLE_Z
        m_w = given.get("w_mass")
        if m_w is not None:
            if m_w + M_Z >= m_wp:
                raise DataError(f"--w-mass {m_w:g} GeV is impossible: W' ({m_wp:g} GeV) -> W Z needs "
                                f"m_W + m_Z ({m_w + M_Z:g}) below the W' mass")
            if m_w <= 10.0:
                raise DataError(f"--w-mass {m_w:g} GeV is too light for W -> q q' (need > 10 GeV)")
            settings += _mass_window(24, m_w, max(0.5 * m_w, 10.0))
        return Process(label="w", settings=settings, name=name, preset="cheng2020", options=recorded,
                       description=f"W'({m_wp:g}) -> W({m_w or 80.385:g} -> qq') Z(-> nu nu)")

    if name == "top":
        m_zp = given.get("zprime_mass", 1300.0)
        m_t = given.get("top_mass")
        m_w = given.get("w_mass")
        t_eff, w_eff = m_t or 173.0, m_w or 80.385
        if w_eff + M_B >= t_eff:
            raise DataError(f"--w-mass {w_eff:g} GeV is impossible with --top-mass {t_eff:g}: t -> W b needs "
                            f"m_W + m_b ({w_eff + M_B:g}) below the top mass")
        if 2 * t_eff >= m_zp:
            raise DataError(f"--top-mass {t_eff:g} GeV is impossible: Z' ({m_zp:g} GeV) -> t tbar needs "
                            f"2 m_t below the Z' mass")
        if m_w is not None and m_w <= 10.0:
            raise DataError(f"--w-mass {m_w:g} GeV is too light for W -> q q' (need > 10 GeV)")
        # kept identical to the foundation's settings when no mass is changed (same jets per seed)
        settings = (
            "NewGaugeBoson:ffbar2gmZZprime = on",
            "Zprime:gmZmode = 3",  # pure Z', no gamma*/Z interference
            f"32:m0 = {m_zp:g}",  # 1.3 TeV: tops peak at pT ~ 600 GeV
            "32:onMode = off",
            "32:onIfAny = 6",
            "24:onMode = off",
            "24:onIfAny = 1 2 3 4 5",  # all-hadronic W decays
        )
        if m_t is not None:
            settings += _mass_window(6, m_t, max(0.5 * m_t, w_eff + M_B + 0.5))
        if m_w is not None:
            settings += _mass_window(24, m_w, max(0.5 * m_w, 10.0))
        return Process(label="top", settings=settings, matching="top", name=name, preset="dillon2021",
                       options=recorded,
                       description=f"Z'({m_zp:g}) -> t tbar (m_t {t_eff:g}, m_W {w_eff:g}), all-hadronic")

    if name == "higgs4b":
        m_h2 = given.get("heavy_mass", 174.0)
        m_h1 = given.get("light_mass", 20.0)
        if m_h1 >= 0.5 * m_h2:
            raise DataError(f"--light-mass {m_h1:g} GeV is impossible: H ({m_h2:g} GeV) -> h h needs the light "
                            f"mass below half the heavy mass ({0.5 * m_h2:g})")
        if m_h1 <= 2 * M_B:
            raise DataError(f"--light-mass {m_h1:g} GeV is too light for h -> b bbar (need > {2 * M_B:g})")
        settings = (
            "Higgs:useBSM = on",
            "HiggsBSM:ffbar2H2Z = on",  # 2 -> 2, so the pTHat cut gives boosted H
            "PhaseSpace:pTHatMin = 500",
            *_mass_window(35, m_h2, max(0.5 * m_h2, 2 * m_h1 + 0.5)),
            "35:onMode = off", "35:onIfMatch = 25 25",
            *_mass_window(25, m_h1, max(0.5 * m_h1, 2 * M_B + 0.5)),
            "25:onMode = off", "25:onIfMatch = 5 -5",
        ) + _INVISIBLE_Z
        return Process(label="higgs4b", settings=settings, name=name, preset="cheng2020", options=recorded,
                       description=f"H({m_h2:g}) Z(-> nu nu), H -> h({m_h1:g}) h -> b bbar b bbar")

    # lhco-signal
    prongs = int(given.get("prongs", 2))
    if prongs not in (2, 3):
        raise DataError(f"--prongs must be 2 (X, Y -> q qbar) or 3 (X, Y -> q qbar g), got {prongs}")
    m_wp = given.get("wprime_mass", 3500.0)
    m_x = given.get("x_mass", 500.0)
    m_y = given.get("y_mass", 100.0)
    if m_x + m_y >= m_wp:
        raise DataError(f"--x-mass {m_x:g} + --y-mass {m_y:g} GeV is impossible: they must stay below the "
                        f"W' mass {m_wp:g}")
    if min(m_x, m_y) <= 10.0:
        raise DataError(f"X and Y must be heavier than 10 GeV to decay to quarks, got {m_x:g} and {m_y:g}")
    if prongs == 3:
        return Process(label="signal", settings=("Beams:frameType = 4",), name=name, preset="lhco",
                       options=recorded, lhe=(("m_wprime", m_wp), ("m_x", m_x), ("m_y", m_y)),
                       description=f"W'({m_wp:g}) -> X({m_x:g} -> q qbar g) Y({m_y:g} -> q qbar g), "
                                   f"parton level from preprocessing.lhe")
    settings = ("NewGaugeBoson:ffbar2Wprime = on", "Wprime:coup2WZ = 1", f"34:m0 = {m_wp:g}",
                "34:onMode = off", "34:onIfMatch = 24 23",
                *_mass_window(24, m_x, 0.5 * m_x), *_mass_window(23, m_y, 0.5 * m_y),
                "24:onMode = off", "24:onIfAny = 1 2 3 4 5", "23:onMode = off", "23:onIfAny = 1 2 3 4 5")
    return Process(label="signal", settings=settings, name=name, preset="lhco", options=recorded,
                   description=f"W'({m_wp:g}) -> X({m_x:g} -> qq) Y({m_y:g} -> qq)")


PROCESS_NAMES = ("qcd", "w", "top", "higgs4b", "dijet", "lhco-signal")
# the processes with their default options (public: tests and the benchmark look them up here)
PROCESSES = {name: make_process(name) for name in PROCESS_NAMES}


def selection_record(sel):
    """The selection as a strict-JSON dict (infinite cut values as the string 'inf')."""
    return {k: ("inf" if isinstance(v, float) and np.isinf(v) else v) for k, v in dataclasses.asdict(sel).items()}


def _resolve(process):
    """A Process from a name or a Process."""
    if isinstance(process, Process):
        return process
    if process not in PROCESSES:
        raise DataError(f"unknown process {process!r}; choose from {sorted(PROCESSES)}")
    return PROCESSES[process]


def shard_seeds(seed, n_shards):
    """Pythia seeds (1 .. 9e8) for shards 0..n-1; shard i's seed does not depend on n_shards."""
    children = np.random.SeedSequence(seed).spawn(n_shards)
    return [int(c.generate_state(1)[0] % 900_000_000) + 1 for c in children]


def _make_pythia(process, seed, lhe_events=1000):
    """An initialised Pythia for `process` with random seed `seed`.

    For processes fed from parton-level events (``process.lhe``), `lhe_events` events are
    written from the same seed to a temporary Les Houches file, which is unlinked once Pythia
    has opened it (the open stream keeps it readable).
    """
    import pythia8mc

    process = _resolve(process)
    py = pythia8mc.Pythia("", False)
    extra = ("Random:setSeed = on", f"Random:seed = {seed}")
    lhe_file = None
    if process.lhe:
        from preprocessing import lhe

        fd, lhe_file = tempfile.mkstemp(prefix="anomjet-", suffix=".lhe")
        os.close(fd)
        lhe.write_lhef(lhe_file, lhe_events, seed, **dict(process.lhe))
        extra += (f"Beams:LHEF = {lhe_file}",)
    try:
        for line in COMMON_SETTINGS + process.settings + extra:
            if not py.readString(line):
                raise DataError(f"Pythia rejected the setting {line!r}")
        if not py.init():
            raise DataError(f"Pythia failed to initialise process {process.label!r} with settings "
                            f"{list(process.settings)}")
    finally:
        if lhe_file is not None:
            os.unlink(lhe_file)
    return py


def _flat_columns(records, names):
    """Offsets and flat numpy fields of a jagged (events, var) awkward array of records.

    Returns ((events + 1,) offsets of each event's first entry, [flat array of each name]);
    a dotted name ("p.px") reaches into a nested record. The arrays are read from the layout,
    which is much cheaper than ``ak.flatten`` of each field of the high-level (vector) records;
    a layout that is not plain lists of records (an indexed view, say) is packed first.
    """
    import awkward as ak

    def fields(layout):
        if not layout.is_list:
            return None
        layout = layout.to_ListOffsetArray64(True)  # offsets from 0
        offsets = np.asarray(layout.offsets, dtype=np.int64)
        columns = []
        for name in names:
            node = layout.content
            for part in name.split("."):
                if not isinstance(node, ak.contents.RecordArray):
                    return None
                node = node.content(part)
            columns.append(ak.to_numpy(node)[: offsets[-1]])
        return offsets, columns

    return fields(ak.to_layout(records)) or fields(ak.to_layout(ak.to_packed(records)))


def _last_copy(idx, ids, d1, d2, offsets_of):
    """Follow a particle through its shower copies (daughter with the same id) to the last one."""
    idx = idx.copy()
    for _ in range(200):
        off = offsets_of[idx]
        a = np.where(d1[idx] > 0, d1[idx] + off, idx)
        b = np.where(d2[idx] > 0, d2[idx] + off, idx)
        nxt = np.where(ids[a] == ids[idx], a, np.where(ids[b] == ids[idx], b, idx))
        if np.all(nxt == idx):
            return idx
        idx = nxt
    raise RuntimeError("shower-copy chain longer than 200 entries")


def top_partons(prt):
    """Per event, up to two hard tops (just before decay) and their decay quarks (b, q, q').

    Returns four-vectors (E, px, py, pz): tops of shape (events, 2, 4) and quarks of shape
    (events, 2, 3, 4); missing entries are NaN so every comparison with them is False.
    """
    bounds, (ids, status, d1, d2, *p4) = _flat_columns(
        prt, ("id", "status", "daughter1", "daughter2", "p.e", "p.px", "p.py", "p.pz"))
    counts = np.diff(bounds)
    offsets = bounds[:-1]
    ev_of = np.repeat(np.arange(len(counts)), counts)
    d1, d2 = d1.astype(np.int64), d2.astype(np.int64)
    p4 = np.stack(p4, -1)
    offsets_of = offsets[ev_of]

    n_ev = len(counts)
    top_p4 = np.full((n_ev, 2, 4), np.nan)
    quark_p4 = np.full((n_ev, 2, 3, 4), np.nan)

    tops = np.nonzero((np.abs(ids) == 6) & (status == -22))[0]
    if len(tops) == 0:
        return top_p4, quark_p4
    tops = _last_copy(tops, ids, d1, d2, offsets_of)
    off = offsets_of[tops]
    da, db = d1[tops] + off, d2[tops] + off
    w = np.where(np.abs(ids[da]) == 24, da, db)
    b = np.where(np.abs(ids[da]) == 24, db, da)
    ok = (d1[tops] > 0) & (d2[tops] > d1[tops]) & (np.abs(ids[w]) == 24) & (np.abs(ids[b]) <= 5)
    w = _last_copy(w, ids, d1, d2, offsets_of)
    qa, qb = d1[w] + offsets_of[w], d2[w] + offsets_of[w]
    ok &= (d1[w] > 0) & (np.abs(ids[qa]) <= 5) & (np.abs(ids[qb]) <= 5)

    ev = ev_of[tops]
    slot = np.zeros(len(tops), dtype=np.int64)  # first or second top of its event
    slot[1:] = (ev[1:] == ev[:-1]).astype(np.int64)
    keep = ok & (slot < 2)
    ev, slot = ev[keep], slot[keep]
    t = tops[keep]
    quarks = np.stack([b[keep], qa[keep], qb[keep]], axis=1)  # (tops, 3)
    top_p4[ev, slot] = p4[t]
    quark_p4[ev, slot] = p4[quarks]
    return top_p4, quark_p4


def select_jets(batch, process, sel, observables_now=True):
    """Cluster one batch of Pythia events and return the selected jets as numpy arrays.

    Args:
        batch: a pythia8mc ``nextBatch`` result.
        process: a Process or a process name (for its truth matching).
        sel: the Selection.
        observables_now: compute the observables here (else see ``cluster_and_select``).

    Returns:
        the dict of ``cluster_and_select``; 'event' is the index in the batch.
    """
    process = _resolve(process)
    prt = batch["prt"]
    # visible final state, selected on the flat record with numpy (cheaper than jagged ufuncs)
    offsets, (ids, status, e, px, py, pz) = _flat_columns(prt, ("id", "status", "p.e", "p.px", "p.py", "p.pz"))
    final = np.flatnonzero(status > 0)
    pid = np.abs(ids[final])
    visible = final[(pid != NEUTRINOS[0]) & (pid != NEUTRINOS[1]) & (pid != NEUTRINOS[2])]
    match = None
    if process.matching == "top":
        def match(event, jeta, jphi):
            tops, quarks = top_partons(prt)
            tops, quarks = tops[event], quarks[event]  # (jets, 2, 4), (jets, 2, 3, 4)
            dr_top = physics.delta_r(jeta[:, None], jphi[:, None], physics.eta(tops), physics.phi(tops))
            dr_q = physics.delta_r(jeta[:, None, None], jphi[:, None, None], physics.eta(quarks),
                                   physics.phi(quarks))
            with np.errstate(invalid="ignore"):
                matched = (dr_top < sel.match_radius) & np.all(dr_q < sel.match_radius, axis=-1)
            return np.any(matched, axis=-1)
    # event i's visible particles are those of its record entries offsets[i]:offsets[i + 1]
    return _cluster_flat(np.searchsorted(visible, offsets), [c[visible] for c in (e, px, py, pz)], sel, match,
                         observables_now)


def cluster_and_select(particles, sel, match=None, observables_now=True):
    """Cluster events of particles with anti-kT, apply the selection, compute the observables.

    Args:
        particles: awkward array (events, var) of records with fields e, px, py, pz (GeV).
        sel: the Selection (jet-level window or event level, see Selection).
        match: optional callable (event index, jet eta, jet phi) -> bool mask of jets passing
            truth matching (jet-level selections only).
        observables_now: if False, the observables are left out and all constituents of the
            selected jets are returned instead, flat jet by jet under '_flat' (particles, 4) with
            '_n_all' per jet, for ``add_observables`` to process many batches in one call (its
            cost per call is largely fixed).

    Returns:
        dict with 'constituents' (jets, max_constituents, 4) float32, 'n_constituents' (number
        stored, at most max_constituents), 'event' (index of the event in `particles`), the jet
        kinematics (pt, eta, phi, mass, energy), the observables of
        ``preprocessing.observables`` (from all constituents) and, for event-level selections,
        'mjj' and 'mass_rank' (0 for the heavier jet of the event).
    """
    offsets, columns = _flat_columns(particles, ("e", "px", "py", "pz"))
    return _cluster_flat(offsets, [np.ascontiguousarray(c, dtype=np.float64) for c in columns], sel, match,
                         observables_now)


def _constituent_index(cluster, jet_event, n_events, jpx, jpy, floor, softest):
    """Constituents of those jets of ``cluster.inclusive_jets(min_pt=floor)`` (given flat: event,
    px, py of each) that are at least as hard as `softest` (GeV).

    FastJet's constituent_index lists, event by event and in the order of inclusive_jets, the
    particle indices of every jet above the min_pt it is given, at a cost per listed jet; asking
    it only for jets as hard as the softest chosen one skips most of the others. The jets listed
    are then exactly those whose squared pT (px^2 + py^2, which FastJet compares with min_pt^2)
    reaches the cut; this is checked against FastJet's count per event, and at the slightest
    doubt (a jet within rounding of the cut, a count that differs) every jet above `floor` is
    listed instead: the same result at the full cost.

    Returns (offsets (listed jets + 1,) into the indices, particle index within its event, the
    position in the listing of each inclusive jet, -1 if not listed).
    """
    import awkward as ak

    if not np.isfinite(softest):  # no jet chosen
        return np.zeros(1, np.int64), np.zeros(0, np.int64), np.full(len(jpx), -1)
    perp2 = jpx * jpx + jpy * jpy
    cut = max(floor, softest * (1.0 - 1e-6))
    if np.any(np.abs(perp2 - cut * cut) <= 1e-9 * cut * cut):
        cut = floor
    listed = perp2 >= cut * cut if cut > floor else np.ones(len(perp2), bool)
    index = ak.to_layout(cluster.constituent_index(min_pt=cut)).to_ListOffsetArray64(True)
    if not np.array_equal(np.diff(np.asarray(index.offsets)), np.bincount(jet_event[listed], minlength=n_events)):
        if cut > floor:
            return _constituent_index(cluster, jet_event, n_events, jpx, jpy, floor, floor)
        raise RuntimeError("FastJet's constituent_index does not list the jets of inclusive_jets")
    inner = index.content.to_ListOffsetArray64(True)
    return (np.asarray(inner.offsets, dtype=np.int64), ak.to_numpy(inner.content).astype(np.int64),
            np.where(listed, np.cumsum(listed) - 1, -1))


def _cluster_flat(offsets, columns, sel, match, observables_now):
    """``cluster_and_select`` of events given flat: particles offsets[i]:offsets[i + 1] form event
    i, `columns` are their (e, px, py, pz) arrays. Everything after the FastJet clustering is
    done on flat numpy arrays (no jagged slicing or sorting)."""
    import awkward as ak
    import fastjet

    e, px, py, pz = columns
    n_events = len(offsets) - 1
    events = ak.Array(ak.contents.ListOffsetArray(
        ak.index.Index64(offsets),
        ak.contents.RecordArray([ak.contents.NumpyArray(c) for c in (px, py, pz, e)], ["px", "py", "pz", "E"])))
    cluster = fastjet.ClusterSequence(events, fastjet.JetDefinition(fastjet.antikt_algorithm, sel.jet_radius))
    # jets below half the window cannot pass, and cannot displace a passing jet from the leading
    # ones; at event level the sub-leading jet may be soft, so only a low floor is applied
    floor = 20.0 if sel.event_level else 0.5 * sel.pt_min
    jet_offsets, (jpx, jpy, jpz, je) = _flat_columns(cluster.inclusive_jets(min_pt=floor), ("px", "py", "pz", "E"))

    # the jets_per_event leading jets of each event by pT (stable on ties, like ak.argsort)
    jet_event = np.repeat(np.arange(n_events), np.diff(jet_offsets))
    by_pt = np.lexsort((-np.hypot(jpx, jpy), jet_event))
    lead = by_pt[np.arange(len(by_pt)) - jet_offsets[jet_event] < sel.jets_per_event]
    event = jet_event[lead]
    n_per_event = np.bincount(event, minlength=n_events)
    j4 = np.stack([je, jpx, jpy, jpz], -1)[lead]
    jpt, jeta, jphi, jm = physics.pt(j4), physics.eta(j4), physics.phi(j4), physics.mass(j4)

    extra = {}
    if sel.event_level:
        first = np.concatenate([[0], np.cumsum(n_per_event)[:-1]]).astype(np.int64)  # leading jet
        ok = n_per_event >= 2
        lead_jet, sub = first[ok], first[ok] + 1
        passed = (jpt[lead_jet] > sel.lead_pt_min) & (np.abs(jeta[lead_jet]) < sel.abs_eta_max) & (
            np.abs(jeta[sub]) < sel.abs_eta_max)
        lead_jet, sub = lead_jet[passed], sub[passed]
        heavy_first = jm[lead_jet] >= jm[sub]
        pair = np.stack([np.where(heavy_first, lead_jet, sub), np.where(heavy_first, sub, lead_jet)], 1)
        chosen = pair.reshape(-1)  # (events * 2,) heavier first
        mjj = physics.mass(j4[lead_jet] + j4[sub])
        extra = {"mjj": np.repeat(mjj, 2), "mass_rank": np.tile([0.0, 1.0], len(lead_jet))}
    else:
        keep = (jpt > sel.pt_min) & (jpt < sel.pt_max) & (np.abs(jeta) < sel.abs_eta_max)
        if match is not None:
            keep &= match(event, jeta, jphi)
        chosen = np.nonzero(keep)[0]

    # constituents of the chosen jets, gathered from the flat particle list: jet k's indices are
    # const_index[const_offsets[k]:const_offsets[k + 1]], counted from its event's first particle
    ev_of_jet = event[chosen]
    const_offsets, const_index, listed_as = _constituent_index(cluster, jet_event, n_events, jpx, jpy, floor,
                                                               jpt[chosen].min(initial=np.inf))
    jet_k = listed_as[lead[chosen]]
    n_all = const_offsets[jet_k + 1] - const_offsets[jet_k]
    start = np.concatenate([[0], np.cumsum(n_all)[:-1]]).astype(np.int64)  # first row of each jet
    jet_of = np.repeat(np.arange(len(chosen)), n_all)
    pos = np.arange(len(jet_of)) - start[jet_of]  # position within the jet
    rows = const_index[const_offsets[jet_k][jet_of] + pos] + offsets[ev_of_jet][jet_of]
    p = np.stack([c[rows] for c in columns], -1)  # (particles, 4) (E, px, py, pz)
    p = p[np.lexsort((-np.hypot(p[:, 1], p[:, 2]), jet_of))]  # by jet, then pT descending
    stored = pos < sel.max_constituents
    constituents = np.zeros((len(chosen), sel.max_constituents, 4), dtype=np.float32)
    constituents[jet_of[stored], pos[stored]] = p[stored]
    j = j4[chosen]
    out = {
        "constituents": constituents,
        "n_constituents": np.minimum(n_all, sel.max_constituents).astype(np.int32),
        "event": ev_of_jet.astype(np.int64),
        "pt": jpt[chosen], "eta": jeta[chosen], "phi": jphi[chosen],
        "mass": jm[chosen], "energy": j[:, 0],
    }
    if observables_now:
        out.update(observables.flat_jet_observables(p, n_all))
    else:
        out.update(_flat=p, _n_all=n_all)
    out.update(extra)
    return out


def add_observables(parts, n_jets=None):
    """Join the outputs of ``cluster_and_select(..., observables_now=False)``, keep the first
    `n_jets` jets and compute their observables in one call; returns one dict of arrays."""
    n_all = np.concatenate([p["_n_all"] for p in parts])[:n_jets]
    flat = np.concatenate([p["_flat"] for p in parts])[: int(n_all.sum())]  # constituents of those jets only
    out = {k: np.concatenate([p[k] for p in parts])[:n_jets] for k in parts[0] if not k.startswith("_")}
    out.update(observables.flat_jet_observables(flat, n_all))
    return out


@contextlib.contextmanager
def _stdout_to_stderr():
    """Send C/C++ output on file descriptor 1 (Pythia's and FastJet's banners) to stderr.

    Commands keep stdout for their results (the fit command's JSON summary)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)




def _shard_key(process, sel, seed, shard_jets, batch_events):
    """Hash of everything a shard's content depends on, so stale shards are never reused."""
    spec = {"settings": list(COMMON_SETTINGS + process.settings), "matching": process.matching,
            "lhe": list(process.lhe),
            "selection": dataclasses.asdict(sel), "seed": seed, "shard_jets": shard_jets,
            "batch_events": batch_events, "format": SHARD_FORMAT,
            "observables": observables.OBSERVABLES_VERSION}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _shard_path(cache_dir, index, size, key):
    return pathlib.Path(cache_dir) / f"shard-{index:06d}-{size}-{key}.npz"


def _save_shard(path, arrays, n_events):
    """Write one shard atomically (a killed worker leaves at most a stray temporary file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    with open(tmp, "wb") as f:
        np.savez(f, __n_events__=np.int64(n_events), **arrays)
    os.replace(tmp, path)


def _load_shard(path):
    """(arrays, n_events) of a finished shard, or None if it cannot be read."""
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files if k != "__n_events__"}
            return arrays, int(z["__n_events__"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # damaged (e.g. a disk filled up): the shard is generated again


def generate_shard(task):
    """Worker entry: generate `n_jets` selected jets for one shard. Returns (arrays, n_events).

    `task` is (process, n_jets, seed, shard, selection, batch_events[, shard_file]); with a
    shard file the result is also saved there, so it survives an interruption of the run.
    """
    process, n_jets, seed, shard, sel, batch_events = task[:6]
    shard_file = task[6] if len(task) > 6 else None
    process = _resolve(process)
    parts, have, n_events = [], 0, 0
    # parton-level input: two events per wanted jet leaves a wide margin over the ~75 % of
    # W' events with two jets passing the LHCO selection
    lhe_events = 2 * n_jets + 200
    with _stdout_to_stderr():  # Pythia and FastJet print banners from C++
        py = _make_pythia(process, seed, lhe_events=lhe_events)
        while have < n_jets:
            # the first batch is kept small for small shards; the output does not depend on it
            size = min(batch_events, max(20, 2 * n_jets))
            if have:
                # near the end of the shard ask only for about the events still needed (+20 %):
                # the jets kept are the first n_jets of the event stream whatever the batching
                size = int(np.clip(1.2 * (n_jets - have) * n_events / have + 10, 20, batch_events))
            if process.lhe:
                # a bounded number of tries: at the end of the event file 'skip' would retry forever
                try:
                    batch = py.nextBatch(size, 2.0)
                except RuntimeError as err:
                    raise DataError(f"process {process.name!r}: the {lhe_events} parton-level events of shard "
                                    f"{shard} ran out before {n_jets} jets were selected ({err})") from None
            else:
                batch = py.nextBatch(size)
            got = select_jets(batch, process, sel, observables_now=False)
            got["event"] += n_events + shard * 10**9
            n_events += len(batch)
            parts.append(got)
            have += len(got["event"])
            if have == 0 and n_events >= 200 * batch_events:
                raise DataError(f"process {process.name or process.label!r}: no jet passed the selection in "
                                f"{n_events} events ({sel}); the cuts select nothing")
    out = add_observables(parts, n_jets)  # once per shard: the per-call cost is then negligible
    if shard_file is not None:
        _save_shard(pathlib.Path(shard_file), out, n_events)
    return out, n_events


def generate(process_name, n_jets, seed=1, workers=1, shard_jets=1000, selection=None,
             batch_events=200, progress=True, cache_dir=None, **options):
    """Generate `n_jets` jets of a process and return them as a JetSample.

    Args:
        process_name: one of PROCESSES, or a Process from ``make_process``.
        n_jets: number of jets (for event-level selections: an even number, two per event).
        seed: master seed; shard i uses ``shard_seeds(seed, n)[i]``.
        workers: worker processes (the output does not depend on it).
        shard_jets: jets per shard (part of the seed; even for event-level selections).
        selection: a Selection, a preset name from SELECTIONS, or None for the process default.
        batch_events: events per ``nextBatch`` call.
        progress: show a tqdm bar on stderr.
        cache_dir: folder keeping finished shards; a rerun with the same arguments reuses them.
        **options: mass options for ``make_process`` (w_mass=120, ...).
    """
    process = make_process(process_name, **options) if options else _resolve(process_name)
    if selection is None:
        selection = SELECTIONS[process.preset]
    elif isinstance(selection, str):
        if selection not in SELECTIONS:
            raise DataError(f"unknown selection preset {selection!r}; choose from {sorted(SELECTIONS)}")
        selection = SELECTIONS[selection]
    if n_jets <= 0:
        raise DataError(f"--n-jets must be positive, got {n_jets}")
    if selection.event_level and (n_jets % 2 or shard_jets % 2):
        raise DataError(f"event-level samples hold two jets per event: --n-jets ({n_jets}) and --shard-jets "
                        f"({shard_jets}) must be even")
    n_shards = -(-n_jets // shard_jets)
    seeds = shard_seeds(seed, n_shards)
    sizes = [min(shard_jets, n_jets - i * shard_jets) for i in range(n_shards)]
    key = _shard_key(process, selection, seed, shard_jets, batch_events)
    files = [None] * n_shards
    results = [None] * n_shards
    if cache_dir is not None:
        pathlib.Path(cache_dir).mkdir(parents=True, exist_ok=True)
        files = [_shard_path(cache_dir, i, sizes[i], key) for i in range(n_shards)]
        for i, path in enumerate(files):
            if path.is_file():
                results[i] = _load_shard(path)
    todo = [i for i in range(n_shards) if results[i] is None]
    tasks = [(process, sizes[i], seeds[i], i, selection, batch_events, files[i]) for i in todo]

    from tqdm import tqdm

    done = sum(sizes[i] for i in range(n_shards) if results[i] is not None)
    bar = tqdm(total=n_jets, initial=done, unit="jet", desc=f"generate {process.name}", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    if workers > 1 and len(tasks) > 1:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold TF threads
        with ctx.Pool(min(workers, len(tasks))) as pool:
            for i, res in zip(todo, pool.imap(generate_shard, tasks)):
                results[i] = res
                bar.update(len(res[0]["event"]))
    else:
        for i, task in zip(todo, tasks):
            results[i] = generate_shard(task)
            bar.update(len(results[i][0]["event"]))
    bar.close()

    arrays = {k: np.concatenate([r[0][k] for r in results]) for k in results[0][0]}
    n_events = sum(r[1] for r in results)
    provenance = {
        "generator": "pythia8mc " + _pythia_version(),
        "process": process.name,
        "process_description": process.description,
        "process_options": dict(process.options),
        "settings": list(COMMON_SETTINGS + process.settings),
        "parton_level_events": {"module": "preprocessing.lhe", **dict(process.lhe)} if process.lhe else None,
        "selection": selection_record(selection),
        "matching": process.matching or "none",
        "observables": "tau_N: unnormalised N-subjettiness, beta=1, exclusive-kT axes; d2: beta=1",
        "seed": seed,
        "shard_jets": shard_jets,
        "shard_seeds": seeds,
        "n_events": n_events,
        "code_version": code_version(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    fixed = ("constituents", "n_constituents", "event")
    return JetSample(
        constituents=arrays["constituents"],
        n_constituents=arrays["n_constituents"],
        labels=np.zeros(len(arrays["event"]), dtype=np.int32),
        event=arrays["event"],
        jets={k: v.astype(np.float32) for k, v in arrays.items() if k not in fixed},
        label_names=[process.label],
        provenance=provenance,
    )


def _pythia_version():
    from importlib import metadata

    try:
        return metadata.version("pythia8mc")
    except metadata.PackageNotFoundError:
        return "unknown"


def shard_cache_dir(out):
    """The hidden sibling folder keeping finished shards of `out` until it is written."""
    out = pathlib.Path(out)
    return out.parent / f".{out.name}.shards"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m preprocessing.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--process", required=True, choices=sorted(PROCESSES))
    parser.add_argument("--n-jets", type=int, required=True,
                        help="number of selected jets to write (event-level processes: 2 per event)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, help="output .h5 file (written atomically)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--shard-jets", type=int, default=1000, help="jets per shard (part of the seed)")
    parser.add_argument("--no-resume", action="store_true",
                        help="discard finished shards of an earlier interrupted run instead of reusing them")
    cuts = parser.add_argument_group("selection (a preset, then single overrides)")
    cuts.add_argument("--preset", choices=sorted(SELECTIONS), help="default: the process's paper preset")
    cuts.add_argument("--jet-radius", type=float)
    cuts.add_argument("--pt-min", type=float)
    cuts.add_argument("--pt-max", type=float)
    cuts.add_argument("--abs-eta-max", type=float)
    cuts.add_argument("--match-radius", type=float)
    cuts.add_argument("--max-constituents", type=int)
    cuts.add_argument("--lead-pt-min", type=float, help="event level: leading-jet pT threshold")
    masses = parser.add_argument_group("process options (GeV)")
    for flag, text in (("w-mass", "w, top: W mass (Pythia's 80.385)"),
                       ("wprime-mass", "w: W' mass (1250); lhco-signal: 3500"),
                       ("top-mass", "top: top mass (173)"), ("zprime-mass", "top: Z' mass (1300)"),
                       ("heavy-mass", "higgs4b: H mass (174)"), ("light-mass", "higgs4b: h mass (20)"),
                       ("x-mass", "lhco-signal: X mass (500)"), ("y-mass", "lhco-signal: Y mass (100)"),
                       ("pthat-min", "qcd: pTHat threshold (500); dijet: 1100")):
        masses.add_argument(f"--{flag}", type=float, help=text)
    masses.add_argument("--prongs", type=int, help="lhco-signal: 2 (X, Y -> q qbar, default) or 3 (-> q qbar g)")
    args = parser.parse_args(argv)
    try:
        options = {k: getattr(args, k) for k in ("w_mass", "wprime_mass", "top_mass", "zprime_mass", "heavy_mass",
                                                 "light_mass", "x_mass", "y_mass", "pthat_min", "prongs")}
        process = make_process(args.process, **options)
        sel = SELECTIONS[args.preset or process.preset]
        overrides = {k: getattr(args, k) for k in ("jet_radius", "pt_min", "pt_max", "abs_eta_max",
                                                   "match_radius", "max_constituents", "lead_pt_min")
                     if getattr(args, k) is not None}
        for k, v in overrides.items():
            if v < 0 or (v == 0 and k not in ("pt_min", "lead_pt_min")):
                raise DataError(f"--{k.replace('_', '-')} must be positive, got {v}")
        sel = dataclasses.replace(sel, **overrides)
        if sel.pt_max <= sel.pt_min:
            raise DataError(f"empty pT window: --pt-min {sel.pt_min:g} >= --pt-max {sel.pt_max:g}")
        cache = shard_cache_dir(args.out)
        if args.no_resume and cache.exists():
            shutil.rmtree(cache)
        sample = generate(process, args.n_jets, args.seed, args.workers, args.shard_jets, selection=sel,
                          cache_dir=cache)
        write_sample(args.out, sample)
        shutil.rmtree(cache, ignore_errors=True)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(sample)} {args.process} jets from {sample.provenance['n_events']} events to {args.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
