"""Shared training machinery for the taggers (keras-io custom train_step pattern).

A tagger subclass provides

* ``loss_terms(inputs)`` -> {name: (batch,) per-jet term} (sampled where the model is
  stochastic), built from ``losses/`` so training and scoring compute the same thing;
* ``total_loss(terms)`` -> scalar (the batch mean of the weighted per-jet terms, plus any
  batch-level term such as a repulsion between prior modes);
* ``anomaly_scores(inputs)`` -> {name: (batch,)} at the posterior mean, larger = more anomalous,
  and the class attribute ``default_score``;
* optionally ``calibrate(train_inputs)``: a label-free step after training that fixes the
  orientation of a score (which component or sign is "anomalous").

The wrapper owns ``train_step``/``test_step`` and one ``keras.metrics.Mean`` tracker per loss
term, so ``fit`` and ``evaluate`` report the same quantities.
"""

import keras
import numpy as np
import tensorflow as tf
from scipy import stats


class Tagger(keras.Model):
    """Base class: trackers, train/test steps, a config helper."""

    term_names = ()  # per-jet terms reported besides "loss"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trackers = {k: keras.metrics.Mean(name=k) for k in ("loss",) + tuple(self.term_names)}

    @property
    def metrics(self):
        return list(self.trackers.values())

    @staticmethod
    def _inputs(data):
        return data[0] if isinstance(data, (tuple, list)) else data

    def _track(self, loss, terms):
        self.trackers["loss"].update_state(loss)
        for name in self.term_names:
            self.trackers[name].update_state(tf.reduce_mean(terms[name]))
        return {name: t.result() for name, t in self.trackers.items()}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            terms = self.loss_terms(self._inputs(data))
            loss = self.total_loss(terms)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._track(loss, terms)

    def test_step(self, data):
        terms = self.loss_terms(self._inputs(data))
        return self._track(self.total_loss(terms), terms)

    def base_config(self):
        return {"name": self.name, "trainable": self.trainable}


def batched(fn, x, batch_size=4096):
    """numpy concatenation of fn over batches of x (bounded memory for large samples)."""
    return np.concatenate([keras.ops.convert_to_numpy(fn(x[i:i + batch_size])) for i in range(0, len(x), batch_size)])


def image_spread(images):
    """Image-weighted mean distance of pixels from the image centre, per image (pixels).

    A label-free measure of how much of a jet's intensity sits away from its core: multi-prong
    jets are wider than one-prong jets. Used to orient latent scores.

    Args:
        images: (batch, height, width) or (components, height, width).
    """
    images = np.asarray(images, np.float64)
    h, w = images.shape[-2:]
    yy, xx = np.mgrid[0:h, 0:w]
    dist = np.hypot(yy - (h - 1) / 2.0, xx - (w - 1) / 2.0)
    return (images * dist).sum(axis=(-2, -1)) / images.sum(axis=(-2, -1))


def orientation_sign(values, images):
    """+1 or -1 so that sign * values grows with image_spread(images) (Spearman); +1 on a tie."""
    return -1.0 if rank_correlation(values, image_spread(images)) < 0 else 1.0


def rank_correlation(a, b):
    """Spearman rank correlation (NaN-safe: 0 when either input is constant)."""
    r = stats.spearmanr(np.asarray(a), np.asarray(b)).statistic
    return 0.0 if not np.isfinite(r) else float(r)
