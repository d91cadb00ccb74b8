"""Generated jets: physics checks (mass peaks, selection, parton decays), reproducibility, CLI."""

import dataclasses

import numpy as np
import pytest

from preprocessing import physics
from preprocessing.errors import DataError
from preprocessing.generate import PROCESSES, _make_pythia, generate, main, shard_cache_dir, shard_seeds, top_partons
from preprocessing.sample import read_sample


def _mass_peak(mass, lo=0.0, hi=300.0, width=10.0):
    counts, edges = np.histogram(mass, bins=np.arange(lo, hi + width, width))
    k = np.argmax(counts)
    return 0.5 * (edges[k] + edges[k + 1])


def test_top_jets_peak_at_top_mass_and_qcd_does_not(small_samples):
    top, qcd = small_samples["top"].jets["mass"], small_samples["qcd"].jets["mass"]
    assert 150.0 <= _mass_peak(top) <= 195.0
    assert not 150.0 <= _mass_peak(qcd) <= 195.0
    assert np.median(qcd) < 120.0 < np.median(top)


@pytest.mark.parametrize("process", ["qcd", "top"])
def test_selection_window_and_constituents(small_samples, process):
    s = small_samples[process]
    assert len(s) == 600
    assert np.all((s.jets["pt"] > 550) & (s.jets["pt"] < 650))
    assert np.all(np.abs(s.jets["eta"]) < 2.0)
    assert np.all((s.n_constituents > 0) & (s.n_constituents <= 200))
    pt = physics.pt(s.constituents)
    # pT-descending, zero padding after the real constituents
    assert np.all(np.diff(pt, axis=1)[np.arange(199)[None] < (s.n_constituents - 1)[:, None]] <= 1e-3)
    pad = np.arange(200)[None] >= s.n_constituents[:, None]
    assert np.all(s.constituents[pad] == 0)
    # the constituents add up to the jet (all jets here have < 200 constituents)
    full = s.n_constituents < 200
    total = s.constituents[full].astype(np.float64).sum(axis=1)
    np.testing.assert_allclose(physics.mass(total), s.jets["mass"][full], rtol=2e-3, atol=0.05)
    np.testing.assert_allclose(physics.pt(total), s.jets["pt"][full], rtol=1e-4)


def test_top_parton_navigation_reconstructs_w_and_top_masses():
    py = _make_pythia(PROCESSES["top"], seed=5)
    tops, quarks = top_partons(py.nextBatch(100).prt)
    ok = np.all(np.isfinite(quarks), axis=(-1, -2))  # (events, 2)
    assert ok.mean() > 0.95
    q = quarks[ok]  # (tops, 3, 4): b, q, q'
    m_w = physics.mass(q[:, 1] + q[:, 2])
    m_bw = physics.mass(q.sum(axis=1))
    assert abs(np.median(m_w) - 80.4) < 2.0
    assert abs(np.median(m_bw) - 173.0) < 3.0
    # the W's shower-recoil copies shift it a little, so b + q + q' only approximates the top
    assert np.median(np.abs(m_bw - physics.mass(tops[ok]))) < 2.0


def test_same_seed_same_jets_other_seed_other_jets():
    a = generate("qcd", 30, seed=3, progress=False)
    b = generate("qcd", 30, seed=3, progress=False)
    c = generate("qcd", 30, seed=4, progress=False)
    np.testing.assert_array_equal(a.constituents, b.constituents)
    assert not np.array_equal(a.jets["pt"], c.jets["pt"])
    assert a.provenance["seed"] == 3 and "PartonLevel:MPI = off" in a.provenance["settings"]


def test_result_does_not_depend_on_worker_count():
    one = generate("top", 40, seed=8, workers=1, shard_jets=20, progress=False)
    two = generate("top", 40, seed=8, workers=2, shard_jets=20, progress=False)
    np.testing.assert_array_equal(one.constituents, two.constituents)
    np.testing.assert_array_equal(one.event, two.event)


def test_shard_seeds_are_stable_and_distinct():
    assert shard_seeds(1, 3) == shard_seeds(1, 5)[:3]
    assert len(set(shard_seeds(1, 50))) == 50
    assert all(1 <= s <= 900_000_000 for s in shard_seeds(7, 20))


def test_cli_writes_file_and_rejects_bad_input(tmp_path, capsys):
    out = tmp_path / "q.h5"
    assert main(["--process", "qcd", "--n-jets", "5", "--seed", "2", "--out", str(out)]) == 0
    assert len(read_sample(out)) == 5
    assert main(["--process", "qcd", "--n-jets", "0", "--out", str(tmp_path / "z.h5")]) == 2
    assert "--n-jets must be positive" in capsys.readouterr().err
    assert not (tmp_path / "z.h5").exists()
    with pytest.raises(SystemExit):
        main(["--process", "nope", "--n-jets", "5", "--out", str(tmp_path / "n.h5")])
    with pytest.raises(DataError, match="unknown process"):
        generate("nope", 5)


def test_cli_process_options_and_observables_reach_the_file(tmp_path):
    out = tmp_path / "w.h5"
    assert main(["--process", "w", "--w-mass", "90", "--n-jets", "6", "--seed", "3", "--pt-min", "500",
                 "--out", str(out)]) == 0
    s = read_sample(out)
    prov = s.provenance
    assert prov["process_options"] == {"w_mass": 90.0} and "24:m0 = 90" in prov["settings"]
    assert prov["selection"]["jet_radius"] == 1.0 and prov["selection"]["pt_min"] == 500
    assert np.all(s.jets["pt"] > 500) and np.all(s.jets["pt"] < 650)
    for key in ("tau1", "tau2", "tau3", "tau4", "tau21", "tau32", "d2", "n_const"):
        assert key in s.jets and np.all(np.isfinite(s.jets[key]))
    np.testing.assert_allclose(s.jets["tau21"], s.jets["tau2"] / s.jets["tau1"], rtol=1e-5)
    assert not shard_cache_dir(out).exists()  # finished shards are removed once the file is written


def test_cluster_and_select_takes_any_jagged_layout_and_empty_selections():
    # the flat fast path reads the awkward layout directly; an indexed view of the events, float32
    # fields or a batch in which no jet passes must give what the packed float64 events give
    import awkward as ak

    from preprocessing.generate import SELECTIONS, cluster_and_select

    rng = np.random.default_rng(2)
    events = []
    for _ in range(12):  # two back-to-back sprays of 10 GeV particles plus a soft background
        pt = np.concatenate([np.full(60, 10.0), rng.uniform(0.5, 3.0, 80)])
        eta = np.concatenate([rng.normal(0.3, 0.05, 30), rng.normal(-0.4, 0.05, 30), rng.uniform(-4, 4, 80)])
        phi = np.concatenate([rng.normal(1.0, 0.05, 30), rng.normal(1.0 - np.pi, 0.05, 30),
                              rng.uniform(-np.pi, np.pi, 80)])
        events.append(physics.from_pt_eta_phi(pt, eta, phi))
    flat = np.concatenate(events)
    particles = ak.unflatten(ak.zip({"e": flat[:, 0], "px": flat[:, 1], "py": flat[:, 2], "pz": flat[:, 3]}),
                             [len(e) for e in events])
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
