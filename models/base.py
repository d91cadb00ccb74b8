"""The Tagger base class every model family derives from (keras-io custom train_step pattern).

A tagger subclass provides

* ``loss_terms(inputs)`` -> {name: (batch,) per-row term} (sampled where the model is
  stochastic), built from ``losses/`` so training and scoring compute the same thing; a model
  that learns from labels (``supervised = True``) gets ``loss_terms(inputs, labels)`` with
  integer class labels;
* ``total_loss(terms)`` -> scalar (the batch mean of the weighted per-row terms, plus any
  batch-level term such as a repulsion between prior modes);
* ``anomaly_scores(inputs)`` -> {name: (batch,)} at the posterior mean, larger = more anomalous,
  and the class attribute ``default_score``.

Optional hooks, all declared here with no-op defaults so callers never probe for them:

* ``fit_scaler(train_inputs)``: fit input scales on the training rows (kept inside the model);
  ``fit_scaler_in_chunks(chunks)`` the same from rows read chunk by chunk (streamed training);
* ``calibrate(train_inputs)``: a label-free step after training that fixes the orientation of a
  score (which component or sign is "anomalous"); supervised models get
  ``calibrate(train_inputs, train_labels)`` (e.g. to fit a class's feature distribution);
* ``latent(inputs)`` -> {name: (batch, ...)}: the latent variables, exported as the ``encode``
  signature when a model defines it (``has_latent``);
* ``reconstruction(inputs)``: the reconstructed input in physical units, exported as the
  ``reconstruction`` signature when a model defines it (``has_reconstruction``), for the EMD score;
* ``anomalous_index()``: the anomalous mixture component, for models that choose one;
* ``extra_outputs(inputs)`` -> {name: (batch, ...)}: serving outputs besides the scores (e.g.
  class probabilities), named in ``extra_output_names``;
* ``component_images()`` -> (components, height, width) or None: images the model learned per
  mixture component (drawn next to an export);
* ``extra_signatures()`` -> {signature name: (function, [tf.TensorSpec, ...])}: more export
  signatures besides the standard ones (e.g. the VRNN's event score from both jets' sequences).

``inputs`` is one array for single-input models and a dict {input name: array} for models with
several named inputs (``input_names``). The wrapper owns ``train_step``/``test_step`` and one
``keras.metrics.Mean`` tracker per loss term, so ``fit`` and ``evaluate`` report the same
quantities.
"""

import keras
import numpy as np
import tensorflow as tf
from scipy import stats


class Tagger(keras.Model):
    """Base class: trackers, train/test steps, optional hooks, a config helper."""

    term_names = ()  # per-row terms reported besides "loss"
    # how the default score gets its direction without labels, and why (recorded in the model card)
    score_rule = "larger = more anomalous by construction of the score"
    supervised = False  # True: loss_terms(inputs, labels) learns from integer class labels
    # True: the training step is compiled with XLA, once per batch shape: training batches all have
    # one size (training.data.batches, full_batches), and member tasks run without TensorFlow's op
    # determinism, with which Keras turns XLA off (training.members)
    xla_training = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.selector = None  # one-hot anomalous-component weight, for models with components
        self.trackers = {k: keras.metrics.Mean(name=k) for k in ("loss",) + tuple(self.term_names)}

    @property
    def metrics(self):
        return list(self.trackers.values())

    @staticmethod
    def _unpack(data):
        """(inputs, labels or None) of a Keras batch: x, (x,) or (x, y)."""
        if isinstance(data, (tuple, list)):
            return data[0], (data[1] if len(data) > 1 else None)
        return data, None

    def _terms(self, data):
        inputs, labels = self._unpack(data)
        if self.supervised:
            if labels is None:
                raise ValueError(f"{type(self).__name__} learns from labels; pass (inputs, labels)")
            return self.loss_terms(inputs, labels)
        return self.loss_terms(inputs)

    def _track(self, loss, terms):
        self.trackers["loss"].update_state(loss)
        for name in self.term_names:
            self.trackers[name].update_state(tf.reduce_mean(terms[name]))
        return {name: t.result() for name, t in self.trackers.items()}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            terms = self._terms(data)
            loss = self.total_loss(terms)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._track(loss, terms)

    def test_step(self, data):
        terms = self._terms(data)
        return self._track(self.total_loss(terms), terms)

    def base_config(self):
        return {"name": self.name, "trainable": self.trainable}

    # -- optional hooks ---------------------------------------------------------------------
    def fit_scaler(self, train_inputs):
        """Fit input scales on the training rows; nothing to fit by default."""
        return None

    def fit_scaler_in_chunks(self, chunks):
        """``fit_scaler`` on training rows that are read chunk by chunk (the streamed path of fit).

        Args:
            chunks: a callable returning a fresh iterator over consecutive pieces of the training
                inputs (numpy, the structure ``fit_scaler`` gets), so a fit may pass over them twice.

        A model whose scaler is a sum over rows overrides this with the same values as
        ``fit_scaler``; a model that fits nothing has nothing to do; any other model's scaler
        needs every row at once, and this says so rather than fitting something else.
        """
        if type(self).fit_scaler is Tagger.fit_scaler:
            return None
        from preprocessing.errors import DataError

        raise DataError(
            f"{type(self).__name__} fits its input scaler on every training row at once and cannot fit it chunk by "
            f"chunk; train it in memory: give a larger --memory-budget (or fewer jets with --n-jets)"
        )

    def calibrate(self, train_inputs, train_labels=None):
        """Label-free orientation of the scores after training (supervised models also get the
        training labels); nothing to do by default."""
        return None

    def latent(self, inputs):
        """Latent variables {name: (batch, ...)}; models with a latent space override this."""
        raise NotImplementedError(f"{type(self).__name__} has no latent space")

    @property
    def has_latent(self):
        """Whether the model defines ``latent`` (and so gets an ``encode`` export signature)."""
        return type(self).latent is not Tagger.latent

    def reconstruction(self, inputs):
        """The reconstructed input in physical units (e.g. (batch, particles, 4) four-vectors), for
        scores computed outside the graph (EMD); models with a decoder of the input override this."""
        raise NotImplementedError(f"{type(self).__name__} has no reconstruction")

    @property
    def has_reconstruction(self):
        """Whether the model defines ``reconstruction`` (and so gets a ``reconstruction`` export signature)."""
        return type(self).reconstruction is not Tagger.reconstruction

    def anomalous_index(self):
        """Index of the anomalous mixture component, or None for models without components."""
        if self.selector is None:
            return None
        return int(np.argmax(keras.ops.convert_to_numpy(self.selector)))

    def add_component_selector(self, n_components, chosen=0):
        """A non-trainable one-hot weight picking the anomalous component (exports carry it)."""
        self.selector = self.add_weight(
            shape=(n_components,), initializer="zeros", trainable=False, name="anomalous_selector"
        )
        self.select_component(chosen)

    def select_component(self, k):
        self.selector.assign(np.eye(int(self.selector.shape[0]), dtype="float32")[k])
        return k

    extra_output_names = ()

    def extra_outputs(self, inputs):
        """Serving outputs besides the named scores, {name: (batch, ...)}; none by default."""
        return {}

    def component_images(self):
        """(components, height, width) images learned per mixture component, or None."""
        return None

    def extra_signatures(self):
        """{signature name: (function of named tensors, input specs)} added to an export; none by default."""
        return {}


def gaussian_sample(mean, log_var, seed):
    """Reparameterised draw z = mean + exp(log_var / 2) * eps, eps ~ N(0, 1); `seed` a SeedGenerator."""
    return mean + tf.exp(0.5 * log_var) * keras.random.normal(tf.shape(mean), seed=seed)


def n_rows(inputs):
    """Rows of model inputs: an array (or any sized row container), or a dict of them with the same first dimension."""
    return len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)


def batched(fn, inputs, batch_size=4096):
    """fn over consecutive batches of `inputs`, outputs concatenated as numpy (bounded memory).

    Args:
        fn: callable on one batch; returns an array or a dict of arrays.
        inputs: an array, or a dict {name: array} sliced together.
    """
    n = n_rows(inputs)
    parts = []
    for start in range(0, n, batch_size):
        if isinstance(inputs, dict):
            parts.append(fn({k: v[start : start + batch_size] for k, v in inputs.items()}))
        else:
            parts.append(fn(inputs[start : start + batch_size]))
    if isinstance(parts[0], dict):
        return {k: np.concatenate([keras.ops.convert_to_numpy(p[k]) for p in parts]) for k in parts[0]}
    return np.concatenate([keras.ops.convert_to_numpy(p) for p in parts])


def moments_in_chunks(chunks, rows_of):
    """(rows, mean, variance) per column of the rows that `rows_of(chunk)` gives, over every chunk.

    Two passes in float64, as numpy and scikit-learn compute them: the mean, then the mean squared
    deviation from it; so a scaler fitted chunk by chunk gets the in-memory values (to rounding in
    the last bits of float64).

    Args:
        chunks: a callable returning a fresh iterator over the chunks.
        rows_of: chunk -> (rows, columns) array.
    """
    from preprocessing.errors import DataError

    count, total = 0, 0.0
    for chunk in chunks():
        rows = np.asarray(rows_of(chunk), np.float64)
        if not np.all(np.isfinite(rows)):
            raise DataError("scaler: training features contain NaN or infinity")
        count, total = count + len(rows), total + rows.sum(axis=0)
    if count == 0:
        raise DataError("scaler: nothing to fit (no training rows)")
    mean = total / count
    squares = 0.0
    for chunk in chunks():
        squares = squares + ((np.asarray(rows_of(chunk), np.float64) - mean) ** 2).sum(axis=0)
    return count, mean, squares / count


def standard_scale(mean, variance, count):
    """scikit-learn's StandardScaler scale: sqrt(variance), and 1 for a feature indistinguishable
    from a constant (variance within the two-pass error bound, Chan, Golub and LeVeque)."""
    eps = np.finfo(np.float64).eps
    constant = variance <= count * eps * variance + (count * mean * eps) ** 2
    return np.where(constant, 1.0, np.sqrt(variance))


def batched_scores(model, inputs, batch_size=4096):
    """Named scores {name: (rows,)} of `model` over `inputs`, in batches."""
    return batched(model.anomaly_scores, inputs, batch_size)


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
