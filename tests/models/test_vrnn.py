"""VRNN (kahn2021): padding invariance, the KL of the cell against its closed form, the pT-fraction
table against numpy, the GRU equations, gradient clipping before the step, scores, event score and
the SavedModel."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.vrnn import MASK, SEQUENCE, VRNN, VRNNEventScorer
from preprocessing import representations
from tests.conftest import minimal_card


@pytest.fixture(scope="module")
def jets(small_samples):
    """Real VRNN inputs of 120 generated QCD jets and 120 top jets (k_t-ordered, padded to 20)."""
    qcd = representations.build("vrnn", small_samples["qcd"].subset(np.arange(120)))
    top = representations.build("vrnn", small_samples["top"].subset(np.arange(120)))
    return {k: np.concatenate([qcd[k], top[k]]) for k in (SEQUENCE, MASK)}


@pytest.fixture(scope="module")
def model(jets):
    keras.utils.set_random_seed(1)
    m = VRNN(seed=1)
    m.fit_scaler(jets)
    return m


def _one(inputs, j, length=None):
    seq, mask = inputs[SEQUENCE][j : j + 1], inputs[MASK][j : j + 1]
    if length is not None:
        seq, mask = seq[:, :length], mask[:, :length]
    return {SEQUENCE: seq, MASK: mask}


def test_padding_contributes_nothing(model, jets):
    n = jets[MASK].sum(1).astype(int)
    j = int(np.argmin(np.where(n >= 3, n, 99)))  # a short jet: most of its 20 steps are padding
    assert n[j] < 20
    padded, unpadded = _one(jets, j), _one(jets, j, n[j])
    assert unpadded[SEQUENCE].shape[1] == n[j]
    for name in ("reconstruction", "kl"):
        a = model._jet_terms(padded, sample=False)[name].numpy()
        b = model._jet_terms(unpadded, sample=False)[name].numpy()
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-8)
    sa, sb = model.anomaly_scores(padded), model.anomaly_scores(unpadded)
    for name in sa:
        np.testing.assert_allclose(sa[name].numpy(), sb[name].numpy(), rtol=2e-5, atol=1e-8)
    # garbage in the padded steps changes nothing either
    noisy = {SEQUENCE: padded[SEQUENCE].copy(), MASK: padded[MASK]}
    noisy[SEQUENCE][:, n[j] :] = 7.0
    np.testing.assert_allclose(model.anomaly_scores(noisy)["kl"].numpy(), sa["kl"].numpy(), rtol=2e-5)


def test_cell_kl_matches_closed_form(model, jets):
    x = tf.constant(jets[SEQUENCE][:16])
    out = model.forward(x, tf.zeros((16, 20, 2)))
    mq, sq, mp, sp = (out[k].numpy().astype(np.float64) for k in ("mu", "sigma", "prior_mu", "prior_sigma"))
    assert np.all(sq > 0) and np.all(sp > 0)
    kl_steps = np.sum(np.log(sp / sq) + (sq**2 + (mq - mp) ** 2) / (2 * sp**2) - 0.5, axis=-1)  # (16, 20)
    mask = jets[MASK][:16]
    w = model.kl_weights(tf.constant(mask)).numpy()
    expected_kl = (w * kl_steps * mask).sum(1) / mask.sum(1)
    got = model.anomaly_scores({SEQUENCE: jets[SEQUENCE][:16], MASK: mask})
    np.testing.assert_allclose(got["kl"].numpy(), expected_kl, rtol=2e-4, atol=1e-7)
    rho = 1 - np.exp(-expected_kl)
    rho_bar = float(model.rho_bar.numpy())
    np.testing.assert_allclose(got["rho_prime"].numpy(), 1 - rho / (2 * rho_bar), rtol=1e-4, atol=1e-6)


def test_pt_fraction_table_matches_numpy(model, jets):
    seq, mask = jets[SEQUENCE].astype(np.float64), jets[MASK] > 0
    n = mask.sum(1)
    table = model.pt_fraction_table.numpy()
    for big_n in np.unique(n):
        rows = n == big_n
        direct = seq[rows, :big_n, 0].mean(0)  # average pT fraction of step t over jets with N steps
        np.testing.assert_allclose(table[big_n, :big_n], direct, rtol=1e-5)
        np.testing.assert_allclose(table[big_n, big_n:], 0.0, atol=1e-7)
    w = model.kl_weights(tf.constant(jets[MASK])).numpy()
    np.testing.assert_allclose(w, np.where(mask, table[n], 0.0), rtol=1e-6)


def test_loop_gru_equals_keras_gru_cell(model):
    cell = model.cell
    rng = np.random.default_rng(0)
    phi_x = tf.constant(rng.random((4, 3, 16)), tf.float32)
    eps = tf.constant(rng.normal(size=(4, 3, 2)), tf.float32)
    h_prev, mu, sigma, phi_z = cell(phi_x, eps)
    # step by step with Keras' own GRUCell and layers
    h = tf.zeros((4, 16))
    for t in range(3):
        np.testing.assert_allclose(h_prev[:, t].numpy(), h.numpy(), atol=1e-6)
        e = cell.enc2(tf.nn.relu(cell.enc1(tf.concat([phi_x[:, t], h], -1))))
        head = cell.enc_head(e)
        np.testing.assert_allclose(mu[:, t].numpy(), head[:, :2].numpy(), atol=1e-6)
        z = head[:, :2] + (tf.nn.softplus(head[:, 2:]) + cell.min_std) * eps[:, t]
        pz = cell.phi_z(z)
        np.testing.assert_allclose(phi_z[:, t].numpy(), pz.numpy(), atol=1e-6)
        h, _ = cell.gru(tf.concat([phi_x[:, t], pz], -1), [h])


def test_gradient_clipped_before_the_step(jets):
    huge = {SEQUENCE: jets[SEQUENCE][:32] * 1e4, MASK: jets[MASK][:32]}
    for clip, bound in ((10.0, 10.0), (1e12, None)):
        keras.utils.set_random_seed(2)
        m = VRNN(seed=2, clip_norm=clip)
        m.fit_scaler(jets)
        m.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
        before = [w.numpy().copy() for w in m.trainable_weights]
        m.train_step(huge)
        step = np.sqrt(sum(np.sum((w.numpy() - b) ** 2) for w, b in zip(m.trainable_weights, before)))
        if bound is not None:
            # SGD moves the weights by lr * gradient: the clipped gradient has norm exactly 10
            np.testing.assert_allclose(step, 0.1 * bound, rtol=1e-3)
        else:
            assert step > 100 * 0.1 * 10  # the unclipped gradient is huge: clipping did the work above


def test_calibrate_sets_training_mean_and_scores_direction(jets):
    m = VRNN(seed=3)
    m.fit_scaler(jets)
    rho_bar = m.calibrate(jets)
    kl = m.anomaly_scores(jets)["kl"].numpy().astype(np.float64)
    np.testing.assert_allclose(rho_bar, np.mean(1 - np.exp(-kl)), rtol=1e-5)
    rho_prime = m.anomaly_scores(jets)["rho_prime"].numpy()
    np.testing.assert_allclose(rho_prime.mean(), 0.5, atol=1e-4)  # Eq. 4.1: the training mean sits at 0.5
    assert np.corrcoef(rho_prime, kl)[0, 1] < -0.99  # larger rho' = lower KL (the paper's transform)


def test_event_score_is_max_of_the_two_jets(model, jets):
    a, b = np.arange(0, 40), np.arange(40, 80)
    events = {
        f"{SEQUENCE}_1": jets[SEQUENCE][a],
        f"{MASK}_1": jets[MASK][a],
        f"{SEQUENCE}_2": jets[SEQUENCE][b],
        f"{MASK}_2": jets[MASK][b].copy(),
    }
    events[f"{MASK}_2"][0] = 0.0  # a dropped second jet: the event takes its first jet's score
    got = VRNNEventScorer(model).scores(events, batch_size=16)
    s1 = model.anomaly_scores({SEQUENCE: jets[SEQUENCE][a], MASK: jets[MASK][a]})["rho_prime"].numpy()
    s2 = model.anomaly_scores({SEQUENCE: jets[SEQUENCE][b], MASK: jets[MASK][b]})["rho_prime"].numpy()
    expected = np.maximum(s1, s2)
    expected[0] = s1[0]
    np.testing.assert_allclose(got["event_score"], expected, rtol=1e-6)
    np.testing.assert_allclose(got["jet_1"], s1, rtol=1e-6)
    assert np.all(got["event_score"] >= np.minimum(s1, s2))


def test_savedmodel_equals_in_memory_model(model, jets, tmp_path):
    from training.export import export_tagger, load_tagger

    model.calibrate(jets)
    shapes = {SEQUENCE: (20, 3), MASK: (20,)}
    folder = export_tagger(model, shapes, tmp_path / "vrnn", minimal_card(model, "vrnn", shapes))
    fn, card, _, loaded = load_tagger(folder)
    assert sorted(fn.structured_input_signature[1]) == [MASK, SEQUENCE]
    out = fn(**{k: tf.constant(v[:64]) for k, v in jets.items()})
    ref = model.anomaly_scores({k: v[:64] for k, v in jets.items()})
    assert set(out) >= {"anomaly_score", "rho_prime", "kl", "reconstruction"}
    np.testing.assert_allclose(out["anomaly_score"].numpy(), ref["rho_prime"].numpy(), atol=1e-5)
    for name in ref:
        np.testing.assert_allclose(out[name].numpy(), ref[name].numpy(), atol=1e-5)
    # the event signature (both jets' sequences) equals the in-memory event scorer
    half = {k: v[:32] for k, v in jets.items()}, {k: v[32:64] for k, v in jets.items()}
    events = {f"{name}_{k + 1}": tf.constant(half[k][name]) for k in (0, 1) for name in (SEQUENCE, MASK)}
    got = loaded.signatures["event"](**events)
    want = VRNNEventScorer(model).scores({k: v.numpy() for k, v in events.items()})
    for name in ("event_score", "jet_1", "jet_2"):
        np.testing.assert_allclose(got[name].numpy(), want[name], atol=1e-5)
    np.testing.assert_allclose(
        got["event_score"].numpy(), np.maximum(ref["rho_prime"][:32], ref["rho_prime"][32:64]), atol=1e-5
    )
    assert card.representation["serving"]["signatures"]["event"] == [
        f"{SEQUENCE}_1",
        f"{MASK}_1",
        f"{SEQUENCE}_2",
        f"{MASK}_2",
    ]
    # the fitted table and rho_bar travel with the export
    names = {v.name.split("/")[-1].split(":")[0]: v for v in loaded.variables}
    np.testing.assert_allclose(names["pt_fraction_table"].numpy(), model.pt_fraction_table.numpy())
    np.testing.assert_allclose(names["rho_bar"].numpy(), model.rho_bar.numpy())


def test_config_round_trip_and_unknown_keys():
    m = VRNN(units=8, latent_dim=3, kl_weight=0.2)
    cfg = m.get_config()
    assert cfg["units"] == 8 and cfg["latent_dim"] == 3 and cfg["clip_norm"] == 10.0
    assert VRNN.from_config(cfg).get_config() == cfg
    with pytest.raises(ValueError, match="width"):
        VRNN(width=16)


def test_hand_written_bptt_equals_autodiff(jets):
    batch = {SEQUENCE: jets[SEQUENCE][:48], MASK: jets[MASK][:48]}
    grads = {}
    for manual in (True, False):
        keras.utils.set_random_seed(4)
        m = VRNN(seed=4)
        m.fit_scaler(jets)
        m.cell.manual_gradient = manual
        with tf.GradientTape() as tape:
            loss = m.total_loss(m.loss_terms(batch))  # sampled: the noise path is differentiated too
        grads[manual] = [g.numpy() for g in tape.gradient(loss, m.trainable_weights)]
    assert len(grads[True]) == len(grads[False]) == len(VRNN().trainable_weights)
    for a, b in zip(grads[True], grads[False]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7 * max(1.0, np.abs(b).max()))
    assert any(np.abs(g).max() > 0 for g in grads[True])


def _reference_loss(model, inputs, eps):
    """The kahn2021 loss written the plain way: Keras layers called step by step (GRUCell included),
    tfp's KL per step, the masked length average; TensorFlow differentiates it."""
    from losses import diagonal_gaussian_kl

    cell, d = model.cell, model.latent_dim
    x, mask = tf.constant(inputs[SEQUENCE]), tf.constant(inputs[MASK])
    phi_x = model.phi_x(x)  # (batch, T, units)
    h = tf.zeros((x.shape[0], model.units))
    mse, kl = [], []
    for t in range(x.shape[1]):
        enc = cell.enc_head(cell.enc2(tf.nn.relu(cell.enc1(tf.concat([phi_x[:, t], h], -1)))))
        mu, sigma = enc[:, :d], tf.nn.softplus(enc[:, d:]) + model.min_std
        prior = model.prior(h[:, None])[:, 0]
        prior_mu, prior_sigma = prior[:, :d], tf.nn.softplus(prior[:, d:]) + model.min_std
        phi_z = cell.phi_z(mu + sigma * eps[:, t])
        y = model.decoder(tf.concat([phi_z, h], -1)[:, None])[:, 0]
        mse.append(tf.reduce_mean(tf.square(x[:, t] - y), -1))
        kl.append(diagonal_gaussian_kl(mu, sigma, prior_mu, prior_sigma))
        h, _ = cell.gru(tf.concat([phi_x[:, t], phi_z], -1), [h])
    n = tf.reduce_sum(mask, -1)
    weights = model.kl_weights(mask)
    reconstruction = tf.reduce_sum(tf.stack(mse, 1) * mask, -1) / n
    kl_jet = tf.reduce_sum(tf.stack(kl, 1) * weights, -1) / n
    return tf.reduce_mean(reconstruction + model.kl_weight * kl_jet)


@pytest.mark.parametrize("graph", [False, True])
def test_fast_step_equals_reference_formulation(jets, graph):
    """The compiled loop with hand-written BPTT gives the plain formulation's loss and gradients."""
    keras.utils.set_random_seed(5)
    m = VRNN(seed=5)
    m.fit_scaler(jets)
    n = jets[MASK].sum(1)
    rows = np.r_[np.argsort(n, kind="stable")[:16], 0:4, 120:124]  # the shortest jets (padding) and full ones
    batch = {k: v[rows] for k, v in jets.items()}
    assert len(np.unique(batch[MASK].sum(1))) > 3 and batch[MASK].min() == 0
    eps = tf.constant(np.random.default_rng(5).normal(size=(len(rows), 20, 2)), tf.float32)

    def fast():
        with tf.GradientTape() as tape:
            loss = m.total_loss(m._jet_terms(batch, sample=True, eps=eps))
        return loss, tape.gradient(loss, m.trainable_weights)

    with tf.GradientTape() as tape:
        ref_loss = _reference_loss(m, batch, eps)
    ref_grads = tape.gradient(ref_loss, m.trainable_weights)
    loss, grads = (tf.function(fast) if graph else fast)()
    np.testing.assert_allclose(loss.numpy(), ref_loss.numpy(), rtol=1e-5)
    assert len(grads) == len(ref_grads) == 24
    for w, a, b in zip(m.trainable_weights, grads, ref_grads):
        assert a is not None and b is not None, w.path
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5 * np.abs(b.numpy()).max(), err_msg=w.path)
    assert all(np.abs(g.numpy()).max() > 0 for g in ref_grads)  # every weight is reached


def test_steps_per_execution_trains_the_same_steps(jets):
    """Several steps per call (the compile default) give the weights of one step per call."""
    weights = {}
    for spe in (1, None):
        keras.utils.set_random_seed(6)
        m = VRNN(seed=6)
        m.fit_scaler(jets)
        kwargs = {} if spe is None else {"steps_per_execution": spe}
        m.compile(optimizer=keras.optimizers.Adam(1e-2), **kwargs)
        assert m.steps_per_execution == (16 if spe is None else 1)
        m.fit(jets, epochs=2, batch_size=48, shuffle=False, verbose=0)  # 5 steps per epoch
        weights[spe] = [w.numpy() for w in m.trainable_weights]
    for a, b in zip(weights[1], weights[None]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert not all(np.allclose(a, w.numpy()) for a, w in zip(weights[1], VRNN(seed=6).trainable_weights))
