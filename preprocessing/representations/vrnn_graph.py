"""VRNN input sequences (kahn2021) computed in a TensorFlow graph, for SavedModels that take raw
constituents.

The same steps as ``preprocessing.representations.vrnn`` (its module docstring has Algorithm 1,
the k_t-distance order and the features), written with TF ops in float64 so that both builders
agree to rounding; tests hold the sequences to 1e-4 on generated jets. The offline path has no
clustering: Algorithm 1 is repeated boost / rotate / rescale passes, each of which may remove
constituents (Delta R > 1, then all but the 20 hardest), and the sequence order is a greedy argmax.
Here the passes are one ``tf.while_loop`` over the whole batch until no jet changes (a finished
jet keeps the frame of its last pass, as in numpy), and the constituents of unfinished jets are
reordered after each pass exactly as the numpy builder reorders them, so that sums, the hardest
constituent and ties (a collinear split into equal pieces) come out the same.

Unlike the numpy builder, every jet gets a row: jets left with fewer than ``min_constituents``
steps, which the offline representation drops (kahn2021 Sec. 3.1), come back with ``kept`` False;
an export answers NaN scores for them (``training.export``), so no client can mistake them for
scored jets.
"""

import math

from preprocessing.representations import graph_ops
from preprocessing.representations.vrnn import DEFAULT_PARAMS, SELECTIONS

KEPT = "kept"  # (jets,) bool: the jet has at least min_constituents steps (the offline builder keeps it)


def _boost(a, t, beta):
    """(a', t') of a boost with velocity beta along the axis of component a (vector's formulas)."""
    import tensorflow as tf

    gam = tf.math.pow(1.0 - beta * beta, -0.5)
    bgam = beta * gam
    return gam * a + bgam * t, bgam * a + gam * t


def _rotate(a, b, angle):
    """(a', b') rotated by `angle` in the (a, b) plane: a' = c a - s b, b' = s a + c b."""
    import tensorflow as tf

    s, c = tf.sin(angle), tf.cos(angle)
    return c * a - s * b, s * a + c * b


def _one_pass(p4, mask, target_mass, target_energy):
    """Steps 1-5 of Algorithm 1 on every jet (numpy: ``vrnn._one_pass``); returns (p4, mask)."""
    import tensorflow as tf

    zero = tf.zeros_like(p4)
    jet = tf.reduce_sum(p4, axis=1)  # (jets, 4)
    e_j, x_j, y_j, z_j = tf.unstack(jet, axis=-1)
    m_jet = tf.math.sqrt(tf.maximum(e_j * e_j - x_j * x_j - y_j * y_j - z_j * z_j, 0.0))
    degenerate = ~(m_jet > 1e-9 * e_j)  # (jets,)
    m_safe = tf.where(degenerate, tf.ones_like(m_jet), m_jet)
    e, px, py, pz = tf.unstack(p4, axis=-1)  # (jets, particles) each
    pz, e = _boost(pz, e, -(z_j / e_j)[:, None])
    px, py = _rotate(px, py, -tf.math.atan2(y_j, x_j)[:, None])
    scale = (target_mass / m_safe)[:, None]
    e, px, py, pz = e * scale, px * scale, py * scale, pz * scale
    # the jet now lies along +x with mass target_mass; move its rapidity along x to the target's
    y_jet = tf.math.atanh(tf.clip_by_value(tf.reduce_sum(px, 1) / tf.reduce_sum(e, 1), -1 + 1e-15, 1 - 1e-15))
    y_ref = math.atanh(math.sqrt(target_energy**2 - target_mass**2) / target_energy)
    beta_x = tf.where(degenerate, tf.zeros_like(y_jet), tf.math.tanh(y_ref - y_jet))[:, None]
    px, e = _boost(px, e, beta_x)
    mag = tf.where(mask, tf.math.sqrt(px * px + py * py + pz * pz), -tf.ones_like(px))
    hard = tf.argmax(mag, axis=1, output_type=tf.int32)  # (jets,) first of the largest, as numpy
    py_h, pz_h = tf.gather(py, hard, batch_dims=1), tf.gather(pz, hard, batch_dims=1)
    py, pz = _rotate(py, pz, -tf.math.atan2(pz_h, py_h)[:, None])
    p4 = tf.where(mask[..., None], tf.stack([e, px, py, pz], axis=-1), zero)
    # a massless jet has no rest frame: its hardest constituent alone along +x with E = target_energy
    only_hard = tf.one_hot(hard, tf.shape(mask)[1], on_value=True, off_value=False)  # (jets, particles)
    along_x = tf.constant([target_energy, target_energy, 0.0, 0.0], tf.float64)
    replaced = tf.where(only_hard[..., None], tf.broadcast_to(along_x, tf.shape(p4)), zero)
    p4 = tf.where(degenerate[:, None, None], replaced, p4)
    mask = tf.where(degenerate[:, None], only_hard, mask)
    return p4, mask


def _reorder(p4, mask, key):
    """Constituents of each jet by decreasing `key` (stable), padding (key -1) last."""
    import tensorflow as tf

    order = tf.argsort(-tf.where(mask, key, -tf.ones_like(key)), axis=1, stable=True)
    return tf.gather(p4, order, batch_dims=1), tf.gather(mask, order, batch_dims=1)


def _finish(p4, mask, max_constituents, selection):
    """Finished jets: sorted by pT, the first max_constituents (all their real ones), reflected so
    that the second-hardest has eta >= 0 ("paper"); (jets, max_constituents, ...)."""
    import tensorflow as tf

    p4, mask = _reorder(p4, mask, graph_ops.pt(p4))
    slots = tf.broadcast_to(tf.range(tf.shape(mask)[1])[None, :], tf.shape(mask))
    p4 = tf.reshape(graph_ops.take_rows(p4, slots, max_constituents), [-1, max_constituents, 4])
    mask = tf.reshape(graph_ops.take_rows(mask, slots, max_constituents), [-1, max_constituents])
    if selection == "paper" and max_constituents > 1:
        flip = mask[:, 1] & (graph_ops.eta(p4[:, 1]) < 0.0)  # (jets,)
        p4 = tf.where(flip[:, None, None], p4 * tf.constant([1.0, 1.0, 1.0, -1.0], tf.float64), p4)
    return p4, mask


def algorithm1(p4, mask, max_constituents=20, target_mass=0.25, target_energy=1.0, max_delta_r=1.0, selection="paper"):
    """kahn2021 Algorithm 1 on validated constituents, in-graph (numpy: ``vrnn.algorithm1``).

    As in numpy, only the jets that still change take part in the next pass, cropped to the width
    of their longest jet (most jets keep at most 20 constituents after the first pass).

    Args:
        p4: (jets, particles, 4) float64 (E, px, py, pz), padding zero.
        mask: (jets, particles) bool of real constituents, the first ones of each row.

    Returns:
        p4 (jets, max_constituents, 4) float64 in the final frame sorted by pT, zero padded, and
        its mask (jets, max_constituents) bool.
    """
    import tensorflow as tf

    n_jets = tf.shape(p4)[0]

    def step(p4, mask, rows, final_p4, final_mask):
        p4, mask = _one_pass(p4, mask, target_mass, target_energy)
        zero = tf.zeros_like(p4[..., 0])
        eta = tf.where(mask, graph_ops.eta(p4), zero)
        phi = tf.where(mask, graph_ops.phi(p4), zero)
        far = mask & (tf.math.sqrt(eta * eta + phi * phi) > max_delta_r)  # (jets, particles)
        has_far = tf.reduce_any(far, axis=1)
        n_left = tf.reduce_sum(tf.cast(mask & ~far, tf.int32), axis=1)
        too_many = ~has_far & (n_left > max_constituents)
        done = ~has_far & ~too_many
        done_p4, done_mask = _finish(
            tf.boolean_mask(p4, done), tf.boolean_mask(mask, done), max_constituents, selection
        )
        at = tf.boolean_mask(rows, done)[:, None]
        final_p4 = tf.tensor_scatter_nd_update(final_p4, at, done_p4)
        final_mask = tf.tensor_scatter_nd_update(final_mask, at, done_mask)
        # the rest: drop far constituents, reorder as the numpy builder, keep the first max_constituents
        keep = ~done
        rows, too_many, far = tf.boolean_mask(rows, keep), tf.boolean_mask(too_many, keep), tf.boolean_mask(far, keep)
        mask = tf.boolean_mask(mask, keep) & ~far
        p4 = tf.where(mask[..., None], tf.boolean_mask(p4, keep), tf.zeros_like(p4[:1]))
        if selection == "authors":
            key = graph_ops.pt(p4) ** 2 * (graph_ops.eta(p4) ** 2 + graph_ops.phi(p4) ** 2)
        else:
            key = graph_ops.pt(p4)
        p4, mask = _reorder(p4, mask, key)
        mask = mask & ~(too_many[:, None] & (tf.range(tf.shape(mask)[1])[None, :] >= max_constituents))
        p4 = tf.where(mask[..., None], p4, tf.zeros_like(p4))
        width = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)), 1)
        return p4[:, :width], mask[:, :width], rows, final_p4, final_mask

    width = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)), 1)  # padding costs time
    state = (
        p4[:, :width],
        mask[:, :width],
        tf.range(n_jets),
        tf.zeros(tf.stack([n_jets, max_constituents, 4]), tf.float64),
        tf.zeros(tf.stack([n_jets, max_constituents]), tf.bool),
    )
    invariants = (
        tf.TensorShape([None, None, 4]),
        tf.TensorShape([None, None]),
        tf.TensorShape([None]),
        tf.TensorShape([None, max_constituents, 4]),
        tf.TensorShape([None, max_constituents]),
    )
    # every pass but the last removes a constituent of each jet it keeps: at most particles + 1 passes
    _, _, _, final_p4, final_mask = tf.while_loop(
        lambda p4, mask, rows, *_: tf.size(rows) > 0,
        step,
        state,
        shape_invariants=invariants,
        maximum_iterations=tf.shape(p4)[1] + 1,
    )
    return final_p4, final_mask


def kt_order(pt, eta, phi, mask):
    """k_t-distance order (kahn2021 Eq. 3.1; numpy: ``vrnn.kt_order``): (jets, steps) int32,
    real constituents first (column 0, the hardest, opens it), then the padding."""
    import tensorflow as tf

    n_steps = pt.shape[1]
    used = tf.one_hot(tf.zeros_like(pt[:, 0], tf.int32), n_steps, on_value=True, off_value=False)
    cur = tf.zeros_like(pt[:, 0], tf.int32)
    order = [cur]
    for _ in range(1, n_steps):  # a fixed, short unrolled loop (20 steps)
        d_eta = eta - tf.gather(eta, cur, batch_dims=1)[:, None]
        d_phi = graph_ops.wrap_phi(phi - tf.gather(phi, cur, batch_dims=1)[:, None])
        dist = pt * tf.math.sqrt(d_eta * d_eta + d_phi * d_phi)
        score = tf.where(
            used, tf.fill(tf.shape(pt), tf.constant(-math.inf, pt.dtype)), tf.where(mask, dist, -tf.ones_like(dist))
        )
        cur = tf.argmax(score, axis=1, output_type=tf.int32)
        order.append(cur)
        used = used | tf.one_hot(cur, n_steps, on_value=True, off_value=False)
    return tf.stack(order, axis=1)


def sequences(
    constituents,
    n_constituents,
    max_constituents=20,
    target_mass=0.25,
    target_energy=1.0,
    max_delta_r=1.0,
    min_constituents=3,
    selection="paper",
):
    """{"vrnn_sequence": (jets, max_constituents, 3) float32, "vrnn_mask": (jets, max_constituents)
    float32, KEPT: (jets,) bool} in-graph, one row per jet (numpy: ``vrnn.sequences(drop=False)``)."""
    import tensorflow as tf

    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    if not 0 < target_mass < target_energy:
        raise ValueError(f"target_mass {target_mass} must be positive and below target_energy {target_energy}")
    p4, mask = graph_ops.validate_constituents(constituents, n_constituents)  # (jets, particles, 4), (jets, particles)
    p4, mask = algorithm1(p4, mask, max_constituents, target_mass, target_energy, max_delta_r, selection)
    zero = tf.zeros_like(p4[..., 0])
    pt = tf.where(mask, graph_ops.pt(p4), zero)  # (jets, steps)
    eta = tf.where(mask, graph_ops.eta(p4), zero)
    phi = tf.where(mask, graph_ops.phi(p4), zero)
    order = kt_order(pt, eta, phi, mask)
    feats = tf.stack([pt / tf.reduce_sum(pt, axis=1, keepdims=True), eta, phi], axis=-1)  # (jets, steps, 3)
    feats = tf.gather(feats, order, batch_dims=1)
    mask = tf.gather(mask, order, batch_dims=1)
    if selection == "authors" and max_constituents > 1:
        # the authors reflect on the second element of the k_t sequence (order is unchanged by it)
        flip = mask[:, 1] & (feats[:, 1, 1] < 0.0)
        feats = tf.where(flip[:, None, None], feats * tf.constant([1.0, -1.0, 1.0], tf.float64), feats)
    steps = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    return {
        "vrnn_sequence": tf.cast(feats, tf.float32),
        "vrnn_mask": tf.cast(mask, tf.float32),
        KEPT: steps >= min_constituents,
    }


def build(constituents, n_constituents, **params):
    """{"vrnn_sequence", "vrnn_mask", KEPT} in-graph, with the parameters of the numpy builder."""
    return sequences(constituents, n_constituents, **{**DEFAULT_PARAMS, **params})
