"""Outlier-exposure losses against hand-computed values, and their sign: descending the OE-VAE
objective pushes the outliers' MSE and KL up."""

import numpy as np
import tensorflow as tf

from losses.outlier import kl_margin_outlier_exposure, mse_outlier_exposure


def test_mse_oe_hand_computed():
    mse_in = tf.constant([1.0, 2.0, 0.5], tf.float64)
    mse_out = tf.constant([1.0, 4.0, 0.0], tf.float64)
    # sigmoid(0) = 0.5, sigmoid(2) = 1 / (1 + e^-2), sigmoid(-0.5) = 1 / (1 + e^0.5)
    want = [0.5, 1.0 / (1.0 + np.exp(-2.0)), 1.0 / (1.0 + np.exp(0.5))]
    np.testing.assert_allclose(mse_outlier_exposure(mse_in, mse_out).numpy(), want, rtol=1e-12)


def test_kl_margin_hand_computed():
    kl_in = tf.constant([[0.5, 2.0], [0.0, 0.0]], tf.float64)
    kl_out = tf.constant([[3.0, 1.0], [0.2, 5.0]], tf.float64)
    # jet 0: relu(0.5 - 3 + 1) = 0, relu(2 - 1 + 1) = 2 -> mean 1; jet 1: relu(0.8) = 0.8, relu(-4) = 0 -> 0.4
    np.testing.assert_allclose(kl_margin_outlier_exposure(kl_in, kl_out, margin=1.0).numpy(), [1.0, 0.4])
    np.testing.assert_allclose(kl_margin_outlier_exposure(kl_in, kl_out, margin=0.0).numpy(), [0.5, 0.0])


def test_a_descent_step_raises_outlier_mse_and_kl():
    """total = L_VAE - lambda mean sigmoid(MSE_out - MSE_in) and L_VAE + lambda mean hinge: one
    gradient-descent step on the outlier terms increases them (the sign of the OE-VAE objective)."""
    mse_in = tf.constant([1.0, 1.0])
    mse_out = tf.Variable([1.2, 0.8])
    with tf.GradientTape() as tape:
        total = -500.0 * tf.reduce_mean(mse_outlier_exposure(mse_in, mse_out))
    before = mse_out.numpy().copy()
    mse_out.assign_sub(1e-3 * tape.gradient(total, mse_out))
    assert np.all(mse_out.numpy() > before)

    kl_in = tf.constant([[1.0, 1.0]])
    kl_out = tf.Variable([[0.5, 1.5]])
    with tf.GradientTape() as tape:
        total = 2.0 * tf.reduce_mean(kl_margin_outlier_exposure(kl_in, kl_out, 1.0))
    before = kl_out.numpy().copy()
    kl_out.assign_sub(0.1 * tape.gradient(total, kl_out))
    assert np.all(kl_out.numpy() > before)  # both dimensions are inside the margin
