"""Squared distance correlation of two per-jet quantities in one mini-batch (DisCo: G. Kasieczka,
D. Shih, arXiv:2001.05310; Székely, Rizzo & Bakirov, Ann. Statist. 35 (2007) 2769).

For n jets with values x_i, y_i and weights w_i (normalised here to sum 1; uniform when not given):

    a_ij = |x_i - x_j|,   A_ij = a_ij - <a_i.> - <a_.j> + <a_..>,
    <a_i.> = sum_j w_j a_ij,   <a_..> = sum_ij w_i w_j a_ij          (and B_ij likewise from y)

    dCov^2(x, y) = sum_ij w_i w_j A_ij B_ij
    dCor^2(x, y) = dCov^2(x, y) / sqrt(dCov^2(x, x) dCov^2(y, y))

This is the (biased) V-statistic: dCor^2 is in [0, 1], exactly 1 for y = a x + b with a != 0, and
tends to 0 (as 1/n) for independent variables. It is differentiable in x and y, so adding
lambda * dCor^2(loss_i, m_i) to a training loss decorrelates the per-jet loss from the jet mass m
(cheng2020 DisCo-VAE, cheng2022 DisCo classifier). Cost O(n^2) per batch.
"""

import tensorflow as tf


def _centred_distances(v, w):
    """Doubly centred |v_i - v_j| with weights w (summing to 1); (n,) -> (n, n)."""
    a = tf.abs(v[:, None] - v[None, :])  # (n, n)
    row = tf.reduce_sum(a * w[None, :], axis=1)  # (n,) weighted mean over j; a is symmetric
    grand = tf.reduce_sum(row * w)
    return a - row[:, None] - row[None, :] + grand


def distance_correlation_sq(x, y, weights=None, epsilon=1e-12):
    """Squared distance correlation dCor^2(x, y) of one mini-batch, a scalar tensor.

    Args:
        x, y: (batch,) tensors (e.g. the per-jet VAE loss and the jet mass).
        weights: optional (batch,) non-negative per-jet weights (normalised here).
        epsilon: guards the denominator when x or y is constant (dCor^2 is then 0).

    Returns:
        scalar dCor^2 in the dtype of x.
    """
    x = tf.reshape(x, [-1])
    y = tf.cast(tf.reshape(y, [-1]), x.dtype)
    if weights is None:
        w = tf.ones_like(x)
    else:
        w = tf.cast(tf.reshape(weights, [-1]), x.dtype)
    w = w / tf.reduce_sum(w)
    a = _centred_distances(x, w)
    b = _centred_distances(y, w)
    ww = w[:, None] * w[None, :]  # (n, n)
    dcov_xy = tf.reduce_sum(ww * a * b)
    dcov_xx = tf.reduce_sum(ww * a * a)
    dcov_yy = tf.reduce_sum(ww * b * b)
    return dcov_xy / tf.sqrt(dcov_xx * dcov_yy + epsilon)
