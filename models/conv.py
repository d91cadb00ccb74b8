"""Convolutional encoder and decoder of dillon2021's (V)AE and GMVAE (Fig. 2).

All convolutions use 5x5 kernels with PReLU activations; 40x40 -> 20x20 by average pooling in
the encoder and back by nearest-neighbour upsampling in the decoder; a dense PReLU layer before
the bottleneck; linear output. These are plain networks: the trainable wrappers own the losses.
"""

import keras
from keras import layers


def _conv(filters):
    return [layers.Conv2D(filters, 5, padding="same"), layers.PReLU(shared_axes=[1, 2])]


def conv_encoder(image_shape, n_outputs, filters=10, hidden_units=100, name="encoder"):
    """(batch, H, W) images -> (batch, n_outputs)."""
    h, w = image_shape
    return keras.Sequential(
        [keras.Input(tuple(image_shape)), layers.Reshape((h, w, 1))]
        + _conv(filters)
        + _conv(filters)
        + [layers.AveragePooling2D(2)]  # 40x40 -> 20x20
        + _conv(filters)
        + _conv(filters)
        + [layers.Flatten(), layers.Dense(hidden_units), layers.PReLU(), layers.Dense(n_outputs)],
        name=name,
    )


def conv_decoder(latent_dim, image_shape, filters=10, hidden_units=100, name="decoder"):
    """(batch, latent_dim) -> (batch, H, W) reconstructed images (linear output)."""
    h, w = image_shape
    return keras.Sequential(
        [
            keras.Input((latent_dim,)),
            layers.Dense(hidden_units),
            layers.PReLU(),
            layers.Dense((h // 2) * (w // 2) * filters),
            layers.PReLU(),
            layers.Reshape((h // 2, w // 2, filters)),
        ]
        + _conv(filters)
        + _conv(filters)
        + [layers.UpSampling2D(2, interpolation="nearest")]  # 20x20 -> 40x40
        + _conv(filters)
        + [layers.Conv2D(1, 5, padding="same"), layers.Reshape((h, w))],
        name=name,
    )
