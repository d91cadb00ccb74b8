"""A stock-layer ParticleNet: the reference row of the ParticleNet benchmark (benchmarks.cheng2022).

Not a project model. It is the architecture of the official Keras ParticleNet (H. Qu, L. Gouskos,
arXiv:1902.08570; its tf.keras code, ``get_particle_net`` / ``get_particle_net_lite``) written
from the description in SPECS.md (cheng2022) with the stock layers that code runs on, so that
every run of the benchmark times ours beside an equivalent implementation on the same cores:

    x      = BN(features)                                        every slot, padding included
    y_i    = coordinates_i + FAR (1 - m_i)                        padded points pushed far away
    N(i)   = the k nearest j of y_i (top_k over k + 1, the nearest -- the point itself -- dropped)
    e_ij   = [x_i, x_j - x_i]                                     (batch, points, k, 2C) edge tensor
    h_ij   = ReLU(BN(Conv2D_1x1(...)))  x 3                       no bias; BN statistics over all slots
    out_i  = ReLU(BN(Conv2D_1x1(x_i)) + mean_j h_ij)              shortcut; mean over all k neighbours
    g      = GlobalAveragePooling1D(m * x)                        divided by all slots
    p      = softmax(Dense(n)(Dropout(Dense(fc, ReLU)(g))))

Every slot is computed, padded or not, and batch statistics include the padding. It is written
with ``tf_keras`` (Keras 2, a pinned dependency): the official code runs on tf.keras, whose
``BatchNormalization`` on a 4-D channels-last tensor calls TensorFlow's fused batch-norm kernel;
Keras 3's computes moments and normalises with separate ops. Trained as the official code trains,
without XLA. Lite (k = 7, (32,32,32), (64,64,64), Dense(128)) has 26,251 trainable weights, as
ours (a test).
"""

import functools

FAR = 999.0  # coordinate shift of padded points


def stock_particlenet(
    k=7, channels=((32, 32, 32), (64, 64, 64)), fc_units=128, dropout=0.1, n_classes=3, slots=100, n_features=4
):
    """The tf_keras Model {points (slots, 2), features (slots, n_features), mask (slots,)} -> class
    probabilities (batch, n_classes), uncompiled."""
    import tensorflow as tf
    import tf_keras as K

    points = K.Input((slots, 2), name="points")
    features = K.Input((slots, n_features), name="features")
    mask = K.Input((slots,), name="mask")
    real = K.layers.Lambda(lambda m: tf.cast(tf.not_equal(m, 0), tf.float32)[..., None])(mask)  # (batch, P, 1)
    shift = K.layers.Lambda(lambda r: FAR * (1.0 - r))(real)
    x = K.layers.Reshape((slots, 1, n_features))(features)  # 4-D, so that batch norm is fused
    x = K.layers.Reshape((slots, n_features))(K.layers.BatchNormalization()(x))
    coordinates = points
    for widths in channels:
        x = _edge_block(K.layers.Add()([coordinates, shift]), x, k, widths)
        coordinates = x
    x = K.layers.Multiply()([x, real])  # padded slots zeroed after the last block
    h = K.layers.Dense(fc_units, activation="relu")(K.layers.GlobalAveragePooling1D()(x))
    out = K.layers.Dense(n_classes, activation="softmax")(K.layers.Dropout(dropout)(h))
    return K.Model([points, features, mask], out, name="stock_particlenet")


def _edge_block(coordinates, x, k, widths):
    """One EdgeConv block on (batch, P, C) features -> (batch, P, widths[-1])."""
    import tensorflow as tf
    import tf_keras as K

    h = _edge_features_class()(k)([coordinates, x])  # (batch, P, k, 2C)
    for width in widths:
        h = K.layers.Conv2D(width, 1, use_bias=False)(h)
        h = K.layers.Activation("relu")(K.layers.BatchNormalization()(h))
    h = K.layers.Lambda(lambda t: tf.reduce_mean(t, axis=2))(h)  # (batch, P, C')
    slots, width = x.shape[1], x.shape[2]
    short = K.layers.Conv2D(widths[-1], 1, use_bias=False)(K.layers.Reshape((slots, 1, width))(x))
    short = K.layers.Reshape((slots, widths[-1]))(K.layers.BatchNormalization()(short))
    return K.layers.Activation("relu")(K.layers.Add()([short, h]))


@functools.cache
def _edge_features_class():
    import tensorflow as tf
    import tf_keras as K

    class EdgeFeatures(K.layers.Layer):
        """[coordinates, x] -> [x_i, x_j - x_i] for the k nearest neighbours j: (batch, P, k, 2C)."""

        def __init__(self, k, **kwargs):
            super().__init__(**kwargs)
            self.k = k

        def call(self, inputs):
            coordinates, x = inputs
            sq = tf.reduce_sum(tf.square(coordinates), axis=-1, keepdims=True)  # (batch, P, 1)
            dist = sq - 2.0 * tf.matmul(coordinates, coordinates, transpose_b=True) + tf.transpose(sq, (0, 2, 1))
            _, index = tf.math.top_k(-dist, k=self.k + 1)
            neighbours = tf.gather(x, index[:, :, 1:], batch_dims=1)  # (batch, P, k, C)
            centre = tf.tile(x[:, :, None, :], (1, 1, self.k, 1))
            return tf.concat([centre, neighbours - centre], axis=-1)

    return EdgeFeatures


def compiled(model, learning_rate=1e-3):
    """`model` compiled as the official code trains it: Adam, cross-entropy, no XLA."""
    import tf_keras as K

    model.compile(optimizer=K.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy", jit_compile=False)
    return model


def trainable_weights(model):
    """Number of trainable scalars of a tf_keras or Keras 3 model."""
    import numpy as np

    return int(sum(np.prod(w.shape) for w in model.trainable_weights))
