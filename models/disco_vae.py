"""Mass-decorrelated beta-VAE with a distance-correlation penalty (cheng2020 Sec. IV, Eqs. 7-8;
DisCo: G. Kasieczka, D. Shih, arXiv:2001.05310).

    L = mean_i L_beta,i + kappa * b(epoch) * dCor^2(L_beta, m_J)

with L_beta,i = MSE_i + beta KL_i the per-jet beta-VAE loss (models.beta_vae, unannealed beta) and
m_J the jet mass, dCor^2 computed over each mini-batch of 100 jets (losses.correlation). kappa =
100 (preset ``paper``) or 1000 (preset ``kappa1000``). The jet mass travels with the training
batches as the training-only array ``jet_mass`` (training.pipeline); it is never a model input,
the encoder sees the scaled constituents only, and the export takes constituents alone.

Schedules (epochs from 0), set at the start of every epoch:

* b(epoch), the authors' DisCo annealing: 0 for epochs 0-10, linear 1/9, 2/9, ..., 1 over 11-19,
  1 for 20-29, 0 at 30, linear again over 31-39, 1 from 40;
* the beta-VAE's cyclic KL annealing, as in models.beta_vae;
* learning rate: the compiled rate (1e-3) for epochs 0-29, one tenth of it (1e-4) from epoch 30.

Validation uses the unannealed weights. Scores are the beta-VAE's; the paper scores with NLL.
"""

import keras
import tensorflow as tf

from losses.correlation import distance_correlation_sq
from models.beta_vae import CITATION, JET_MASS, BetaVAE

__all__ = ["CITATION", "PRESETS", "DiscoVAE", "disco_ramp"]

PRESETS = {
    "paper": {
        "config": {"disco_lambda": 100.0},
        "description": "beta-VAE + 100 dCor^2(L_beta, m_J) per batch of 100, annealed; lr 1e-3 -> 1e-4 at epoch 30 "
        "(Sec. IV, Fig. 11)",
    },
    "kappa1000": {
        "config": {"disco_lambda": 1000.0},
        "description": "as paper with kappa = 1000 (Fig. 11, right)",
    },
}


def disco_ramp(epoch):
    """The authors' DisCo annealing factor b(epoch), epochs from 0 (see module docstring)."""
    epoch = int(epoch)
    if epoch <= 10:
        return 0.0
    if epoch < 20:
        return (epoch - 10) / 9.0
    if epoch < 30:
        return 1.0
    if epoch < 40:
        return (epoch - 30) / 9.0
    return 1.0


@keras.saving.register_keras_serializable(package="anomalous_jets")
class DiscoVAE(BetaVAE):
    """BetaVAE plus the DisCo mass penalty.

    Args:
        disco_lambda: kappa, the weight of dCor^2 (100).
        disco_annealing: "authors" (the schedule above) or "none".
        lr_drop_epoch: epoch from which the learning rate is divided by 10 (30; 0 = never).
        **kwargs: BetaVAE arguments.
    """

    term_names = ("reconstruction", "kl", "disco")

    def __init__(self, disco_lambda=100.0, disco_annealing="authors", lr_drop_epoch=30, **kwargs):
        super().__init__(**kwargs)
        if disco_annealing not in ("authors", "none"):
            raise ValueError(f"disco_annealing must be 'authors' or 'none', got {disco_annealing!r}")
        self.disco_lambda = float(disco_lambda)
        self.disco_annealing = disco_annealing
        self.lr_drop_epoch = int(lr_drop_epoch)
        self.disco_anneal = self.add_weight(shape=(), initializer="ones", trainable=False, name="disco_anneal")
        self._base_rate = None

    def loss_terms(self, inputs):
        mass = tf.convert_to_tensor(self._array(inputs, JET_MASS, "disco_vae"), tf.float32)
        terms = super().loss_terms(inputs)
        # the per-jet loss whose mass dependence is penalised: unannealed, as it is scored
        terms["disco"] = distance_correlation_sq(self.per_jet_loss(terms, annealed=False), mass)
        return terms

    def total_loss(self, terms, annealed=True):
        weight = self.disco_lambda * (self.disco_anneal if annealed else 1.0)
        return super().total_loss(terms, annealed) + weight * terms["disco"]

    def start_epoch(self, epoch):
        super().start_epoch(epoch)
        self.disco_anneal.assign(disco_ramp(epoch) if self.disco_annealing == "authors" else 1.0)
        if self._base_rate is None:
            self._base_rate = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
        drop = self.lr_drop_epoch > 0 and epoch >= self.lr_drop_epoch
        self.optimizer.learning_rate.assign(self._base_rate * (0.1 if drop else 1.0))

    def end_training(self):
        super().end_training()
        self.disco_anneal.assign(1.0)
        if self._base_rate is not None:  # a later fit starts again from the compiled rate
            self.optimizer.learning_rate.assign(self._base_rate)
            self._base_rate = None

    def get_config(self):
        return {
            **super().get_config(),
            "disco_lambda": self.disco_lambda,
            "disco_annealing": self.disco_annealing,
            "lr_drop_epoch": self.lr_drop_epoch,
        }
