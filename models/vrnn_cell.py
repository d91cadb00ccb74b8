"""The recurrent cell of the kahn2021 VRNN (`models.vrnn`): posterior, reparameterised sample, phi_z
and the GRU as one compiled loop over time, with back-propagation through time written out (the cell
of J. Chung et al., arXiv:1506.02216; kahn2021: A. Kahn, J. Gonski, I. Ochoa, D. Williams,
G. Brooijmans, "Anomalous Jet Identification via Sequence Modeling", arXiv:2105.09274).

One step, with h the GRU state (h_0 = 0), width 16, latent 2, standard deviations by softplus:

    (mu_t, sigma_t) = enc([phi_x, h_{t-1}])     two Dense16+ReLU, linear mu, softplus sigma
    z_t   = mu_t + sigma_t * eps_t              (eps_t = 0 when scoring: the posterior mean)
    phi_z = ReLU Dense16 (z_t)
    h_t   = GRU([phi_x, phi_z], h_{t-1})        Keras GRUCell without bias, reset_after=True

Only the posterior, the sample and the GRU need the previous state inside the loop; the model
applies phi_x to all steps at once before it and the prior and decoder to all steps at once after it
(they read h_{t-1} and phi_z, which the loop returns). The loop itself (`recurrence_fast`) is one
tf.while_loop that only advances the state, followed by every per-step quantity for all steps at
once; its gradient is back-propagation through time written out (one reverse loop of five small
products per step, the weight gradients as single products outside it). `recurrence` is the same
loop as a plain tf.scan differentiated by TensorFlow, the reference the tests compare against. The
cost of a training step on a CPU is the number of TensorFlow ops it runs (about 3,000 at batch 256,
each a few microseconds), not arithmetic.
"""

import keras
import tensorflow as tf


def time_major(t):
    """(batch, T, .) <-> (T, batch, .)."""
    return tf.transpose(t, (1, 0, 2))


def _step_function(weights, min_std):
    """One VRNN step on (h; a_t, g_t, eps_t) -> (h_t; h_{t-1}, mu, sigma, phi_z) with `weights`."""
    w_h, w2, b2, w_head, b_head, w_pz, b_pz, w_z = weights
    u, d = int(w2.shape[0]), int(w_head.shape[1]) // 2

    def step(carry, inputs):
        h = carry[0]  # (batch, units)
        a_x, g_x, e = inputs
        hw = tf.matmul(h, w_h)  # (batch, 4 units): encoder part, then GRU recurrent part
        enc = tf.nn.relu(tf.matmul(tf.nn.relu(a_x + hw[:, :u]), w2) + b2)
        head = tf.matmul(enc, w_head) + b_head
        mu, sigma = head[:, :d], tf.nn.softplus(head[:, d:]) + min_std
        phi_z = tf.nn.relu(tf.matmul(mu + sigma * e, w_pz) + b_pz)
        # GRUCell, reset_after=True, no bias: gates (z, r, candidate) in that order
        x_in = g_x + tf.matmul(phi_z, w_z)
        rec = hw[:, u:]
        z_gate = tf.sigmoid(x_in[:, :u] + rec[:, :u])
        r_gate = tf.sigmoid(x_in[:, u : 2 * u] + rec[:, u : 2 * u])
        cand = tf.tanh(x_in[:, 2 * u :] + r_gate * rec[:, 2 * u :])
        h_new = z_gate * h + (1.0 - z_gate) * cand
        return h_new, h, mu, sigma, phi_z

    return step


def recurrence(enc_x, gru_x, eps, weights, min_std):
    """The VRNN loop as a plain tf.scan, time major, differentiated by TensorFlow: the reference
    formulation `recurrence_fast` is tested against (`VRNNCell.manual_gradient = False` uses it).

    Args:
        enc_x: (T, batch, units) phi_x part of the encoder's first layer, bias included.
        gru_x: (T, batch, 3 units) phi_x part of the GRU input transform.
        eps: (T, batch, latent) posterior noise.
        weights: (w_h, w2, b2, w_head, b_head, w_pz, b_pz, w_z), see `VRNNCell.loop_weights`.

    Returns:
        (h_prev, mu, sigma, phi_z), each (T, batch, .).
    """
    u, d = int(weights[1].shape[0]), int(weights[3].shape[1]) // 2
    batch = tf.shape(enc_x)[1]
    zeros_u, zeros_d = tf.zeros((batch, u), enc_x.dtype), tf.zeros((batch, d), enc_x.dtype)
    init = (zeros_u, zeros_u, zeros_d, zeros_d, zeros_u)
    return tf.scan(_step_function(weights, min_std), (enc_x, gru_x, eps), initializer=init)[1:]


def _rows(x):
    """(T, batch, k) -> (T * batch, k): the steps of all jets as rows of one matrix product."""
    return tf.reshape(x, (-1, x.shape[-1]))


def _matmul(x, w, transpose_b=False):
    """x (T, batch, i) times w (i, j) (or w^T): one 2-D MatMul over all steps, (T, batch, j)."""
    y = tf.matmul(_rows(x), w, transpose_b=transpose_b)
    return tf.reshape(y, tf.concat([tf.shape(x)[:-1], tf.shape(y)[-1:]], 0))


def _outer(x, dy):
    """sum over steps and jets of x^T dy: (T, batch, i), (T, batch, j) -> (i, j)."""
    return tf.matmul(_rows(x), _rows(dy), transpose_a=True)


def _loop(step, carry, sequences, widths, reverse=False):
    """carry, outputs = step(carry, inputs_t) over t = 0 .. T-1 (or back) as one tf.while_loop; the
    outputs, (batch, width) each with `widths` their widths, are stacked to (T, batch, width).

    (Unrolling the loop into the graph for a static T measured the same here, and traces slower.)
    """
    steps = tf.shape(sequences[0])[0]

    def body(t, carry, arrays):
        carry, out = step(carry, [s[t] for s in sequences])
        return t + (-1 if reverse else 1), carry, tuple(a.write(t, o) for a, o in zip(arrays, out))

    arrays = tuple(tf.TensorArray(carry.dtype, size=steps, element_shape=tf.TensorShape([None, w])) for w in widths)
    start = steps - 1 if reverse else 0
    _, _, arrays = tf.while_loop(
        (lambda t, *_: t >= 0) if reverse else (lambda t, *_: t < steps), body, (start, carry, arrays)
    )
    return [a.stack() for a in arrays]


def _state_loop(pre, eps, w_h, w2, b2, w_head, b_head, w_pz, b_pz, w_z, min_std):
    """The forward loop: (h_prev, mu, sigma, phi_z) of every step, each (T, batch, .).

    Runs only what the next state needs and writes the four outputs; the intermediates only the
    gradient needs are recomputed for all steps at once there (`_step_values`).
    """
    u, d = int(w2.shape[0]), int(w_head.shape[1]) // 2

    def step(h, inputs):
        pre_t, e = inputs
        hw = tf.matmul(h, w_h)  # (batch, 4 units): encoder part, then GRU recurrent part (z, r, candidate)
        s = hw[:, : 3 * u] + pre_t[:, : 3 * u]  # [encoder pre-activation, GRU z and r without phi_z]
        e2 = tf.nn.relu(tf.matmul(tf.nn.relu(s[:, :u]), w2) + b2)
        head = tf.matmul(e2, w_head) + b_head
        mu, sigma = head[:, :d], tf.nn.softplus(head[:, d:]) + min_std
        phi_z = tf.nn.relu(tf.matmul(mu + sigma * e, w_pz) + b_pz)
        xz = tf.matmul(phi_z, w_z)  # phi_z part of the GRU input
        zr = tf.sigmoid(s[:, u:] + xz[:, : 2 * u])
        g_z = zr[:, :u]
        cand = tf.tanh(pre_t[:, 3 * u :] + xz[:, 2 * u :] + zr[:, u:] * hw[:, 3 * u :])
        return g_z * h + (1.0 - g_z) * cand, (h, mu, sigma, phi_z)

    h0 = tf.zeros(tf.stack([tf.shape(pre)[1], u]), pre.dtype)
    return _loop(step, h0, (pre, eps), (u, d, d, u))


def _step_values(h_prev, pre, eps, w_h, w2, b2, w_head, b_head, w_pz, b_pz, w_z, min_std):
    """Every intermediate of every step at once, (T, batch, .), given the states the steps read."""
    u, d = int(w2.shape[0]), int(w_head.shape[1]) // 2
    v = {}
    hw = _matmul(h_prev, w_h)
    v["a"] = hw[..., :u] + pre[..., :u]
    v["e1"] = tf.nn.relu(v["a"])
    v["p2"] = _matmul(v["e1"], w2) + b2
    v["e2"] = tf.nn.relu(v["p2"])
    head = _matmul(v["e2"], w_head) + b_head
    v["mu"], v["s_pre"] = head[..., :d], head[..., d:]
    v["sigma"] = tf.nn.softplus(v["s_pre"]) + min_std
    v["z"] = v["mu"] + v["sigma"] * eps
    v["p3"] = _matmul(v["z"], w_pz) + b_pz
    v["phi_z"] = tf.nn.relu(v["p3"])
    x_in = pre[..., u:] + _matmul(v["phi_z"], w_z)  # (T, batch, 3 units) GRU input transform
    v["g_z"] = tf.sigmoid(x_in[..., :u] + hw[..., u : 2 * u])
    v["g_r"] = tf.sigmoid(x_in[..., u : 2 * u] + hw[..., 2 * u : 3 * u])
    v["rec_c"] = hw[..., 3 * u :]
    v["cand"] = tf.tanh(x_in[..., 2 * u :] + v["g_r"] * v["rec_c"])
    return v


def recurrence_fast(pre, eps, weights, min_std):
    """The VRNN loop with back-propagation through time written out; values and gradients equal
    those of `recurrence` (TensorFlow's autodiff of tf.scan) to float32 round-off.

    Forward: a while loop that runs only what the next state and the four outputs need
    (`_state_loop`). Backward: the intermediates of every step are recomputed at once from the
    states (`_step_values`, large matrix products instead of T small ones), and the per-step
    Jacobian factors that do not depend on the incoming gradient are formed for all steps at once,
    so the reverse loop runs one chain of five small products per step; the weight gradients are
    sums over steps and jets, one matrix product each, outside the loop.

    With a = enc_x + h W_h[:, :u], e1 = relu(a), e2 = relu(e1 W2 + b2), (mu, s) = e2 W_head + b_head,
    sigma = softplus(s) + min_std, z = mu + sigma eps, phi_z = relu(z W_pz + b_pz),
    x = gru_x + phi_z W_z, r = h W_h[:, u:], GRU gates g_z = sig(x_z + r_z), g_r = sig(x_r + r_r),
    c = tanh(x_c + g_r r_c), h' = g_z h + (1 - g_z) c, the gradient dh' of the next state gives
    dx = [dh' A, dh' C, dh' B], dr = [dh' A, dh' C, dh' B g_r] with A = (h - c) g_z (1 - g_z),
    B = (1 - g_z)(1 - c^2), C = B r_c g_r (1 - g_r), and dh = dh' g_z + dr W_r^T + da W_e^T + (output
    gradient), da following the chain through the encoder, the sample and phi_z.

    Args:
        pre: (T, batch, 4 units) phi_x part of the encoder's first layer (bias included), then the
            phi_x part of the GRU input transform (z, r, candidate).
        eps: (T, batch, latent) posterior noise.
        weights: (w_h, w2, b2, w_head, b_head, w_pz, b_pz, w_z), see `VRNNCell.loop_weights`.

    Returns:
        (h_prev, mu, sigma, phi_z), each (T, batch, .).
    """
    u, d = int(weights[1].shape[0]), int(weights[3].shape[1]) // 2

    @tf.custom_gradient
    def loop(pre, eps, w_h, w2, b2, w_head, b_head, w_pz, b_pz, w_z):
        ws = (w_h, w2, b2, w_head, b_head, w_pz, b_pz, w_z)
        h_prev, mu, sigma, phi_z = _state_loop(pre, eps, *ws, min_std)

        def grad(d_h_prev, d_mu, d_sigma, d_phi_z):
            v = _step_values(h_prev, pre, eps, *ws, min_std)
            g_z, g_r, cand = v["g_z"], v["g_r"], v["cand"]
            coef_b = (1.0 - g_z) * (1.0 - cand * cand)
            coef_a = (h_prev - cand) * g_z * (1.0 - g_z)
            coef_c = coef_b * v["rec_c"] * g_r * (1.0 - g_r)
            dx_coef = tf.concat([coef_a, coef_c, coef_b], -1)  # (T, batch, 3 units)
            dr_coef = tf.concat([coef_a, coef_c, coef_b * g_r], -1)
            m1, m2, m3 = (tf.cast(v[k] > 0, pre.dtype) for k in ("a", "p2", "p3"))
            ss = tf.sigmoid(v["s_pre"])  # softplus'
            head0 = tf.concat([d_mu, d_sigma * ss], -1)  # (T, batch, 2 latent)
            head1 = tf.concat([tf.ones_like(ss), eps * ss], -1)
            seqs = (dx_coef, dr_coef, m3, d_phi_z * m3, head0, head1, m2, m1, g_z, d_h_prev)
            # transposed once here, not in every step of the loop
            w_z_t, w_pz_t, w_head_t, w2_t, w_h_t = (tf.transpose(w) for w in (w_z, w_pz, w_head, w2, w_h))

            def step(dh, inputs):
                dxc, drc, k3, dpz, hd0, hd1, k2, k1, gz, dho = inputs
                dh3 = tf.tile(dh, (1, 3))
                dx = dh3 * dxc  # (batch, 3 units) gradient of the GRU input transform
                dp3 = tf.matmul(dx, w_z_t) * k3 + dpz
                dz = tf.matmul(dp3, w_pz_t)
                dhead = hd0 + tf.tile(dz, (1, 2)) * hd1
                dp2 = tf.matmul(dhead, w_head_t) * k2
                dhw = tf.concat([tf.matmul(dp2, w2_t) * k1, dh3 * drc], -1)  # (batch, 4 units)
                return dh * gz + dho + tf.matmul(dhw, w_h_t), (dhw, dx, dp3, dhead, dp2)

            dh_last = tf.zeros(tf.stack([tf.shape(pre)[1], u]), pre.dtype)
            dhw, dx, dp3, dhead, dp2 = _loop(step, dh_last, seqs, (4 * u, 3 * u, u, 2 * d, u), reverse=True)
            dz = _matmul(dp3, w_pz_t)
            return (
                tf.concat([dhw[..., :u], dx], -1),  # pre
                dz * v["sigma"],  # eps
                _outer(h_prev, dhw),
                _outer(v["e1"], dp2),
                tf.reduce_sum(dp2, axis=(0, 1)),
                _outer(v["e2"], dhead),
                tf.reduce_sum(dhead, axis=(0, 1)),
                _outer(v["z"], dp3),
                tf.reduce_sum(dp3, axis=(0, 1)),
                _outer(v["phi_z"], dx),
            )

        return (h_prev, mu, sigma, phi_z), grad

    # read the variables here, so that the custom gradient sees tensors, never variables
    return loop(pre, eps, *(tf.convert_to_tensor(w) for w in weights))


@keras.saving.register_keras_serializable(package="anomalous_jets")
class VRNNCell(keras.layers.Layer):
    """The recurrent part of the VRNN: posterior, reparameterised sample, phi_z and the GRU, as one
    compiled loop over time (a tf.while_loop in the graph, `recurrence_fast`).

    The encoder's first layer Dense16([phi_x, h]) and the GRU's input transform of [phi_x, phi_z]
    are linear in their concatenated inputs, so their phi_x parts are computed for all steps at
    once before the loop, as one product with the two kernels side by side (`precompute`), and the
    two matrices that multiply h are applied as one product per step. The weights stay the Keras
    layers' own (same variables, names and checkpoints); they are only read concatenated. The GRU is Keras' GRUCell (no bias, reset_after=True); its weights are used
    in the loop with exactly GRUCell's equations.

    Args:
        units: width of phi_x, phi_z, the encoder and the GRU state (16).
        latent_dim: latent dimension (2).
        min_std: floor added to the softplus standard deviation.
    """

    def __init__(self, units=16, latent_dim=2, min_std=1e-4, **kwargs):
        super().__init__(**kwargs)
        self.units, self.latent_dim, self.min_std = int(units), int(latent_dim), float(min_std)
        # back-propagation through time by hand (`recurrence_fast`); False differentiates the loop
        # with TensorFlow's autodiff (`recurrence`), the reference the tests compare against
        self.manual_gradient = True
        self.enc1 = keras.layers.Dense(self.units, name="encoder_1")  # on [phi_x, h]; ReLU applied in the loop
        self.enc2 = keras.layers.Dense(self.units, "relu", name="encoder_2")
        self.enc_head = keras.layers.Dense(2 * self.latent_dim, name="encoder_mu_sigma")  # (mu, pre-softplus sigma)
        self.phi_z = keras.layers.Dense(self.units, "relu", name="phi_z")
        self.gru = keras.layers.GRUCell(self.units, use_bias=False, reset_after=True, name="gru")

    def build(self, input_shape=None):
        u, d = self.units, self.latent_dim
        self.enc1.build((None, 2 * u))
        self.enc2.build((None, u))
        self.enc_head.build((None, u))
        self.phi_z.build((None, d))
        self.gru.build((None, 2 * u))
        self.built = True

    def precompute(self, phi_x):
        """The phi_x parts of the encoder's first layer (with its bias) and of the GRU input transform,
        as one product with the two kernels side by side: (..., units) -> (..., 4 units)."""
        u = self.units
        kernel = tf.concat([self.enc1.kernel[:u], self.gru.kernel[:u]], axis=1)  # (units, 4 units)
        bias = tf.concat([self.enc1.bias, tf.zeros((3 * u,), self.enc1.bias.dtype)], axis=0)
        return _matmul(phi_x, kernel) + bias

    def loop_weights(self):
        """(w_h, w2, b2, w_head, b_head, w_pz, b_pz, w_z) of the loop; w_h (units, 4 units) multiplies h:
        the encoder's first-layer h part, then the GRU recurrent kernel; w_z is the phi_z part of the
        GRU input kernel."""
        u = self.units
        return (
            tf.concat([self.enc1.kernel[u:], self.gru.recurrent_kernel], axis=1),
            self.enc2.kernel,
            self.enc2.bias,
            self.enc_head.kernel,
            self.enc_head.bias,
            self.phi_z.kernel,
            self.phi_z.bias,
            self.gru.kernel[u:],
        )

    def runtime_major(self, phi_x, eps):
        """`call` on time-major tensors: phi_x (T, batch, units), eps (T, batch, latent) ->
        (h_prev, mu, sigma, phi_z), each (T, batch, .)."""
        pre = self.precompute(phi_x)  # (T, batch, 4 units)
        if self.manual_gradient:
            return recurrence_fast(pre, eps, self.loop_weights(), self.min_std)
        u = self.units
        return recurrence(pre[..., :u], pre[..., u:], eps, self.loop_weights(), self.min_std)

    def call(self, phi_x, eps):
        """Run the loop.

        Args:
            phi_x: (batch, T, units) extracted features of every step.
            eps: (batch, T, latent) posterior noise (zeros for the posterior mean).

        Returns:
            (h_prev, mu, sigma, phi_z): (batch, T, units), (batch, T, latent) twice, (batch, T, units);
            h_prev[:, t] is the state the step t was conditioned on (h_0 = 0).
        """
        out = self.runtime_major(time_major(phi_x), time_major(eps))
        return tuple(time_major(t) for t in out)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "latent_dim": self.latent_dim, "min_std": self.min_std}
