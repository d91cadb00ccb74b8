"""KL term of the Dirichlet-VAE (dillon2021, Sec. 4; Srivastava & Sutton, ProdLDA).

The Dirichlet prior D_alpha(r) on the R-simplex is replaced by its softmax-Gaussian (Laplace)
approximation r = softmax(z), z ~ N(mu~, diag sigma~^2) with

    mu~_i      = log alpha_i - (1/R) sum_j log alpha_j
    sigma~^2_i = (1/alpha_i) (1 - 2/R) + (1/R^2) sum_j 1/alpha_j

and the per-jet latent loss is the KL divergence between the encoder's diagonal Gaussian
q(z|x) = N(mu, diag exp(log_var)) and that Gaussian:

    KL = 1/2 sum_i [ s_i^2/sigma~_i^2 + (mu_i - mu~_i)^2/sigma~_i^2 - 1 + log(sigma~_i^2 / s_i^2) ].

(The paper's printed formula has "- R" inside the sum; the correct Gaussian KL has "- 1" per
term, which is what tfp computes.)
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def dirichlet_laplace_prior(alpha):
    """(mean, variance) of the Laplace approximation to Dirichlet(alpha), each shape (R,)."""
    alpha = np.asarray(alpha, dtype=np.float64)
    if alpha.ndim != 1 or len(alpha) < 2 or np.any(alpha <= 0):
        raise ValueError(f"alpha must be a list of R >= 2 positive numbers, got {alpha.tolist()}")
    r = len(alpha)
    mean = np.log(alpha) - np.log(alpha).mean()
    var = (1.0 / alpha) * (1.0 - 2.0 / r) + np.sum(1.0 / alpha) / r**2
    return mean, var


def dirichlet_laplace_kl(mean, log_var, alpha):
    """Per-jet KL(q(z|x) || Laplace prior of Dirichlet(alpha)).

    Args:
        mean, log_var: (batch, R) encoder outputs.
        alpha: R concentration parameters.

    Returns:
        (batch,) KL divergences.
    """
    prior_mean, prior_var = dirichlet_laplace_prior(alpha)
    dtype = mean.dtype
    q = tfd.MultivariateNormalDiag(loc=mean, scale_diag=tf.exp(0.5 * log_var))
    p = tfd.MultivariateNormalDiag(
        loc=tf.constant(prior_mean, dtype), scale_diag=tf.constant(np.sqrt(prior_var), dtype)
    )
    return tfd.kl_divergence(q, p)  # (batch,)
