"""Reconstruction terms, per jet (batch,).

- categorical cross-entropy of a unit-sum target x against predicted log-probabilities:
  CE = - sum_p x_p log q_p  (dillon2021 DVAE: the image as a distribution over pixels);
- mean squared error over all features: MSE = mean_p (x_p - y_p)^2;
- squared error summed over all features: SE = sum_p (x_p - y_p)^2 (a Gaussian likelihood
  per jet; the (V)AE and GMVAE of dillon2021 on unit-sum images, where a per-pixel mean
  would make the reconstruction term negligible against beta_KL * KL).
"""

import tensorflow as tf


def _flatten(x):
    return tf.reshape(x, (tf.shape(x)[0], -1))  # (batch, features)


def categorical_cross_entropy(target, log_probs):
    """-sum(target * log_probs) per jet; both (batch, ...) with matching trailing shapes."""
    return -tf.reduce_sum(_flatten(target) * _flatten(log_probs), axis=-1)


def mean_squared_error(target, prediction):
    """Mean squared error per jet over all trailing axes."""
    return tf.reduce_mean(tf.square(_flatten(target) - _flatten(prediction)), axis=-1)


def squared_error(target, prediction):
    """Squared error summed over all trailing axes, per jet."""
    return tf.reduce_sum(tf.square(_flatten(target) - _flatten(prediction)), axis=-1)
