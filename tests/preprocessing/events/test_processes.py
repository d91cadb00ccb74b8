"""Physics of every generated process: mass peaks at the requested masses, substructure ordering,
event-level dijet samples, and clear errors for impossible masses."""

import numpy as np
import pytest

from preprocessing.errors import DataError
from preprocessing.events.generator import generate
from preprocessing.events.processes import make_process
from preprocessing.jets import physics


def _peak(values, lo, hi, width):
    counts, edges = np.histogram(values, bins=np.arange(lo, hi + width, width))
    k = np.argmax(counts)
    return 0.5 * (edges[k] + edges[k + 1])


def _make(process, n, seed, **options):
    return generate(process, n, seed=seed, shard_jets=n, progress=False, **options)


@pytest.fixture(scope="module")
def jets():
    """Small samples (R = 1.0, 550 < pT < 650 GeV: cheng2020's test selection unless said)."""
    return {
        "w80": _make("w", 150, 21, w_mass=80),
        "w120": _make("w", 150, 22, w_mass=120),
        "qcd": generate("qcd", 150, seed=23, shard_jets=150, progress=False, selection="cheng2020"),
        "higgs20": _make("higgs4b", 120, 24, light_mass=20),
        "top80": _make("top", 120, 25, top_mass=80, w_mass=20),
    }


@pytest.fixture(scope="module")
def events():
    """Event-level LHCO-like samples: 2- and 3-prong signal (60 events each), QCD dijets (40 events)."""
    return {
        "signal": _make("lhco-signal", 120, 31),
        "signal3": _make("lhco-signal", 120, 33, prongs=3),
        "dijet": _make("dijet", 80, 32),
    }


@pytest.mark.parametrize("mass", [80, 120])
def test_w_jet_mass_peaks_at_requested_w_mass(jets, mass):
    m = jets[f"w{mass}"].jets["mass"]
    assert abs(_peak(m, 0, 300, 10) - mass) <= 0.15 * mass
    assert abs(np.median(m) - mass) <= 0.15 * mass


def test_w_is_two_pronged_compared_with_qcd(jets):
    assert np.median(jets["w80"].jets["tau21"]) < np.median(jets["qcd"].jets["tau21"]) - 0.1
    assert np.median(jets["w80"].jets["d2"]) < np.median(jets["qcd"].jets["d2"])


def test_top_is_three_pronged_compared_with_qcd(small_samples):
    top, qcd = small_samples["top"].jets, small_samples["qcd"].jets
    assert np.median(top["tau32"]) < np.median(qcd["tau32"]) - 0.1
    # exclusive-kT axes are not the minimising axes, so tau_{N+1} > tau_N happens, but rarely
    for hi, lo in (("tau2", "tau1"), ("tau3", "tau2"), ("tau4", "tau3")):
        assert np.mean(top[hi] > top[lo] + 1e-3) < 0.1
    # no jet here reaches the 200 stored constituents, so the full count equals the stored one
    np.testing.assert_array_equal(top["n_const"], small_samples["top"].n_constituents)


def test_light_top_with_light_w(jets):
    # cheng2020's anomalous top: m_t = 80 GeV with m_W = 20 GeV
    m = jets["top80"].jets["mass"]
    assert abs(_peak(m, 0, 300, 10) - 80) <= 0.15 * 80
    assert "6:m0 = 80" in jets["top80"].provenance["settings"]


def test_higgs4b_jets_peak_near_heavy_mass(jets):
    s = jets["higgs20"]
    assert 150 <= _peak(s.jets["mass"], 0, 300, 10) <= 195
    assert s.label_names == ["higgs4b"] and s.provenance["process_options"] == {"light_mass": 20}
    # four b prongs: many more prongs than a W jet
    assert np.median(s.jets["tau21"]) > np.median(jets["w80"].jets["tau21"])


@pytest.mark.parametrize("name", ["signal", "signal3"])
def test_signal_events_mjj_and_jet_masses(events, name):
    j = events[name].jets
    assert 3000 <= _peak(j["mjj"], 0, 6000, 200) <= 4000
    heavy, light = j["mass"][j["mass_rank"] == 0], j["mass"][j["mass_rank"] == 1]
    assert abs(_peak(heavy, 0, 800, 20) - 500) <= 0.15 * 500
    assert abs(_peak(light, 0, 800, 10) - 100) <= 0.2 * 100


def test_three_prong_signal_has_three_prong_jets(events):
    two, three = events["signal"].jets, events["signal3"].jets
    heavy2, heavy3 = two["mass_rank"] == 0, three["mass_rank"] == 0
    # X -> q qbar g: lower tau32 and higher tau21 than X -> q qbar (with tau-minimising axes the
    # two-prong jets' tau3 also finds their extra radiation, so the tau32 gap is ~0.04)
    assert np.median(three["tau32"][heavy3]) < np.median(two["tau32"][heavy2]) - 0.02
    assert np.median(three["tau21"][heavy3]) > np.median(two["tau21"][heavy2]) + 0.1
    assert events["signal3"].provenance["parton_level_events"]["m_x"] == 500


@pytest.mark.parametrize("name", ["signal", "signal3", "dijet"])
def test_event_level_layout(events, name):
    s = events[name]
    j = s.jets
    assert len(s) % 2 == 0
    ev = s.event.reshape(-1, 2)
    assert np.all(ev[:, 0] == ev[:, 1]) and len(np.unique(ev[:, 0])) == len(ev)
    np.testing.assert_array_equal(j["mass_rank"].reshape(-1, 2), np.tile([0, 1], (len(ev), 1)))
    mass = j["mass"].reshape(-1, 2)
    assert np.all(mass[:, 0] >= mass[:, 1])
    assert np.all(j["pt"].reshape(-1, 2).max(axis=1) > 1200)
    # m_jj rebuilt from the two stored jets
    p4 = physics.from_pt_eta_phi(
        j["pt"].astype(float), j["eta"].astype(float), j["phi"].astype(float), j["mass"].astype(float)
    ).reshape(-1, 2, 4)
    np.testing.assert_allclose(physics.mass(p4.sum(axis=1)), j["mjj"].reshape(-1, 2)[:, 0], rtol=2e-3)


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("w", {"w_mass": 1200}, "impossible: W' .* needs m_W \\+ m_Z"),
        ("w", {"w_mass": 80, "wprime_mass": 150}, "impossible"),
        ("top", {"w_mass": 180}, "t -> W b needs"),
        ("top", {"top_mass": 700}, "Z' .* -> t tbar needs"),
        ("higgs4b", {"light_mass": 90}, "below half the heavy mass"),
        ("higgs4b", {"light_mass": 8}, "too light for h -> b bbar"),
        ("lhco-signal", {"x_mass": 3000, "y_mass": 600}, "below the W' mass"),
        ("lhco-signal", {"prongs": 4}, "--prongs must be 2 .* or 3"),
        ("w", {"w_mass": -5}, "positive"),
        ("qcd", {"w_mass": 80}, "has no option"),
        ("nope", {}, "unknown process"),
    ],
)
def test_impossible_masses_are_named(name, options, message):
    with pytest.raises(DataError, match=message):
        make_process(name, **options)


@pytest.mark.slow
def test_higgs4b_light_80_and_heavier_w_masses():
    s = _make("higgs4b", 400, 41, light_mass=80)
    assert 140 <= _peak(s.jets["mass"], 0, 300, 10) <= 195
    for mass, seed in ((59, 42), (174, 43)):
        m = _make("w", 400, seed, w_mass=mass).jets["mass"]
        assert abs(_peak(m, 0, 300, 10) - mass) <= 0.15 * mass


def test_a_shifted_simulation_reaches_pythia_and_the_provenance():
    from preprocessing.events.pythia import make_pythia

    nominal = make_process("qcd")
    shifted = make_process("qcd", mpi=True, tune=5, ecm=14000.0)
    py = make_pythia(shifted, seed=3)
    assert py.settings.flag("PartonLevel:MPI") is True
    assert py.settings.mode("Tune:pp") == 5
    assert py.settings.parm("Beams:eCM") == 14000.0
    assert dict(shifted.options) == {"mpi": True, "tune": 5, "ecm": 14000.0}
    # the nominal process is untouched, so its cached samples keep their keys
    assert nominal.settings == shifted.settings[: len(nominal.settings)] and nominal.options == ()
    assert make_pythia(nominal, seed=3).settings.flag("PartonLevel:MPI") is False


@pytest.mark.parametrize(
    "options, message",
    [
        ({"tune": 40}, "--tune must be a Pythia Tune:pp number"),
        ({"tune": 2.5}, "--tune must be a Pythia Tune:pp number"),
        ({"mpi": "yes"}, "--mpi must be on or off"),
        ({"ecm": -1.0}, "--ecm must be a positive collision energy"),
    ],
)
def test_impossible_simulation_options_are_named(options, message):
    with pytest.raises(DataError, match=message):
        make_process("qcd", **options)


def test_a_les_houches_process_refuses_another_beam_energy():
    with pytest.raises(DataError, match="--ecm cannot change them"):
        make_process("lhco-signal", prongs=3, ecm=14000.0)


@pytest.mark.slow
def test_multi_parton_interactions_add_constituents():
    nominal = generate("qcd", 150, seed=41, shard_jets=150, progress=False, selection="cheng2020")
    mpi = generate("qcd", 150, seed=41, shard_jets=150, progress=False, selection="cheng2020", mpi=True)
    assert np.mean(mpi.n_constituents) > np.mean(nominal.n_constituents) + 5
