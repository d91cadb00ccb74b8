"""Per-jet terms of the cheng2020 beta-VAE in the authors' reduction convention
(T. Cheng, J.-F. Arguin, J. Leissner-Martin, J. Pilette, T. Golling, "Variational Autoencoders for
Anomalous Jet Tagging", arXiv:2007.01850, Eq. 5, with the reductions of the authors' public code).

For n = 80 scaled input features x and their reconstruction y, and a diagonal Gaussian posterior
N(mu, diag sigma^2) over d = 10 latent dimensions:

    MSE     = (1/n) sum_p (x_p - y_p)^2                               (mean over the 80 features)
    KL_k    = 1/2 (sigma_k^2 + mu_k^2 - 1 - log sigma_k^2)            (per latent dimension)
    KL      = (1/d) sum_k KL_k                                        (mean over the 10 dimensions)
    L_beta  = MSE + beta KL,   beta = 0.1

beta = 0.1 is the paper's value in exactly this convention; with the KL summed over dimensions it
would be 0.01, and with both terms summed 0.8. The per-dimension KL_k is kept for the KL-OE margin
loss (losses.outlier), which acts on each dimension.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from losses.reconstruction import mean_squared_error

tfd = tfp.distributions


def standard_normal_kl_per_dim(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, 1)) per latent dimension, (batch, d) -> (batch, d)."""
    q = tfd.Normal(loc=mean, scale=tf.exp(0.5 * log_var))
    p = tfd.Normal(loc=tf.zeros_like(mean), scale=tf.ones_like(mean))
    return tfd.kl_divergence(q, p)


def beta_vae_terms(target, reconstruction, mean, log_var):
    """{"reconstruction": (batch,) MSE over features, "kl": (batch,) KL averaged over dimensions,
    "kl_dims": (batch, d) KL per dimension}."""
    kl_dims = standard_normal_kl_per_dim(mean, log_var)
    return {
        "reconstruction": mean_squared_error(target, reconstruction),
        "kl": tf.reduce_mean(kl_dims, axis=-1),
        "kl_dims": kl_dims,
    }
