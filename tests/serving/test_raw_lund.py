"""The Lund-image DVAE (dillon2021 appendix A) serves raw constituents: primary Lund-plane images
computed in the graph (``preprocessing.representations.lund_image_graph``: a TF Cambridge/Aachen
clustering and declustering) equal the FastJet-based numpy builder on real generated jets, and an
exported Lund DVAE loaded back scores raw constituents as the offline path (numpy images ->
in-memory model). The export test runs with ``pytest -m slow``.
"""

import numpy as np
import pytest
import tensorflow as tf

from preprocessing.representations import graph, graph_ops, lund_image, lund_image_graph
from tests.serving.conftest import edge_jets
from tests.serving.test_physical_inputs import BAD, CASES, _request  # the table of unphysical jets

# a graph traced once: eagerly its loops would run op by op in Python
IMAGES = tf.function(
    lund_image_graph.lund_images,
    input_signature=(tf.TensorSpec([None, None, 4], tf.float32), tf.TensorSpec([None], tf.int32)),
)


@pytest.fixture(scope="module")
def lund_jets(jets):
    """Real jets (QCD, top), cut to their 2 hardest constituents and split collinearly into 200 (the
    edge jets without the one-constituent ones, which have no Lund image)."""
    constituents, counts = edge_jets(jets)
    return constituents[4:], counts[4:]


def test_in_graph_lund_images_equal_the_fastjet_builder(lund_jets):
    constituents, counts = lund_jets
    want = lund_image.lund_images(constituents, counts)
    got = IMAGES(tf.constant(constituents), tf.constant(counts)).numpy()
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert graph.supports("lund_image")


def test_jet_without_splitting_is_refused_naming_it(lund_jets):
    constituents, counts = lund_jets
    p4, n = constituents[4:9].copy(), counts[4:9].copy()
    p4[3, 1:], n[3] = 0.0, 1  # one constituent: no primary splitting
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        IMAGES(tf.constant(p4), tf.constant(n))
    assert graph_ops.parse_refusal(err.value.message)[:2] == (3, lund_image_graph.NO_SPLITTING[0])


@pytest.mark.slow  # the export
def test_savedmodel_raw_default_equals_offline_path(lund_jets, tmp_path):
    import keras

    from tests.conftest import minimal_card
    from training import pipeline
    from training.export import export_tagger

    constituents, counts = lund_jets
    images = lund_image.lund_images(constituents, counts)
    settings = pipeline.resolve("dvae", "lund")
    keras.utils.set_random_seed(0)
    model = settings.spec.cls(**settings.config, seed=0)
    model.fit_scaler(images)
    shapes = {"lund_image": images.shape[1:]}
    folder = export_tagger(model, shapes, tmp_path / "dvae", minimal_card(model, "lund_image", shapes, "dvae"))
    loaded = tf.saved_model.load(str(folder))
    default = loaded.signatures["serving_default"]
    assert sorted(default.structured_input_signature[1]) == [graph.CONSTITUENTS, graph.COUNTS]
    out = default(constituents=tf.constant(constituents), n_constituents=tf.constant(counts))
    offline = model.anomaly_scores(images)
    for score, values in offline.items():
        np.testing.assert_allclose(out[score].numpy(), np.asarray(values), atol=1e-4, rtol=1e-4, err_msg=score)
    np.testing.assert_allclose(out["anomaly_score"].numpy(), np.asarray(offline[model.default_score]), atol=1e-4)


@pytest.mark.slow
def test_in_graph_lund_images_equal_the_fastjet_builder_on_every_generated_jet(small_samples):
    for process in ("qcd", "top"):
        sample = small_samples[process]
        constituents, counts = sample.constituents.astype(np.float32), sample.n_constituents.astype(np.int32)
        want = lund_image.lund_images(constituents, counts)
        np.testing.assert_allclose(IMAGES(tf.constant(constituents), tf.constant(counts)).numpy(), want, atol=1e-6)


@pytest.mark.parametrize("case", list(CASES))
def test_every_kind_of_unphysical_jet_is_refused_naming_rule_and_jet(case, jets):
    spoil, rule = CASES[case]
    p4, counts = _request(jets, spoil)
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        IMAGES(tf.constant(p4), tf.constant(counts))
    assert graph_ops.parse_refusal(err.value.message)[:2] == (BAD, rule), err.value.message
