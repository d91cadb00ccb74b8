"""Random-Fourier-feature Gaussian-process output layer (SNGP: J. Z. Liu et al.,
arXiv:2006.10108; the output layer of cheng2022's SNGP variant), written natively for Keras 3.

For penultimate features h (d) and D random features (1024) with a fixed, untrained projection
Omega (d, D) ~ N(0, 1 / l^2) (length-scale l = 1) and phases b ~ U(0, 2 pi):

    phi(h)   = sqrt(2 / D) cos(h Omega + b)                         (D)
    logits   = phi(h) beta + beta_0                                 beta (D, classes), L2 penalty 1e-6

The Laplace approximation of the posterior of beta keeps a precision matrix P (D, D), initialised
to ridge * I (ridge 1) and updated on every training batch of B rows with momentum m = 0.999:

    P <- m P + (1 - m) Phi^T Phi / B                                Phi (B, D)

(the Gaussian-likelihood form of the SNGP reference code; with m = 0 the batches are summed,
P <- P + Phi^T Phi). The predictive variance of a row is

    var(h)   = ridge * phi(h)^T P^{-1} phi(h)

and the mean-field logits that approximate the softmax of the posterior predictive are

    logits_mf = logits / sqrt(1 + lambda * var(h)),   lambda = pi / 8.

Training uses the plain logits; scoring uses the mean-field logits.
"""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="anomalous_jets")
class RandomFeatureGaussianProcess(keras.layers.Layer):
    """GP output layer; ``call(h, training)`` -> (logits, variance), mean-field with ``mean_field_logits``.

    Args:
        units: output classes.
        num_features: D random Fourier features (1024).
        length_scale: l of the RBF kernel approximated by the features (1).
        l2: L2 penalty of the output weights beta (1e-6), added to the model's losses.
        ridge: ridge penalty of the precision matrix (1).
        momentum: moving-average momentum of the precision matrix (0.999); 0 sums the batches.
        mean_field_factor: lambda of the mean-field logits (pi / 8).
        seed: seed of the random projection.
    """

    def __init__(
        self,
        units,
        num_features=1024,
        length_scale=1.0,
        l2=1e-6,
        ridge=1.0,
        momentum=0.999,
        mean_field_factor=math.pi / 8,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not (0.0 <= momentum < 1.0) or not ridge > 0 or not length_scale > 0:
            raise ValueError(
                f"need 0 <= momentum < 1, ridge > 0, length_scale > 0; got {momentum}, {ridge}, {length_scale}"
            )
        self.units = int(units)
        self.num_features = int(num_features)
        self.length_scale = float(length_scale)
        self.l2 = float(l2)
        self.ridge = float(ridge)
        self.momentum = float(momentum)
        self.mean_field_factor = float(mean_field_factor)
        self.seed = seed
        self.output_layer = keras.layers.Dense(
            self.units, kernel_regularizer=keras.regularizers.L2(self.l2) if self.l2 > 0 else None, name="beta"
        )

    def build(self, input_shape):
        d = int(input_shape[-1])
        self.projection = self.add_weight(
            shape=(d, self.num_features),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.length_scale, seed=self.seed),
            trainable=False,
            name="projection",
        )
        self.phase = self.add_weight(
            shape=(self.num_features,),
            initializer=keras.initializers.RandomUniform(0.0, 2.0 * math.pi, seed=self.seed),
            trainable=False,
            name="phase",
        )
        self.precision = self.add_weight(
            shape=(self.num_features, self.num_features),
            initializer=keras.initializers.Identity(gain=self.ridge),
            trainable=False,
            name="precision",
        )
        self.output_layer.build((None, self.num_features))
        self.built = True

    def random_features(self, h):
        """phi(h) = sqrt(2 / D) cos(h Omega + b): (batch, D)."""
        return math.sqrt(2.0 / self.num_features) * ops.cos(ops.matmul(h, self.projection) + self.phase)

    def updated_precision(self, phi):
        """The precision matrix after one batch of random features `phi` (batch, D)."""
        batch = ops.cast(ops.shape(phi)[0], phi.dtype)
        outer = ops.matmul(ops.transpose(phi), phi)  # (D, D)
        if self.momentum > 0:
            return self.momentum * self.precision + (1.0 - self.momentum) * outer / batch
        return self.precision + outer

    def variance(self, phi):
        """ridge * phi^T P^{-1} phi per row: (batch,)."""
        chol = ops.cholesky(ops.convert_to_tensor(self.precision))  # P = L L^T
        z = ops.solve_triangular(chol, ops.transpose(phi), lower=True)  # (D, batch) = L^{-1} phi^T
        return self.ridge * ops.sum(ops.square(z), axis=0)

    def call(self, h, training=False):
        phi = self.random_features(h)  # (batch, D)
        logits = self.output_layer(phi)  # (batch, units)
        if training:
            self.precision.assign(self.updated_precision(ops.stop_gradient(phi)))
            return logits, ops.zeros_like(logits[:, 0])
        return logits, self.variance(phi)

    def mean_field_logits(self, logits, variance):
        """logits / sqrt(1 + lambda var): (batch, units)."""
        return logits / ops.sqrt(1.0 + self.mean_field_factor * variance)[:, None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units), (input_shape[0],)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "num_features": self.num_features,
            "length_scale": self.length_scale,
            "l2": self.l2,
            "ridge": self.ridge,
            "momentum": self.momentum,
            "mean_field_factor": self.mean_field_factor,
            "seed": self.seed,
        }
