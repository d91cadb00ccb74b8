"""Convolutional VAE with a 1-D Gaussian latent space (dillon2021, arXiv:2104.08291, Sec. 2).

Same networks as the AE (models/conv.py); the encoder outputs (mu, log sigma^2):

    z = mu + sigma * eps,  loss per jet = SE(x, decoder(z)) + beta_KL * KL(N(mu, sigma^2) || N(0, 1)),
    beta_KL = 1e-4.

Scores (larger = more anomalous), at the posterior mean:
    latent          mu, signed to grow with the image spread of the training jets (default;
                    the paper's latent-space tagger, AUC 0.83 for t/Q = 1),
    reconstruction  SE(x, decoder(mu)),
    kl              KL to the standard normal prior.
"""

import keras
import tensorflow as tf

from losses import squared_error, standard_normal_kl
from models.ae1d import AE1D
from models.base import gaussian_sample
from models.citations import cite

CITATION = cite("dillon2021", "Sec. 2")

PRESETS = {
    "paper": {
        "config": {"latent_dim": 1, "beta_kl": 1e-4},
        "description": "1-D Gaussian latent, beta_KL = 1e-4 (Fig. 2b, Fig. 3)",
    },
}


@keras.saving.register_keras_serializable(package="anomalous_jets")
class VAE1D(AE1D):
    """Convolutional VAE on jet images; arguments as AE1D plus `beta_kl`."""

    term_names = ("reconstruction", "kl")
    default_score = "latent"

    def __init__(self, latent_dim=1, beta_kl=1e-4, **kwargs):
        self.beta_kl = float(beta_kl)
        super().__init__(latent_dim=latent_dim, **kwargs)

    def _encoder_outputs(self):
        return 2 * self.latent_dim

    def encode(self, images):
        """(mean, log_var), each (batch, latent_dim)."""
        h = self.encoder(images)
        return h[:, : self.latent_dim], h[:, self.latent_dim :]

    def posterior_mean(self, images):
        return self.encode(images)[0]

    def sample(self, mean, log_var):
        return gaussian_sample(mean, log_var, self.noise)

    def call(self, images, training=False):
        return self.decoder(self.encode(images)[0])

    def latent(self, images):
        mean, log_var = self.encode(images)
        return {"mean": mean, "log_var": log_var}

    def kl(self, mean, log_var, z):
        """Per-jet KL to the prior (z is the sample, unused by the analytic Gaussian KL)."""
        return standard_normal_kl(mean, log_var)

    def loss_terms(self, images):
        mean, log_var = self.encode(images)
        z = self.sample(mean, log_var)
        return {"reconstruction": squared_error(images, self.decoder(z)), "kl": self.kl(mean, log_var, z)}

    def total_loss(self, terms):
        return tf.reduce_mean(terms["reconstruction"] + self.beta_kl * terms["kl"])

    def anomaly_scores(self, images):
        mean, log_var = self.encode(images)
        return {
            "latent": self.orientation * mean[:, 0],
            "reconstruction": squared_error(images, self.decoder(mean)),
            "kl": self.kl(mean, log_var, mean),
        }

    def get_config(self):
        return {**super().get_config(), "beta_kl": self.beta_kl}
