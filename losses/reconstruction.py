"""Reconstruction terms, per jet (batch,).

- categorical cross-entropy of a unit-sum target x against predicted log-probabilities:
  CE = - sum_p x_p log q_p  (dillon2021 DVAE: the image as a distribution over pixels);
- mean squared error over all features: MSE = mean_p (x_p - y_p)^2.
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
