"""The process catalogue: Pythia8 settings, class label, truth matching and default selection of
every process that can be generated.

Common to every process: pp at 13 TeV without multi-parton interactions, Pythia's default tune
(Monash 2013, ``Tune:pp = 14``), hadron level (``COMMON_SETTINGS``). Masses are in GeV; Pythia mass
changes are ``id:m0`` settings. A shifted simulation (``SIMULATION_OPTIONS``, for studies of
background mismodelling) is asked for per process: ``mpi`` (True: multi-parton interactions on),
``tune`` (a ``Tune:pp`` number, e.g. 5 for Tune 4C) and ``ecm`` (the pp collision energy in GeV).

* ``qcd`` -- hard QCD 2->2 dijets, pTHat > ``pthat_min`` (500).
* ``w`` -- W' (``wprime_mass`` 1250, cheng2022) -> W(-> q q') Z(-> nu nu), W mass ``w_mass``
  (cheng2020 scans 59, 80, 120, 174; default Pythia's 80.385).
* ``top`` -- Z' (``zprime_mass`` 1300) -> t tbar, all hadronic, ``top_mass`` and ``w_mass``
  (cheng2020's m_t = 80 with m_W = 20).
* ``higgs4b`` -- heavy H (Pythia's H0, ``heavy_mass`` 174) produced with a Z(-> nu nu) at
  pTHat > 500, H -> h h, h -> b bbar with ``light_mass`` (20 or 80): cheng2020's four-prong jets.
* ``dijet`` -- event-level QCD background like the LHC Olympics R&D set (pTHat > 1100).
* ``lhco-signal`` -- event-level W' (``wprime_mass`` 3500) -> X Y with X = W-like resonance of
  ``x_mass`` 500 and Y = Z-like resonance of ``y_mass`` 100, both -> q qbar (``prongs`` 2).
  X and Y are Pythia's W and Z with their masses moved, so the W' -> W Z matrix element and the
  resonance widths stay Pythia's own. ``prongs`` 3: X -> u dbar g and Y -> d dbar g, generated
  at parton level by ``preprocessing.events.lhe`` and read by Pythia as a Les Houches event file.
"""

import dataclasses

import numpy as np

from preprocessing.errors import DataError

COMMON_SETTINGS = (
    "Beams:eCM = 13000",
    "PartonLevel:MPI = off",
    "Print:quiet = on",
    "Next:numberCount = 0",
)
M_Z = 91.1876
M_B = 4.8


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
    lhe: tuple = ()  # ((name, value), ...) of preprocessing.events.lhe events fed to Pythia; () for none


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


SIMULATION_OPTIONS = ("mpi", "tune", "ecm")


def simulation_settings(mpi=None, tune=None, ecm=None):
    """Pythia settings shifting the common simulation (read after ``COMMON_SETTINGS``, so they win).

    None keeps the common setting; a value equal to it is still written (and recorded), so a sample
    asked for with an explicit option is never mistaken for the nominal one.
    """
    settings = ()
    if tune is not None:
        if isinstance(tune, bool) or int(tune) != tune or not 1 <= int(tune) <= 33:
            raise DataError(f"--tune must be a Pythia Tune:pp number from 1 to 33 (14: Monash 2013), got {tune!r}")
        settings += (f"Tune:pp = {int(tune)}",)
    if mpi is not None:
        if not isinstance(mpi, (bool, np.bool_)):
            raise DataError(f"--mpi must be on or off, got {mpi!r}")
        settings += (f"PartonLevel:MPI = {'on' if mpi else 'off'}",)
    if ecm is not None:
        if isinstance(ecm, bool) or not np.isfinite(float(ecm)) or float(ecm) <= 0:
            raise DataError(f"--ecm must be a positive collision energy in GeV, got {ecm!r}")
        settings += (f"Beams:eCM = {float(ecm):g}",)
    return settings


def make_process(name, **options):
    """The Process for `name` with mass options (GeV) and simulation options; impossible values raise DataError.

    Options: qcd/dijet ``pthat_min``; w ``w_mass``, ``wprime_mass``; top ``top_mass``,
    ``w_mass``, ``zprime_mass``; higgs4b ``heavy_mass``, ``light_mass``; lhco-signal
    ``wprime_mass``, ``x_mass``, ``y_mass``, ``prongs``; every process ``mpi``, ``tune`` and
    ``ecm`` (``simulation_settings``; not ``ecm`` for parton-level input from a Les Houches file,
    whose beams are fixed there). None means the default.
    """
    simulation = {k: options.pop(k) for k in SIMULATION_OPTIONS if options.get(k) is not None}
    options = {k: v for k, v in options.items() if k not in SIMULATION_OPTIONS}
    process = _physics_process(name, **options)
    if not simulation:
        return process
    if process.lhe and "ecm" in simulation:
        raise DataError(
            f"process {name!r} with these options reads parton-level events at 13 TeV from a Les Houches "
            "file; --ecm cannot change them"
        )
    return dataclasses.replace(
        process,
        settings=process.settings + simulation_settings(**simulation),
        options=tuple(sorted(process.options + tuple(simulation.items()))),
    )


def _physics_process(name, **options):
    """The Process for `name` with mass options at the common simulation settings."""
    allowed = {
        "qcd": {"pthat_min"},
        "dijet": {"pthat_min"},
        "w": {"w_mass", "wprime_mass"},
        "top": {"top_mass", "w_mass", "zprime_mass"},
        "higgs4b": {"heavy_mass", "light_mass"},
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
            label="qcd",
            settings=("HardQCD:all = on", f"PhaseSpace:pTHatMin = {pthat:g}"),
            description=f"hard QCD 2->2 dijets, pTHat > {pthat:g} GeV",
            name=name,
            preset="dillon2021" if name == "qcd" else "lhco",
            options=recorded,
        )

    if name == "w":
        m_wp = given.get("wprime_mass", 1250.0)
        settings = (
            (
                "NewGaugeBoson:ffbar2Wprime = on",
                "Wprime:coup2WZ = 1",
                f"34:m0 = {m_wp:g}",
                "34:onMode = off",
                "34:onIfMatch = 24 23",
            )
            + _HADRONIC_W
            + _INVISIBLE_Z
        )
        m_w = given.get("w_mass")
        if m_w is not None:
            if m_w + M_Z >= m_wp:
                raise DataError(
                    f"--w-mass {m_w:g} GeV is impossible: W' ({m_wp:g} GeV) -> W Z needs "
                    f"m_W + m_Z ({m_w + M_Z:g}) below the W' mass"
                )
            if m_w <= 10.0:
                raise DataError(f"--w-mass {m_w:g} GeV is too light for W -> q q' (need > 10 GeV)")
            settings += _mass_window(24, m_w, max(0.5 * m_w, 10.0))
        return Process(
            label="w",
            settings=settings,
            name=name,
            preset="cheng2020",
            options=recorded,
            description=f"W'({m_wp:g}) -> W({m_w or 80.385:g} -> qq') Z(-> nu nu)",
        )

    if name == "top":
        m_zp = given.get("zprime_mass", 1300.0)
        m_t = given.get("top_mass")
        m_w = given.get("w_mass")
        t_eff, w_eff = m_t or 173.0, m_w or 80.385
        if w_eff + M_B >= t_eff:
            raise DataError(
                f"--w-mass {w_eff:g} GeV is impossible with --top-mass {t_eff:g}: t -> W b needs "
                f"m_W + m_b ({w_eff + M_B:g}) below the top mass"
            )
        if 2 * t_eff >= m_zp:
            raise DataError(
                f"--top-mass {t_eff:g} GeV is impossible: Z' ({m_zp:g} GeV) -> t tbar needs 2 m_t below the Z' mass"
            )
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
        return Process(
            label="top",
            settings=settings,
            matching="top",
            name=name,
            preset="dillon2021",
            options=recorded,
            description=f"Z'({m_zp:g}) -> t tbar (m_t {t_eff:g}, m_W {w_eff:g}), all-hadronic",
        )

    if name == "higgs4b":
        m_h2 = given.get("heavy_mass", 174.0)
        m_h1 = given.get("light_mass", 20.0)
        if m_h1 >= 0.5 * m_h2:
            raise DataError(
                f"--light-mass {m_h1:g} GeV is impossible: H ({m_h2:g} GeV) -> h h needs the light "
                f"mass below half the heavy mass ({0.5 * m_h2:g})"
            )
        if m_h1 <= 2 * M_B:
            raise DataError(f"--light-mass {m_h1:g} GeV is too light for h -> b bbar (need > {2 * M_B:g})")
        settings = (
            "Higgs:useBSM = on",
            "HiggsBSM:ffbar2H2Z = on",  # 2 -> 2, so the pTHat cut gives boosted H
            "PhaseSpace:pTHatMin = 500",
            *_mass_window(35, m_h2, max(0.5 * m_h2, 2 * m_h1 + 0.5)),
            "35:onMode = off",
            "35:onIfMatch = 25 25",
            *_mass_window(25, m_h1, max(0.5 * m_h1, 2 * M_B + 0.5)),
            "25:onMode = off",
            "25:onIfMatch = 5 -5",
        ) + _INVISIBLE_Z
        return Process(
            label="higgs4b",
            settings=settings,
            name=name,
            preset="cheng2020",
            options=recorded,
            description=f"H({m_h2:g}) Z(-> nu nu), H -> h({m_h1:g}) h -> b bbar b bbar",
        )

    # lhco-signal
    prongs = int(given.get("prongs", 2))
    if prongs not in (2, 3):
        raise DataError(f"--prongs must be 2 (X, Y -> q qbar) or 3 (X, Y -> q qbar g), got {prongs}")
    m_wp = given.get("wprime_mass", 3500.0)
    m_x = given.get("x_mass", 500.0)
    m_y = given.get("y_mass", 100.0)
    if m_x + m_y >= m_wp:
        raise DataError(
            f"--x-mass {m_x:g} + --y-mass {m_y:g} GeV is impossible: they must stay below the W' mass {m_wp:g}"
        )
    if min(m_x, m_y) <= 10.0:
        raise DataError(f"X and Y must be heavier than 10 GeV to decay to quarks, got {m_x:g} and {m_y:g}")
    if prongs == 3:
        return Process(
            label="signal",
            settings=("Beams:frameType = 4",),
            name=name,
            preset="lhco",
            options=recorded,
            lhe=(("m_wprime", m_wp), ("m_x", m_x), ("m_y", m_y)),
            description=f"W'({m_wp:g}) -> X({m_x:g} -> q qbar g) Y({m_y:g} -> q qbar g), "
            f"parton level from preprocessing.events.lhe",
        )
    settings = (
        "NewGaugeBoson:ffbar2Wprime = on",
        "Wprime:coup2WZ = 1",
        f"34:m0 = {m_wp:g}",
        "34:onMode = off",
        "34:onIfMatch = 24 23",
        *_mass_window(24, m_x, 0.5 * m_x),
        *_mass_window(23, m_y, 0.5 * m_y),
        "24:onMode = off",
        "24:onIfAny = 1 2 3 4 5",
        "23:onMode = off",
        "23:onIfAny = 1 2 3 4 5",
    )
    return Process(
        label="signal",
        settings=settings,
        name=name,
        preset="lhco",
        options=recorded,
        description=f"W'({m_wp:g}) -> X({m_x:g} -> qq) Y({m_y:g} -> qq)",
    )


PROCESS_NAMES = ("qcd", "w", "top", "higgs4b", "dijet", "lhco-signal")
# the processes with their default options (public: tests and the benchmark look them up here)
PROCESSES = {name: make_process(name) for name in PROCESS_NAMES}


def resolve_process(process):
    """A Process from a name or a Process."""
    if isinstance(process, Process):
        return process
    if process not in PROCESSES:
        raise DataError(f"unknown process {process!r}; choose from {sorted(PROCESSES)}")
    return PROCESSES[process]
