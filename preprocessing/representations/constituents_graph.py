"""cheng2020 constituent four-vectors computed in a TensorFlow graph, for SavedModels that take
raw constituents.

The same steps as ``preprocessing.representations.constituents`` (its module docstring has the
formulas: rotate to phi_J = 0, boost along z to p_z,J = 0, keep the 20 hardest, rotate the
principal axis to +phi), written with TF ops in float64 so both builders agree to rounding.
"""

import math

from preprocessing.representations import graph_ops
from preprocessing.representations.constituents import DEFAULT_PARAMS


def constituent_four_vectors(constituents, n_constituents, n_keep=20):
    """((jets, n_keep, 4) float32 (E, px, py, pz), (jets, n_keep) float32 mask), in-graph."""
    import tensorflow as tf

    p4, mask = graph_ops.validate_constituents(constituents, n_constituents)  # (jets, particles, 4), (jets, particles)
    jet = tf.reduce_sum(p4, axis=1)  # (jets, 4): the full jet, not only the kept constituents

    # hardest first; energy, then p_z break exact pT ties (as the numpy builder)
    pt = tf.where(mask, graph_ops.pt(p4), -tf.ones_like(p4[..., 0]))
    order = graph_ops.lexsort((-p4[..., 3], -p4[..., 0], -pt))
    kept = graph_ops.take_rows(p4, order, n_keep)  # (jets, n_keep, 4)
    kept_mask = graph_ops.take_rows(mask, order, n_keep)  # (jets, n_keep)
    e, px, py, pz = (kept[..., k] for k in range(4))

    # steps 1-2: rotate about z by -phi_J, boost along z with beta = -p_z,J / E_J
    angle = -graph_ops.phi(jet)[:, None]
    px, py = px * tf.cos(angle) - py * tf.sin(angle), px * tf.sin(angle) + py * tf.cos(angle)
    beta = -(jet[:, 3] / jet[:, 0])[:, None]
    gamma = 1.0 / tf.math.sqrt(1.0 - beta * beta)
    e, pz = gamma * (e + beta * pz), gamma * (pz + beta * e)
    centred = tf.stack([e, px, py, pz], axis=-1)

    # step 4: principal axis a = (sum eta E / R, sum phi E / R) rotated to +phi, about the x axis
    zero = tf.zeros_like(e)
    eta = tf.where(kept_mask, graph_ops.eta(centred), zero)
    phi = tf.where(kept_mask, graph_ops.phi(centred), zero)
    r = tf.math.sqrt(eta * eta + phi * phi)
    w = tf.where(kept_mask & (r > 0), e / tf.where(r > 0, r, tf.ones_like(r)), zero)
    alpha = tf.math.atan2(tf.reduce_sum(w * phi, axis=1), tf.reduce_sum(w * eta, axis=1))
    theta = (alpha - 0.5 * math.pi)[:, None]
    py, pz = py * tf.cos(theta) - pz * tf.sin(theta), py * tf.sin(theta) + pz * tf.cos(theta)
    out = tf.where(kept_mask[..., None], tf.stack([e, px, py, pz], axis=-1), tf.zeros_like(centred))
    return tf.cast(out, tf.float32), tf.cast(kept_mask, tf.float32)


def build(constituents, counts, **params):
    """{"constituents", "constituent_mask"} in-graph, with the parameters of the numpy builder.

    `counts` is the number of real constituents per jet; the parameter ``n_constituents`` (how many
    to keep) arrives in **params, so the count may not share its name.
    """
    params = {**DEFAULT_PARAMS, **params}
    four, mask = constituent_four_vectors(constituents, counts, params["n_constituents"])
    return {"constituents": four, "constituent_mask": mask}
