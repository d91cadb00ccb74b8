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

The prior and the decoder read h_{t-1} and phi_z, which the recurrent cell returns
(`models.vrnn_cell`: the posterior, the sample and the GRU as one compiled loop over time, with
back-propagation through time written out); phi_x, the prior and the decoder run on all steps at
once outside it. The loop is causal and padding sits at the end, so padded steps never change a
real step; the loss masks them out.

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

Serving: an export's ``serving_default`` takes raw padded constituents (E, px, py, pz) and their
count, like the other jet-level taggers; Algorithm 1, the k_t order and the features run in the
graph (``preprocessing.representations.vrnn_graph``, equal to the numpy builder on generated jets).
A jet that the representation drops (fewer than 3 steps) gets NaN scores there. The
``representation`` signature takes the sequences; ``event`` takes both jets' sequences.
"""

import keras
import numpy as np
import tensorflow as tf

from losses import diagonal_gaussian_kl, masked_step_mean, vrnn_jet_terms
from models.base import Tagger, batched
from models.citations import cite
from models.vrnn_cell import VRNNCell, time_major

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
        out = self._forwardtime_major(time_major(x), time_major(eps))
        return {k: time_major(v) for k, v in out.items()}

    def _forwardtime_major(self, x, eps):
        """`forward` on time-major x (T, batch, 3), eps (T, batch, latent); outputs (T, batch, .).

        Time major throughout, so the loop's inputs and outputs need no transposes (only the small
        inputs and per-step terms are transposed, by the callers)."""
        d = self.latent_dim
        phi_x = self.phi_x(x)  # (T, batch, units), all steps at once
        h_prev, mu, sigma, phi_z = self.cell.runtime_major(phi_x, eps)  # the compiled loop over time
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
        out = self._forwardtime_major(time_major(x), time_major(eps))
        # (T, batch) -> (batch, T)
        kl_steps = tf.transpose(diagonal_gaussian_kl(out["mu"], out["sigma"], out["prior_mu"], out["prior_sigma"]))
        prediction = time_major(out["prediction"])  # (batch, T, 3)
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
