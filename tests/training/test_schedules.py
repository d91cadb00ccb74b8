"""The one-cycle learning-rate schedule against hand values."""

import keras
import numpy as np
import pytest

from preprocessing.errors import DataError
from training.schedules import OneCycle, learning_rate


def test_one_cycle_interpolates_and_holds():
    sched = OneCycle([[0, 3e-4], [8, 3e-3], [16, 3e-4], [20, 5e-7]], steps_per_epoch=10)
    at = {s: float(keras.ops.convert_to_numpy(sched(s))) for s in (0, 40, 80, 120, 160, 200, 500)}
    want = {0: 3e-4, 40: 3e-4 + 0.5 * 2.7e-3, 80: 3e-3, 120: 3e-3 - 0.5 * 2.7e-3, 160: 3e-4, 200: 5e-7, 500: 5e-7}
    for s in want:
        np.testing.assert_allclose(at[s], want[s], rtol=1e-5)


def test_learning_rate_from_training_settings():
    assert learning_rate({"learning_rate": 1e-3, "schedule": None, "batch_size": 10}, 100) == 1e-3
    sched = learning_rate({"learning_rate": 1e-3, "schedule": [[0, 1e-3], [1, 1e-2]], "batch_size": 30}, 100)
    assert sched.steps_per_epoch == 4
    with pytest.raises(DataError, match="increase"):
        OneCycle([[0, 1e-3], [0, 1e-2]], 1)
