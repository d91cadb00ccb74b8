"""ParticleNet as an anti-QCD tagger (cheng2022: T. Cheng, A. Courville, "Invariant Representation
Driven Neural Classifier for Anti-QCD Jet Tagging", arXiv:2201.07199; the network of H. Qu,
L. Gouskos, arXiv:1902.08570), written with keras.ops for Keras 3.

Inputs (preprocessing.representations.pointcloud), three named arrays per jet:
``points`` (100, 2) = (d_eta, d_phi), ``features`` (100, 4) = (log E, log pT, d_eta, d_phi) and
``mask`` (100,) (1 = real constituent).

    x   = BN(features) * mask                                     input batch norm, padding zeroed
    x   = EdgeConv_1(points, x), x = EdgeConv_b(x, x) for b >= 2   k-NN on the points, then on features
    g   = sum_i mask_i x_i / sum_i mask_i                           mean over the REAL particles
    h   = ReLU(Dense(fc_units)(g))                                  the penultimate representation
    p   = softmax(Dense(3)(Dropout(0.1)(h)))                        (QCD, W, top)

Pooling divides by the number of real particles (the later reference's choice), so a jet's output
does not depend on how many padded slots it has; the first reference divided by all 100 slots.
Scores, heads and variants: models.classifier.

Presets (training settings from SPECS.md):

* ``lite`` (default): ParticleNet-Lite, k = 7, channels (32,32,32), (64,64,64), Dense(128);
* ``paper``: k = 16, (64,64,64), (128,128,128), (256,256,256), Dense(256) -- about 2.5 GFLOP per
  training jet, tens of jets/s on 2 CPU cores: a GPU preset at paper scale;
* ``ova_ava``, ``sngp``, ``disco``: the Lite network with the paper's variants.

Training: Adam, batch 384, 30 epochs, one-cycle learning rate 3e-4 -> 3e-3 (8 epochs) -> 3e-4
(8) -> 5e-7 (4), then held (training.schedules.OneCycle).
"""

import math
import weakref

import keras
import numpy as np
from keras import ops

from models.citations import cite
from models.classifier import JetClassifier, split_training_arrays
from models.edge_conv import EdgeConv, pack_real_particles

CITATION = cite("cheng2022") + "; ParticleNet: H. Qu, L. Gouskos, arXiv:1902.08570"
POINTS, FEATURES, MASK = "points", "features", "mask"
INPUTS = (POINTS, FEATURES, MASK)

_XLA_SCORES = weakref.WeakKeyDictionary()  # model -> XLA-compiled scores, for eager callers
ONE_CYCLE = [[0, 3e-4], [8, 3e-3], [16, 3e-4], [20, 5e-7]]
SNGP_CYCLE = [[0, 4e-5], [10, 4e-4], [20, 4e-5], [25, 1e-6]]
# augment_jets: size of the generated mass-decorrelation set for decorrelate=augment (None: the recipe's)
TRAINING = {"epochs": 30, "batch_size": 384, "learning_rate": 3e-4, "schedule": ONE_CYCLE, "augment_jets": None}
LITE = {"k": 7, "channels": [[32, 32, 32], [64, 64, 64]], "fc_units": 128}
PAPER = {"k": 16, "channels": [[64, 64, 64], [128, 128, 128], [256, 256, 256]], "fc_units": 256}

PRESETS = {
    "lite": {
        "config": LITE,
        "description": "ParticleNet-Lite (cheng2022 Sec. 3): k=7, EdgeConv (32,32,32), (64,64,64), Dense(128); "
        "batch 384, one-cycle 3e-4 -> 3e-3 -> 3e-4 -> 5e-7 over 20 of 30 epochs",
    },
    "paper": {
        "config": PAPER,
        "description": "ParticleNet (cheng2022 Sec. 3): k=16, (64,64,64), (128,128,128), (256,256,256), "
        "Dense(256); needs a GPU at paper scale (~2.5 GFLOP per training jet)",
    },
    "ova_ava": {
        "config": {**LITE, "ova_ava": True},
        "description": "cheng2022 OVA-AVA with ParticleNet-Lite: a 3-class and a QCD-vs-rest network, "
        "p_qcd = 1 - p_QCD^OVA p_QCD^AVA, Mahalanobis distances summed",
    },
    "sngp": {
        "config": {**LITE, "head": "sngp"},
        "description": "cheng2022 SNGP with ParticleNet-Lite: spectral norm <= 0.99 on every hidden layer, "
        "random-feature GP output (1024 features), mean-field logits; lr 4e-5 -> 4e-4 -> 4e-5 -> 1e-6",
        "training": {"schedule": SNGP_CYCLE, "learning_rate": 4e-5},
    },
    "disco": {
        "config": {**LITE, "disco_weight": 100.0},
        "description": "cheng2022 DisCo classifier with ParticleNet-Lite: cross-entropy + 100 dCor^2(mass, "
        "p_true), non-augmented data, fixed lr 1e-3",
        "training": {"schedule": None, "learning_rate": 1e-3},
    },
}


@keras.saving.register_keras_serializable(package="anomalous_jets")
class ParticleNetBackbone(keras.layers.Layer):
    """{points, features, mask} -> penultimate h (batch, fc_units).

    Args:
        k: neighbours of every EdgeConv block.
        channels: per block, the widths of its three 1x1 convolutions.
        fc_units: width of the fully connected layer after pooling.
        dense: callable(units, name, activation=None, use_bias=True) -> layer (spectral
            normalisation for SNGP).
        packed_slots: the EdgeConv blocks evaluate batch * packed_slots rows (the real particles,
            packed) whenever the batch has no more real particles than that, every slot otherwise;
            None: every slot. Speed only: both give the same numbers.
    """

    def __init__(self, k, channels, fc_units, dense, packed_slots=None, **kwargs):
        super().__init__(**kwargs)
        self.packed_slots = packed_slots
        self.input_norm = keras.layers.BatchNormalization(name="input_bn")
        self.blocks = [
            EdgeConv(k, widths, dense=lambda u, n, b=b: dense(u, f"edge{b}_{n}", use_bias=False), name=f"edge{b}")
            for b, widths in enumerate(channels)
        ]
        self.fc = dense(fc_units, "fc", activation="relu")
        self.output_dim = int(fc_units)

    def build(self, input_shape):
        self.input_norm.build(input_shape[FEATURES])
        width = int(input_shape[FEATURES][-1])
        points = input_shape[POINTS]
        for block in self.blocks:
            block.build((points, (None, None, width), (None, None)))
            width = block.channels[-1]
            points = (None, None, width)
        self.fc.build((None, width))
        self.built = True

    def call(self, inputs, training=False):
        mask = ops.cast(inputs[MASK], "float32")  # (batch, particles)
        x = self.input_norm(inputs[FEATURES], training=training, mask=mask) * mask[..., None]  # (batch, particles, F)
        shape = ops.shape(mask)
        if self.packed_slots is None or (isinstance(shape[1], int) and self.packed_slots >= shape[1]):
            return self._blocks(inputs[POINTS], x, mask, None, training)
        capacity = shape[0] * self.packed_slots
        return ops.cond(
            ops.sum(mask) <= ops.cast(capacity, "float32"),
            lambda: self._blocks(inputs[POINTS], x, mask, pack_real_particles(mask, capacity), training),
            lambda: self._blocks(inputs[POINTS], x, mask, None, training),
        )

    def _blocks(self, coordinates, x, mask, packing, training):
        for block in self.blocks:
            x = block(coordinates, x, mask, training=training, packing=packing)  # (batch, particles, C)
            coordinates = x
        count = ops.maximum(ops.sum(mask, axis=1, keepdims=True), 1.0)  # (batch, 1)
        pooled = ops.sum(x, axis=1) / count  # (batch, C): padded slots are zero
        return self.fc(pooled)


@keras.saving.register_keras_serializable(package="anomalous_jets")
class ParticleNet(JetClassifier):
    """ParticleNet QCD/W/top classifier with the cheng2022 anti-QCD scores (see models.classifier).

    Args:
        k: nearest neighbours per EdgeConv block (16; Lite 7).
        channels: per EdgeConv block, three convolution widths.
        fc_units: width of the dense layer after pooling (256; Lite 128).
        dropout: dropout before the output layer (0.1).
        packed_slots: real-particle slots per jet the EdgeConv blocks evaluate (ParticleNetBackbone);
            "auto" (default) sets it in ``fit_scaler`` from the training jets' mean multiplicity
            (``auto_packed_slots``), None evaluates every slot. Speed only: the outputs are the same.
        **kwargs: JetClassifier options (head, ova_ava, disco_weight, decorrelate, ...).
    """

    input_names = INPUTS

    def __init__(
        self, k=7, channels=((32, 32, 32), (64, 64, 64)), fc_units=128, dropout=0.1, packed_slots="auto", **kwargs
    ):
        self.k = int(k)
        self.channels = [[int(c) for c in block] for block in channels]
        self.fc_units = int(fc_units)
        self.head_dropout = float(dropout)
        if self.k < 1 or not self.channels or any(len(b) == 0 for b in self.channels):
            raise ValueError(f"ParticleNet needs k >= 1 and non-empty channel lists, got k={k}, channels={channels}")
        if not (packed_slots in ("auto", None) or (isinstance(packed_slots, int) and packed_slots >= 1)):
            raise ValueError(f'ParticleNet packed_slots must be "auto", None or a positive int, got {packed_slots!r}')
        self.packed_slots = packed_slots
        super().__init__(**kwargs)

    def make_backbone(self, name):
        slots = self.packed_slots if isinstance(self.packed_slots, int) else None
        return ParticleNetBackbone(self.k, self.channels, self.fc_units, self.dense, packed_slots=slots, name=name)

    def fit_scaler(self, train_inputs):
        """Builds the model and, with packed_slots="auto", sets the packing capacity from the training jets."""
        super().fit_scaler(train_inputs)
        if self.packed_slots == "auto":
            self.packed_slots = auto_packed_slots(split_training_arrays(train_inputs)[0][MASK])
            for backbone, _, _ in self.networks:
                backbone.packed_slots = self.packed_slots

    def _scores(self, inputs):
        """Scores and probabilities; eager callers go through one XLA-compiled function.

        XLA fuses the inference-mode batch norms, ReLUs and neighbour means that TensorFlow runs
        as separate passes over the edge matrices: scoring costs about half the CPU time
        (alternated in one process, issue 28). XLA compiles once per batch shape, so the rows are
        padded with empty jets (mask 0, which change no other jet's output) to a power of two
        and the padding's outputs dropped. Graph callers (the export) get the plain graph.
        """
        import tensorflow as tf

        if not tf.executing_eagerly():
            return self._scores_and_probabilities(inputs)
        if self not in _XLA_SCORES:  # kept outside the model: an export must not save this function
            _XLA_SCORES[self] = tf.function(self._scores_and_probabilities, jit_compile=True)
        n = int(ops.shape(inputs[MASK])[0])
        rows = max(16, 1 << max(n - 1, 0).bit_length())
        padded = {k: ops.pad(inputs[k], [[0, rows - n]] + [[0, 0]] * (len(ops.shape(inputs[k])) - 1)) for k in INPUTS}
        scores, probabilities = _XLA_SCORES[self](padded)
        return {k: v[:n] for k, v in scores.items()}, probabilities[:n]

    def get_config(self):
        return {
            **super().get_config(),
            "k": self.k,
            "channels": self.channels,
            "fc_units": self.fc_units,
            "dropout": self.head_dropout,
            "packed_slots": self.packed_slots,
        }


def auto_packed_slots(mask):
    """Packing capacity per jet for training batches of these jets: 5 % + 2 slots above their mean
    multiplicity (a batch of 384 exceeds it with probability ~1e-4 on our samples, and is then
    evaluated slot by slot), at most the number of slots."""
    mask = np.asarray(mask)
    if mask.ndim != 2 or len(mask) == 0:
        raise ValueError(f"auto_packed_slots needs a (jets, particles) mask with jets, got shape {mask.shape}")
    mean = float((mask > 0).sum(axis=1).mean())
    return int(min(mask.shape[1], math.ceil(1.05 * mean) + 2))
