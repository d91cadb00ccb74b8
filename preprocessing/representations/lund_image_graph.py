"""Primary Lund-plane images (dillon2021 appendix A) computed in a TensorFlow graph, for SavedModels
that take raw constituents.

The same steps as ``preprocessing.representations.lund_image`` (its module docstring has the
definitions), with FastJet replaced by TF ops: a Cambridge/Aachen clustering of each jet's
constituents to one jet (``tf_clustering.cluster``, the same merge history as FastJet on generated
jets), the primary declustering along the harder branch (fjcontrib's LundGenerator, which
``fastjet``'s ``exclusive_jets_lund_declusterings`` calls), and the (ln 1/Delta R, ln k_T)
histogram with the numpy builder's bin edges and border rule, all in float64. Images are counts
in bins, so they equal the numpy ones exactly unless a splitting sits within rounding of a bin edge.

Bad input is an ``InvalidArgumentError`` from in-graph assertions (HTTP 400 / gRPC
INVALID_ARGUMENT): the physical-input rules of ``graph_ops.validate_constituents``, then a jet
without any primary splitting with Delta R > 0 and k_T > 0 (one constituent), which has no Lund
image (the numpy builder raises for it too).
"""

from preprocessing.representations import graph_ops, tf_clustering
from preprocessing.representations.lund_image import DEFAULT_PARAMS

NO_SPLITTING = ("a primary Lund splitting", "a jet has no primary Lund splitting with Delta R > 0 and kT > 0")


def lund_images(constituents, n_constituents, n_pixels=40, log_inv_delta_r_range=(0.0, 6.0), log_kt_range=(-2.0, 5.0)):
    """(jets, n_pixels, n_pixels) float32 unit-sum primary Lund-plane images, in-graph."""
    import tensorflow as tf

    p4, mask = graph_ops.validate_constituents(constituents, n_constituents)  # (jets, particles, 4), (jets, particles)
    width = tf.maximum(tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)), 1)  # padding costs time
    history = tf_clustering.cluster(p4[:, :width], mask[:, :width], p=0.0)
    delta, kt, valid = tf_clustering.primary_declusterings(history)  # (jets, splittings) each
    one = tf.ones_like(delta)
    ok = valid & (delta > 0.0) & (kt > 0.0)
    x = tf.math.log(1.0 / tf.where(ok, delta, one))
    y = tf.math.log(tf.where(ok, kt, one))
    (x0, x1), (y0, y1) = log_inv_delta_r_range, log_kt_range
    col = tf.cast(tf.floor((x - x0) / (x1 - x0) * n_pixels), tf.int64)
    row = tf.cast(tf.floor((y - y0) / (y1 - y0) * n_pixels), tf.int64)
    inside = ok & (col >= 0) & (col < n_pixels) & (row >= 0) & (row < n_pixels)
    # a jet with no splitting inside the window keeps its splittings at the nearest border pixels
    edge = ok & ~tf.reduce_any(inside, axis=1, keepdims=True)
    inside = inside | edge
    col = tf.where(edge, tf.clip_by_value(col, 0, n_pixels - 1), col)
    row = tf.where(edge, tf.clip_by_value(row, 0, n_pixels - 1), row)
    n_jets = tf.shape(delta, out_type=tf.int64)[0]
    jet = tf.broadcast_to(tf.range(n_jets)[:, None], tf.shape(col, out_type=tf.int64))
    n_bins = n_jets * n_pixels * n_pixels
    flat = tf.where(inside, (jet * n_pixels + row) * n_pixels + col, n_bins)  # outside: one discarded bin
    counts = tf.math.unsorted_segment_sum(
        tf.reshape(tf.cast(inside, tf.float64), [-1]), tf.reshape(flat, [-1]), n_bins + 1
    )
    images = tf.reshape(counts[:-1], tf.stack([n_jets, n_pixels, n_pixels]))
    total = tf.reduce_sum(images, axis=(1, 2))  # (jets,)
    empty = total <= 0.0
    refused = graph_ops.refuse_jets(empty, lambda: [(*NO_SPLITTING, empty)])
    with tf.control_dependencies([refused]):
        return tf.cast(images / total[:, None, None], tf.float32)


def build(constituents, n_constituents, **params):
    """{"lund_image": (jets, n, n)} in-graph, with the parameters of the numpy builder."""
    return {"lund_image": lund_images(constituents, n_constituents, **{**DEFAULT_PARAMS, **params})}
