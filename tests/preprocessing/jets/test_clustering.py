"""Clustering and selection: any jagged input layout gives the same jets; empty selections."""

import dataclasses

import numpy as np

from preprocessing.jets import physics


def test_cluster_and_select_takes_any_jagged_layout_and_empty_selections():
    # the flat fast path reads the awkward layout directly; an indexed view of the events, float32
    # fields or a batch in which no jet passes must give what the packed float64 events give
    import awkward as ak

    from preprocessing.jets.clustering import cluster_and_select
    from preprocessing.jets.selection import SELECTIONS

    rng = np.random.default_rng(2)
    events = []
    for _ in range(12):  # two back-to-back sprays of 10 GeV particles plus a soft background
        pt = np.concatenate([np.full(60, 10.0), rng.uniform(0.5, 3.0, 80)])
        eta = np.concatenate([rng.normal(0.3, 0.05, 30), rng.normal(-0.4, 0.05, 30), rng.uniform(-4, 4, 80)])
        phi = np.concatenate(
            [rng.normal(1.0, 0.05, 30), rng.normal(1.0 - np.pi, 0.05, 30), rng.uniform(-np.pi, np.pi, 80)]
        )
        events.append(physics.from_pt_eta_phi(pt, eta, phi))
    flat = np.concatenate(events)
    particles = ak.unflatten(
        ak.zip({"e": flat[:, 0], "px": flat[:, 1], "py": flat[:, 2], "pz": flat[:, 3]}), [len(e) for e in events]
    )
    sel = dataclasses.replace(SELECTIONS["dillon2021"], pt_min=250.0, pt_max=350.0)
    ref = cluster_and_select(particles, sel)
    assert len(ref["event"]) > 0
    pick = np.array([5, 1, 7])
    view = cluster_and_select(particles[pick], sel)
    packed = cluster_and_select(ak.to_packed(particles[pick]), sel)
    single = cluster_and_select(ak.values_astype(particles, np.float32), sel)
    for key in ref:
        np.testing.assert_array_equal(view[key], packed[key], err_msg=key)
        assert len(single[key]) == len(ref[key])
    nothing = cluster_and_select(particles, dataclasses.replace(sel, pt_min=5000.0, pt_max=6000.0))
    assert nothing["constituents"].shape == (0, sel.max_constituents, 4)
    assert set(nothing) == set(ref) and all(len(v) == 0 for v in nothing.values())
