"""The VRNN (kahn2021) serves raw constituents: Algorithm 1, the k_t-distance order and the features
computed in the graph (``preprocessing.representations.vrnn_graph``) equal the numpy builder on real
generated jets, and an exported VRNN loaded back scores raw constituents as the offline path
(numpy sequences -> in-memory model), with NaN for the jets the offline representation drops.

The export tests and the "authors" selection run with ``pytest -m slow``.
"""

import numpy as np
import pytest
import tensorflow as tf

from preprocessing.jets.physics import from_pt_eta_phi
from preprocessing.representations import graph, graph_ops, vrnn, vrnn_graph
from tests.serving.conftest import edge_jets
from tests.serving.test_physical_inputs import BAD, CASES, _request  # the table of unphysical jets


def _with_massless_jet(constituents, counts):
    """The edge jets plus one whose removals cascade to a single massless constituent (the
    degenerate case of ``vrnn.algorithm1``: a hard photon with a soft spray)."""
    p4 = from_pt_eta_phi(
        np.array([300.0, 2.0, 2.0, 1.5]), np.array([0.0, 0.3, -0.3, 0.1]), np.array([0.0, 0.2, -0.3, 0.3])
    )
    extra = np.zeros((1,) + constituents.shape[1:], np.float32)
    extra[0, :4] = p4
    return np.concatenate([constituents, extra]), np.concatenate([counts, [4]]).astype(np.int32)


def _sequences(constituents, counts, selection="paper"):
    """`vrnn_graph.sequences`, eagerly: its loop runs a few passes, cheaper than tracing a graph."""
    return vrnn_graph.sequences(tf.constant(constituents), tf.constant(counts), selection=selection)


SPLIT = 8  # the row of edge_jets holding a real jet split collinearly into 200 equal pieces


@pytest.fixture(scope="module")
def raw_jets(jets):
    """Real jets (QCD, top), cut to 1 and 2 constituents, split collinearly into 200, and one
    massless after Algorithm 1: (constituents float32, counts int32)."""
    return _with_massless_jet(*edge_jets(jets))


@pytest.mark.parametrize(
    "selection", [pytest.param(s, marks=[pytest.mark.slow] if s != "paper" else []) for s in vrnn.SELECTIONS]
)
def test_in_graph_sequences_equal_the_numpy_builder(raw_jets, selection):
    constituents, counts = raw_jets
    want = vrnn.sequences(constituents, counts, selection=selection, drop=False)
    _, _, info = vrnn.algorithm1(constituents, counts, selection=selection, return_info=True)
    assert info["degenerate"][-1] and info["passes"].max() >= 3  # the cases the loop must get right
    got = _sequences(constituents, counts, selection)
    np.testing.assert_array_equal(got["vrnn_mask"].numpy(), want["vrnn_mask"])
    seq, ref = got["vrnn_sequence"].numpy(), want["vrnn_sequence"]
    rows = np.arange(len(counts)) != SPLIT
    np.testing.assert_allclose(seq[rows], ref[rows], atol=1e-6)
    # the split jet's two hardest constituents are equal pieces: the second-hardest has eta = 0 up to
    # rounding, whose sign decides the "paper" reflection in either builder; the rest is the same
    np.testing.assert_allclose(np.abs(seq[SPLIT]), np.abs(ref[SPLIT]), atol=1e-6)
    np.testing.assert_array_equal(got[graph.KEPT].numpy(), vrnn.kept(want))
    assert not got[graph.KEPT].numpy()[:8].any() and got[graph.KEPT].numpy()[8:-1].all()
    # padding holds garbage that the count excludes: ignored
    some = np.r_[:SPLIT, SPLIT + 1 : SPLIT + 4]  # jets of 1, 2 and all their constituents
    noisy = constituents[some].copy()
    noisy[:4, 1:] = 1e3
    again = _sequences(noisy, counts[some], selection)
    np.testing.assert_allclose(again["vrnn_sequence"].numpy(), ref[some], atol=1e-6)


@pytest.fixture(scope="module")
def exported_vrnn(jets, tmp_path_factory):
    """(version folder, in-memory VRNN): a freshly initialised VRNN with its pT-fraction table and
    rho_bar set from the jets, exported."""
    import keras

    from models.vrnn import VRNN
    from tests.conftest import minimal_card
    from training.export import export_tagger

    arrays = vrnn.sequences(jets.constituents, jets.n_constituents)
    keras.utils.set_random_seed(0)
    model = VRNN(seed=0)
    model.fit_scaler(arrays)  # the export must carry the fitted table and rho_bar
    model.calibrate(arrays)
    shapes = {k: arrays[k].shape[1:] for k in arrays}
    folder = export_tagger(model, shapes, tmp_path_factory.mktemp("vrnn") / "vrnn", minimal_card(model, "vrnn", shapes))
    return folder, model


@pytest.mark.slow  # the export: ~15 s on 2 idle cores
def test_savedmodel_raw_default_equals_offline_path_with_nan_for_dropped_jets(exported_vrnn, raw_jets):
    from training.model_card import ModelCard

    folder, model = exported_vrnn
    loaded = tf.saved_model.load(str(folder))
    default = loaded.signatures["serving_default"]
    assert sorted(default.structured_input_signature[1]) == [graph.CONSTITUENTS, graph.COUNTS]
    assert {"representation", "encode", "event"} <= set(loaded.signatures)
    serving = ModelCard.read(folder).representation["serving"]
    assert serving["serving_default"] == "constituents" and "NaN" in serving["note"]
    constituents, counts = raw_jets
    out = default(constituents=tf.constant(constituents), n_constituents=tf.constant(counts))
    offline_inputs = vrnn.sequences(constituents, counts, drop=False)
    kept = vrnn.kept(offline_inputs)
    kept[SPLIT] = False  # its reflection follows a rounding sign (see the sequence test); scored below
    offline = model.anomaly_scores({k: v[kept] for k, v in offline_inputs.items()})
    for score, values in offline.items():
        got = out[score].numpy()
        np.testing.assert_allclose(got[kept], np.asarray(values), atol=1e-4, rtol=1e-4, err_msg=score)
        assert np.isnan(got[:SPLIT]).all() and np.isnan(got[-1]), score  # 1 or 2 constituents, massless
        assert np.isfinite(got[SPLIT]), score
    np.testing.assert_allclose(out["anomaly_score"].numpy()[kept], np.asarray(offline["rho_prime"]), atol=1e-4)
    # the representation-level signature still scores the sequences themselves
    rep = loaded.signatures["representation"](**{k: tf.constant(v[kept]) for k, v in offline_inputs.items()})
    np.testing.assert_allclose(rep["rho_prime"].numpy(), np.asarray(offline["rho_prime"]), atol=1e-5)


@pytest.mark.slow
def test_offline_score_of_kept_jets_through_the_raw_default(exported_vrnn, jets):
    """``training.score.score_sample`` (the leaderboard's path, which passes the jets the VRNN keeps)
    feeds raw constituents to the export and gets the offline scores."""
    from training.export import load_tagger
    from training.score import score_sample

    folder, model = exported_vrnn
    _, card, _, loaded = load_tagger(folder)
    usable = jets.subset(np.flatnonzero(vrnn.kept_rows(jets)))
    raw = score_sample(loaded.signatures["serving_default"], card, usable, batch_size=32)
    offline = model.anomaly_scores(vrnn.sequences(usable.constituents, usable.n_constituents))
    np.testing.assert_allclose(raw["anomaly_score"], np.asarray(offline["rho_prime"]), atol=1e-4)


@pytest.mark.slow
def test_offline_score_drops_the_jets_the_representation_drops(exported_vrnn, jets):
    """A file with jets the VRNN drops (here: cut to 2 constituents) scores the kept jets only, as
    the representation path always did, instead of refusing the dropped jets' NaN scores."""
    from training.export import load_tagger
    from training.score import score_sample

    folder, model = exported_vrnn
    _, card, _, loaded = load_tagger(folder)
    sample = jets.subset(np.arange(40))
    sample.n_constituents = np.asarray(sample.n_constituents).copy()
    sample.n_constituents[[3, 17]] = 2
    raw = score_sample(loaded.signatures["serving_default"], card, sample, batch_size=16)
    kept = vrnn.kept_rows(sample)
    assert kept.sum() <= 38 and len(raw["anomaly_score"]) == kept.sum()
    usable = sample.subset(np.flatnonzero(kept))
    offline = model.anomaly_scores(vrnn.sequences(usable.constituents, usable.n_constituents))
    np.testing.assert_allclose(raw["anomaly_score"], np.asarray(offline["rho_prime"]), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("selection", vrnn.SELECTIONS)
def test_in_graph_sequences_equal_the_numpy_builder_on_every_generated_jet(small_samples, selection):
    for process in ("qcd", "top"):
        sample = small_samples[process]
        constituents, counts = sample.constituents.astype(np.float32), sample.n_constituents.astype(np.int32)
        want = vrnn.sequences(constituents, counts, selection=selection, drop=False)
        got = _sequences(constituents, counts, selection)
        np.testing.assert_array_equal(got["vrnn_mask"].numpy(), want["vrnn_mask"])
        np.testing.assert_allclose(got["vrnn_sequence"].numpy(), want["vrnn_sequence"], atol=1e-6)
        np.testing.assert_array_equal(got[graph.KEPT].numpy(), vrnn.kept(want))


@pytest.mark.parametrize("case", list(CASES))
def test_every_kind_of_unphysical_jet_is_refused_naming_rule_and_jet(case, jets):
    spoil, rule = CASES[case]
    p4, counts = _request(jets, spoil)
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        _sequences(p4, counts)
    assert graph_ops.parse_refusal(err.value.message)[:2] == (BAD, rule), err.value.message
