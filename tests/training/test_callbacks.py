"""KLPeakStopping on scripted KL histories: stop epoch and restored weights."""

import keras
import numpy as np
import pytest

from training.callbacks import KLPeakStopping


def _drive(history, fallback="largest"):
    """Run the callback over a scripted history; the model's only weight holds the epoch index."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    cb = KLPeakStopping(verbose=False, fallback=fallback)
    cb.set_model(model)
    model.stop_training = False
    cb.on_train_begin()
    last = None
    for epoch, value in enumerate(history):
        model.layers[0].kernel.assign([[float(epoch)]])
        cb.on_epoch_end(epoch, {"val_kl": value})
        last = epoch
        if model.stop_training:
            break
    cb.on_train_end()
    return cb, last, float(model.layers[0].kernel.numpy()[0, 0])


def test_clean_peak_stops_after_five_falls_and_restores_the_peak():
    history = [1, 2, 3, 4, 5, 6, 5.5, 5, 4, 3, 2, 1, 0.5, 0.2]
    cb, last, weight = _drive(history)
    assert cb.found_peak and cb.peak_epoch == 6
    assert last == 10  # the fifth fall
    assert weight == 5.0
    assert cb.final_epoch == 11 and float(cb.final_weights[0][0, 0]) == 10.0  # kept before the restore


def test_no_peak_restores_the_largest_value():
    cb, last, weight = _drive([1, 2, 3, 4, 5, 6, 7, 8])
    assert not cb.found_peak and last == 7 and weight == 7.0 and cb.peak_epoch == 8
    assert "no clean KL peak" in cb.reason
    assert cb.final_epoch == 8 and float(cb.final_weights[0][0, 0]) == 7.0


def test_no_peak_with_the_last_epoch_fallback_keeps_the_last_epoch():
    """The failure of issue 32: the KL starts at its largest value and never peaks cleanly; the
    "largest" fallback would hand back the untrained first epoch, "last" keeps training's result."""
    history = [4.3, 2.0, 1.5, 1.6, 1.7, 1.65, 1.8, 1.9, 2.1, 2.0]
    cb, last, weight = _drive(history, fallback="last")
    assert not cb.found_peak and last == 9 and weight == 9.0 and cb.peak_epoch == 10
    assert "kept the last epoch" in cb.reason and "largest 4.3 at epoch 1" in cb.reason
    assert _drive(history, fallback="largest")[2] == 0.0  # the other fallback: epoch 1


def test_a_clean_peak_is_kept_under_either_fallback():
    history = [1, 2, 3, 4, 5, 6, 5.5, 5, 4, 3, 2, 1]
    assert _drive(history, fallback="last")[2] == _drive(history, fallback="largest")[2] == 5.0


def test_an_unknown_fallback_is_refused():
    with pytest.raises(ValueError, match="fallback must be one of"):
        KLPeakStopping(fallback="first")


def test_noisy_plateau_has_no_peak():
    rng = np.random.default_rng(0)
    history = list(3.0 + 0.05 * rng.standard_normal(40))
    cb, last, weight = _drive(history)
    assert not cb.found_peak and last == 39
    assert weight == float(np.argmax(history))


def test_short_fall_is_not_a_peak_but_a_later_one_is():
    # rise 5, fall 3, rise 5 to a higher top, fall 5
    history = [1, 2, 3, 4, 5, 6, 5, 4, 3, 4, 5, 6, 7, 8, 7, 6, 5, 4, 3, 9]
    cb, last, weight = _drive(history)
    assert cb.found_peak and weight == 13.0 and last == 18


def test_missing_metric_is_a_clear_error():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    cb = KLPeakStopping()
    cb.set_model(model)
    cb.on_train_begin()
    with pytest.raises(KeyError, match="val_kl"):
        cb.on_epoch_end(0, {"loss": 1.0})


def test_last_finite_epoch_stops_at_divergence_and_restores_the_epoch_before():
    import keras
    import numpy as np

    from training.callbacks import LastFiniteEpoch

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    guard = LastFiniteEpoch()
    guard.set_model(model)
    for epoch, loss in enumerate([1.0, 0.5]):
        model.layers[0].kernel.assign([[float(epoch + 1)]])
        guard.on_epoch_end(epoch, {"loss": loss})
    model.layers[0].kernel.assign([[np.nan]])
    guard.on_epoch_end(2, {"loss": float("nan")})
    assert model.stop_training and guard.diverged_at == 3 and guard.epoch == 2
    guard.on_train_end()
    assert float(model.layers[0].kernel.numpy()[0, 0]) == 2.0  # epoch 2's weights, not the NaN ones
    assert "diverged" in guard.reason and "epoch 2" in guard.reason


def test_last_finite_epoch_keeps_the_final_weights_without_divergence():
    import keras

    from training.callbacks import LastFiniteEpoch

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    guard = LastFiniteEpoch()
    guard.set_model(model)
    for epoch in range(3):
        model.layers[0].kernel.assign([[float(epoch)]])
        guard.on_epoch_end(epoch, {"loss": 1.0})
    guard.on_train_end()
    assert float(model.layers[0].kernel.numpy()[0, 0]) == 2.0 and guard.epoch == 3 and guard.diverged_at is None
    assert "final epoch" in guard.reason
