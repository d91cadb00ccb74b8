"""Fully connected baseline classifier of cheng2022 (T. Cheng, A. Courville, arXiv:2201.07199,
App. A, Table 6) on the 20 hardest constituents' four-vectors.

Input (preprocessing.representations.constituents): ``constituents`` (20, 4) = (E, px, py, pz)
after centring and rotation, zero padded. Each of the 80 numbers is standardised with the mean and
standard deviation of the training rows (``fit_scaler``; stored in the model, so exports carry it):

    h = ReLU Dense12 (Dropout0.2 ReLU Dense128 (Dropout0.2 ReLU Dense256 (standardised, flat 80)))
    p = softmax(Dense3(h))                                    (QCD, W, top); h is penultimate

Training: Adam, batch 256, 50 epochs, one-cycle 2.5e-4 -> 2.5e-3 (10 epochs) -> 2.5e-4 (10),
then held. Scores and variants: models.classifier. Paper AUCs (Table 6, not mass-decorrelated):
p_QCD 0.715 / 0.857 / 0.742 and MD 0.747 / 0.730 / 0.773 on H(h=20) / H(h=80) / Top(W=20).
"""

import keras
import numpy as np
from keras import ops

from models.base import moments_in_chunks
from models.citations import cite
from models.classifier import JetClassifier, split_training_arrays

CITATION = cite("cheng2022", "App. A FCN baseline")
CONSTITUENTS = "constituents"

TRAINING = {
    "epochs": 50,
    "batch_size": 256,
    "learning_rate": 2.5e-4,
    "schedule": [[0, 2.5e-4], [10, 2.5e-3], [20, 2.5e-4]],
    "augment_jets": None,  # size of the generated mass-decorrelation set (None: the recipe's)
}
PRESETS = {
    "paper": {
        "config": {},
        "description": "cheng2022 App. A: 20x(E, px, py, pz) -> 256-Dropout(0.2)-128-Dropout(0.2)-12 ReLU -> "
        "softmax(3); batch 256, one-cycle 2.5e-4 -> 2.5e-3 -> 2.5e-4",
    },
    "ova_ava": {
        "config": {"ova_ava": True},
        "description": "the FCN as OVA-AVA pair (3-class x QCD-vs-rest)",
    },
    "disco": {
        "config": {"disco_weight": 100.0},
        "description": "the FCN as DisCo classifier: cross-entropy + 100 dCor^2(mass, p_true), fixed lr 1e-3",
        "training": {"schedule": None, "learning_rate": 1e-3},
    },
    "sngp": {
        "config": {"head": "sngp"},
        "description": "the FCN with spectral normalisation (bound 0.99) and a random-feature GP output",
        "training": {"schedule": [[0, 4e-5], [10, 4e-4], [20, 4e-5], [25, 1e-6]], "learning_rate": 4e-5},
    },
}


@keras.saving.register_keras_serializable(package="anomalous_jets")
class FCNBackbone(keras.layers.Layer):
    """(batch, 20, 4) constituents -> h (batch, units[-1]) after in-model standardisation."""

    def __init__(self, units, dropout, dense, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.hidden = [dense(u, f"dense{i}", activation="relu") for i, u in enumerate(units)]
        self.drops = [keras.layers.Dropout(dropout, seed=seed) for _ in units[:-1]]
        self.output_dim = int(units[-1])

    def build(self, input_shape):
        width = int(np.prod(input_shape[1:]))
        self.offset = self.add_weight(shape=(width,), initializer="zeros", trainable=False, name="offset")
        self.scale = self.add_weight(shape=(width,), initializer="ones", trainable=False, name="scale")
        for layer in self.hidden:
            layer.build((None, width))
            width = layer.compute_output_shape((None, width))[-1]
        self.built = True

    def call(self, x, training=False):
        x = (ops.reshape(x, (ops.shape(x)[0], -1)) - self.offset) / self.scale  # (batch, 80)
        for i, layer in enumerate(self.hidden):
            x = layer(x)
            if i < len(self.drops):
                x = self.drops[i](x, training=training)
        return x


@keras.saving.register_keras_serializable(package="anomalous_jets")
class FCN(JetClassifier):
    """Fully connected QCD/W/top classifier with the cheng2022 anti-QCD scores.

    Args:
        units: hidden widths; the last is the penultimate representation (256, 128, 12).
        dropout: dropout after every hidden layer but the last (0.2).
        **kwargs: JetClassifier options (head, ova_ava, disco_weight, decorrelate, ...).
    """

    def __init__(self, units=(256, 128, 12), dropout=0.2, **kwargs):
        self.units = [int(u) for u in units]
        self.dropout = float(dropout)
        if not self.units or min(self.units) < 1:
            raise ValueError(f"FCN needs positive hidden widths, got {units}")
        super().__init__(**kwargs)

    def make_backbone(self, name):
        return FCNBackbone(self.units, self.dropout, self.dense, seed=self.seed, name=name)

    def fit_scaler(self, train_inputs):
        """Per-number mean and standard deviation of the training rows (a constant number gets scale 1)."""
        train_inputs = split_training_arrays(train_inputs)[0]
        x = np.asarray(train_inputs, np.float64).reshape(len(train_inputs), -1)
        std = x.std(axis=0)
        if not self.built:
            self.build((None,) + tuple(np.shape(train_inputs)[1:]))
        for backbone, _, _ in self.networks:
            backbone.offset.assign(x.mean(axis=0).astype("float32"))
            backbone.scale.assign(np.where(std > 0, std, 1.0).astype("float32"))

    def fit_scaler_in_chunks(self, chunks):
        """``fit_scaler`` from training rows read chunk by chunk (the same mean and standard deviation)."""

        def flat(chunk):
            x = np.asarray(split_training_arrays(chunk)[0], np.float64)
            return x.reshape(len(x), -1)

        if not self.built:
            first = split_training_arrays(next(iter(chunks())))[0]
            self.build((None,) + tuple(np.shape(first)[1:]))
        _, mean, variance = moments_in_chunks(chunks, flat)
        std = np.sqrt(variance)
        for backbone, _, _ in self.networks:
            backbone.offset.assign(mean.astype("float32"))
            backbone.scale.assign(np.where(std > 0, std, 1.0).astype("float32"))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "dropout": self.dropout}
