"""cheng2022 point clouds computed in a TensorFlow graph, for SavedModels that take raw constituents.

The same steps as ``preprocessing.representations.pointcloud`` (its module docstring has the
formulas: centre on the jet axis, rotate the energy-weighted principal axis to +d_phi, keep the
100 hardest, per-point features), written with TF ops in float64 so both builders agree to rounding.
"""

import math

from preprocessing.representations import graph_ops
from preprocessing.representations.pointcloud import DEFAULT_PARAMS, FEATURES


def point_clouds(constituents, n_constituents, n_points=100, features=DEFAULT_PARAMS["features"], rotate=True):
    """{"points": (jets, n_points, 2), "features": (jets, n_points, F), "mask": (jets, n_points)} float32."""
    import tensorflow as tf

    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise ValueError(f"point-cloud feature(s) {unknown} unknown; choose from {list(FEATURES)}")
    # a real constituent with E = 0 or pT = 0 would put log(0) into the features
    logs = any(f.startswith("log_") for f in features)
    p4, mask = graph_ops.validate_constituents(constituents, n_constituents, every_constituent_hard=logs)
    jet = tf.reduce_sum(p4, axis=1)  # (jets, 4)
    zero = tf.zeros_like(p4[..., 0])
    pt = graph_ops.pt(p4)
    energy = p4[..., 0]
    deta = tf.where(mask, graph_ops.eta(p4) - graph_ops.eta(jet)[:, None], zero)
    dphi = tf.where(mask, graph_ops.wrap_phi(graph_ops.phi(p4) - graph_ops.phi(jet)[:, None]), zero)
    r = tf.math.sqrt(deta * deta + dphi * dphi)
    if rotate:
        w = tf.where(mask & (r > 0), energy / tf.where(r > 0, r, tf.ones_like(r)), zero)
        alpha = tf.math.atan2(tf.reduce_sum(w * dphi, axis=1), tf.reduce_sum(w * deta, axis=1))
        turn = (0.5 * math.pi - alpha)[:, None]
        deta, dphi = deta * tf.cos(turn) - dphi * tf.sin(turn), deta * tf.sin(turn) + dphi * tf.cos(turn)
    minus_one = -tf.ones_like(zero)
    order = graph_ops.lexsort((dphi, deta, -tf.where(mask, energy, minus_one), -tf.where(mask, pt, minus_one)))

    def take(a):
        return graph_ops.take_rows(a, order, n_points)

    kept = take(mask)  # (jets, n_points)

    def safe(a):
        return tf.where(kept, a, tf.ones_like(a))  # the log of padding is never used; keep it finite

    columns = {
        "log_e": lambda: tf.math.log(safe(take(energy))),
        "log_pt": lambda: tf.math.log(safe(take(pt))),
        "deta": lambda: take(deta),
        "dphi": lambda: take(dphi),
        "log_e_rel": lambda: tf.math.log(safe(take(energy) / jet[:, :1])),
        "log_pt_rel": lambda: tf.math.log(safe(take(pt) / graph_ops.pt(jet)[:, None])),
        "delta_r": lambda: take(r),
    }
    kept3 = kept[..., None]
    feats = tf.stack([columns[f]() for f in features], axis=-1)  # (jets, n_points, F)
    points = tf.stack([columns["deta"](), columns["dphi"]()], axis=-1)  # (jets, n_points, 2)
    return {
        "points": tf.cast(tf.where(kept3, points, tf.zeros_like(points)), tf.float32),
        "features": tf.cast(tf.where(kept3, feats, tf.zeros_like(feats)), tf.float32),
        "mask": tf.cast(kept, tf.float32),
    }


def build(constituents, n_constituents, **params):
    """The point cloud in-graph, with the parameters of the numpy builder."""
    params = {**DEFAULT_PARAMS, **params}
    return point_clouds(constituents, n_constituents, params["n_points"], tuple(params["features"]), params["rotate"])
