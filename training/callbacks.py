"""Keras callbacks shared by the command lines."""

import keras
import numpy as np


class ScoreSnapshots(keras.callbacks.Callback):
    """Record a tagger's score on a fixed set of probe jets at chosen epochs.

    Used to draw how the latent distributions of the classes develop over training (dillon2021
    Figs. 3, 5, 7, small panels). The probe jets must come from a validation split; their labels
    are only used for drawing, never by the model.

    Args:
        probe: model inputs of the probe jets.
        score: name of the score in ``model.anomaly_scores`` (default: the model's default).
        epochs: 1-based epochs after which to record.
    """

    def __init__(self, probe, epochs, score=None):
        super().__init__()
        self.probe = probe
        self.record_at = set(int(e) for e in epochs)
        self.score = score
        self.snapshots = {}  # epoch -> (probe jets,) scores

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.record_at:
            name = self.score or self.model.default_score
            values = self.model.anomaly_scores(self.probe)[name]
            self.snapshots[epoch + 1] = np.asarray(keras.ops.convert_to_numpy(values))
