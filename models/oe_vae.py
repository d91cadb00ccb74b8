"""Outlier-exposure beta-VAE (cheng2020 Sec. V, Eqs. 12-14; D. Hendrycks et al., arXiv:1812.04606).

Every training batch of in-distribution (QCD) jets is paired one-to-one with as many outlier
jets, mass-rescaled W jets resampled to the QCD jet-mass distribution (training.pipeline pairs
each training row with one outlier row, the training-only array ``outliers``; Keras shuffles the
pairs every epoch). Both go through the same scaler and networks:

    MSE-OE (preset ``mse_oe``, lambda = 500, score MSE):
        L = L_beta - lambda c(epoch) mean_i sigmoid(MSE_out,i - MSE_in,i)
    KL-OE (preset ``kl_oe``, lambda = 2, margin = 1 nat per dimension, score KL):
        L = L_beta + lambda c(epoch) mean_i mean_d relu(KL_in,i,d - KL_out,i,d + margin)

(losses.outlier). c(epoch) is the cyclic annealing of the beta-VAE's KL weight (0 -> 1 in 5-epoch
ramps restarting at epochs 10 and 20, 1 from 25; models.beta_vae.cyclic_ramp), applied to lambda
as in the authors' code; validation uses c = 1. The default score is the one that matches the OE
space: MSE for MSE-OE, KL for KL-OE.
"""

import keras
import tensorflow as tf

from losses.outlier import kl_margin_outlier_exposure, mse_outlier_exposure
from models.beta_vae import CITATION, OUTLIERS, BetaVAE, cyclic_ramp

__all__ = ["CITATION", "PRESETS", "OEVAE"]

PRESETS = {
    "mse_oe": {
        "config": {"oe": "mse", "oe_lambda": 500.0},
        "description": "MSE-OE: beta-VAE - 500 sigmoid(MSE_out - MSE_in), cyclic lambda annealing, score MSE "
        "(Sec. V, Fig. 13 left)",
    },
    "kl_oe": {
        "config": {"oe": "kl", "oe_lambda": 2.0, "margin": 1.0},
        "description": "KL-OE: beta-VAE + 2 per-dimension KL margin loss (margin 1), cyclic lambda annealing, "
        "score KL (Sec. V, Fig. 13 right)",
    },
}


@keras.saving.register_keras_serializable(package="anomalous_jets")
class OEVAE(BetaVAE):
    """BetaVAE trained with outlier exposure.

    Args:
        oe: "mse" (input-space OE) or "kl" (latent-space margin OE).
        oe_lambda: lambda (500 for MSE-OE, 2 for KL-OE).
        margin: KL-OE margin in nats per latent dimension.
        oe_annealing: "cyclic" or "none".
        **kwargs: BetaVAE arguments.
    """

    term_names = ("reconstruction", "kl", "oe")

    def __init__(self, oe="mse", oe_lambda=500.0, margin=1.0, oe_annealing="cyclic", **kwargs):
        super().__init__(**kwargs)
        if oe not in ("mse", "kl"):
            raise ValueError(f"oe must be 'mse' or 'kl', got {oe!r}")
        if oe_annealing not in ("cyclic", "none"):
            raise ValueError(f"oe_annealing must be 'cyclic' or 'none', got {oe_annealing!r}")
        self.oe = oe
        self.oe_lambda = float(oe_lambda)
        self.margin = float(margin)
        self.oe_annealing = oe_annealing
        self.oe_anneal = self.add_weight(shape=(), initializer="ones", trainable=False, name="oe_anneal")

    @property
    def default_score(self):
        return "mse" if self.oe == "mse" else "kl"

    def loss_terms(self, inputs):
        outliers = self._array(inputs, OUTLIERS, "oe_vae")
        terms = super().loss_terms(inputs)
        out = self.vae_terms(self.scale_inputs(outliers))
        if self.oe == "mse":
            terms["oe"] = mse_outlier_exposure(terms["reconstruction"], out["reconstruction"])
        else:
            terms["oe"] = kl_margin_outlier_exposure(terms["kl_dims"], out["kl_dims"], self.margin)
        return terms

    def total_loss(self, terms, annealed=True):
        weight = self.oe_lambda * (self.oe_anneal if annealed else 1.0)
        sign = -1.0 if self.oe == "mse" else 1.0  # MSE-OE is maximised, the KL margin loss minimised
        return super().total_loss(terms, annealed) + sign * weight * tf.reduce_mean(terms["oe"])

    def start_epoch(self, epoch):
        super().start_epoch(epoch)
        self.oe_anneal.assign(cyclic_ramp(epoch) if self.oe_annealing == "cyclic" else 1.0)

    def end_training(self):
        super().end_training()
        self.oe_anneal.assign(1.0)

    def get_config(self):
        return {
            **super().get_config(),
            "oe": self.oe,
            "oe_lambda": self.oe_lambda,
            "margin": self.margin,
            "oe_annealing": self.oe_annealing,
        }
