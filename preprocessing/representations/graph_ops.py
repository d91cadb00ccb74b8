"""TensorFlow ops shared by the in-graph representations (``*_graph.py``).

The in-graph builders repeat their numpy twins step by step in float64, so that a SavedModel fed
raw constituents computes the same model inputs as the offline path (tests hold them to 1e-4 or
better). Everything here takes padded (jets, particles, ...) tensors and a (jets, particles) bool
mask of real constituents; padded entries come out as zero.

Bad input is an ``InvalidArgumentError`` from in-graph assertions (TF Serving and
``python -m serving`` answer it with HTTP 400 / gRPC INVALID_ARGUMENT).
"""

import math


def validate_constituents(constituents, n_constituents):
    """In-graph input checks; returns (p4 float64 with padding zeroed, mask bool).

    Args:
        constituents: (jets, particles, 4) float tensor as (E, px, py, pz).
        n_constituents: (jets,) integer tensor of real constituents.
    """
    import tensorflow as tf

    n = tf.cast(n_constituents, tf.int32)  # (jets,)
    n_particles = tf.shape(constituents)[1]
    checks = [
        tf.debugging.assert_positive(n, message="a jet has no constituents (n_constituents <= 0)"),
        tf.debugging.assert_less_equal(
            n, n_particles, message="n_constituents is larger than the number of padded particles"
        ),
        tf.debugging.assert_equal(
            tf.shape(n)[0], tf.shape(constituents)[0], message="n_constituents and constituents differ in jets"
        ),
    ]
    mask = tf.range(n_particles)[None, :] < n[:, None]  # (jets, particles)
    p4 = tf.cast(constituents, tf.float64)
    finite = tf.reduce_all(tf.math.is_finite(p4) | ~mask[..., None])
    checks.append(tf.debugging.Assert(finite, ["constituents contain NaN or infinity"]))
    with tf.control_dependencies(checks):
        p4 = tf.where(mask[..., None], p4, tf.zeros_like(p4))  # padding is ignored whatever it holds
    return p4, mask


def wrap_phi(dphi):
    """Angles wrapped into [-pi, pi), as preprocessing.jets.physics.wrap_phi."""
    import tensorflow as tf

    return tf.math.floormod(dphi + math.pi, 2.0 * math.pi) - math.pi


def pt(p4):
    """Transverse momentum of (..., 4) (E, px, py, pz)."""
    import tensorflow as tf

    return tf.math.sqrt(p4[..., 1] * p4[..., 1] + p4[..., 2] * p4[..., 2])


def eta(p4):
    """Pseudorapidity asinh(pz / pT); 0 where pT = 0 (as preprocessing.jets.physics.eta)."""
    import tensorflow as tf

    pt_ = pt(p4)
    safe = tf.where(pt_ > 0, pt_, tf.fill(tf.shape(pt_), tf.constant(math.inf, pt_.dtype)))
    return tf.math.asinh(p4[..., 3] / safe)


def phi(p4):
    """Azimuth atan2(py, px)."""
    import tensorflow as tf

    return tf.math.atan2(p4[..., 2], p4[..., 1])


def lexsort(keys):
    """Per-row order of `keys` (each (jets, particles)) like numpy.lexsort(keys, axis=-1): the last
    key is the primary one, ascending, earlier keys break its ties (stable sorts, least significant
    key first)."""
    import tensorflow as tf

    order = tf.broadcast_to(tf.range(tf.shape(keys[0])[1])[None, :], tf.shape(keys[0]))
    for key in keys:
        current = tf.gather(key, order, batch_dims=1)
        order = tf.gather(order, tf.argsort(current, axis=-1, stable=True), batch_dims=1)
    return order


def take_rows(values, order, n_keep):
    """values (jets, particles, ...) gathered in `order`, the first n_keep, zero padded when a jet
    has fewer than n_keep particles slots."""
    import tensorflow as tf

    kept = tf.gather(values, order[:, :n_keep], batch_dims=1)
    missing = n_keep - tf.shape(kept)[1]
    pad = [[0, 0], [0, missing]] + [[0, 0]] * (len(values.shape) - 2)
    return tf.pad(kept, pad)
