"""The TF generalised-k_t clustering (``preprocessing.representations.tf_clustering``) gives FastJet's
clustering history on real generated jets: every merge joins the same two pseudojets, for
Cambridge/Aachen, k_t and anti-k_t; rapidity and azimuth follow FastJet's PseudoJet conventions;
the primary declusterings equal fjcontrib's LundGenerator (``fastjet``'s
``exclusive_jets_lund_declusterings``). k_t and anti-k_t run with ``pytest -m slow``."""

import numpy as np
import pytest
import tensorflow as tf

from preprocessing.console import c_stdout_to_stderr
from preprocessing.representations import lund_image, tf_clustering

ALGORITHMS = {"cambridge_algorithm": 0.0, "kt_algorithm": 1.0, "antikt_algorithm": -1.0}


SPECS = (tf.TensorSpec([None, None, 4], tf.float64), tf.TensorSpec([None, None], tf.bool))
# graphs traced once each (eagerly, tf.while_loop runs op by op in Python)
CLUSTER = {
    p: tf.function(lambda a, b, p=p: tf_clustering.cluster(a, b, p), input_signature=SPECS) for p in (-1.0, 0.0, 1.0)
}
DECLUSTER = tf.function(tf_clustering.primary_declusterings)


def _cluster(p4, mask, p=0.0):
    return CLUSTER[p](tf.constant(p4), tf.constant(mask))


def _declusterings(p4, mask):
    return tuple(t.numpy() for t in DECLUSTER(_cluster(p4, mask)))


@pytest.fixture(scope="module")
def real_jets(small_samples):
    """(p4 float64 (jets, particles, 4) of float32-stored constituents, mask): 40 QCD and 40 top jets."""
    parts = [small_samples[k] for k in ("qcd", "top")]
    p4 = np.concatenate([s.constituents[:40] for s in parts]).astype(np.float32).astype(np.float64)
    n = np.concatenate([s.n_constituents[:40] for s in parts])
    width = int(n.max())
    return p4[:, :width], np.arange(width)[None, :] < n[:, None]


def _fastjet_merges(p4, n, algorithm):
    """[{parent history indices}] of every merge of FastJet's clustering of one jet's n particles."""
    import fastjet

    with c_stdout_to_stderr():  # the banner
        particles = [fastjet.PseudoJet(*map(float, p4[k, [1, 2, 3, 0]])) for k in range(n)]
        sequence = fastjet.ClusterSequence(particles, fastjet.JetDefinition(getattr(fastjet, algorithm), 1000.0))
    merges = []
    for jet in sequence.jets()[n:]:
        a, b = fastjet.PseudoJet(), fastjet.PseudoJet()
        assert sequence.has_parents(jet, a, b)
        merges.append({a.cluster_hist_index(), b.cluster_hist_index()})
    return merges


@pytest.mark.parametrize(
    "algorithm", [pytest.param(a, marks=[] if a == "cambridge_algorithm" else [pytest.mark.slow]) for a in ALGORITHMS]
)
def test_clustering_history_equals_fastjet_on_real_jets(real_jets, algorithm):
    p4, mask = real_jets
    width = p4.shape[1]
    history = _cluster(p4, mask, ALGORITHMS[algorithm])
    parents = history["parents"].numpy()
    counts = mask.sum(1)
    for jet, n in enumerate(counts):
        ours = parents[jet, width : width + n - 1]
        ours = np.where(ours >= width, ours - width + n, ours)  # FastJet numbers merge k as n + k
        assert [set(pair.tolist()) for pair in ours] == _fastjet_merges(p4[jet], n, algorithm), (algorithm, jet)
    assert (history["root"].numpy() == width + counts - 2).all()
    # the root is the whole jet (E-scheme sums)
    root = np.take_along_axis(history["nodes"].numpy(), history["root"].numpy()[:, None, None], 1)[:, 0]
    np.testing.assert_allclose(root, p4.sum(1), rtol=1e-12, atol=1e-9)


def test_rapidity_and_phi_follow_fastjet():
    import fastjet

    vectors = [(10.0, 1.0, 2.0, 3.0), (5.0, 0.0, 0.0, 5.0), (5.0, 0.0, 0.0, -5.0), (0.0, 0.0, 0.0, 0.0)]
    vectors += [(100.0, 1e-3, 0.0, 100.0), (30.0, -3.0, -4.0, 1.0), (7.0, 3.0, -1e-12, 2.0)]
    rap, phi = tf_clustering.rapidity_phi(tf.constant(np.array(vectors)))
    for k, (e, px, py, pz) in enumerate(vectors):
        jet = fastjet.PseudoJet(px, py, pz, e)
        assert rap.numpy()[k] == pytest.approx(jet.rap(), rel=1e-14, abs=1e-14), vectors[k]
        assert phi.numpy()[k] == pytest.approx(jet.phi(), rel=1e-14, abs=1e-14), vectors[k]


def test_primary_declusterings_equal_fastjets_lund_generator(real_jets):
    p4, mask = real_jets
    delta, kt, counts = lund_image.primary_declusterings(p4, mask.sum(1))
    got_delta, got_kt, valid = _declusterings(p4, mask)
    np.testing.assert_array_equal(valid.sum(1), counts)
    assert valid[:, 0].all() and (np.diff(valid.astype(int), axis=1) <= 0).all()  # declusterings first
    np.testing.assert_allclose(got_delta[valid], delta, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got_kt[valid], kt, rtol=1e-12, atol=1e-12)


def test_one_particle_jets_have_no_merge():
    p4 = np.zeros((2, 3, 4))
    p4[:, 0] = [10.0, 6.0, 8.0, 0.0]
    p4[1, 1] = [5.0, 3.0, 4.0, 0.0]
    mask = np.array([[True, False, False], [True, True, False]])
    assert _cluster(p4, mask)["root"].numpy().tolist() == [0, 3]
    assert _declusterings(p4, mask)[2].sum(1).tolist() == [0, 1]
