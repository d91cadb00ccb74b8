"""Variational recurrent neural network on k_t-ordered constituent sequences (kahn2021: A. Kahn,
J. Gonski, I. Ochoa, D. Williams, G. Brooijmans, "Anomalous Jet Identification via Sequence
Modeling", arXiv:2105.09274; the cell of J. Chung et al., arXiv:1506.02216).

Input per jet: x_t = (pT fraction, eta, phi) of the t-th constituent in k_t order
(preprocessing.representations.vrnn), up to T = 20 steps, and a 0/1 mask (padding at the end).

One step, with h the GRU state (h_0 = 0), width 16, latent 2, standard deviations by softplus:

    phi_x = ReLU Dense16 ReLU Dense16 (x_t)
    (mu_t, sigma_t)   = enc([phi_x, h_{t-1}])      two Dense16+ReLU, linear mu, softplus sigma
    (mu0_t, sigma0_t) = prior(h_{t-1})             one Dense16+ReLU, linear mu, softplus sigma
    z_t   = mu_t + sigma_t * eps_t                 (eps_t = 0 when scoring: the posterior mean)
    phi_z = ReLU Dense16 (z_t)
    y_t   = dec([phi_z, h_{t-1}])                  two Dense16+ReLU, Dense(3) linear
    h_t   = GRU([phi_x, phi_z], h_{t-1})           Keras GRUCell without bias, reset_after=True

Only the posterior, the sample and the GRU need the previous state inside the loop; phi_x is
applied to all steps at once before it and the prior and decoder to all steps at once after it
(they read h_{t-1} and phi_z, which the loop returns). The loop itself (`recurrence_fast`) is one
tf.while_loop that only advances the state, followed by every per-step quantity for all steps at
once; its gradient is back-propagation through time written out (one reverse loop of five small
products per step, the weight gradients as single products outside it). The cost of a training
step on a CPU is the number of TensorFlow ops it runs (about 3,000 at batch 256, each a few
microseconds), not arithmetic: see `training.benchmark_vrnn`. The loop is causal and padding sits
at the end, so padded steps never change a real step; the loss masks them out.

Loss per jet (losses.sequence): L = (1/N) sum_t [MSE_t + 0.1 pbar_N(t) KL_t(q_t || p_t)], with the
pT-fraction table pbar_N(t) fitted on the training jets (`fit_scaler`) and stored in the model.
Gradients are clipped to global norm 10 before the optimiser step (the authors' code clips after
the step, which has no effect). Adam 1e-5, batch 256, 100 epochs in the paper.

Scores (larger = more anomalous for the default ``rho_prime``):

* ``rho_prime`` = 1 - rho / (2 rho_bar), rho = 1 - exp(-KL_jet), KL_jet = (1/N) sum_t pbar_N(t) KL_t,
  rho_bar the mean rho of the training jets (`calibrate`, no labels). The paper fixes this
  transform a priori because multi-prong jets are *easier* to model (lower KL) after k_t ordering.
* ``kl``: KL_jet itself and ``reconstruction``: (1/N) sum_t MSE_t. These are the raw quantities of
  the loss; following the paper, signal jets get the *lower* KL, so an AUC below 0.5 for ``kl``
  is the expected behaviour, not a sign error (no score is flipped after looking at labels).

Event score (Sec. 4.2): the maximum rho_prime of the two leading jets (`VRNNEventScorer`, and the
``event`` signature of an export).
"""

import keras
import numpy as np
import tensorflow as tf

from losses import diagonal_gaussian_kl, masked_step_mean, vrnn_jet_terms
from models.base import Tagger, batched
from models.citations import cite

CITATION = cite("kahn2021")
SEQUENCE, MASK = "vrnn_sequence", "vrnn_mask"

PRESETS = {
    "cpu": {
        "config": {},
        "description": "the paper's network (width 16, latent 2, lambda 0.1, clip 10) with Adam 1e-3 for 20 "
        "epochs: converges in minutes on 2 CPU cores (the paper's 1e-5 needs ~100 epochs of 1M jets)",
        # keeps the final epoch like the paper (which keeps epoch 100), not the best validation loss
        "training": {"learning_rate": 1e-3, "epochs": 20, "stopping": "final"},
    },
    "paper": {
        "config": {},
        "description": "kahn2021 Sec. 2 and 4: width 16, latent 2, lambda 0.1, Adam 1e-5, batch 256, "
        "100 epochs, gradient clipping at global norm 10",
        "training": {"learning_rate": 1e-5, "epochs": 100},
    },
}


def _dense(units, name, activation=None):
    return keras.layers.Dense(units, activation=activation, name=name)


def _time_major(t):
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
        self.enc1 = _dense(self.units, "encoder_1")  # on [phi_x, h]; ReLU applied in the loop
        self.enc2 = _dense(self.units, "encoder_2", "relu")
        self.enc_head = _dense(2 * self.latent_dim, "encoder_mu_sigma")  # (mu, pre-softplus sigma)
        self.phi_z = _dense(self.units, "phi_z", "relu")
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

    def run_time_major(self, phi_x, eps):
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
        out = self.run_time_major(_time_major(phi_x), _time_major(eps))
        return tuple(_time_major(t) for t in out)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "latent_dim": self.latent_dim, "min_std": self.min_std}


@keras.saving.register_keras_serializable(package="anomalous_jets")
class VRNN(Tagger):
    """kahn2021 VRNN tagger on {"vrnn_sequence": (batch, T, 3), "vrnn_mask": (batch, T)}.

    Args:
        n_features: features per step (3: pT fraction, eta, phi).
        max_steps: longest sequence (20); the pT-fraction table is (max_steps + 1, max_steps).
        units: width of every hidden layer and of the GRU state (16).
        latent_dim: latent dimension (2).
        kl_weight: lambda of the KL term (0.1).
        clip_norm: global gradient norm clipped to before each step (10).
        min_std: floor added to the softplus standard deviations (keeps the KL finite).
        seed: seed of the sampling noise.
    """

    term_names = ("reconstruction", "kl")
    default_score = "rho_prime"

    def __init__(
        self,
        n_features=3,
        max_steps=20,
        units=16,
        latent_dim=2,
        kl_weight=0.1,
        clip_norm=10.0,
        min_std=1e-4,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.n_features, self.max_steps = int(n_features), int(max_steps)
        self.units, self.latent_dim = int(units), int(latent_dim)
        self.kl_weight, self.clip_norm, self.min_std = float(kl_weight), float(clip_norm), float(min_std)
        self.seed = int(seed)
        u, d = self.units, self.latent_dim
        self.phi_x = keras.Sequential(
            [keras.Input((None, self.n_features)), _dense(u, "phi_x_1", "relu"), _dense(u, "phi_x_2", "relu")],
            name="phi_x",
        )
        self.cell = VRNNCell(u, d, self.min_std, name="vrnn_cell")
        self.cell.build()
        self.prior = keras.Sequential(
            [keras.Input((None, u)), _dense(u, "prior_1", "relu"), _dense(2 * d, "prior_out")], name="prior"
        )
        self.decoder = keras.Sequential(
            [
                keras.Input((None, 2 * u)),
                _dense(u, "decoder_1", "relu"),
                _dense(u, "decoder_2", "relu"),
                _dense(self.n_features, "decoder_out"),
            ],
            name="decoder",
        )
        steps = np.arange(self.max_steps)
        equal = np.array([np.where(steps < n, 1.0 / max(n, 1), 0.0) for n in range(self.max_steps + 1)])
        equal[0] = 0.0
        self.pt_fraction_table = self.add_weight(
            shape=(self.max_steps + 1, self.max_steps),
            initializer=keras.initializers.Constant(equal.astype("float32")),
            trainable=False,
            name="pt_fraction_table",
        )
        # mean rho of the training jets; 0.5 until `calibrate` (then rho_prime = 1 - rho)
        self.rho_bar = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(0.5), trainable=False, name="rho_bar"
        )
        self.noise = keras.random.SeedGenerator(self.seed)
        self.built = True

    # -- forward -------------------------------------------------------------------------------
    @staticmethod
    def _split(inputs):
        x = tf.convert_to_tensor(inputs[SEQUENCE], tf.float32)  # (batch, T, 3)
        mask = tf.convert_to_tensor(inputs[MASK], tf.float32)  # (batch, T)
        return x, mask

    def forward(self, x, eps):
        """All per-step quantities of sequences x (batch, T, 3) with posterior noise eps (batch, T, latent).

        Returns:
            {"prediction": (batch, T, 3), "mu", "sigma", "prior_mu", "prior_sigma": (batch, T, latent)}.
        """
        out = self._forward_time_major(_time_major(x), _time_major(eps))
        return {k: _time_major(v) for k, v in out.items()}

    def _forward_time_major(self, x, eps):
        """`forward` on time-major x (T, batch, 3), eps (T, batch, latent); outputs (T, batch, .).

        Time major throughout, so the loop's inputs and outputs need no transposes (only the small
        inputs and per-step terms are transposed, by the callers)."""
        d = self.latent_dim
        phi_x = self.phi_x(x)  # (T, batch, units), all steps at once
        h_prev, mu, sigma, phi_z = self.cell.run_time_major(phi_x, eps)  # the compiled loop over time
        prior = self.prior(h_prev)  # (T, batch, 2 latent), all steps at once
        prior_mu, prior_sigma = prior[..., :d], tf.nn.softplus(prior[..., d:]) + self.min_std
        prediction = self.decoder(tf.concat([phi_z, h_prev], axis=-1))
        return {"prediction": prediction, "mu": mu, "sigma": sigma, "prior_mu": prior_mu, "prior_sigma": prior_sigma}

    def call(self, inputs, training=False):
        """Reconstructed sequences (batch, T, 3) at the posterior mean."""
        x, _ = self._split(inputs)
        return self.forward(x, tf.zeros(tf.concat([tf.shape(x)[:2], [self.latent_dim]], 0)))["prediction"]

    def kl_weights(self, mask):
        """pbar_N(t) of every step (batch, T), N the jet's number of real steps; 0 at padding."""
        n = tf.cast(tf.round(tf.reduce_sum(mask, axis=-1)), tf.int32)  # (batch,)
        rows = tf.gather(self.pt_fraction_table, n)  # (batch, max_steps)
        return rows[:, : tf.shape(mask)[1]] * mask

    def _jet_terms(self, inputs, sample, eps=None):
        """Per-jet terms; `eps` (batch, T, latent) overrides the noise (drawn when `sample`, else 0)."""
        x, mask = self._split(inputs)
        if eps is None:
            shape = tf.concat([tf.shape(x)[:2], [self.latent_dim]], 0)
            eps = keras.random.normal(shape, seed=self.noise) if sample else tf.zeros(shape)
        out = self._forward_time_major(_time_major(x), _time_major(eps))
        # (T, batch) -> (batch, T)
        kl_steps = tf.transpose(diagonal_gaussian_kl(out["mu"], out["sigma"], out["prior_mu"], out["prior_sigma"]))
        prediction = _time_major(out["prediction"])  # (batch, T, 3)
        return vrnn_jet_terms(x, prediction, kl_steps, self.kl_weights(mask), mask)

    # -- training ------------------------------------------------------------------------------
    def loss_terms(self, inputs):
        return self._jet_terms(inputs, sample=True)

    def total_loss(self, terms):
        return tf.reduce_mean(terms["reconstruction"] + self.kl_weight * terms["kl"])

    def compile(self, *args, steps_per_execution=16, **kwargs):
        """Keras compile running 16 training steps per call by default (Keras's default is 1): a step
        at batch 256 takes ~10 ms on a CPU, and the per-call work of `fit` around it (iterator,
        Python, logs) ~2 ms more; several steps per call share it. The steps are the same."""
        super().compile(*args, steps_per_execution=steps_per_execution, **kwargs)

    def train_step(self, data):
        with tf.GradientTape() as tape:
            terms = self._terms(data)
            loss = self.total_loss(terms)
        grads = tape.gradient(loss, self.trainable_weights)
        grads, _ = tf.clip_by_global_norm(grads, self.clip_norm)  # before the step (kahn2021 Sec. 4)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._track(loss, terms)

    def fit_scaler(self, train_inputs):
        """Fit pbar_N(t) (kahn2021 Eq. 2.8) on the training jets and store it in the model."""
        from preprocessing.representations.vrnn import fit_pt_fraction_table

        fitted = fit_pt_fraction_table(train_inputs[SEQUENCE], train_inputs[MASK])
        self.pt_fraction_table.assign(np.asarray(fitted["pt_fraction_table"], np.float32))
        return fitted

    def calibrate(self, train_inputs):
        """rho_bar = mean rho over the training jets (kahn2021 Eq. 4.1); no labels involved."""
        kl = batched(lambda b: self.anomaly_scores(b)["kl"], train_inputs)
        rho = 1.0 - np.exp(-kl.astype(np.float64))
        self.rho_bar.assign(float(np.mean(rho)))
        return float(np.mean(rho))

    # -- scores --------------------------------------------------------------------------------
    def anomaly_scores(self, inputs):
        if tf.executing_eagerly():
            # eager calls (scoring in memory) run the loop as one compiled graph, not step by step in
            # Python; inside a graph (training, export) the plain function is traced into it
            if self.__dict__.get("_compiled_scores") is None:
                # set outside Keras' attribute tracking: a cache, not part of the model's state
                object.__setattr__(self, "_compiled_scores", tf.function(self._scores, reduce_retracing=True))
            return self._compiled_scores(inputs)
        return self._scores(inputs)

    def _scores(self, inputs):
        terms = self._jet_terms(inputs, sample=False)
        rho = 1.0 - tf.exp(-terms["kl"])
        return {
            "rho_prime": 1.0 - rho / (2.0 * self.rho_bar),
            "kl": terms["kl"],
            "reconstruction": terms["reconstruction"],
        }

    def latent(self, inputs):
        """Posterior means per step (batch, T, latent), zero at padding, and the jet's mean over steps."""
        x, mask = self._split(inputs)
        out = self.forward(x, tf.zeros(tf.concat([tf.shape(x)[:2], [self.latent_dim]], 0)))
        mu = out["mu"] * mask[..., None]
        mean = tf.stack([masked_step_mean(mu[..., k], mask) for k in range(self.latent_dim)], axis=-1)
        return {"step_mean": mu, "jet_mean": mean}

    def extra_signatures(self):
        """The ``event`` signature: kahn2021's event score from both leading jets' sequences.

        Inputs ``vrnn_sequence_1``, ``vrnn_mask_1`` (leading jet), ``vrnn_sequence_2``,
        ``vrnn_mask_2`` (sub-leading jet), each (events, T, 3) / (events, T); outputs
        ``event_score`` (the larger rho_prime) and each jet's score ``jet_1``, ``jet_2``.
        """
        specs = []
        for k in (1, 2):
            specs.append(tf.TensorSpec((None, self.max_steps, self.n_features), tf.float32, name=f"{SEQUENCE}_{k}"))
            specs.append(tf.TensorSpec((None, self.max_steps), tf.float32, name=f"{MASK}_{k}"))
        scorer = VRNNEventScorer(self)

        def event(sequence_1, mask_1, sequence_2, mask_2):
            return scorer(
                {f"{SEQUENCE}_1": sequence_1, f"{MASK}_1": mask_1, f"{SEQUENCE}_2": sequence_2, f"{MASK}_2": mask_2}
            )

        return {"event": (event, specs)}

    def get_config(self):
        return {
            **self.base_config(),
            "n_features": self.n_features,
            "max_steps": self.max_steps,
            "units": self.units,
            "latent_dim": self.latent_dim,
            "kl_weight": self.kl_weight,
            "clip_norm": self.clip_norm,
            "min_std": self.min_std,
            "seed": self.seed,
        }


class VRNNEventScorer:
    """Event score of kahn2021 Sec. 4.2: the larger rho_prime of an event's two leading jets.

    Takes both jets' sequences {"vrnn_sequence_1", "vrnn_mask_1", "vrnn_sequence_2", "vrnn_mask_2"}
    (batch of events). A jet without real steps (dropped by the representation) does not count;
    the event then takes its other jet's score.
    """

    def __init__(self, model):
        self.model = model

    def __call__(self, inputs):
        scores = []
        for k in (1, 2):
            jet = {SEQUENCE: inputs[f"{SEQUENCE}_{k}"], MASK: inputs[f"{MASK}_{k}"]}
            s = self.model.anomaly_scores(jet)[self.model.default_score]
            present = tf.reduce_sum(tf.convert_to_tensor(jet[MASK], tf.float32), axis=-1) > 0
            scores.append(tf.where(present, s, tf.fill(tf.shape(s), -np.inf)))
        return {"event_score": tf.maximum(scores[0], scores[1]), "jet_1": scores[0], "jet_2": scores[1]}

    def scores(self, inputs, batch_size=4096):
        """Numpy {"event_score", "jet_1", "jet_2"} over all events, in batches."""
        return batched(self, inputs, batch_size)
