"""bortolato2021's six dijet observables computed in a TensorFlow graph from the raw constituents
of both leading jets, for SavedModels of event-level models (``bumphunt_vae``) that take raw
constituents.

Rows: the sample files' layout. Rows 2k and 2k + 1 are the two leading jets of event k, in either
order (the graph orders them by mass, heavier first, as ``highlevel.event_pairs`` does with the
stored masses); an odd number of rows is refused. The output has one row per input row, so that
batching servers (TF Serving's and ``python -m serving``'s split outputs by input rows) keep
working: row 2k holds event k's features and ``KEPT`` True, row 2k + 1 the same features with
``KEPT`` False, for which an export answers NaN (``training.export``, the VRNN's convention for
rows that are not scored), so each event is scored once, on its first row.

Per jet, as the generator stores them (``preprocessing.jets.clustering`` and ``observables``), in
float64:

- the mass of the summed constituents (E scheme, clipped at zero, ``physics.mass``);
- tau_1, tau_2, tau_3 (beta = 1, unnormalised): the starting axes are the exclusive-k_t subjets of
  the constituents for N = 1, 2, 3, FastJet's k_t clustering with R = 10 (no beam merging inside a
  jet) stopped at N jets: ``tf_clustering.cluster(p=1)`` gives FastJet's merge history and the
  subjets are the pseudojets alive after (constituents - N) merges; jets with fewer than 4
  constituents get the same soft ghosts as ``observables._with_ghosts``. The axes are then
  refined by up to MINIMISATION_STEPS assignment + Weiszfeld steps per jet, a jet stopping once a
  step lowers tau_N by less than CONVERGED (relative), keeping the smallest value, exactly as
  ``observables._flat_nsubjettiness`` (coordinates relative to the jet's first constituent).

Mass and tau_N are rounded to float32 (the sample files store them so) and the six features
(m_j1, m_j2, tau21_j1, tau32_j1, tau21_j2, tau32_j2) are formed as ``highlevel.dijet_features``
forms them: tau21 = tau2 / tau1, 0 where both are 0, a refusal naming the jet where the
denominator is 0 and the numerator is not.

The stored observables come from all of a jet's constituents in float64; the served ones from the
(at most ``max_constituents`` = 200) float32 constituents a client has, so a jet with more
constituents than were stored, or a near-tie in the k_t history moved by float32 rounding, gives
slightly different features (tests/serving/test_raw_bumphunt.py measures it).
"""

import math

from preprocessing.jets.observables import _GHOST_PT, CONVERGED, MINIMISATION_STEPS, N_MAX
from preprocessing.representations import graph_ops, tf_clustering
from preprocessing.representations.highlevel import DEFAULT_PARAMS

KEPT = "kept"  # (rows,) bool: True on the first row of each event (the row that carries its outputs)
ODD_ROWS = "an event-level signature takes two rows per event (its two leading jets); got an odd number of rows"
UNDEFINED = {
    "tau21": ("tau21 defined", "tau21 = tau2/tau1 is undefined (tau1 = 0 and tau2 > 0)"),
    "tau32": ("tau32 defined", "tau32 = tau3/tau2 is undefined (tau2 = 0 and tau3 > 0)"),
}


def _rapidity_phi(p4):
    """observables._rapidity_phi in TF: 0.5 ln((E + pz) / (E - pz)) (0 where not finite), atan2(py, px)."""
    import tensorflow as tf

    e, pz = p4[..., 0], p4[..., 3]
    y = 0.5 * tf.math.log((e + pz) / (e - pz))
    y = tf.where(tf.math.is_finite(y), y, tf.zeros_like(y))
    return y, tf.math.atan2(p4[..., 2], p4[..., 1])


def _with_ghosts(p4, counts, n_max=N_MAX):
    """(p4, mask) with observables._with_ghosts' soft ghosts after the constituents of jets with
    fewer than n_max; p4 (jets, width >= n_max, 4) float64 with padding zeroed."""
    import tensorflow as tf

    width = tf.shape(p4)[1]
    slots = tf.range(width)[None, :]
    y0, phi0 = _rapidity_phi(p4[:, 0])  # (jets,) the first (hardest) constituent
    k = tf.cast(slots - counts[:, None] + 1, tf.float64)  # ghost k = 1, 2, ... after the constituents
    ph = phi0[:, None] + 0.01 * k
    px, py = _GHOST_PT * tf.math.cos(ph), _GHOST_PT * tf.math.sin(ph)
    pz = _GHOST_PT * tf.math.sinh(y0)[:, None] * tf.ones_like(ph)
    ghosts = tf.stack([tf.math.sqrt(px * px + py * py + pz * pz), px, py, pz], axis=-1)
    is_ghost = (slots >= counts[:, None]) & (slots < n_max)
    return tf.where(is_ghost[..., None], ghosts, p4), (slots < counts[:, None]) | is_ghost


def _exclusive_subjets(history, mask, n_jets):
    """(jets, n_jets, 4) the pseudojets alive after (particles - n_jets) merges of `history`
    (``tf_clustering.cluster``; no beam merges, so FastJet's ``exclusive_jets(n_jets)``)."""
    import tensorflow as tf

    parents, nodes = history["parents"], history["nodes"]  # (jets, nodes, 2), (jets, nodes, 4)
    n_slots = tf.shape(mask)[1]
    n_nodes = tf.shape(nodes)[1]
    counts = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    done = counts - n_jets  # merges made when n_jets are left
    node = tf.range(n_nodes)[None, :]
    step = node - n_slots  # the merge that made a node (< 0: a particle)
    made = tf.where(step < 0, tf.pad(mask, [[0, 0], [0, n_nodes - n_slots]]), step < done[:, None])
    # the merge that consumed each node: scatter each merge's step onto its two parents
    n_rows = tf.shape(nodes)[0]
    is_merge = (step >= 0) & (step < counts[:, None] - 1)  # (jets, nodes)
    where = tf.cast(tf.where(is_merge), tf.int32)  # (M, 2) [jet, node]
    both = tf.gather_nd(parents, where)  # (M, 2)
    merge_step = where[:, 1] - n_slots
    index = tf.reshape(
        tf.stack([tf.stack([where[:, 0], both[:, 0]], 1), tf.stack([where[:, 0], both[:, 1]], 1)], 1), [-1, 2]
    )
    consumed = tf.tensor_scatter_nd_min(
        tf.fill(tf.stack([n_rows, n_nodes]), tf.int32.max), index, tf.repeat(merge_step, 2)
    )
    alive = made & (consumed >= done[:, None])  # exactly n_jets per jet
    first = tf.argsort(tf.cast(~alive, tf.int32), axis=1, stable=True)[:, :n_jets]
    return tf.gather(nodes, first, batch_dims=1)


def nsubjettiness(p4, mask, n_max=3, iterations=MINIMISATION_STEPS):
    """tau_1 .. tau_{n_max} (jets, n_max) float64 of jets (jets, particles, 4) float64 (E, px, py, pz)
    with padding zeroed and `mask` a prefix of real constituents: ``observables.nsubjettiness``."""
    import tensorflow as tf

    counts = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    width = tf.maximum(tf.shape(p4)[1], N_MAX)
    p4 = tf.pad(p4, [[0, 0], [0, width - tf.shape(p4)[1]], [0, 0]])
    mask = tf.pad(mask, [[0, 0], [0, width - tf.shape(mask)[1]]])
    ghosted, ghost_mask = _with_ghosts(p4, counts)
    history = tf_clustering.cluster(ghosted, ghost_mask, p=1.0)

    real = tf.cast(mask, tf.float64)
    pt = tf.math.sqrt(p4[..., 1] * p4[..., 1] + p4[..., 2] * p4[..., 2]) * real
    y, phi = _rapidity_phi(p4)
    y_ref, phi_ref = y[:, :1], phi[:, :1]
    uy, uphi = y - y_ref, graph_ops.wrap_phi(phi - phi_ref)  # (jets, particles)
    inf = tf.constant(math.inf, tf.float64)
    taus = []
    for n_axes in range(1, n_max + 1):
        ay, aphi = _rapidity_phi(_exclusive_subjets(history, ghost_mask, n_axes))  # (jets, n_axes)
        ay, aphi = ay - y_ref, graph_ops.wrap_phi(aphi - phi_ref)

        def assign(ay, aphi):
            dy = uy[:, :, None] - ay[:, None, :]  # (jets, particles, axes)
            dphi = uphi[:, :, None] - aphi[:, None, :]
            d2 = dy * dy + dphi * dphi
            nearest = tf.argmin(d2, axis=2, output_type=tf.int32)  # the first of equal ones, as numpy
            pick = tf.one_hot(nearest, tf.shape(ay)[1], dtype=tf.float64)  # (jets, particles, axes)
            dist = tf.math.sqrt(tf.reduce_min(d2, axis=2))
            return dist, pick, tf.reduce_sum(pick * dy, 2), tf.reduce_sum(pick * dphi, 2)

        def step(k, active, best, ay, aphi):
            dist, pick, near_dy, near_dphi = assign(ay, aphi)
            value = tf.reduce_sum(pt * dist, axis=1)  # (jets,)
            still = active & (value < best * (1.0 - CONVERGED))
            best = tf.where(active, tf.minimum(best, value), best)
            active = still & (k < iterations)  # the last evaluation moves no axis
            # Weiszfeld step of each axis towards the pT-weighted geometric median of its particles
            w = (pt / tf.maximum(dist, 1e-9))[..., None] * pick  # (jets, particles, axes)
            wsum = tf.reduce_sum(w, axis=1)
            safe = tf.where(wsum > 0.0, wsum, tf.ones_like(wsum))
            move = active[:, None] & (wsum > 0.0)
            ay = ay + tf.where(move, tf.reduce_sum(w * near_dy[..., None], 1) / safe, 0.0)
            aphi = aphi + tf.where(move, tf.reduce_sum(w * near_dphi[..., None], 1) / safe, 0.0)
            return k + 1, active, best, ay, aphi

        start = (tf.constant(0), counts > 0, tf.fill(tf.shape(counts), inf), ay, aphi)
        _, _, best, _, _ = tf.while_loop(lambda k, active, *_: tf.reduce_any(active), step, start)
        taus.append(tf.where(tf.math.is_finite(best), best, tf.zeros_like(best)))
    return tf.stack(taus, axis=1)


def jet_observables(constituents, n_constituents):
    """(mass, tau1, tau2, tau3), each (jets,) float64, of raw (jets, particles, 4) constituents,
    after the physical-input checks of ``graph_ops.validate_constituents``."""
    import tensorflow as tf

    p4, mask = graph_ops.validate_constituents(constituents, n_constituents)
    width = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)), 1)  # padding costs time
    p4, mask = p4[:, :width], mask[:, :width]
    jet = tf.reduce_sum(p4, axis=1)  # (jets, 4) E scheme
    mass = tf.math.sqrt(tf.maximum(jet[:, 0] ** 2 - jet[:, 1] ** 2 - jet[:, 2] ** 2 - jet[:, 3] ** 2, 0.0))
    tau = nsubjettiness(p4, mask)
    return mass, tau[:, 0], tau[:, 1], tau[:, 2]


def _ratio(num, den):
    """highlevel._ratio: num / den, 0 where both are 0; (ratio, undefined) with undefined where
    den <= 0 and num != 0."""
    import tensorflow as tf

    empty = (den == 0.0) & (num == 0.0)
    bad = ~(den > 0.0) & ~empty
    safe = tf.where(den > 0.0, den, tf.ones_like(den))
    return tf.where(den > 0.0, num / safe, tf.zeros_like(num)), bad


def dijet_features(constituents, n_constituents):
    """(events, 6) float32 features in the order of ``highlevel.FEATURES`` from (2 events, particles,
    4) raw constituents, rows 2k and 2k + 1 the two leading jets of event k (either order)."""
    import tensorflow as tf

    n_rows = tf.shape(constituents)[0]
    even = tf.debugging.assert_equal(n_rows % 2, 0, message=ODD_ROWS)
    with tf.control_dependencies([even]):
        constituents = tf.identity(constituents)
    mass, tau1, tau2, tau3 = (
        tf.cast(tf.cast(x, tf.float32), tf.float64) for x in jet_observables(constituents, n_constituents)
    )
    tau21, bad21 = _ratio(tau2, tau1)
    tau32, bad32 = _ratio(tau3, tau2)
    refused = graph_ops.refuse_jets(bad21 | bad32, lambda: [(*UNDEFINED["tau21"], bad21), (*UNDEFINED["tau32"], bad32)])
    pair = tf.reshape(tf.stack([mass, tau21, tau32], axis=1), [-1, 2, 3])  # (events, jet, (m, tau21, tau32))
    swap = pair[:, 1, 0] > pair[:, 0, 0]  # the heavier first; equal masses keep the row order
    heavy = tf.where(swap[:, None], pair[:, 1], pair[:, 0])
    light = tf.where(swap[:, None], pair[:, 0], pair[:, 1])
    features = tf.stack([heavy[:, 0], light[:, 0], heavy[:, 1], heavy[:, 2], light[:, 1], light[:, 2]], axis=1)
    with tf.control_dependencies([refused]):
        return tf.cast(features, tf.float32)


def build(constituents, n_constituents, **params):
    """{"highlevel": (rows, 6), KEPT: (rows,)} in-graph: each event's features on both of its rows,
    KEPT True on the first (``training.export`` answers NaN on the other)."""
    import tensorflow as tf

    if set(params) - set(DEFAULT_PARAMS):
        raise ValueError(f"highlevel takes no parameters; got {sorted(params)}")
    features = dijet_features(constituents, n_constituents)
    rows = tf.repeat(features, 2, axis=0)
    kept = tf.equal(tf.range(tf.shape(rows)[0]) % 2, 0)
    return {"highlevel": rows, KEPT: kept}
