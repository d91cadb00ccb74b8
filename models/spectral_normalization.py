"""Spectral normalisation with a bound (SNGP: J. Z. Liu et al., arXiv:2006.10108; used with
c = 0.99 on every hidden layer by cheng2022), as a Keras 3 wrapper of a Dense layer.

With the kernel W (inputs, units) and a persistent unit vector u (units,), one power iteration per
training step

    v = W u / |W u|,   u <- W^T v / |W^T v|,   sigma = v^T W u        (u, v without gradient)

estimates the largest singular value sigma of W, and the layer computes with

    W_eff = W * c / sigma   if sigma > c,   else W,

so the Lipschitz constant of the layer is bounded by c without being forced to equal it
(``keras.layers.SpectralNormalization`` divides by sigma unconditionally, norm exactly 1). W_eff
is computed in the forward pass, so gradients flow through the normalisation, and inference uses
the last training step's u (no update), so training and serving compute the same W_eff.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="anomalous_jets")
class SpectralNormalization(keras.layers.Wrapper):
    """A Dense layer whose kernel's spectral norm is kept at most `bound`.

    Args:
        layer: a keras.layers.Dense (works on any number of leading axes).
        bound: c, the largest allowed spectral norm (0.99 in SNGP and cheng2022).
        power_iterations: power iterations per training step (1).
    """

    def __init__(self, layer, bound=0.99, power_iterations=1, **kwargs):
        if not isinstance(layer, keras.layers.Dense):
            raise ValueError(f"SpectralNormalization wraps a keras.layers.Dense, got {type(layer).__name__}")
        if not bound > 0 or int(power_iterations) < 1:
            raise ValueError(f"need bound > 0 and power_iterations >= 1, got {bound}, {power_iterations}")
        super().__init__(layer, **kwargs)
        self.bound = float(bound)
        self.power_iterations = int(power_iterations)

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        units = int(self.layer.kernel.shape[-1])
        self.u = self.add_weight(
            shape=(units,),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False,
            name="u",
        )
        self.built = True

    def _power_iteration(self, kernel, u):
        """(sigma, updated u) of `kernel` (inputs, units) from the unit vector estimate `u`."""
        for _ in range(self.power_iterations):
            v = ops.matmul(kernel, u)  # (inputs,)
            v = v / (ops.norm(v) + 1e-12)
            u = ops.matmul(v, kernel)  # (units,)
            u = u / (ops.norm(u) + 1e-12)
        u = ops.stop_gradient(u)
        v = ops.stop_gradient(v)
        return ops.sum(v * ops.matmul(kernel, u)), u

    def normalized_kernel(self, training=False):
        """W_eff; in training the power iteration also updates u."""
        kernel = self.layer.kernel
        u = ops.convert_to_tensor(self.u)
        u = u / (ops.norm(u) + 1e-12)
        if training:
            sigma, u = self._power_iteration(kernel, u)
            self.u.assign(u)
        else:
            v = ops.matmul(kernel, u)
            v = ops.stop_gradient(v / (ops.norm(v) + 1e-12))
            sigma = ops.sum(v * ops.matmul(kernel, u))
        scale = ops.where(sigma > self.bound, self.bound / sigma, ops.ones_like(sigma))
        return kernel * scale

    def call(self, inputs, training=False):
        dense = self.layer
        out = ops.matmul(inputs, self.normalized_kernel(training))
        if dense.use_bias:
            out = out + dense.bias
        return dense.activation(out) if dense.activation is not None else out

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "bound": self.bound, "power_iterations": self.power_iterations}
