"""Jet definitions and cuts (``Selection``) and the paper presets (``SELECTIONS``).

* ``dillon2021``: anti-kT R = 0.8, two leading jets per event with 550 < pT < 650 GeV and
  |eta| < 2; truth-matched jets within dR < 0.8.
* ``cheng2020``: R = 1.0, 550 < pT < 650 GeV, |eta| < 2, matching within dR < 1.0;
  ``cheng2020-train``: R = 1.0, pT > 450 GeV.
* ``lhco``: event level, R = 1.0, leading jet pT > 1.2 TeV, both leading jets |eta| < 2 (kahn2021
  Sec. 2; bortolato2021 takes the LHCO R&D events as they are, which the |eta| cut leaves almost
  unchanged at these pT), the two leading jets kept together.

Cached samples carry ``selection_tag`` in their file names, so a sample made under other cuts is
never reused silently when a preset changes.
"""

import dataclasses
import hashlib
import json

import numpy as np


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
    "lhco": Selection(
        jet_radius=1.0,
        pt_min=0.0,
        pt_max=float("inf"),
        abs_eta_max=2.0,
        match_radius=1.0,
        event_level=True,
        lead_pt_min=1200.0,
    ),
}


def selection_record(sel):
    """The selection as a strict-JSON dict (infinite cut values as the string 'inf')."""
    return {k: ("inf" if isinstance(v, float) and np.isinf(v) else v) for k, v in dataclasses.asdict(sel).items()}


def selection_tag(selection):
    """A short fingerprint of a Selection (or preset name) for cache file names: any change of a cut
    changes it."""
    if isinstance(selection, str):
        selection = SELECTIONS[selection]
    text = json.dumps(selection_record(selection), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:8]
