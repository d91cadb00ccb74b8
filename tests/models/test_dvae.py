"""Dirichlet-VAE: architecture, interpretable decoder, scores, the anomalous-component rule."""

import keras
import numpy as np
import pytest

from models.dvae import PRESETS, DirichletVAE


def _images(n, seed=0, spread=2.0):
    """Unit-sum blobs: a Gaussian of width `spread` pixels at the centre."""
    rows, cols = np.mgrid[0:40, 0:40] - 19.5
    rng = np.random.default_rng(seed)
    width = spread * (1 + 0.2 * rng.random((n, 1, 1)))
    img = np.exp(-(rows**2 + cols**2)[None] / (2 * width**2))
    return (img / img.sum((1, 2), keepdims=True)).astype(np.float32)


def test_decoder_is_one_bias_free_dense_layer():
    m = DirichletVAE(alpha=[1.0, 0.25, 0.1])
    dense = [layer for layer in m.decoder.layers]
    assert len(dense) == 1 and not dense[0].use_bias
    assert tuple(dense[0].kernel.shape) == (3, 1600)
    assert [w.name for w in m.decoder.weights] == ["kernel"]


def test_mixture_images_are_decoder_outputs_of_pure_components():
    m = DirichletVAE(alpha=[1.0, 0.25, 0.1])
    comps = m.mixture_images()
    assert comps.shape == (3, 40, 40)
    np.testing.assert_allclose(comps.sum((1, 2)), 1.0, rtol=1e-5)
    pure = np.exp(keras.ops.convert_to_numpy(m._log_probs(np.eye(3, dtype="float32"))))
    np.testing.assert_allclose(pure.reshape(3, 40, 40), comps, rtol=1e-4, atol=1e-9)


def test_scores_shapes_ranges_and_selector():
    m = DirichletVAE(alpha=[1.0, 0.25])
    x = _images(16)
    s = {k: keras.ops.convert_to_numpy(v) for k, v in m.anomaly_scores(x).items()}
    r = keras.ops.convert_to_numpy(m.mixture_weights(x))
    assert set(s) == {"mixture_weight", "reconstruction", "kl"}
    assert all(v.shape == (16,) for v in s.values())
    np.testing.assert_allclose(r.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(s["mixture_weight"], r[:, 1], rtol=1e-6)  # alpha_2 = 0.25 is the rarer
    assert np.all(s["kl"] >= 0) and np.all(s["reconstruction"] > 0)


def test_rule_uses_prior_hierarchy_when_alpha_is_imbalanced():
    assert DirichletVAE(alpha=[1.0, 0.25]).choose_anomalous_component() == 1
    assert DirichletVAE(alpha=[0.1, 1.0, 0.25]).choose_anomalous_component() == 0
    assert DirichletVAE(alpha=[1.0, 1.0], anomalous_component=0).choose_anomalous_component() == 0


@pytest.mark.parametrize("wide", [0, 1])
def test_rule_picks_wider_mixture_image_when_alpha_is_balanced(wide):
    m = DirichletVAE(alpha=[1.0, 1.0])
    narrow_img, wide_img = _images(1, spread=1.5)[0], _images(1, spread=6.0)[0]
    kernel = np.zeros((2, 1600), np.float32)
    kernel[wide] = np.log(wide_img.ravel() + 1e-12)
    kernel[1 - wide] = np.log(narrow_img.ravel() + 1e-12)
    m.decoder.layers[0].kernel.assign(kernel)
    assert m.choose_anomalous_component() == wide
    assert m.anomalous_index() == wide


def _prongs(n, positions, seed):
    """Unit-sum images with pT split at random between a few fixed pixels (toy 1- or 3-prong jets)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((n, 40, 40), np.float32)
    w = rng.dirichlet(np.full(len(positions), 5.0), size=n)
    for k, (r, c) in enumerate(positions):
        img[:, r, c] += w[:, k]
    img[:, 20, 20] += 0.05  # a common core
    return img / img.sum((1, 2), keepdims=True)


def test_training_lowers_the_loss_and_separates_classes():
    keras.utils.set_random_seed(0)
    x = np.concatenate([_prongs(300, [(20, 20), (21, 20)], 1), _prongs(300, [(20, 20), (32, 22), (24, 33)], 2)])
    y = np.repeat([0, 1], 300)
    m = DirichletVAE(alpha=[1.0, 1.0])
    m.compile(optimizer=keras.optimizers.Adam(5e-3, beta_2=0.99))
    h = m.fit(x, epochs=40, batch_size=20, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0] - 0.5
    assert set(h.history) == {"loss", "reconstruction", "kl"}
    m.choose_anomalous_component()
    score = keras.ops.convert_to_numpy(m.anomaly_scores(x)["mixture_weight"])
    # the three-prong toys get the larger weight of the anomalous (wider) component
    assert score[y == 1].mean() > score[y == 0].mean() + 0.2


def test_config_round_trip_and_validation():
    m = DirichletVAE(**PRESETS["hierarchical3"]["config"], beta_kl=0.2)
    cfg = m.get_config()
    again = DirichletVAE.from_config(cfg)
    assert again.get_config() == cfg and cfg["alpha"] == [1.0, 0.25, 0.1]
    with pytest.raises(ValueError, match="alpha"):
        DirichletVAE(alpha=[1.0])
    with pytest.raises(ValueError, match="anomalous_component"):
        DirichletVAE(alpha=[1.0, 1.0], anomalous_component=2)
    with pytest.raises(ValueError, match="alhpa"):
        DirichletVAE(alhpa=[1.0, 1.0])


def _two_width_model(alpha=(1.0, 0.25), wide=1):
    """A DVAE whose component `wide` has a wide mixture image, the other a narrow one."""
    m = DirichletVAE(alpha=list(alpha))
    narrow_img, wide_img = _images(1, spread=1.5)[0], _images(1, spread=6.0)[0]
    kernel = np.zeros((len(alpha), 1600), np.float32)
    for k in range(len(alpha)):
        kernel[k] = np.log((wide_img if k == wide else narrow_img).ravel() + 1e-12)
    m.decoder.layers[0].kernel.assign(kernel)
    return m


def _bulk_and_rare(bulk_spread, rare_spread, n=400, rare=20, seed=0):
    """Training jets: a bulk of one width and a few rare jets of another; labels 1 for the rare."""
    x = np.concatenate([_images(n, seed, bulk_spread), _images(rare, seed + 1, rare_spread)])
    return x, np.r_[np.zeros(n, int), np.ones(rare, int)]


@pytest.mark.parametrize("wide", [0, 1])
def test_imbalanced_rule_follows_the_width_tail_of_the_training_jets(wide):
    m = _two_width_model(wide=wide)
    x, _ = _bulk_and_rare(2.0, 6.0)  # narrow bulk, a few wide jets: the tail is wide
    assert m.observable_skewness(x) > 0
    assert m.calibrate(x) == wide and m.anomalous_index() == wide and "largest width" in m.choice_reason
    x, _ = _bulk_and_rare(6.0, 1.0)  # wide bulk, a few narrow jets: the tail is narrow
    assert m.observable_skewness(x) < 0
    assert m.calibrate(x) == 1 - wide and "smallest width" in m.choice_reason
    # R = 3: the extremes of the mixture images' spreads
    m3 = _two_width_model(alpha=(1.0, 0.25, 0.1), wide=0)
    assert m3.calibrate(x) in (1, 2) and m3.image_spread()[m3.anomalous_index()] == m3.image_spread().min()


def test_lund_rule_orders_components_by_the_hardness_of_emissions():
    m = DirichletVAE(alpha=[1.0, 0.25], rule_observable="lund_kt")
    soft, hard = np.full((40, 40), 1e-6, np.float32), np.full((40, 40), 1e-6, np.float32)
    soft[5, 20], hard[30, 10] = 1.0, 1.0  # rows are ln k_T
    m.decoder.layers[0].kernel.assign(np.log(np.stack([soft, hard]).reshape(2, 1600)))
    x = np.concatenate([np.repeat(soft[None], 200, 0), np.repeat(hard[None], 10, 0)])
    x /= x.sum((1, 2), keepdims=True)  # a soft bulk and a few jets with hard emissions
    assert m.observable_skewness(x) > 0 and m.calibrate(x) == 1
    x = np.concatenate([np.repeat(hard[None], 200, 0), np.repeat(soft[None], 10, 0)])
    assert m.calibrate(x / x.sum((1, 2), keepdims=True)) == 0  # a hard bulk with a few soft jets
    assert DirichletVAE.from_config(m.get_config()).rule_observable == "lund_kt"
    with pytest.raises(ValueError, match="rule_observable"):
        DirichletVAE(rule_observable="mass")


def _chosen(m):
    """What calibrate stores: the one-hot selector weight (the export carries it) and the reason."""
    return keras.ops.convert_to_numpy(m.selector).tolist(), m.choice_reason


def test_rule_uses_training_inputs_only_labels_shuffled_give_the_same_choice():
    """The pipeline's calibration step (training.pipeline.calibrate_member, which holds the training
    labels) run twice on the same training rows with the labels permuted stores the same choice."""
    import inspect

    from models.registry import SUPERVISED
    from training.pipeline import calibrate_member, resolve

    assert list(inspect.signature(DirichletVAE.calibrate).parameters) == ["self", "train_images"]
    supervised = resolve("dvae", "imbalanced").spec.mode == SUPERVISED
    assert not supervised
    x, y = _bulk_and_rare(6.0, 1.0)  # labels 1 on the rare jets: a QCD-only fit would see the bulk alone
    stored = []
    for labels in (y, np.random.default_rng(0).permutation(y), 1 - y):
        m = _two_width_model()
        calibrate_member(m, x, labels, supervised)
        stored.append(_chosen(m))
    assert stored[0][0] == [1.0, 0.0] and "skewness" in stored[0][1]  # the width-tail rule, not the prior
    assert stored[1] == stored[0] and stored[2] == stored[0]


def test_the_pipeline_calibrates_on_exactly_the_training_rows(monkeypatch, tmp_path):
    """train_member hands calibrate the training images, as given and nothing else: no labels, no
    validation rows."""
    from training.pipeline import resolve, train_member

    seen = []
    calibrate = DirichletVAE.calibrate

    def spy(self, *args, **kwargs):
        seen.append((args, kwargs))
        return calibrate(self, *args, **kwargs)

    monkeypatch.setattr(DirichletVAE, "calibrate", spy)
    settings = resolve("dvae", "imbalanced", sets={"epochs": 1, "batch_size": 20, "hidden_units": 8})
    x_train, y_train = _bulk_and_rare(2.0, 6.0, n=40, rare=4, seed=0)
    x_val, y_val = _bulk_and_rare(2.0, 6.0, n=20, rare=2, seed=5)
    member = train_member(settings, x_train, x_val, 0, tmp_path, y_train=y_train, y_val=y_val, verbose=0)
    assert len(seen) == 1
    (args, kwargs) = seen[0]
    assert kwargs == {} and len(args) == 1
    np.testing.assert_array_equal(np.asarray(args[0]), x_train)
    again = DirichletVAE.from_config(member.model.get_config())  # the trained weights, calibrated by hand
    again.set_weights(member.model.get_weights())
    again.calibrate(x_train)
    assert _chosen(member.model) == _chosen(again)


def test_chosen_component_is_stored_in_the_export(tmp_path):
    import tensorflow as tf

    from tests.conftest import minimal_card
    from training.export import export_tagger, load_tagger

    m = _two_width_model()
    x, _ = _bulk_and_rare(6.0, 1.0, n=60, rare=4)
    assert m.calibrate(x) == 0  # not the prior's choice (smallest alpha = 1): the export must carry it
    shapes = {"jet_image": (40, 40)}
    version = export_tagger(m, shapes, tmp_path / "dvae", minimal_card(m, "jet_image", shapes, "dvae"))
    fn, card, _, loaded = load_tagger(version)
    got = {k: v.numpy() for k, v in fn(jet_image=tf.constant(x)).items()}
    want = {k: keras.ops.convert_to_numpy(v) for k, v in m.anomaly_scores(x).items()}
    for k, v in want.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-5, atol=1e-5)
    r = keras.ops.convert_to_numpy(m.mixture_weights(x))
    np.testing.assert_allclose(got["anomaly_score"], r[:, 0], rtol=1e-5, atol=1e-5)
    stored = {v.name.split(":")[0].split("/")[-1]: v.numpy() for v in loaded.variables}
    np.testing.assert_array_equal(stored["anomalous_selector"], [1.0, 0.0])
    assert "skewness" in card.score_rule
