"""Gaussian-mixture VAE with Ashman-distance mode repulsion (dillon2021, arXiv:2104.08291, Sec. 3).

Same networks as the VAE; the prior is a learnable mixture of R diagonal Gaussians (means M,
log-variances V, logits a; tfp MixtureSameFamily). Loss per batch (losses/mixture.py):

    mean over jets [ SE(x, decoder(z)) + beta_KL * (<log q>_q - log p(z)) ] - lambda_A * sum_pairs tanh(D/2),

with one sample z ~ q(z|x), the analytic Gaussian negative entropy <log q>_q and the Ashman
distance D between prior modes. beta_KL = 1e-4 as in the paper; lambda_A (not quoted in the
paper) defaults to 1e-3, comparable to the KL term; the repulsion saturates once D >> 2.

Scores (larger = more anomalous), at the posterior mean z = mu:
    responsibility  p(r = k | mu) of the anomalous mode k (default),
    reconstruction  SE(x, decoder(mu)),
    kl              the plug-in KL estimate <log q>_q - log p(mu).
The anomalous mode k is fixed after training without labels: the mode whose responsibility
grows most with the image spread of the training jets (Spearman correlation).
"""

import keras
import numpy as np
import tensorflow as tf

from losses import ashman_repulsion, mixture_kl_single_sample, mixture_prior, responsibilities
from models.base import batched, image_spread, rank_correlation
from models.citations import cite
from models.vae1d import VAE1D

CITATION = cite("dillon2021", "Sec. 3")

PRESETS = {
    "paper": {
        "config": {"latent_dim": 1, "n_modes": 2, "beta_kl": 1e-4, "repulsion": 1e-3},
        "description": "1-D latent, R=2 learnable Gaussian modes, Ashman repulsion (Figs. 4-5)",
    },
}


@keras.saving.register_keras_serializable(package="anomalous_jets")
class GMVAE(VAE1D):
    """VAE with a learnable Gaussian-mixture prior.

    Args:
        n_modes: number R of prior modes.
        repulsion: lambda_A of the Ashman repulsion.
        anomalous_component: fix the anomalous mode instead of the label-free rule.
        Other arguments as VAE1D.
    """

    default_score = "responsibility"
    term_names = ("reconstruction", "kl", "repulsion")

    def __init__(self, latent_dim=1, n_modes=2, repulsion=1e-3, anomalous_component=None, **kwargs):
        self.n_modes = int(n_modes)
        if self.n_modes < 1:
            raise ValueError(f"n_modes must be at least 1, got {n_modes}")
        self.repulsion = float(repulsion)
        self.anomalous_component = None if anomalous_component is None else int(anomalous_component)
        super().__init__(latent_dim=latent_dim, **kwargs)
        # modes start symmetric about 0 so the repulsion has a direction to push
        init_means = np.linspace(-1.0, 1.0, self.n_modes)[:, None] * np.ones((1, self.latent_dim))
        self.prior_means = self.add_weight(
            shape=(self.n_modes, self.latent_dim),
            name="prior_means",
            initializer=keras.initializers.Constant(init_means),
        )
        self.prior_log_vars = self.add_weight(
            shape=(self.n_modes, self.latent_dim), name="prior_log_vars", initializer="zeros"
        )
        self.prior_logits = self.add_weight(shape=(self.n_modes,), name="prior_logits", initializer="zeros")
        self.add_component_selector(self.n_modes, self.anomalous_component or 0)

    def prior(self):
        """The current mixture prior as a tfp distribution."""
        return mixture_prior(self.prior_means, self.prior_log_vars, self.prior_logits)

    def kl(self, mean, log_var, z):
        return mixture_kl_single_sample(z, log_var, self.prior())

    def loss_terms(self, images):
        terms = super().loss_terms(images)
        rep = ashman_repulsion(self.prior_means, self.prior_log_vars, self.repulsion)
        return {**terms, "repulsion": tf.fill(tf.shape(terms["kl"]), tf.cast(rep, terms["kl"].dtype))}

    def total_loss(self, terms):
        return tf.reduce_mean(terms["reconstruction"] + self.beta_kl * terms["kl"]) + terms["repulsion"][0]

    def responsibilities(self, z):
        return responsibilities(z, self.prior_means, self.prior_log_vars, self.prior_logits)

    def anomaly_scores(self, images):
        mean, log_var = self.encode(images)
        resp = self.responsibilities(mean)
        scores = super().anomaly_scores(images)
        return {
            "responsibility": tf.reduce_sum(resp * self.selector, axis=-1),
            "reconstruction": scores["reconstruction"],
            "kl": scores["kl"],
        }

    def latent(self, images):
        mean, log_var = self.encode(images)
        return {"mean": mean, "log_var": log_var, "responsibilities": self.responsibilities(mean)}

    def calibrate(self, train_images):
        """Pick the anomalous mode (label-free): responsibility most correlated with image spread."""
        if self.anomalous_component is not None:
            k = self.anomalous_component
        else:
            x = train_images[:20000]
            resp = batched(lambda batch: self.responsibilities(self.posterior_mean(batch)), x)
            spread = image_spread(x)
            k = int(np.argmax([rank_correlation(resp[:, j], spread) for j in range(self.n_modes)]))
        return self.select_component(k)

    def get_config(self):
        return {
            **super().get_config(),
            "n_modes": self.n_modes,
            "repulsion": self.repulsion,
            "anomalous_component": self.anomalous_component,
        }
