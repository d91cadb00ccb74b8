"""KL term of a Gaussian VAE (dillon2021 Sec. 2, Eq. 3; Kingma & Welling):

    KL(N(mu, diag sigma^2) || N(0, 1)) = 1/2 sum_i (sigma_i^2 + mu_i^2 - 1 - log sigma_i^2),

summed over latent dimensions (not averaged: the per-jet score and the loss are the same
quantity).
"""

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def posterior(mean, log_var):
    """The encoder's diagonal Gaussian q(z|x) as a tfp distribution (batch, latent)."""
    return tfd.MultivariateNormalDiag(loc=mean, scale_diag=tf.exp(0.5 * log_var))


def standard_normal_kl(mean, log_var):
    """Per-jet KL(q(z|x) || N(0, 1)), shape (batch,)."""
    q = posterior(mean, log_var)
    p = tfd.MultivariateNormalDiag(loc=tf.zeros_like(mean), scale_diag=tf.ones_like(mean))
    return tfd.kl_divergence(q, p)
