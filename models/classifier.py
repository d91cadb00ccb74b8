"""Supervised QCD/W/top jet classifiers used as anti-QCD taggers (cheng2022: T. Cheng, A. Courville,
"Invariant Representation Driven Neural Classifier for Anti-QCD Jet Tagging", arXiv:2201.07199),
shared by ParticleNet (models.particlenet) and the FCN (models.fcn).

A family provides ``make_backbone(name)``: a layer mapping the model inputs to the penultimate
representation h (batch, d). This wrapper adds the head and everything the paper varies:

    p        = softmax(Dense(Dropout(h)))                      classes in the order (QCD, W, top)
    loss     = mean_n CE(p_n, y_n) + sum of weight penalties    (+ OVA and DisCo terms below)

Scores (larger = more anomalous; the class index 0 is QCD, fixed by the registry's class order):

* ``p_qcd`` (default) = 1 - p_QCD;
* ``mahalanobis`` = (h - mu)^T (Sigma + eps I)^-1 (h - mu) with mu, Sigma fitted on the QCD training rows
  after training (``calibrate``; models.mahalanobis), stored in the model.

Variants (constructor keywords, so presets and ``--set`` reach them):

* ``ova_ava=True``: a second network of the same architecture with a QCD-vs-(W, top) head (one
  versus all) trained beside the 3-class (all versus all) network on the same batches, loss
  CE_AVA + CE_OVA; ``p_qcd`` = 1 - p^OVA_QCD p^AVA_QCD and ``mahalanobis`` = MD_AVA + MD_OVA.
* ``head="sngp"``: every hidden Dense layer (the 1x1 convolutions included) spectrally normalised
  with bound ``spectral_bound`` (models.spectral_normalization) and the output replaced by the
  random-Fourier-feature Gaussian process of models.random_feature_gp; p uses its mean-field
  logits.
* ``disco_weight`` lambda > 0: + lambda dCor^2(m, p_true) per batch (losses.correlation), with m
  the jet mass, a training-only array (never a serving input), and p_true the predicted
  probability of each jet's true class (cheng2022 App. B, lambda = 100).
* ``decorrelate="augment"``: train on the mass-decorrelated augmentation (a data option, recorded
  in the config; see models.registry).
"""

import weakref

import keras
import numpy as np
from keras import ops

from models.base import Tagger, batched
from models.mahalanobis import MahalanobisDistance
from models.random_feature_gp import RandomFeatureGaussianProcess
from models.spectral_normalization import SpectralNormalization
from preprocessing.errors import DataError

QCD = 0  # index of the QCD class in the model's outputs
# training-only arrays that the pipeline may put beside the inputs (training.pipeline.TRAINING_ARRAYS)
JET_MASS = "jet_mass"
TRAINING_ONLY = (JET_MASS, "class_target", "outliers")
HEADS = ("softmax", "sngp")
_SCORE_FUNCTIONS = weakref.WeakKeyDictionary()  # model -> tf.function of its scores, for eager callers
DECORRELATIONS = ("none", "augment")


class JetClassifier(Tagger):
    """Base of the cheng2022 classifiers; subclasses define ``make_backbone`` and ``head_dropout``.

    Args:
        n_classes: output classes (3: QCD, W, top).
        head: "softmax" or "sngp".
        ova_ava: also train the QCD-vs-rest network and combine (see module docstring).
        disco_weight: lambda of the DisCo term (0 = off).
        decorrelate: "none" or "augment" (which training data; recorded here).
        spectral_bound: c of the spectral normalisation (SNGP head only).
        gp_features: random features of the GP head.
        seed: initialisation seed.
    """

    supervised = True
    xla_training = True  # see compile
    default_score = "p_qcd"
    extra_output_names = ("class_probabilities",)
    head_dropout = 0.0

    def __init__(
        self,
        n_classes=3,
        head="softmax",
        ova_ava=False,
        disco_weight=0.0,
        decorrelate="none",
        spectral_bound=0.99,
        gp_features=1024,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if head not in HEADS:
            raise DataError(f"{type(self).__name__}: head must be one of {HEADS}, got {head!r}")
        if decorrelate not in DECORRELATIONS:
            raise DataError(f"{type(self).__name__}: decorrelate must be one of {DECORRELATIONS}, got {decorrelate!r}")
        if int(n_classes) < 2:
            raise DataError(f"{type(self).__name__}: n_classes must be at least 2, got {n_classes}")
        if disco_weight < 0:
            raise DataError(f"{type(self).__name__}: disco_weight must be >= 0, got {disco_weight}")
        self.n_classes = int(n_classes)
        self.head = head
        self.ova_ava = bool(ova_ava)
        self.disco_weight = float(disco_weight)
        self.decorrelate = decorrelate
        self.spectral_bound = float(spectral_bound)
        self.gp_features = int(gp_features)
        self.seed = seed
        self.term_names = (
            ("cross_entropy",)
            + (("ova_cross_entropy",) if self.ova_ava else ())
            + (("disco",) if self.disco_weight > 0 else ())
        )
        self.trackers = {k: keras.metrics.Mean(name=k) for k in ("loss",) + self.term_names}
        self.networks = [self._network("ava", self.n_classes)]
        if self.ova_ava:
            self.networks.append(self._network("ova", 2))
        self.distances = [MahalanobisDistance(name=f"mahalanobis_{n}") for n in ("ava", "ova")[: len(self.networks)]]

    def compile(self, *args, jit_compile=True, **kwargs):
        """Keras compile with XLA on by default: Keras's "auto" turns XLA off on CPU-only machines,
        where it makes these networks' training ~1.7x faster (fused batch norm and ReLU on the
        (batch, particles, k, channels) edge tensors). Hence ``xla_training``: one batch size in
        training, and member tasks without op determinism (under which Keras turns XLA off)."""
        super().compile(*args, jit_compile=jit_compile, **kwargs)

    # -- construction ---------------------------------------------------------------------------
    def dense(self, units, name, activation=None, use_bias=True):
        """A hidden Dense layer: spectrally normalised with the SNGP head, plain otherwise."""
        layer = keras.layers.Dense(units, activation=activation, use_bias=use_bias, name=name)
        if self.head == "sngp":
            return SpectralNormalization(layer, bound=self.spectral_bound, name=f"sn_{name}")
        return layer

    def make_backbone(self, name):
        raise NotImplementedError

    def _network(self, name, n_out):
        backbone = self.make_backbone(f"{name}_backbone")
        if self.head == "sngp":
            out = RandomFeatureGaussianProcess(n_out, num_features=self.gp_features, seed=self.seed, name=f"{name}_gp")
        else:
            out = keras.layers.Dense(n_out, name=f"{name}_logits")
        dropout = keras.layers.Dropout(self.head_dropout, seed=self.seed) if self.head_dropout > 0 else None
        return backbone, dropout, out

    def build(self, input_shape):
        for (backbone, _, out), distance in zip(self.networks, self.distances):
            backbone.build(input_shape)
            out.build((None, backbone.output_dim))
            distance.build((None, backbone.output_dim))
        self.built = True

    def _ensure_built(self, inputs):
        """Build from the inputs' shapes when the model is first used outside ``__call__`` (train_step)."""
        if not self.built:
            if isinstance(inputs, dict):
                self.build({k: tuple(v.shape) for k, v in inputs.items()})
            else:
                self.build(tuple(inputs.shape))

    # -- forward --------------------------------------------------------------------------------
    def _forward(self, network, inputs, training):
        """(penultimate h, logits for training, probabilities) of one network."""
        self._ensure_built(inputs)
        backbone, dropout, out = network
        h = backbone(inputs, training=training)  # (batch, d)
        x = dropout(h, training=training) if dropout is not None else h
        if self.head == "sngp":
            logits, variance = out(x, training=training)
            shown = logits if training else out.mean_field_logits(logits, variance)
            return h, logits, ops.softmax(shown, axis=-1)
        logits = out(x)
        return h, logits, ops.softmax(logits, axis=-1)

    def call(self, inputs, training=False):
        return self._forward(self.networks[0], inputs, training)[2]

    def penultimate(self, inputs):
        """[h of each network] in inference mode: the representations of the Mahalanobis distance."""
        return [self._forward(n, inputs, False)[0] for n in self.networks]

    # -- training -------------------------------------------------------------------------------
    def _step_terms(self, data, training):
        inputs, labels = self._unpack(data)
        if labels is None:
            raise DataError(f"{type(self).__name__} learns from labels; pass (inputs, labels)")
        inputs, extra = split_training_arrays(inputs)
        return self.loss_terms(inputs, labels, mass=extra.get(JET_MASS), training=training)

    def train_step(self, data):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            terms = self._step_terms(data, True)
            loss = self.total_loss(terms)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        return self._track(loss, terms)

    def test_step(self, data):
        terms = self._step_terms(data, False)  # inference mode: no dropout, no statistics updates
        return self._track(self.total_loss(terms), terms)

    def loss_terms(self, inputs, labels, mass=None, training=True):
        labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
        _, logits, p = self._forward(self.networks[0], inputs, training)
        terms = {"cross_entropy": keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)}
        if self.ova_ava:
            ova = ops.cast(ops.not_equal(labels, QCD), "int32")  # 0 = QCD, 1 = W or top
            _, ova_logits, _ = self._forward(self.networks[1], inputs, training)
            terms["ova_cross_entropy"] = keras.losses.sparse_categorical_crossentropy(ova, ova_logits, from_logits=True)
        if self.disco_weight > 0:
            if mass is None:
                raise DataError(f"{type(self).__name__}: disco_weight > 0 needs the jet mass of every training row")
            from losses.correlation import distance_correlation_sq

            p_true = ops.sum(p * ops.one_hot(labels, self.n_classes), axis=-1)  # (batch,)
            dcor = distance_correlation_sq(ops.cast(ops.reshape(mass, (-1,)), p_true.dtype), p_true)
            terms["disco"] = ops.ones_like(p_true) * dcor
        return terms

    def total_loss(self, terms):
        loss = ops.mean(terms["cross_entropy"])
        if self.ova_ava:
            loss = loss + ops.mean(terms["ova_cross_entropy"])
        if self.disco_weight > 0:
            loss = loss + self.disco_weight * ops.mean(terms["disco"])
        if self.losses:  # weight penalties (the GP head's L2)
            loss = loss + ops.sum(ops.stack(self.losses))
        return loss

    # -- scores ---------------------------------------------------------------------------------
    def _scores_and_probabilities(self, inputs):
        outs = [self._forward(n, inputs, False) for n in self.networks]
        p_qcd = outs[0][2][:, QCD]
        if self.ova_ava:
            p_qcd = p_qcd * outs[1][2][:, QCD]
        distance = self.distances[0](outs[0][0])
        for dist, out in zip(self.distances[1:], outs[1:]):
            distance = distance + dist(out[0])
        return {"p_qcd": 1.0 - p_qcd, "mahalanobis": distance}, outs[0][2]

    def _scores(self, inputs):
        """Scores and probabilities; called eagerly (batched scoring), through one tf.function: the
        same kernels as the exported graph, without the eager per-op overhead on the edge tensors."""
        import tensorflow as tf

        if not tf.executing_eagerly():
            return self._scores_and_probabilities(inputs)
        if self not in _SCORE_FUNCTIONS:  # kept outside the model: an export must not save this function
            _SCORE_FUNCTIONS[self] = tf.function(self._scores_and_probabilities, reduce_retracing=True)
        return _SCORE_FUNCTIONS[self](inputs)

    def anomaly_scores(self, inputs):
        return self._scores(inputs)[0]

    def extra_outputs(self, inputs):
        return {"class_probabilities": self._scores(inputs)[1]}

    def fit_scaler(self, train_inputs):
        """Nothing to fit (batch norm scales the inputs); builds the model so that it can be exported."""
        self._ensure_built(split_training_arrays(train_inputs)[0])

    def fit_scaler_in_chunks(self, chunks):
        """Nothing to fit: builds the model from the shapes of the first chunk of training rows."""
        return self.fit_scaler(next(iter(chunks())))

    def calibrate(self, train_inputs, train_labels=None):
        """Fit the Mahalanobis mean and covariance on the QCD training rows (needs their labels)."""
        if train_labels is None:
            raise DataError(f"{type(self).__name__}.calibrate needs the training labels to find the QCD rows")
        qcd = np.flatnonzero(np.asarray(train_labels).reshape(-1) == QCD)
        if len(qcd) < 2:
            raise DataError(f"{type(self).__name__}: {len(qcd)} QCD training rows; the Mahalanobis fit needs >= 2")
        rows = inputs_at(split_training_arrays(train_inputs)[0], qcd)
        feats = batched(lambda x: {str(i): h for i, h in enumerate(self.penultimate(x))}, rows, 2048)
        for i, dist in enumerate(self.distances):
            dist.fit(feats[str(i)])
        return None

    def get_config(self):
        return {
            **self.base_config(),
            "n_classes": self.n_classes,
            "head": self.head,
            "ova_ava": self.ova_ava,
            "disco_weight": self.disco_weight,
            "decorrelate": self.decorrelate,
            "spectral_bound": self.spectral_bound,
            "gp_features": self.gp_features,
            "seed": self.seed,
        }


def split_training_arrays(inputs):
    """(model inputs, {name: training-only array}) of a batch that may carry training-only arrays.

    The pipeline delivers them in one dict with the model inputs; a single-input model then gets its
    one remaining array back as a plain array.
    """
    if not isinstance(inputs, dict) or not any(k in inputs for k in TRAINING_ONLY):
        return inputs, {}
    model_inputs = {k: v for k, v in inputs.items() if k not in TRAINING_ONLY}
    extra = {k: v for k, v in inputs.items() if k in TRAINING_ONLY}
    if len(model_inputs) == 1:
        model_inputs = next(iter(model_inputs.values()))
    return model_inputs, extra


def inputs_at(inputs, rows):
    """`inputs` (an array or a dict of arrays) at `rows`."""
    if isinstance(inputs, dict):
        return {k: np.asarray(v)[rows] for k, v in inputs.items()}
    return np.asarray(inputs)[rows]
