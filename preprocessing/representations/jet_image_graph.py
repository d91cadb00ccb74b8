"""Jet images computed in a TensorFlow graph, for SavedModels that take raw constituents.

The same five steps as ``preprocessing.representations.jet_image`` (its module docstring has the
formulas), written with TF ops so that an export can map padded constituents (E, px, py, pz) and
their count straight to a 40 x 40 image inside the serving graph. The arithmetic runs in float64
like the numpy builder, so both agree to rounding; tests hold them to 1e-4 per pixel.

Bad input is an ``InvalidArgumentError`` raised by in-graph assertions (TF Serving and
``python -m serving`` answer it with HTTP 400 / gRPC INVALID_ARGUMENT): the physical-input rules
of ``graph_ops.validate_constituents``, then a jet with no pT inside the image.
"""

import math

from preprocessing.representations.graph_ops import refuse_jets, validate_constituents, wrap_phi
from preprocessing.representations.jet_image import DEFAULT_PARAMS


def jet_images(constituents, n_constituents, n_pixels=40, pixel_eta=0.029, pixel_phi=0.035):
    """(jets, n_pixels, n_pixels) float32 unit-sum images from padded constituents, in-graph."""
    import tensorflow as tf

    p4, mask = validate_constituents(constituents, n_constituents)  # (jets, particles, 4), (jets, particles)
    zero = tf.zeros_like(p4[..., 0])
    px, py, pz = p4[..., 1], p4[..., 2], p4[..., 3]
    pt = tf.where(mask, tf.math.sqrt(px * px + py * py), zero)  # (jets, particles)
    eta = tf.where(
        mask, tf.math.asinh(pz / tf.where(pt > 0, pt, tf.fill(tf.shape(pt), tf.constant(math.inf, tf.float64)))), zero
    )
    phi = tf.math.atan2(py, px)
    dphi = tf.where(mask, wrap_phi(phi - phi[:, :1]), zero)  # hardest constituent is the reference

    # steps 1-3: centre, rotate the principal axis to vertical, flip
    total_pt = tf.reduce_sum(pt, axis=1, keepdims=True)  # (jets, 1)
    w = pt / total_pt
    x = eta - tf.reduce_sum(w * eta, axis=1, keepdims=True)
    y = dphi - tf.reduce_sum(w * dphi, axis=1, keepdims=True)
    sxx, syy, sxy = (tf.reduce_sum(w * a * b, axis=1) for a, b in ((x, x), (y, y), (x, y)))
    theta = 0.5 * tf.math.atan2(2.0 * sxy, sxx - syy)
    a = (0.5 * math.pi - theta)[:, None]
    xr = x * tf.cos(a) - y * tf.sin(a)
    yr = x * tf.sin(a) + y * tf.cos(a)

    def sign(c):
        pos = tf.reduce_sum(tf.where(c > 0, pt, zero), axis=1)
        neg = tf.reduce_sum(tf.where(c < 0, pt, zero), axis=1)
        return tf.where(pos >= neg, tf.ones_like(pos), -tf.ones_like(pos))[:, None]

    xr, yr = xr * sign(xr), yr * sign(yr)

    # step 4: pixelise; constituents outside the grid go to one extra, discarded bin
    col = tf.cast(tf.floor(xr / pixel_eta + 0.5 * n_pixels), tf.int64)
    row = tf.cast(tf.floor(yr / pixel_phi + 0.5 * n_pixels), tf.int64)
    inside = (col >= 0) & (col < n_pixels) & (row >= 0) & (row < n_pixels) & (pt > 0)
    n_jets = tf.shape(p4, out_type=tf.int64)[0]
    jet = tf.broadcast_to(tf.range(n_jets)[:, None], tf.shape(col, out_type=tf.int64))
    flat = (jet * n_pixels + row) * n_pixels + col
    n_bins = n_jets * n_pixels * n_pixels
    flat = tf.where(inside, flat, n_bins)
    sums = tf.math.unsorted_segment_sum(tf.reshape(pt, [-1]), tf.reshape(flat, [-1]), n_bins + 1)
    images = tf.reshape(sums[:-1], tf.stack([n_jets, n_pixels, n_pixels]))

    # step 5: unit sum
    total = tf.reduce_sum(images, axis=(1, 2), keepdims=True)
    inside_pt = tf.reshape(total, [-1]) > 0  # (jets,)
    with tf.control_dependencies(
        [refuse_jets(~inside_pt, lambda: [("pT inside the image", "a jet has no pT inside the image", ~inside_pt)])]
    ):
        return tf.cast(images / total, tf.float32)


def build(constituents, n_constituents, **params):
    """{"jet_image": (jets, n, n)} in-graph, with the parameters of the numpy builder."""
    params = {**DEFAULT_PARAMS, **params}
    return {"jet_image": jet_images(constituents, n_constituents, **params)}
