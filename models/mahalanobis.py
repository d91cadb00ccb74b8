"""Squared Mahalanobis distance to one class (cheng2022 Sec. 2, after K. Lee et al.,
arXiv:1807.03888): with the penultimate features h of the training jets of the reference class
(QCD),

    mu    = (1/N) sum_n h_n,      Sigma = (1/N) sum_n (h_n - mu)(h_n - mu)^T,
    MD(h) = (h - mu)^T (Sigma + eps I)^-1 (h - mu),     eps = RIDGE * tr(Sigma) / d,

a ridge-regularised inverse with RIDGE = 1e-3. ReLU features that never fire on the reference class
have zero variance; a pseudo-inverse would drop them, so a jet that lights up a unit no QCD jet ever
lit would look like QCD. With the ridge such a unit counts heavily instead: its precision is
1 / eps = 1000 / (mean feature variance), so firing at the level of one typical QCD standard
deviation adds ~1000 to the distance, far above the ~d (the chi^2_d mean, d <= 256 here) of a QCD
jet. Why 1e-3 of the *mean variance* (not an absolute eps): the features' scale depends on the
training, and a relative ridge keeps the distance scale-free; it moves the distance along a live
direction of variance lambda by the factor lambda / (lambda + eps), under 1 % wherever lambda is at
least a tenth of the mean variance, so the well-measured directions keep the paper's exact inverse;
and it bounds the condition number of Sigma + eps I by ~1000 d, which the float32 weights hold.
With no variance at all (every feature dead) eps falls back to RIDGE. mu and the precision
(Sigma + eps I)^-1 are non-trainable weights, so an export carries them.
"""

import keras
import numpy as np
from keras import ops
from scipy import linalg

from preprocessing.errors import DataError

RIDGE = 1e-3  # eps as a fraction of the mean feature variance tr(Sigma) / d (module docstring)


def ridge_epsilon(covariance):
    """eps = RIDGE * tr(Sigma) / d of a (d, d) covariance; RIDGE itself when Sigma has no variance."""
    mean_variance = float(np.trace(covariance)) / len(covariance)
    return RIDGE * mean_variance if mean_variance > 0 else RIDGE


@keras.saving.register_keras_serializable(package="anomalous_jets")
class MahalanobisDistance(keras.layers.Layer):
    """``call(h)`` -> (batch,) squared distance to the fitted class; ``fit(h)`` on reference rows."""

    def build(self, input_shape):
        d = int(input_shape[-1])
        self.mean = self.add_weight(shape=(d,), initializer="zeros", trainable=False, name="mean")
        self.precision = self.add_weight(shape=(d, d), initializer="identity", trainable=False, name="precision")
        self.built = True

    def fit(self, h):
        """Fit mu and (Sigma + eps I)^-1 (1/N covariance) on reference rows h (rows, d); returns both."""
        h = np.asarray(h, np.float64)
        if h.ndim != 2 or len(h) < 2:
            raise DataError(
                f"the Mahalanobis distance needs at least 2 reference rows of features, got shape {h.shape}"
            )
        if not self.built:
            self.build(h.shape)
        mu = h.mean(axis=0)
        centred = h - mu
        covariance = centred.T @ centred / len(h)  # (d, d)
        regularised = covariance + ridge_epsilon(covariance) * np.eye(len(covariance))
        precision = linalg.inv(regularised, check_finite=True)  # positive definite: eps > 0
        precision = 0.5 * (precision + precision.T)  # exactly symmetric
        self.mean.assign(mu.astype("float32"))
        self.precision.assign(precision.astype("float32"))
        return mu, precision

    def call(self, h):
        d = h - self.mean  # (batch, features)
        return ops.sum(ops.matmul(d, self.precision) * d, axis=-1)
