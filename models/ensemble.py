"""Ensembles of independently trained taggers, scored and exported as one model.

Every named score of the ensemble is the mean of the members' scores (bortolato2021 averages the
KL of 20 VAEs, Fig. 3; cheng2022 averages probabilities and Mahalanobis distances), and
``<default>_std`` is the members' spread of the default score. Members are trained with seeds
seed, seed + 1, ... and share the inputs of one member.
"""

import keras
import tensorflow as tf

from models.base import Tagger


@keras.saving.register_keras_serializable(package="anomalous_jets")
class Ensemble(Tagger):
    """K trained taggers of one family; `anomaly_scores` averages each named score over them."""

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)
        self.default_score = self.members[0].default_score
        self.score_rule = self.members[0].score_rule
        self.built = True

    def anomaly_scores(self, inputs):
        per_member = [m.anomaly_scores(inputs) for m in self.members]
        stacked = {name: tf.stack([s[name] for s in per_member], axis=0) for name in per_member[0]}  # (members, batch)
        scores = {name: tf.reduce_mean(values, axis=0) for name, values in stacked.items()}
        scores[f"{self.default_score}_std"] = tf.math.reduce_std(stacked[self.default_score], axis=0)
        return scores

    def call(self, inputs, training=False):
        return self.anomaly_scores(inputs)[self.default_score]
