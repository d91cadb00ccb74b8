"""Gaussian-mixture prior of the GMVAE (dillon2021 Sec. 3).

Prior: p(z) = sum_r softmax(a)_r N(z; M_r, diag exp(V_r)) with learnable means M (R x n),
log-variances V (R x n) and logits a (R), built with tfp MixtureSameFamily.

KL by one Monte-Carlo sample z ~ q(z|x) (Eqs. 9-10):

    KL ~= <log q>_q - log p(z),  <log q>_q = -n/2 (1 + log 2 pi) - 1/2 sum_i log sigma_i^2
    (the analytic negative entropy of the Gaussian posterior).

Mode repulsion (Eqs. 12-13): Ashman distance between two diagonal Gaussian modes

    D^2 = sum_i 2 (mu_1i - mu_2i)^2 / (sigma_1i^2 + sigma_2i^2),   L_A = -lambda_A tanh(D / 2);

with R > 2 modes the repulsion is summed over all pairs.
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def mixture_prior(means, log_vars, logits):
    """tfp mixture of R diagonal Gaussians over an n-dimensional latent space.

    Args:
        means, log_vars: (R, n); logits: (R,).
    """
    return tfd.MixtureSameFamily(
        mixture_distribution=tfd.Categorical(logits=logits),
        components_distribution=tfd.MultivariateNormalDiag(loc=means, scale_diag=tf.exp(0.5 * log_vars)),
    )


def gaussian_negative_entropy(log_var):
    """<log q>_q of a diagonal Gaussian, per jet (batch,), from log-variances (batch, n)."""
    n = tf.cast(tf.shape(log_var)[-1], log_var.dtype)
    return -0.5 * n * (1.0 + math.log(2.0 * math.pi)) - 0.5 * tf.reduce_sum(log_var, axis=-1)


def mixture_kl_single_sample(z, log_var, prior):
    """One-sample Monte-Carlo KL(q(z|x) || p(z)) per jet (batch,); z must be drawn from q."""
    return gaussian_negative_entropy(log_var) - prior.log_prob(z)


def responsibilities(z, means, log_vars, logits):
    """Posterior mode probabilities p(r | z), shape (batch, R)."""
    comp = tfd.MultivariateNormalDiag(loc=means, scale_diag=tf.exp(0.5 * log_vars))  # batch shape (R,)
    log_joint = comp.log_prob(z[:, None, :]) + tf.nn.log_softmax(logits)  # (batch, R)
    return tf.nn.softmax(log_joint, axis=-1)


def ashman_distance(mean1, log_var1, mean2, log_var2):
    """Ashman D between two diagonal Gaussians (vectors of length n)."""
    d2 = tf.reduce_sum(2.0 * tf.square(mean1 - mean2) / (tf.exp(log_var1) + tf.exp(log_var2)), axis=-1)
    return tf.sqrt(d2 + 1e-12)


def ashman_repulsion(means, log_vars, strength):
    """-lambda_A * sum over mode pairs of tanh(D/2): more negative as the modes separate, saturating."""
    r = means.shape[0]
    total = 0.0
    for i in range(r):
        for j in range(i + 1, r):
            total += tf.tanh(0.5 * ashman_distance(means[i], log_vars[i], means[j], log_vars[j]))
    return -strength * total
