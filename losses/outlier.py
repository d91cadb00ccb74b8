"""Outlier-exposure (OE) losses of the cheng2020 OE-VAE (Sec. V, Eqs. 12-14; D. Hendrycks,
M. Mazeika, T. Dietterich, arXiv:1812.04606).

Each batch of in-distribution jets i is paired one-to-one with a batch of outlier jets i'. With
the per-jet reconstruction errors MSE and the per-dimension KL divergences KL_d of both:

MSE-OE (input space):

    L_OE,i = sigmoid(MSE_out,i' - MSE_in,i),    L = L_beta-VAE - lambda * mean_i L_OE,i

so minimising L *maximises* L_OE: outliers are pushed to reconstruct worse than inliers
(lambda = 500).

KL-OE (latent space), a margin (hinge) loss per latent dimension d:

    H_i = mean_d relu(KL_in,i,d - KL_out,i',d + margin),   L = L_beta-VAE + lambda * mean_i H_i

which vanishes once every outlier dimension sits at least `margin` nats above the paired inlier's
(lambda = 2, margin = 1). This is Eq. 14 (min{0, KL_out - KL_in - margin}, maximised) written as a
non-negative penalty, applied per dimension as in the authors' code.

Both functions return per-pair terms (batch,); models.oe_vae adds them with the signs above.
"""

import tensorflow as tf


def mse_outlier_exposure(mse_in, mse_out):
    """sigmoid(MSE_out - MSE_in) per pair, (batch,); to be maximised (subtract lambda times its mean)."""
    return tf.sigmoid(mse_out - mse_in)


def kl_margin_outlier_exposure(kl_in_dims, kl_out_dims, margin=1.0):
    """mean_d relu(KL_in,d - KL_out,d + margin) per pair, (batch,); to be minimised (add lambda times its mean).

    Args:
        kl_in_dims, kl_out_dims: (batch, d) KL divergences per latent dimension.
        margin: nats per dimension by which outliers should exceed inliers.
    """
    return tf.reduce_mean(tf.nn.relu(kl_in_dims - kl_out_dims + margin), axis=-1)
