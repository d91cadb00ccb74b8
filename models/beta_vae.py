"""beta-VAE on jet constituents (cheng2020: T. Cheng, J.-F. Arguin, J. Leissner-Martin, J. Pilette,
T. Golling, "Variational Autoencoders for Anomalous Jet Tagging", arXiv:2007.01850, Sec. II-III).

Input: the ``constituents`` representation, the 20 hardest constituents as (E, px, py, pz) after
the paper's rotation and boosts, (batch, 20, 4) in GeV. Every one of the 80 numbers is scaled by
its own affine scaler fitted on the training (QCD) jets and held as non-trainable weights, so an
export applies it in the graph. Default: standardisation (mean / standard deviation, the paper's
"standardise"; MSS is defined on standardised features); preset ``robust``: median /
inter-quartile range, as in the authors' code. Zero padding is scaled like any value (as in the
authors' code, which sees 80 plain columns).

Networks (FCN, the paper's Fig. 3):

    encoder: 80 -> 256 -> 128 -> 64 (ReLU) -> Dense(10) mean, Dense(10) log sigma^2
    decoder: 10 -> 64 -> 128 -> 256 (ReLU) -> Dense(80) linear
    z = mean + exp(log sigma^2 / 2) eps

Preset ``lstm``: an LSTM reads the 20 constituents (4 features per step) into the same Gaussian
heads; the decoder repeats a Dense(64) embedding of z over 20 steps into an LSTM and a per-step
Dense(4). (The authors' LSTM samples with exp(log sigma) but computes the KL with
exp(log sigma^2 / 2); here both use log sigma^2.)

Loss per jet, in the authors' reduction convention (losses.beta_vae): MSE averaged over the 80
scaled features, KL averaged over the 10 latent dimensions, L = MSE + beta * a(epoch) * KL with the
paper's beta = 0.1 (equivalently 0.01 with the KL summed, 0.8 with both summed). a(epoch) is the
authors' cyclic KL annealing (``kl_annealing="cyclic"``, epochs counted from 0):

    epoch  0  1    2   3    4  5..9 | 10 11   12  13   14 15..19 | 20 21   22  23   24 | >= 25
    a      0 .25  .5  .75   1    1  |  0 .25  .5  .75  1    1    |  0 .25  .5  .75  1  |   1

set at the start of every epoch by a callback that ``fit`` adds itself. Validation uses the
unannealed beta (a = 1), so the best-validation-loss checkpoint compares epochs on one scale.

Scores per jet at the posterior mean z = mean (all larger = more anomalous):
    nll  MSE + KL (the paper's NLL = L_recon + L_KL, in the convention above; the default),
    mse  reconstruction error MSE,
    kl   KL averaged over latent dimensions,
    mss  mean of the squared scaled inputs, (1/80) sum_p x_p^2 (a chi^2 of the inputs; needs no network).
EMD (input jet vs. ``reconstruction``) is not a TensorFlow op: ``evaluation.emd`` computes it.
"""

import keras
import numpy as np
import tensorflow as tf

from losses.beta_vae import beta_vae_terms
from models.base import Tagger, gaussian_sample, moments_in_chunks, standard_scale
from models.citations import cite
from preprocessing.errors import DataError
from preprocessing.representations.scalers import FeatureScaler

# A float32 guard on the posterior's log-variance, not in the paper (the authors' code runs in float64).
# The DisCo term penalises dCor^2(per-jet loss, mass), which is blind to the scale of the per-jet loss:
# once its weight ramps up (epoch 11 of the authors' schedule), a DisCo-VAE can lower it by letting the
# posterior narrow without end, so that a mass-independent KL term swamps the loss. Measured at the
# cheng2020 small scale (seed 1000): log sigma^2 fell from -30 to -134 within one epoch and the scale
# exp(log sigma^2 / 2) then underflowed to 0, turning every loss into NaN at epoch 12. Clipping at -20
# (sigma ~ 5e-5 in scaled units) ends that descent where the gradient vanishes; without DisCo the
# log-variances stay within about -8 ... 0, except in the epochs where the KL annealing weight is 0.
LOG_VAR_MIN, LOG_VAR_MAX = -20.0, 20.0

CITATION = cite("cheng2020")

CONSTITUENTS = "constituents"  # the model's one serving input
JET_MASS = "jet_mass"  # training-only array (DisCo, mass-decorrelated DNN): never a model input
OUTLIERS = "outliers"  # training-only array (OE): outlier constituents paired one-to-one with the rows
CLASS_TARGET = "class_target"  # training-only array of supervised models: class index per row

SCALERS = ("standard", "robust")

PRESETS = {
    "paper": {
        "config": {},
        "description": "FCN 256-128-64, 10-D latent, beta = 0.1 (MSE and KL both averaged), cyclic KL annealing, "
        "standardised inputs (Sec. II)",
    },
    "robust": {
        "config": {"scaler": "robust"},
        "description": "as paper, inputs scaled by median / inter-quartile range (the authors' code)",
    },
    "lstm": {
        "config": {"architecture": "lstm"},
        "description": "LSTM encoder and decoder over the 20 constituents, same latent and loss (Sec. II)",
    },
}


def cyclic_ramp(epoch, period=10, ramp=4, cycles=3):
    """The authors' cyclic annealing factor at `epoch` (from 0): 0 -> 1 in `ramp` equal steps,
    held to the end of each `period`-epoch cycle, `cycles` cycles, then 1 for good."""
    epoch = int(epoch)
    if epoch >= period * cycles:
        return 1.0
    return min(1.0, (epoch % period) / ramp)


class EpochSchedule(keras.callbacks.Callback):
    """Calls ``model.start_epoch(epoch)`` at the start of every epoch (annealing, learning-rate steps)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.start_epoch(epoch)


@keras.saving.register_keras_serializable(package="anomalous_jets")
class BetaVAE(Tagger):
    """beta-VAE on 20 constituent four-vectors.

    Args:
        n_constituents: constituents per jet (20).
        latent_dim: latent dimensions (10).
        hidden_units: encoder widths; the decoder mirrors them (256, 128, 64).
        architecture: "fcn" or "lstm".
        lstm_units: LSTM width of the "lstm" architecture.
        beta: KL weight in the averaged convention (0.1).
        kl_annealing: "cyclic" (the authors' schedule) or "none".
        scaler: "standard" or "robust", fitted on the training jets by ``fit_scaler``.
        seed: seed of the sampling noise.
    """

    term_names = ("reconstruction", "kl")
    default_score = "nll"

    def __init__(
        self,
        n_constituents=20,
        latent_dim=10,
        hidden_units=(256, 128, 64),
        architecture="fcn",
        lstm_units=64,
        beta=0.1,
        kl_annealing="cyclic",
        scaler="standard",
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if architecture not in ("fcn", "lstm"):
            raise ValueError(f"architecture must be 'fcn' or 'lstm', got {architecture!r}")
        if kl_annealing not in ("cyclic", "none"):
            raise ValueError(f"kl_annealing must be 'cyclic' or 'none', got {kl_annealing!r}")
        if scaler not in SCALERS:
            raise ValueError(f"scaler must be one of {list(SCALERS)}, got {scaler!r}")
        self.n_constituents = int(n_constituents)
        self.latent_dim = int(latent_dim)
        self.hidden_units = [int(u) for u in hidden_units]
        self.architecture = architecture
        self.lstm_units = int(lstm_units)
        self.beta = float(beta)
        self.kl_annealing = kl_annealing
        self.scaler = scaler
        self.seed = int(seed)
        shape = (self.n_constituents, 4)
        # the fitted scaler, (x - offset) / scale per feature; identity until fit_scaler
        self.offset = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="scaler_offset")
        self.scale = self.add_weight(shape=shape, initializer="ones", trainable=False, name="scaler_scale")
        # annealing factor a(epoch) on beta * KL, set by EpochSchedule; 1 outside training
        self.kl_anneal = self.add_weight(shape=(), initializer="ones", trainable=False, name="kl_anneal")
        self.encoder, self.decoder = self._networks(shape)
        self.noise = keras.random.SeedGenerator(self.seed)
        self.built = True

    # -- networks ---------------------------------------------------------------------------
    def _networks(self, shape):
        n_out = int(np.prod(shape))
        if self.architecture == "fcn":
            encoder = keras.Sequential(
                [keras.Input(shape), keras.layers.Flatten()]
                + [keras.layers.Dense(u, activation="relu") for u in self.hidden_units]
                + [keras.layers.Dense(2 * self.latent_dim)],
                name="encoder",
            )
            decoder = keras.Sequential(
                [keras.Input((self.latent_dim,))]
                + [keras.layers.Dense(u, activation="relu") for u in reversed(self.hidden_units)]
                + [keras.layers.Dense(n_out), keras.layers.Reshape(shape)],
                name="decoder",
            )
        else:
            encoder = keras.Sequential(
                [
                    keras.Input(shape),
                    keras.layers.LSTM(self.lstm_units),
                    keras.layers.Dense(self.hidden_units[-1], activation="relu"),
                    keras.layers.Dense(2 * self.latent_dim),
                ],
                name="encoder",
            )
            decoder = keras.Sequential(
                [
                    keras.Input((self.latent_dim,)),
                    keras.layers.Dense(self.hidden_units[-1], activation="relu"),
                    keras.layers.RepeatVector(self.n_constituents),
                    keras.layers.LSTM(self.lstm_units, return_sequences=True),
                    keras.layers.Dense(4),
                ],
                name="decoder",
            )
        return encoder, decoder

    @staticmethod
    def _array(inputs, name, model_name="model"):
        """`name` of a batch dict (training-only arrays travel beside the inputs); a clear error if absent."""
        if isinstance(inputs, dict):
            if name not in inputs:
                raise DataError(
                    f"{model_name} needs {name!r} in every training batch; the batch holds {sorted(inputs)}"
                )
            return inputs[name]
        if name == CONSTITUENTS:
            return inputs
        raise DataError(f"{model_name} needs {name!r} in every training batch beside the inputs; got a plain array")

    def scale_inputs(self, inputs):
        """Scaled constituents (batch, 20, 4) from physical ones (the only thing the encoder sees)."""
        x = tf.convert_to_tensor(self._array(inputs, CONSTITUENTS, type(self).__name__), tf.float32)
        return (x - self.offset) / self.scale

    def encode(self, scaled):
        """(mean, log_var), each (batch, latent_dim), of scaled constituents; log_var is clipped to
        [LOG_VAR_MIN, LOG_VAR_MAX] (see there)."""
        h = self.encoder(scaled)
        return h[:, : self.latent_dim], tf.clip_by_value(h[:, self.latent_dim :], LOG_VAR_MIN, LOG_VAR_MAX)

    def call(self, inputs, training=False):
        """Reconstructed scaled constituents (batch, 20, 4) at the posterior mean."""
        return self.decoder(self.encode(self.scale_inputs(inputs))[0])

    def reconstruction(self, inputs):
        """Reconstructed constituents in physical units (batch, 20, 4) as (E, px, py, pz) in GeV,
        decoded at the posterior mean and inverse-scaled (for EMD against the input jet)."""
        return self.call(inputs) * self.scale + self.offset

    def latent(self, inputs):
        mean, log_var = self.encode(self.scale_inputs(inputs))
        return {"mean": mean, "log_var": log_var}

    def vae_terms(self, scaled, sample=True):
        """Per-jet reconstruction, KL and per-dimension KL of scaled constituents (one z sample, or z = mean)."""
        mean, log_var = self.encode(scaled)
        z = gaussian_sample(mean, log_var, self.noise) if sample else mean
        return beta_vae_terms(scaled, self.decoder(z), mean, log_var)

    # -- losses and scores ------------------------------------------------------------------
    def loss_terms(self, inputs):
        return self.vae_terms(self.scale_inputs(inputs))

    def per_jet_loss(self, terms, annealed=True):
        """MSE + beta * a * KL per jet (a = 1 when not annealed)."""
        weight = self.beta * (self.kl_anneal if annealed else 1.0)
        return terms["reconstruction"] + weight * terms["kl"]

    def total_loss(self, terms, annealed=True):
        return tf.reduce_mean(self.per_jet_loss(terms, annealed))

    def test_step(self, data):
        """Validation with the unannealed weights (the same scale at every epoch)."""
        terms = self._terms(data)
        return self._track(self.total_loss(terms, annealed=False), terms)

    def anomaly_scores(self, inputs):
        x = self.scale_inputs(inputs)
        terms = self.vae_terms(x, sample=False)
        return {
            "nll": terms["reconstruction"] + terms["kl"],
            "mse": terms["reconstruction"],
            "kl": terms["kl"],
            "mss": tf.reduce_mean(tf.square(tf.reshape(x, (tf.shape(x)[0], -1))), axis=-1),
        }

    # -- scaler and schedules ---------------------------------------------------------------
    def fit_scaler(self, train_inputs):
        """Fit the per-feature scaler on the training rows (QCD jets) and keep it as weights."""
        x = np.asarray(self._array(train_inputs, CONSTITUENTS, type(self).__name__), np.float64)
        flat = x.reshape(len(x), -1)  # (jets, 80): every number its own feature
        fitted = FeatureScaler(self.scaler).fit(flat)
        self.offset.assign(fitted.offset.reshape(self.offset.shape).astype(np.float32))
        self.scale.assign(fitted.scale.reshape(self.scale.shape).astype(np.float32))
        return fitted

    def fit_scaler_in_chunks(self, chunks):
        """``fit_scaler`` from training rows read chunk by chunk: exact for the standard scaler (sums over
        rows); the robust scaler's median and quartiles need every row at once (an error says so)."""
        if self.scaler != "standard":
            return super().fit_scaler_in_chunks(chunks)

        def flat(chunk):
            x = np.asarray(self._array(chunk, CONSTITUENTS, type(self).__name__), np.float64)
            return x.reshape(len(x), -1)  # (jets, 80): every number its own feature

        count, mean, variance = moments_in_chunks(chunks, flat)
        fitted = FeatureScaler("standard", mean, standard_scale(mean, variance, count), count)
        self.offset.assign(fitted.offset.reshape(self.offset.shape).astype(np.float32))
        self.scale.assign(fitted.scale.reshape(self.scale.shape).astype(np.float32))
        return fitted

    def annealing(self, epoch):
        """a(epoch) on beta * KL."""
        return cyclic_ramp(epoch) if self.kl_annealing == "cyclic" else 1.0

    def start_epoch(self, epoch):
        """Set the epoch's annealing factors (called by EpochSchedule)."""
        self.kl_anneal.assign(self.annealing(epoch))

    def fit(self, *args, callbacks=None, **kwargs):
        """keras fit with the epoch schedule added; the factors return to 1 afterwards (scoring)."""
        try:
            return super().fit(*args, callbacks=[*(callbacks or []), EpochSchedule()], **kwargs)
        finally:
            self.end_training()

    def end_training(self):
        self.kl_anneal.assign(1.0)

    def get_config(self):
        return {
            **self.base_config(),
            "n_constituents": self.n_constituents,
            "latent_dim": self.latent_dim,
            "hidden_units": list(self.hidden_units),
            "architecture": self.architecture,
            "lstm_units": self.lstm_units,
            "beta": self.beta,
            "kl_annealing": self.kl_annealing,
            "scaler": self.scaler,
            "seed": self.seed,
        }
