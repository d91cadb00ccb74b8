"""Convolutional autoencoder with a 1-D bottleneck (dillon2021, "Better Latent Spaces for Better
Autoencoders", arXiv:2104.08291, Sec. 2, Fig. 2).

    loss per jet = SE(x, decoder(encoder(x))),  SE = sum over pixels of squared differences.

Scores (larger = more anomalous):
    reconstruction  SE of the jet (default; the classic AE anomaly score),
    latent          the bottleneck value, signed so that it grows with the jet's image spread on
                    the training jets (a label-free orientation, applied by ``calibrate``).
"""

import keras
import tensorflow as tf

from losses import squared_error
from models.base import Tagger, batched, orientation_sign
from models.citations import cite
from models.conv import conv_decoder, conv_encoder

CITATION = cite("dillon2021", "Sec. 2")

PRESETS = {
    "paper": {"config": {"latent_dim": 1}, "description": "1-D bottleneck, 5x5 convolutions, PReLU (Fig. 2a)"},
}


@keras.saving.register_keras_serializable(package="anomalous_jets")
class AE1D(Tagger):
    """Convolutional AE on jet images.

    Args:
        latent_dim: bottleneck size (1 in the paper).
        filters: channels of every convolution.
        hidden_units: width of the dense layer around the bottleneck.
        image_shape: (height, width).
        seed: seed of any sampling noise (unused by the plain AE).
    """

    term_names = ("reconstruction",)
    default_score = "reconstruction"

    def __init__(self, latent_dim=1, filters=10, hidden_units=100, image_shape=(40, 40), seed=0, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.filters = int(filters)
        self.hidden_units = int(hidden_units)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.seed = int(seed)
        self.encoder = conv_encoder(self.image_shape, self._encoder_outputs(), self.filters, self.hidden_units)
        self.decoder = conv_decoder(self.latent_dim, self.image_shape, self.filters, self.hidden_units)
        # +1/-1 orientation of the latent score; a weight so that exports carry it
        self.orientation = self.add_weight(shape=(), initializer="ones", trainable=False, name="orientation")
        self.noise = keras.random.SeedGenerator(self.seed)
        self.built = True

    def _encoder_outputs(self):
        return self.latent_dim

    def encode(self, images):
        """Bottleneck values (batch, latent_dim)."""
        return self.encoder(images)

    def call(self, images, training=False):
        return self.decoder(self.encode(images))

    def latent(self, images):
        return {"latent": self.encode(images)}

    def loss_terms(self, images):
        return {"reconstruction": squared_error(images, self.decoder(self.encode(images)))}

    def total_loss(self, terms):
        return tf.reduce_mean(terms["reconstruction"])

    def anomaly_scores(self, images):
        z = self.encode(images)
        return {"reconstruction": squared_error(images, self.decoder(z)), "latent": self.orientation * z[:, 0]}

    def calibrate(self, train_images):
        """Sign the latent score so it grows with the image spread of the training jets (no labels)."""
        z0 = keras.ops.convert_to_numpy(self._latent_for_orientation(train_images[:20000]))
        self.orientation.assign(orientation_sign(z0, train_images[:20000]))
        return float(keras.ops.convert_to_numpy(self.orientation))

    def posterior_mean(self, images):
        """The deterministic latent position (batch, latent_dim)."""
        return self.encode(images)

    def _latent_for_orientation(self, images):
        return batched(self.posterior_mean, images)[:, 0]

    def get_config(self):
        return {
            **self.base_config(),
            "latent_dim": self.latent_dim,
            "filters": self.filters,
            "hidden_units": self.hidden_units,
            "image_shape": list(self.image_shape),
            "seed": self.seed,
        }
