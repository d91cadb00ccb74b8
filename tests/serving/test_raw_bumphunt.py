"""``bumphunt_vae`` serves raw constituents: bortolato2021's six dijet features computed in the graph
(``preprocessing.representations.highlevel_graph``) from both leading jets of each event equal the
offline ``highlevel.dijet_features`` of generated LHCO-like events, and an exported model scores
raw events as the offline path (numpy features -> in-memory model) does.

The offline features come from the generator's observables, computed from all of a jet's
constituents in float64; the served ones from the stored float32 constituents (at most 200 per
jet). On events whose jets were stored whole they agree to 1e-4 relative (measured: mass 5e-5,
ratios 4e-6, from float32 rounding of the constituents); tau_N agrees with
``observables.nsubjettiness`` on the same stored constituents to 1e-12. Events with a truncated jet
(about 1 % of QCD dijet events) differ by up to ~1 % and are left out of the comparison.

Tracing the in-graph builder (a k_t clustering and three minimisations) takes 3-7 s, so every test
that runs it is ``slow``; the default suite checks that the export chooses the raw signature.
"""

import numpy as np
import pytest
import tensorflow as tf

from preprocessing.representations import graph, highlevel_graph
from preprocessing.representations.highlevel import dijet_features

RTOL = 1e-4


def _generate(process, n_events, seed):
    from preprocessing.events.generator import generate

    return generate(process, 2 * n_events, seed=seed, progress=False)


@pytest.fixture(scope="module")
def events():
    """30 generated LHCO-like W' signal events (two rows each, heavier first): ~1 s of Pythia."""
    return _generate("lhco-signal", 30, seed=3)


def _complete(sample):
    """(events,) bool: both jets of the event were stored with all their constituents."""
    return (sample.jets["n_const"] <= sample.constituents.shape[1]).reshape(-1, 2).all(axis=1)


def _from_stored_constituents(sample):
    """A copy of `sample` whose mass and tau_N are recomputed in numpy from its stored float32
    constituents (the generator's functions, float32 as stored): the offline twin of the served path."""
    from preprocessing.jets import observables, physics

    copy = sample.subset(np.arange(len(sample)))
    copy.jets = dict(copy.jets)
    mask = np.arange(sample.constituents.shape[1])[None, :] < sample.n_constituents[:, None]
    jet = (np.asarray(sample.constituents, np.float64) * mask[..., None]).sum(axis=1)
    copy.jets["mass"] = physics.mass(jet).astype(np.float32)
    tau = observables.nsubjettiness(sample.constituents, sample.n_constituents)
    for k in range(3):
        copy.jets[f"tau{k + 1}"] = tau[:, k].astype(np.float32)
    return copy


def _relative(got, want):
    return np.abs(got - want) / np.maximum(np.abs(want), 1e-30)


def _in_graph(sample, swap=False):
    """(features (events, 6), tau (jets, 3)) in-graph; `swap` feeds each event's jets lighter first."""
    c, n = np.asarray(sample.constituents, np.float32), np.asarray(sample.n_constituents, np.int32)
    if swap:
        order = np.arange(len(n)).reshape(-1, 2)[:, ::-1].ravel()
        c, n = c[order], n[order]
    return _in_graph_arrays(c, n)


def _in_graph_arrays(c, n):
    """`_in_graph` of padded constituents (rows, particles, 4) and counts (rows,)."""

    @tf.function
    def run(c, n):
        _, t1, t2, t3 = highlevel_graph.jet_observables(c, n)
        return highlevel_graph.dijet_features(c, n), tf.stack([t1, t2, t3], axis=1)

    features, tau = run(tf.constant(c), tf.constant(n))
    return features.numpy(), tau.numpy()


def test_exports_of_dijet_features_take_raw_constituents():
    """The export's decision, without tracing a graph: ``highlevel`` is served raw, two rows per event."""
    from models.bumphunt_vae import BumpHuntVAE
    from tests.conftest import minimal_card
    from training.export import raw_constituent_inputs

    assert graph.serves_raw("highlevel") and "highlevel" in graph.EVENT_LEVEL and not graph.supports("highlevel")
    card = minimal_card(BumpHuntVAE(), "highlevel", {"highlevel": (6,)}, "bumphunt_vae")
    card.data = {"rows": "events"}
    assert raw_constituent_inputs(card, {"highlevel": (6,)}) == (True, "")
    assert not raw_constituent_inputs(card, {"highlevel": (5,)})[0]  # a model of other inputs keeps its own


@pytest.mark.slow
def test_in_graph_features_equal_dijet_features(events):
    from preprocessing.jets import observables

    want, _, rows = dijet_features(events)
    assert np.array_equal(rows.ravel(), np.arange(len(events)))  # the files' layout: pairs of rows
    got, tau = _in_graph(events)
    # the same tau_N as the numpy observables on the same (stored) constituents: exact up to rounding
    np.testing.assert_allclose(
        tau, observables.nsubjettiness(events.constituents, events.n_constituents)[:, :3], rtol=1e-12, atol=1e-12
    )
    twin, _, _ = dijet_features(_from_stored_constituents(events))
    np.testing.assert_allclose(got, twin, rtol=1e-6, atol=1e-7)  # the same inputs: float32 rounding only
    complete = _complete(events)
    assert complete.sum() >= 25
    rel = _relative(got[complete], want[complete])
    assert rel.max() < RTOL, dict(
        zip(("max rel", "event", "feature"), (rel.max(), *np.unravel_index(rel.argmax(), rel.shape)))
    )


@pytest.mark.slow
def test_in_graph_features_on_qcd_and_signal_events():
    """300 QCD dijet and 300 W' events: complete events to 1e-4; the truncated ones measured (printed)."""
    for process, seed in (("dijet", 5), ("lhco-signal", 6)):
        sample = _generate(process, 300, seed)
        want, _, _ = dijet_features(sample)
        got, _ = _in_graph(sample)
        swapped, _ = _in_graph(sample, swap=True)
        np.testing.assert_array_equal(swapped, got)  # the graph orders the jets by mass itself
        complete = _complete(sample)
        rel = _relative(got, want)
        print(process, "max rel per feature, complete events:", rel[complete].max(axis=0))
        if (~complete).any():
            print(process, f"{(~complete).sum()} truncated events, max rel per feature:", rel[~complete].max(axis=0))
        assert rel[complete].max() < RTOL


@pytest.mark.slow
def test_exported_bumphunt_vae_scores_raw_events_as_offline(events, tmp_path):
    """serving_default of an export takes the events' raw constituents (two rows per event), answers
    each event on its first row and NaN on its second; ``training.score.score_sample`` through it
    equals the offline path; an odd number of rows is refused."""
    import keras

    from tests.conftest import minimal_card
    from training import pipeline
    from training.export import export_tagger, load_tagger
    from training.score import score_sample

    features, _, _ = dijet_features(events)
    settings = pipeline.resolve("bumphunt_vae")
    keras.utils.set_random_seed(0)
    model = settings.spec.cls(**settings.config, seed=0)
    model(features[:1])
    model.fit_scaler(features)
    model.calibrate(features)
    card = minimal_card(model, "highlevel", {"highlevel": (6,)}, "bumphunt_vae")
    card.data = {"rows": "events"}
    folder = export_tagger(model, {"highlevel": (6,)}, tmp_path / "bumphunt_vae", card)
    _, card, _, loaded = load_tagger(folder)
    default = loaded.signatures["serving_default"]
    assert sorted(default.structured_input_signature[1]) == [graph.CONSTITUENTS, graph.COUNTS]
    assert card.representation["serving"]["serving_default"] == "constituents"
    out = default(
        constituents=tf.constant(events.constituents, tf.float32),
        n_constituents=tf.constant(events.n_constituents, tf.int32),
    )
    # the offline path on the same (stored float32) constituents: equal to rounding
    twin, _, _ = dijet_features(_from_stored_constituents(events))
    for name, values in model.anomaly_scores(twin).items():
        served = out[name].numpy()
        assert served.shape[0] == len(events) and np.isnan(served[1::2]).all(), name
        np.testing.assert_allclose(served[::2], np.asarray(values), rtol=1e-5, atol=1e-5, err_msg=name)
    # the offline path on the stored features (all constituents in float64): the features agree
    # to 5e-5, which the rarity tables amplify to ~2e-4 relative (measured on these events)
    complete = _complete(events)
    for name, values in model.anomaly_scores(features).items():
        served, values = out[name].numpy()[::2][complete], np.asarray(values)[complete]
        diff = np.abs(served - values)
        print(name, "served vs stored features: max abs", diff.max(), "max rel", _relative(served, values).max())
        np.testing.assert_allclose(served, values, rtol=1e-3, atol=1e-3, err_msg=name)
    scored = score_sample(default, card, events)  # training.score's and the leaderboard's path
    assert len(scored["anomaly_score"]) == len(features)
    np.testing.assert_array_equal(scored["anomaly_score"], out["anomaly_score"].numpy()[::2])
    with pytest.raises(tf.errors.InvalidArgumentError, match="odd number of rows"):
        default(
            constituents=tf.constant(events.constituents[:3], tf.float32),
            n_constituents=tf.constant(events.n_constituents[:3], tf.int32),
        )


@pytest.mark.slow
def test_edge_jets_equal_the_numpy_observables(events):
    """Jets of 1 and 2 constituents (the generator's soft ghosts give them their k_t axes) and a jet
    split collinearly into 200 pieces: the same tau_N as ``observables.nsubjettiness``."""
    from preprocessing.jets import observables
    from tests.serving.conftest import edge_jets

    c, n = edge_jets(events.subset(np.arange(12)))
    c, n = c[:-1], n[:-1]  # an even number of rows: 4 + 4 edge jets, the 200 pieces, 11 real jets
    _, tau = _in_graph_arrays(c, n)
    np.testing.assert_allclose(tau, observables.nsubjettiness(c, n)[:, :3], rtol=1e-12, atol=1e-12)
    assert (tau[:4] == 0).all() and (tau[4:8, 1:] == 0).all()
