"""Anti-kT clustering of events and the jet selection, on flat numpy arrays.

Events come in as awkward arrays (events, var) of particles (e, px, py, pz) in GeV, or already
flat (``cluster_flat``: particles offsets[i]:offsets[i + 1] form event i). FastJet (scikit-hep
``fastjet``) clusters them with anti-kT of radius ``Selection.jet_radius``; the leading
``jets_per_event`` jets of each event are then selected by the pT window and |eta| cut (or, at
event level, the two leading jets together, heavier first, with their dijet mass m_jj). Every
chosen jet keeps its ``max_constituents`` hardest constituents, pT descending and zero padded,
and gets the observables of ``preprocessing.jets.observables`` computed from all its
constituents.
"""

import numpy as np

from preprocessing.jets import observables, physics


def flat_columns(records, names):
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
        ``preprocessing.jets.observables`` (from all constituents) and, for event-level selections,
        'mjj' and 'mass_rank' (0 for the heavier jet of the event).
    """
    offsets, columns = flat_columns(particles, ("e", "px", "py", "pz"))
    return cluster_flat(
        offsets, [np.ascontiguousarray(c, dtype=np.float64) for c in columns], sel, match, observables_now
    )


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
    return (
        np.asarray(inner.offsets, dtype=np.int64),
        ak.to_numpy(inner.content).astype(np.int64),
        np.where(listed, np.cumsum(listed) - 1, -1),
    )


def cluster_flat(offsets, columns, sel, match, observables_now):
    """``cluster_and_select`` of events given flat: particles offsets[i]:offsets[i + 1] form event
    i, `columns` are their (e, px, py, pz) arrays. Everything after the FastJet clustering is
    done on flat numpy arrays (no jagged slicing or sorting)."""
    import awkward as ak
    import fastjet

    e, px, py, pz = columns
    n_events = len(offsets) - 1
    events = ak.Array(
        ak.contents.ListOffsetArray(
            ak.index.Index64(offsets),
            ak.contents.RecordArray([ak.contents.NumpyArray(c) for c in (px, py, pz, e)], ["px", "py", "pz", "E"]),
        )
    )
    cluster = fastjet.ClusterSequence(events, fastjet.JetDefinition(fastjet.antikt_algorithm, sel.jet_radius))
    # jets below half the window cannot pass, and cannot displace a passing jet from the leading
    # ones; at event level the sub-leading jet may be soft, so only a low floor is applied
    floor = 20.0 if sel.event_level else 0.5 * sel.pt_min
    jet_offsets, (jpx, jpy, jpz, je) = flat_columns(cluster.inclusive_jets(min_pt=floor), ("px", "py", "pz", "E"))

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
        passed = (
            (jpt[lead_jet] > sel.lead_pt_min)
            & (np.abs(jeta[lead_jet]) < sel.abs_eta_max)
            & (np.abs(jeta[sub]) < sel.abs_eta_max)
        )
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
    const_offsets, const_index, listed_as = _constituent_index(
        cluster, jet_event, n_events, jpx, jpy, floor, jpt[chosen].min(initial=np.inf)
    )
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
        "pt": jpt[chosen],
        "eta": jeta[chosen],
        "phi": jphi[chosen],
        "mass": jm[chosen],
        "energy": j[:, 0],
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
