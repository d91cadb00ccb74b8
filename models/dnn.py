"""Supervised W-vs-QCD baseline on jet constituents (cheng2020 App. B, the DNN beside the
DisCo- and OE-VAEs), with and without mass-decorrelating sample weights.

    scaled constituents (80) -> 256 -> 128 -> 64 -> 6 (ReLU) -> Dense(1) sigmoid = p(W | jet)
    loss per jet: w_i * binary cross-entropy(y_i, p_i)

The hidden widths are the paper's "ReLu(256) -> ReLu(128) -> ReLu(64) -> ReLu(6) -> Sigmoid".

Inputs are the ``constituents`` representation, scaled by a per-feature scaler (standard by
default, ``scaler="robust"`` for median / IQR) fitted on the QCD training rows only and held as
weights (so the export applies it). Preset ``decorrelated``: the signal (W) training jets get
weights w_i = R_b(i) / S_b(i), the ratio of the normalised QCD and W training-jet mass histograms
in the jet's mass bin (preprocessing.samples.resample; 40 bins over the QCD 0.1-99.9 % range,
0 outside), normalised to mean 1 over the W jets; QCD jets keep w = 1. The weighted W mass
distribution then equals the QCD one, so the classifier cannot use the mass alone. The jet mass
and the class index travel with the training batches (``jet_mass``, ``class_target``:
training.pipeline's training-only arrays) and are never model inputs.

Score: ``signal_probability`` p(W | jet) (larger = more W-like = more anomalous; the default).
"""

import keras
import numpy as np
import tensorflow as tf

from models.base import Tagger
from models.beta_vae import CITATION, CLASS_TARGET, CONSTITUENTS, JET_MASS, SCALERS, BetaVAE
from preprocessing.errors import DataError
from preprocessing.representations.scalers import FeatureScaler
from preprocessing.samples import resample

__all__ = ["CITATION", "PRESETS", "DNN"]

PRESETS = {
    "paper": {
        "config": {},
        "description": "supervised W vs QCD, FCN 256-128-64-6 ReLU, sigmoid output (the paper's baseline)",
    },
    "decorrelated": {
        "config": {"mass_decorrelate": True},
        "description": "as paper with W jets reweighted to the QCD jet-mass distribution (mass-decorrelated baseline)",
    },
}


@keras.saving.register_keras_serializable(package="anomalous_jets")
class DNN(Tagger):
    """Binary classifier, class 0 = QCD (background), class 1 = signal.

    Args:
        n_constituents: constituents per jet (20).
        hidden_units: widths of the hidden ReLU layers (256, 128, 64, 6).
        scaler: "standard" or "robust".
        mass_decorrelate: weight the signal training jets to the QCD mass distribution.
        mass_bins: bins of the mass histograms for the weights.
        seed: unused (deterministic network); kept for the common constructor.
    """

    supervised = True
    term_names = ("cross_entropy",)
    default_score = "signal_probability"

    def __init__(
        self,
        n_constituents=20,
        hidden_units=(256, 128, 64, 6),
        scaler="standard",
        mass_decorrelate=False,
        mass_bins=resample.DEFAULT_BINS,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if scaler not in SCALERS:
            raise ValueError(f"scaler must be one of {list(SCALERS)}, got {scaler!r}")
        self.n_constituents = int(n_constituents)
        self.hidden_units = [int(u) for u in hidden_units]
        self.scaler = scaler
        self.mass_decorrelate = bool(mass_decorrelate)
        self.mass_bins = int(mass_bins)
        self.seed = int(seed)
        shape = (self.n_constituents, 4)
        self.offset = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="scaler_offset")
        self.scale = self.add_weight(shape=shape, initializer="ones", trainable=False, name="scaler_scale")
        # mass-bin edges and the signal weight per bin (training only; exported but unused in scoring)
        self.mass_edges = self.add_weight(
            shape=(self.mass_bins + 1,), initializer="zeros", trainable=False, name="mass_edges"
        )
        self.bin_weights = self.add_weight(
            shape=(self.mass_bins,), initializer="ones", trainable=False, name="signal_bin_weights"
        )
        self.network = keras.Sequential(
            [keras.Input(shape), keras.layers.Flatten()]
            + [keras.layers.Dense(u, activation="relu") for u in self.hidden_units]
            + [keras.layers.Dense(1)],
            name="classifier",
        )
        self.built = True

    _array = staticmethod(BetaVAE._array)

    def scale_inputs(self, inputs):
        x = tf.convert_to_tensor(self._array(inputs, CONSTITUENTS, "dnn"), tf.float32)
        return (x - self.offset) / self.scale

    def call(self, inputs, training=False):
        """p(signal | jet), (batch,)."""
        return tf.sigmoid(self.network(self.scale_inputs(inputs))[:, 0])

    def fit_scaler(self, train_inputs):
        """Scaler on the QCD training rows (class_target 0, or every row without targets); mass weights."""
        x = np.asarray(self._array(train_inputs, CONSTITUENTS, "dnn"), np.float64)
        target = train_inputs.get(CLASS_TARGET) if isinstance(train_inputs, dict) else None
        background = np.ones(len(x), bool) if target is None else np.asarray(target) == 0
        if not background.any():
            raise DataError("dnn: no QCD (class 0) training rows to fit the scaler on")
        fitted = FeatureScaler(self.scaler).fit(x[background].reshape(int(background.sum()), -1))
        self.offset.assign(fitted.offset.reshape(self.offset.shape).astype(np.float32))
        self.scale.assign(fitted.scale.reshape(self.scale.shape).astype(np.float32))
        if self.mass_decorrelate:
            if target is None:
                raise DataError("dnn (decorrelated): the training rows need their class targets to fit mass weights")
            mass = np.asarray(self._array(train_inputs, JET_MASS, "dnn (decorrelated)"), np.float64)
            edges = resample.mass_bins(mass[background], bins=self.mass_bins)
            qcd_h = resample.histogram(mass[background], edges)
            sig_h = resample.histogram(mass[~background], edges)
            ratio = np.where(sig_h > 0, qcd_h / np.where(sig_h > 0, sig_h, 1.0), 0.0)
            w = ratio[np.clip(np.digitize(mass[~background], edges) - 1, 0, self.mass_bins - 1)]
            inside = (mass[~background] >= edges[0]) & (mass[~background] <= edges[-1])
            norm = np.mean(np.where(inside, w, 0.0))
            if not norm > 0:
                raise DataError("dnn (decorrelated): the signal and QCD training jets share no mass bin")
            self.mass_edges.assign(edges.astype(np.float32))
            self.bin_weights.assign((ratio / norm).astype(np.float32))
        return fitted

    def sample_weights(self, mass, labels):
        """Per-jet weights: 1 for QCD; for signal the bin weight of its mass (0 outside the range)."""
        edges = self.mass_edges
        index = tf.clip_by_value(tf.searchsorted(edges, mass, side="right") - 1, 0, self.mass_bins - 1)
        inside = tf.logical_and(mass >= edges[0], mass <= edges[-1])
        signal = tf.where(inside, tf.gather(self.bin_weights, index), tf.zeros_like(mass))
        return tf.where(labels > 0.5, signal, tf.ones_like(mass))

    def loss_terms(self, inputs, labels):
        labels = tf.cast(tf.reshape(labels, [-1]), tf.float32)
        logits = self.network(self.scale_inputs(inputs))[:, 0]
        ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)  # (batch,)
        if self.mass_decorrelate:
            mass = tf.cast(tf.reshape(self._array(inputs, JET_MASS, "dnn (decorrelated)"), [-1]), tf.float32)
            ce = ce * self.sample_weights(mass, labels)
        return {"cross_entropy": ce}

    def total_loss(self, terms):
        return tf.reduce_mean(terms["cross_entropy"])

    def anomaly_scores(self, inputs):
        return {"signal_probability": self.call(inputs)}

    def get_config(self):
        return {
            **self.base_config(),
            "n_constituents": self.n_constituents,
            "hidden_units": list(self.hidden_units),
            "scaler": self.scaler,
            "mass_decorrelate": self.mass_decorrelate,
            "mass_bins": self.mass_bins,
            "seed": self.seed,
        }
