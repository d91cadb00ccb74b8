"""Truth matching of jets to hard partons in Pythia's event record.

A top jet must contain, within dR < ``match_radius``, a parton-level top (its last shower copy
before the decay) and all three of its decay quarks (b, q, q' of t -> W b, W -> q q').
"""

import numpy as np

from preprocessing.jets import physics
from preprocessing.jets.clustering import flat_columns


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
    bounds, (ids, status, d1, d2, *p4) = flat_columns(
        prt, ("id", "status", "daughter1", "daughter2", "p.e", "p.px", "p.py", "p.pz")
    )
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


def top_match(prt, match_radius):
    """The truth-matching callable for ``cluster_flat``: (event index, jet eta, jet phi) -> bool
    mask of jets that contain a top of their event and its three decay quarks within
    `match_radius`."""

    def match(event, jeta, jphi):
        tops, quarks = top_partons(prt)
        tops, quarks = tops[event], quarks[event]  # (jets, 2, 4), (jets, 2, 3, 4)
        dr_top = physics.delta_r(jeta[:, None], jphi[:, None], physics.eta(tops), physics.phi(tops))
        dr_q = physics.delta_r(jeta[:, None, None], jphi[:, None, None], physics.eta(quarks), physics.phi(quarks))
        with np.errstate(invalid="ignore"):
            matched = (dr_top < match_radius) & np.all(dr_q < match_radius, axis=-1)
        return np.any(matched, axis=-1)

    return match
