"""Per-step and per-jet loss terms of the variational RNN (kahn2021 Eqs. 2.5-2.11).

For step t of a jet with N real steps (mask m_t), posterior q_t = N(mu_t, diag sigma_t^2) and
learned prior p_t = N(mu0_t, diag sigma0_t^2) (sigma are standard deviations):

    KL_t  = sum_d [ log(sigma0_d / sigma_d) + (sigma_d^2 + (mu_d - mu0_d)^2) / (2 sigma0_d^2) - 1/2 ]
    MSE_t = mean over the 3 features of (x_t - y_t)^2
    L     = (1/N) sum_t m_t [ MSE_t + lambda * w_t * KL_t ]        (lambda = 0.1, w_t = pbar_N(t))

and the score's KL is the same weighted length-average without lambda,
KL_jet = (1/N) sum_t m_t w_t KL_t. Padded steps (m_t = 0) contribute nothing to either.
"""

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def diagonal_gaussian_kl(mean_q, std_q, mean_p, std_p):
    """KL(N(mean_q, std_q^2) || N(mean_p, std_p^2)) summed over the last axis.

    Args:
        mean_q, std_q, mean_p, std_p: (..., latent); standard deviations, not variances.

    Returns:
        (...,) the KL of each step.
    """
    q = tfd.MultivariateNormalDiag(loc=mean_q, scale_diag=std_q)
    p = tfd.MultivariateNormalDiag(loc=mean_p, scale_diag=std_p)
    return tfd.kl_divergence(q, p)


def masked_step_mean(values, mask):
    """(1/N) sum_t mask_t values_t per jet, N = sum_t mask_t; (batch, T) -> (batch,).

    A jet without any real step gets 0 (never a division by zero).
    """
    mask = tf.cast(mask, values.dtype)
    n = tf.reduce_sum(mask, axis=-1)
    return tf.reduce_sum(values * mask, axis=-1) / tf.maximum(n, 1.0)


def vrnn_jet_terms(target, prediction, kl_steps, kl_weights, mask):
    """Per-jet reconstruction and weighted KL of a VRNN (both length-averaged over real steps).

    Args:
        target, prediction: (batch, T, features).
        kl_steps: (batch, T) KL_t from `diagonal_gaussian_kl`.
        kl_weights: (batch, T) pbar_N(t) of each step.
        mask: (batch, T) 1 for real steps, 0 for padding.

    Returns:
        {"reconstruction": (batch,) mean_t MSE_t, "kl": (batch,) mean_t w_t KL_t}; the loss per
        jet is reconstruction + lambda * kl.
    """
    mse = tf.reduce_mean(tf.square(target - prediction), axis=-1)  # (batch, T)
    # where() rather than a product: a padded step's values never reach the sum, even if not finite
    mask = tf.cast(mask, mse.dtype)
    mse = tf.where(mask > 0, mse, tf.zeros_like(mse))
    kl = tf.where(mask > 0, kl_weights * kl_steps, tf.zeros_like(kl_steps))
    return {"reconstruction": masked_step_mean(mse, mask), "kl": masked_step_mean(kl, mask)}
