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
(they read h_{t-1} and phi_z, which the loop returns), so the compiled loop (`VRNNCell`,
tf.scan -> tf.while_loop) runs the fewest operations per step. The loop is causal and
padding sits at the end, so padded steps never change a real step; the loss masks them out.

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

CITATION = "A. Kahn, J. Gonski, I. Ochoa, D. Williams, G. Brooijmans, arXiv:2105.09274 (kahn2021)"
SEQUENCE, MASK = "vrnn_sequence", "vrnn_mask"

PRESETS = {
    "cpu": {
        "config": {},
        "description": "the paper's network (width 16, latent 2, lambda 0.1, clip 10) with Adam 1e-3 for 20 "
        "epochs: converges in minutes on 2 CPU cores (the paper's 1e-5 needs ~100 epochs of 1M jets)",
        "training": {"learning_rate": 1e-3, "epochs": 20},
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
    """The VRNN loop (tf.scan), time major, differentiated by TensorFlow.

    Args:
        enc_x: (T, batch, units) phi_x part of the encoder's first layer, bias included.
        gru_x: (T, batch, 3 units) phi_x part of the GRU input transform.
        eps: (T, batch, latent) posterior noise.
        weights: (w_h, w2, b2, w_head, b_head, w_pz, b_pz, w_z), see `VRNNCell.call`.

    Returns:
        (h_prev, mu, sigma, phi_z), each (T, batch, .).
    """
    u, d = int(weights[1].shape[0]), int(weights[3].shape[1]) // 2
    batch = tf.shape(enc_x)[1]
    zeros_u, zeros_d = tf.zeros((batch, u), enc_x.dtype), tf.zeros((batch, d), enc_x.dtype)
    init = (zeros_u, zeros_u, zeros_d, zeros_d, zeros_u)
    return tf.scan(_step_function(weights, min_std), (enc_x, gru_x, eps), initializer=init)[1:]


def recurrence_bptt(enc_x, gru_x, eps, weights, min_std):
    """`recurrence` with back-propagation through time written out (same values, same gradients).

    TensorFlow's gradient of a while loop stacks every intermediate of every step in tensor
    lists and runs a generic reverse loop; here the backward pass recomputes the intermediates for
    all steps at once from the forward outputs, runs one reverse tf.scan for the sequential part
    (the gradient with respect to h), and forms the weight gradients outside the loop as sums over
    steps and jets. With a = enc_x + h W_h[:, :u], e1 = relu(a), e2 = relu(e1 W2 + b2),
    (mu, s) = e2 W_head + b_head, sigma = softplus(s) + min_std, z = mu + sigma eps,
    phi_z = relu(z W_pz + b_pz), x = gru_x + phi_z W_z, r = h W_h[:, u:], and GRU gates
    g_z = sig(x_z + r_z), g_r = sig(x_r + r_r), c = tanh(x_c + g_r r_c), h' = g_z h + (1 - g_z) c.
    """
    w_h, w2, b2, w_head, b_head, w_pz, b_pz, w_z = weights
    u, d = int(w2.shape[0]), int(w_head.shape[1]) // 2

    @tf.custom_gradient
    def loop(enc_x, gru_x, eps, w_h, w2, b2, w_head, b_head, w_pz, b_pz, w_z):
        ws = (w_h, w2, b2, w_head, b_head, w_pz, b_pz, w_z)
        h_prev, mu, sigma, phi_z = recurrence(enc_x, gru_x, eps, ws, min_std)

        def grad(d_h_prev, d_mu, d_sigma, d_phi_z):
            def mm(x, w):  # (T, batch, i) x (i, j)
                return tf.einsum("tbi,ij->tbj", x, w)

            hw = mm(h_prev, w_h)
            a = enc_x + hw[..., :u]
            e1 = tf.nn.relu(a)
            p2 = mm(e1, w2) + b2
            e2 = tf.nn.relu(p2)
            s_pre = (mm(e2, w_head) + b_head)[..., d:]
            z = mu + sigma * eps
            p3 = mm(z, w_pz) + b_pz
            x_in = gru_x + mm(phi_z, w_z)
            rec = hw[..., u:]
            g_z = tf.sigmoid(x_in[..., :u] + rec[..., :u])
            g_r = tf.sigmoid(x_in[..., u : 2 * u] + rec[..., u : 2 * u])
            cand = tf.tanh(x_in[..., 2 * u :] + g_r * rec[..., 2 * u :])
            m1, m2, m3 = (tf.cast(t > 0, t.dtype) for t in (a, p2, p3))
            w_h_t, w2_t, w_head_t, w_pz_t, w_z_t = (tf.transpose(w) for w in (w_h, w2, w_head, w_pz, w_z))

            def back(carry, inputs):
                dh_next = carry[0]  # gradient with respect to h_t (the state after this step)
                h, gz, gr, c, rc, dh_out, dmu, dsig, dpz, e, k1, k2, k3, ss = inputs
                dgz = dh_next * (h - c) * gz * (1.0 - gz)
                dc = dh_next * (1.0 - gz) * (1.0 - c * c)
                dgr = dc * rc * gr * (1.0 - gr)
                dx = tf.concat([dgz, dgr, dc], -1)  # (batch, 3 units)
                drec = tf.concat([dgz, dgr, dc * gr], -1)
                dp3 = (dpz + tf.matmul(dx, w_z_t)) * k3
                dz = tf.matmul(dp3, w_pz_t)
                dhead = tf.concat([dmu + dz, (dsig + dz * e) * ss], -1)
                dp2 = tf.matmul(dhead, w_head_t) * k2
                dhw = tf.concat([tf.matmul(dp2, w2_t) * k1, drec], -1)  # (batch, 4 units)
                dh = dh_next * gz + dh_out + tf.matmul(dhw, w_h_t)
                return dh, dhw, dp2, dhead, dp3, dx, dz

            batch = tf.shape(enc_x)[1]

            def zeros(k):
                return tf.zeros((batch, k), enc_x.dtype)

            init = (zeros(u), zeros(4 * u), zeros(u), zeros(2 * d), zeros(u), zeros(3 * u), zeros(d))
            seqs = (h_prev, g_z, g_r, cand, rec[..., 2 * u :], d_h_prev, d_mu, d_sigma, d_phi_z, eps, m1, m2, m3)
            seqs = seqs + (tf.sigmoid(s_pre),)
            _, dhw, dp2, dhead, dp3, dx, dz = tf.scan(back, seqs, initializer=init, reverse=True)

            def outer(x, dy):  # sum over steps and jets of x^T dy
                return tf.einsum("tbi,tbj->ij", x, dy)

            def total(dy):
                return tf.reduce_sum(dy, axis=(0, 1))

            return (
                dhw[..., :u],  # enc_x
                dx,  # gru_x
                dz * sigma,  # eps
                outer(h_prev, dhw),
                outer(e1, dp2),
                total(dp2),
                outer(e2, dhead),
                total(dhead),
                outer(z, dp3),
                total(dp3),
                outer(phi_z, dx),
            )

        return (h_prev, mu, sigma, phi_z), grad

    # read the variables here, so that the custom gradient sees tensors, never variables
    return loop(enc_x, gru_x, eps, *(tf.convert_to_tensor(w) for w in weights))


@keras.saving.register_keras_serializable(package="anomalous_jets")
class VRNNCell(keras.layers.Layer):
    """The recurrent part of the VRNN: posterior, reparameterised sample, phi_z and the GRU, as one
    compiled loop over time (tf.scan, a tf.while_loop in the graph).

    The encoder's first layer Dense16([phi_x, h]) and the GRU's input transform of [phi_x, phi_z]
    are linear in their concatenated inputs, so their phi_x parts are computed for all steps at
    once before the loop (`precompute`), and the two matrices that multiply h are applied as one
    product per step. The GRU is Keras' GRUCell (no bias, reset_after=True); its weights are used
    in the loop with exactly GRUCell's equations.

    Args:
        units: width of phi_x, phi_z, the encoder and the GRU state (16).
        latent_dim: latent dimension (2).
        min_std: floor added to the softplus standard deviation.
    """

    def __init__(self, units=16, latent_dim=2, min_std=1e-4, **kwargs):
        super().__init__(**kwargs)
        self.units, self.latent_dim, self.min_std = int(units), int(latent_dim), float(min_std)
        # back-propagation through time by hand (`recurrence_bptt`); False differentiates the loop
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
        """The phi_x parts of the encoder's first layer (with its bias) and of the GRU input, (batch, T, .)."""
        u = self.units
        enc_x = tf.matmul(phi_x, self.enc1.kernel[:u]) + self.enc1.bias  # (batch, T, units)
        gru_x = tf.matmul(phi_x, self.gru.kernel[:u])  # (batch, T, 3 units)
        return enc_x, gru_x

    def call(self, phi_x, eps):
        """Run the loop.

        Args:
            phi_x: (batch, T, units) extracted features of every step.
            eps: (batch, T, latent) posterior noise (zeros for the posterior mean).

        Returns:
            (h_prev, mu, sigma, phi_z): (batch, T, units), (batch, T, latent) twice, (batch, T, units);
            h_prev[:, t] is the state the step t was conditioned on (h_0 = 0).
        """
        u = self.units
        enc_x, gru_x = self.precompute(phi_x)
        weights = (
            tf.concat([self.enc1.kernel[u:], self.gru.recurrent_kernel], axis=1),  # (units, 4 units), multiplies h
            self.enc2.kernel,
            self.enc2.bias,
            self.enc_head.kernel,
            self.enc_head.bias,
            self.phi_z.kernel,
            self.phi_z.bias,
            self.gru.kernel[u:],  # (units, 3 units): the phi_z part of the GRU input
        )
        loop = recurrence_bptt if self.manual_gradient else recurrence
        out = loop(_time_major(enc_x), _time_major(gru_x), _time_major(eps), weights, self.min_std)
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
        d = self.latent_dim
        phi_x = self.phi_x(x)  # (batch, T, units), all steps at once
        h_prev, mu, sigma, phi_z = self.cell(phi_x, eps)  # the compiled loop over time
        prior = self.prior(h_prev)  # (batch, T, 2 latent), all steps at once
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

    def _jet_terms(self, inputs, sample):
        x, mask = self._split(inputs)
        shape = tf.concat([tf.shape(x)[:2], [self.latent_dim]], 0)
        eps = keras.random.normal(shape, seed=self.noise) if sample else tf.zeros(shape)
        out = self.forward(x, eps)
        kl_steps = diagonal_gaussian_kl(out["mu"], out["sigma"], out["prior_mu"], out["prior_sigma"])  # (batch, T)
        return vrnn_jet_terms(x, out["prediction"], kl_steps, self.kl_weights(mask), mask)

    # -- training ------------------------------------------------------------------------------
    def loss_terms(self, inputs):
        return self._jet_terms(inputs, sample=True)

    def total_loss(self, terms):
        return tf.reduce_mean(terms["reconstruction"] + self.kl_weight * terms["kl"])

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
