"""Learning-rate schedules named in training settings (``"schedule"`` of a ModelSpec or preset).

``OneCycle``: a piecewise-linear learning rate through knots (epoch, rate), held at the last
rate afterwards, evaluated per optimiser step as epoch = step / steps_per_epoch. cheng2022's
ParticleNet: (0, 3e-4) -> (8, 3e-3) -> (16, 3e-4) -> (20, 5e-7), then held; its FCN:
(0, 2.5e-4) -> (10, 2.5e-3) -> (20, 2.5e-4); SNGP: (0, 4e-5) -> (10, 4e-4) -> (20, 4e-5) -> (25, 1e-6).
"""

import keras
from keras import ops

from preprocessing.errors import DataError


def check_knots(knots):
    """Knots as a list of (epoch, rate) float pairs with increasing epochs from 0 and positive rates."""
    try:
        pairs = [(float(e), float(r)) for e, r in knots]
    except (TypeError, ValueError):
        raise DataError(f"schedule must be a list of [epoch, learning rate] pairs, got {knots!r}") from None
    if not pairs or pairs[0][0] != 0.0:
        raise DataError(f"schedule must start at epoch 0, got {knots!r}")
    if any(b[0] <= a[0] for a, b in zip(pairs, pairs[1:])):
        raise DataError(f"schedule epochs must increase, got {knots!r}")
    if any(r <= 0 for _, r in pairs):
        raise DataError(f"schedule learning rates must be positive, got {knots!r}")
    return pairs


@keras.saving.register_keras_serializable(package="anomalous_jets")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Piecewise-linear learning rate through (epoch, rate) knots, held after the last one.

    Args:
        knots: [(epoch, rate), ...], epochs increasing from 0.
        steps_per_epoch: optimiser steps per epoch (ceil(training rows / batch size)).
    """

    def __init__(self, knots, steps_per_epoch):
        self.knots = check_knots(knots)
        if int(steps_per_epoch) < 1:
            raise DataError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        self.steps_per_epoch = int(steps_per_epoch)

    def __call__(self, step):
        epoch = ops.cast(step, "float32") / float(self.steps_per_epoch)
        rate = ops.convert_to_tensor(self.knots[-1][1], "float32")
        # from the last segment backwards: inside a segment, interpolate linearly
        for (e0, r0), (e1, r1) in reversed(list(zip(self.knots, self.knots[1:]))):
            inside = ops.logical_and(epoch >= e0, epoch < e1)
            rate = ops.where(inside, r0 + (r1 - r0) * (epoch - e0) / (e1 - e0), rate)
        return rate

    def get_config(self):
        return {"knots": [list(k) for k in self.knots], "steps_per_epoch": self.steps_per_epoch}


def learning_rate(training, n_train):
    """The learning rate of `training` settings: OneCycle when they name a schedule, else the float."""
    knots = training.get("schedule")
    if not knots:
        return training["learning_rate"]
    return OneCycle(knots, -(-int(n_train) // int(training["batch_size"])))
