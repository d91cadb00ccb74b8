"""Squared Mahalanobis distance to one class (cheng2022 Sec. 2, after K. Lee et al.,
arXiv:1807.03888): with the penultimate features h of the training jets of the reference class
(QCD),

    mu    = (1/N) sum_n h_n,      Sigma = (1/N) sum_n (h_n - mu)(h_n - mu)^T,
    MD(h) = (h - mu)^T Sigma^+ (h - mu),

where Sigma^+ is the pseudo-inverse of the symmetric Sigma (``scipy.linalg.pinvh``, as
scikit-learn's EmpiricalCovariance): ReLU features that never fire on the reference class have
zero variance and drop out instead of making Sigma singular. mu and Sigma^+ are non-trainable
weights, so an export carries them.
"""

import keras
import numpy as np
from keras import ops
from scipy import linalg

from preprocessing.errors import DataError


@keras.saving.register_keras_serializable(package="anomalous_jets")
class MahalanobisDistance(keras.layers.Layer):
    """``call(h)`` -> (batch,) squared distance to the fitted class; ``fit(h)`` on reference rows."""

    def build(self, input_shape):
        d = int(input_shape[-1])
        self.mean = self.add_weight(shape=(d,), initializer="zeros", trainable=False, name="mean")
        self.precision = self.add_weight(shape=(d, d), initializer="identity", trainable=False, name="precision")
        self.built = True

    def fit(self, h):
        """Fit mu and Sigma^+ (1/N covariance) on reference rows h (rows, d); returns (mu, Sigma^+)."""
        h = np.asarray(h, np.float64)
        if h.ndim != 2 or len(h) < 2:
            raise DataError(
                f"the Mahalanobis distance needs at least 2 reference rows of features, got shape {h.shape}"
            )
        if not self.built:
            self.build(h.shape)
        mu = h.mean(axis=0)
        centred = h - mu
        precision = linalg.pinvh(centred.T @ centred / len(h))
        self.mean.assign(mu.astype("float32"))
        self.precision.assign(precision.astype("float32"))
        return mu, precision

    def call(self, h):
        d = h - self.mean  # (batch, features)
        return ops.sum(ops.matmul(d, self.precision) * d, axis=-1)
