"""Raw constituents through the SavedModel give the offline scores (numpy images -> in-memory model)."""

import numpy as np
import pytest
import tensorflow as tf

from preprocessing.representations import graph, jet_image, jet_image_graph
from serving.client import ClientError, score
from tests.serving.conftest import edge_jets as _edge_jets


def test_in_graph_jet_images_equal_the_numpy_builder(jets):
    constituents, counts = _edge_jets(jets)
    want = jet_image.jet_images(constituents, counts)
    got = jet_image_graph.jet_images(tf.constant(constituents), tf.constant(counts)).numpy()
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(got.sum((1, 2)), 1.0, atol=1e-5)
    # a collinear split changes nothing (pT sums per pixel): the 200-constituent jet equals its original
    original = jet_image.jet_images(jets.constituents[8:9], jets.n_constituents[8:9])
    np.testing.assert_allclose(got[8], original[0], atol=1e-6)
    # padding holds garbage that the count excludes: ignored
    noisy = constituents.copy()
    noisy[:4, 1:] = 1e3
    np.testing.assert_allclose(
        jet_image_graph.jet_images(tf.constant(noisy[:4]), tf.constant(counts[:4])).numpy(), want[:4], atol=1e-6
    )


def test_savedmodel_raw_default_equals_offline_path(exported, jets):
    base, model = exported
    loaded = tf.saved_model.load(str(base / "dvae" / "1"))
    constituents, counts = _edge_jets(jets)
    out = loaded.signatures["serving_default"](
        constituents=tf.constant(constituents), n_constituents=tf.constant(counts)
    )
    ref = model.anomaly_scores(jet_image.jet_images(constituents, counts))
    for name, values in ref.items():
        np.testing.assert_allclose(out[name].numpy(), np.asarray(values), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(out["anomaly_score"].numpy(), np.asarray(ref[model.default_score]), atol=1e-4)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_scores_equal_offline_path_and_bad_jets_are_400(server, exported, jets, protocol):
    _, model = exported
    where = (
        {"url": f"http://127.0.0.1:{server.rest_port}"}
        if protocol == "rest"
        else {"target": f"127.0.0.1:{server.grpc_port}"}
    )
    constituents, counts = _edge_jets(jets)
    got = score(constituents, counts, model="dvae", batch_size=32, **where)
    ref = model.anomaly_scores(jet_image.jet_images(constituents, counts))
    np.testing.assert_allclose(got["anomaly_score"], np.asarray(ref["mixture_weight"]), atol=1e-4)
    np.testing.assert_allclose(got["reconstruction"], np.asarray(ref["reconstruction"]), atol=1e-4, rtol=1e-5)
    bad_count = counts[:3].copy()
    bad_count[1] = 0
    with pytest.raises(ClientError) as err:
        score(constituents[:3], bad_count, model="dvae", **where)
    assert err.value.status in (400, "INVALID_ARGUMENT") and "no constituents" in err.value.message
    nan = constituents[:3].copy()
    nan[2, 0, 1] = np.nan
    with pytest.raises(ClientError) as err:
        score(nan, counts[:3], model="dvae", **where)
    assert err.value.status in (400, "INVALID_ARGUMENT") and "NaN" in err.value.message


def test_lund_images_serve_raw_constituents_and_event_features_do_not():
    assert graph.supports("jet_image") and graph.supports("lund_image") and not graph.supports("highlevel")


def test_offline_score_uses_the_raw_signature_and_refuses_empty_jets(exported, jets):
    from preprocessing.errors import DataError
    from training.export import load_tagger
    from training.score import score_sample

    base, model = exported
    rep_fn, card, _, loaded = load_tagger(base / "dvae" / "1")
    default = loaded.signatures["serving_default"]
    assert sorted(default.structured_input_signature[1]) == ["constituents", "n_constituents"]
    assert list(rep_fn.structured_input_signature[1]) == ["jet_image"]  # load_tagger keeps the representation level
    raw = score_sample(default, card, jets, batch_size=32)
    offline = model.anomaly_scores(jet_image.jet_images(jets.constituents, jets.n_constituents))
    np.testing.assert_allclose(raw["anomaly_score"], np.asarray(offline["mixture_weight"]), atol=1e-4)
    np.testing.assert_allclose(score_sample(rep_fn, card, jets)["kl"], raw["kl"], atol=1e-4)
    empty = jets.subset(np.arange(3))
    empty.n_constituents = empty.n_constituents.copy()
    empty.n_constituents[1] = 0
    with pytest.raises(DataError, match="no constituents"):
        score_sample(default, card, empty)
