"""Latent-space bump-hunt VAE (bortolato2021: B. Bortolato, B. M. Dillon, J. F. Kamenik,
A. Smolkovic, "Bump Hunting in Latent Space", arXiv:2103.06595).

Per event, six observables O = (m_j1, m_j2, tau21_j1, tau32_j1, tau21_j2, tau32_j2) of the two
mass-ordered leading jets (preprocessing.representations.highlevel.FEATURES); m_jj is never an input. A
MaxAbsScaler fitted on the training events is part of the model (a non-trainable weight), so
exports take raw observables.

    encoder: O/s -> 3 x Dense(64, SeLU) -> (z_mean, log sigma_z^2)     (latent dimension 1 by default)
    decoder: z   -> 3 x Dense(64, SeLU) -> O/s (linear)
    loss per event = alpha * MSE(O/s, decoder(z)) + KL(N(z_mean, sigma_z^2) || N(0, 1)),  alpha = 5000

trained with Adadelta (TensorFlow defaults), batch 1000, up to 100 epochs, stopped at the peak of
the validation KL (training.callbacks.KLPeakStopping).

Scores (larger = more anomalous): ``kl`` (default, per-event KL summed over latent dimensions,
the same quantity as in the loss), ``reconstruction`` (MSE). An ensemble (``models.ensemble``)
averages the KL of K independently trained members (20 in the paper) and reports their spread.

``MassDecoder`` is the characterisation step: the trained encoder is frozen and a new decoder
reconstructs O/s from (z, m) with z ~ N(z_mean, sigma_z) and m ~ N(m_jj, 0.025 m_jj), m
standard-scaled; reconstruction loss only.
"""

import keras
import tensorflow as tf

from losses import mean_squared_error, standard_normal_kl
from models.base import Tagger, gaussian_sample
from preprocessing.representations.highlevel import FEATURES
from preprocessing.representations.scalers import max_abs_scale

N_FEATURES = len(FEATURES)  # six observables per event
CITATION = "B. Bortolato, B. M. Dillon, J. F. Kamenik, A. Smolkovic, arXiv:2103.06595 (bortolato2021)"

PRESETS = {
    "paper": {
        "config": {"latent_dim": 1, "alpha": 5000.0},
        "description": "3x64 SeLU, 1-D latent, alpha=5000, Adadelta, KL-peak stopping (Sec. 2)",
    },
}


def _mlp(n_in, n_out, units, layers, name):
    return keras.Sequential(
        [keras.Input((n_in,))]
        + [keras.layers.Dense(units, activation="selu", kernel_initializer="lecun_normal") for _ in range(layers)]
        + [keras.layers.Dense(n_out)],
        name=name,
    )


@keras.saving.register_keras_serializable(package="anomalous_jets")
class BumpHuntVAE(Tagger):
    """VAE on per-event jet observables.

    Args:
        n_features: number of input observables (6).
        latent_dim: latent dimension (1 in the paper).
        units, layers: width and depth of the encoder and decoder.
        alpha: weight of the reconstruction MSE against the KL.
        seed: seed of the sampling noise.
    """

    term_names = ("reconstruction", "kl")
    default_score = "kl"

    def __init__(self, n_features=N_FEATURES, latent_dim=1, units=64, layers=3, alpha=5000.0, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.n_features, self.latent_dim = int(n_features), int(latent_dim)
        self.units, self.layers_, self.alpha, self.seed = int(units), int(layers), float(alpha), int(seed)
        self.encoder = _mlp(self.n_features, 2 * self.latent_dim, self.units, self.layers_, "encoder")
        self.decoder = _mlp(self.latent_dim, self.n_features, self.units, self.layers_, "decoder")
        # MaxAbsScaler: inputs are divided by the per-feature max |value| of the training events
        self.scale = self.add_weight(
            shape=(self.n_features,), initializer="ones", trainable=False, name="max_abs_scale"
        )
        self.noise = keras.random.SeedGenerator(self.seed)
        self.built = True

    def fit_scaler(self, features):
        """Fit the MaxAbsScaler on training events (raw observables, (events, n_features))."""
        self.scale.assign(max_abs_scale(features))
        return keras.ops.convert_to_numpy(self.scale)

    def scaled(self, features):
        return features / self.scale

    def encode(self, features):
        """(z_mean, log_var), each (batch, latent_dim), from raw observables."""
        h = self.encoder(self.scaled(features))
        return h[:, : self.latent_dim], h[:, self.latent_dim :]

    def call(self, features, training=False):
        return self.decoder(self.encode(features)[0]) * self.scale

    def latent(self, features):
        mean, log_var = self.encode(features)
        return {"mean": mean, "log_var": log_var}

    def loss_terms(self, features):
        mean, log_var = self.encode(features)
        z = gaussian_sample(mean, log_var, self.noise)
        return {
            "reconstruction": mean_squared_error(self.scaled(features), self.decoder(z)),
            "kl": standard_normal_kl(mean, log_var),
        }

    def total_loss(self, terms):
        return tf.reduce_mean(self.alpha * terms["reconstruction"] + terms["kl"])

    def anomaly_scores(self, features):
        mean, log_var = self.encode(features)
        return {
            "kl": standard_normal_kl(mean, log_var),
            "reconstruction": mean_squared_error(self.scaled(features), self.decoder(mean)),
        }

    def get_config(self):
        return {
            **self.base_config(),
            "n_features": self.n_features,
            "latent_dim": self.latent_dim,
            "units": self.units,
            "layers": self.layers_,
            "alpha": self.alpha,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="anomalous_jets")
class MassDecoder(Tagger):
    """Characterisation decoder on (z, m_jj) with the trained encoder frozen (bortolato2021 Sec. 3).

    Args:
        vae: a trained BumpHuntVAE; its encoder and scaler are used frozen (not trainable).
        mjj_mean, mjj_std: StandardScaler of m_jj fitted on the training events.
        mass_resolution: relative width of the m_jj smearing (0.025).
    """

    term_names = ("reconstruction",)
    default_score = "reconstruction"

    def __init__(self, vae, mjj_mean, mjj_std, mass_resolution=0.025, units=64, layers=3, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.vae = vae
        self.vae.trainable = False
        self.mjj_mean, self.mjj_std = float(mjj_mean), float(mjj_std)
        self.mass_resolution = float(mass_resolution)
        self.decoder = _mlp(vae.latent_dim + 1, vae.n_features, int(units), int(layers), "mass_decoder")
        self.noise = keras.random.SeedGenerator(int(seed))
        self.built = True

    def _scaled_mass(self, mjj):
        return (mjj - self.mjj_mean) / self.mjj_std

    def decode(self, z, mjj):
        """Reconstructed raw observables (batch, n_features) at latent z and dijet mass mjj (GeV)."""
        m = tf.reshape(self._scaled_mass(tf.cast(mjj, z.dtype)), (-1, 1))
        return self.decoder(tf.concat([z, m], axis=-1)) * self.vae.scale

    def loss_terms(self, data):
        features, mjj = data
        mean, log_var = self.vae.encode(features)
        z = gaussian_sample(mean, log_var, self.noise)
        m = mjj * (1.0 + self.mass_resolution * keras.random.normal(tf.shape(mjj), seed=self.noise))
        rec = mean_squared_error(self.vae.scaled(features), self.decode(z, m) / self.vae.scale)
        return {"reconstruction": rec}

    def total_loss(self, terms):
        return tf.reduce_mean(terms["reconstruction"])

    @staticmethod
    def _unpack(data):
        # inputs are the pair (features, mjj); Keras hands them over as (x, y) or as ((x, y),)
        return (data[0] if isinstance(data, tuple) and len(data) == 1 else data), None

    def anomaly_scores(self, data):
        features, mjj = data
        mean, _ = self.vae.encode(features)
        rec = mean_squared_error(self.vae.scaled(features), self.decode(mean, mjj) / self.vae.scale)
        return {"reconstruction": rec}
