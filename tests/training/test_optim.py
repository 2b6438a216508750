"""reset_optimizer: a reset Adam takes the same steps as a new one (goel2021's model reuse across rows)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dermkit.training.optim import reset_optimizer  # noqa: E402


def _model_and_data():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
    rng = np.random.default_rng(0)
    return model, rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")


def _train(model, optimizer, x, y, epochs=3):
    model.compile(optimizer, loss="mse")
    model.fit(x, y, batch_size=4, epochs=epochs, verbose=0, shuffle=False)
    return [w.copy() for w in model.get_weights()]


def test_reset_adam_matches_a_fresh_adam():
    model, x, y = _model_and_data()
    initial = model.get_weights()
    used = keras.optimizers.Adam(1e-2)
    _train(model, used, x, y)  # the optimizer now holds moments and iteration 12
    assert int(used.iterations.numpy()) == 12

    model.set_weights(initial)
    reset_optimizer(used, learning_rate=5e-3)
    assert int(used.iterations.numpy()) == 0 and float(used.learning_rate.numpy()) == pytest.approx(5e-3)
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False)  # same compiled model, reset state
    reused = model.get_weights()

    fresh_model, _, _ = _model_and_data()
    fresh_model.set_weights(initial)
    expected = _train(fresh_model, keras.optimizers.Adam(5e-3), x, y)
    for a, b in zip(reused, expected):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_without_reset_the_steps_differ():
    """The test above can fail: Adam's moments and bias correction carry over when not reset."""
    model, x, y = _model_and_data()
    initial = model.get_weights()
    used = keras.optimizers.Adam(1e-2)
    _train(model, used, x, y)
    model.set_weights(initial)
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False)
    fresh_model, _, _ = _model_and_data()
    fresh_model.set_weights(initial)
    expected = _train(fresh_model, keras.optimizers.Adam(1e-2), x, y)
    assert max(np.abs(a - b).max() for a, b in zip(model.get_weights(), expected)) > 1e-4


def test_keeps_learning_rate_and_unbuilt_optimizer():
    model, x, y = _model_and_data()
    used = keras.optimizers.Adam(2e-3)
    _train(model, used, x, y, epochs=1)
    reset_optimizer(used)
    assert float(used.learning_rate.numpy()) == pytest.approx(2e-3) and int(used.iterations.numpy()) == 0
    fresh = keras.optimizers.Adam(1e-3)
    assert reset_optimizer(fresh, learning_rate=1e-2) is fresh
    assert float(fresh.learning_rate) == pytest.approx(1e-2)
    with pytest.raises(ValueError, match="learning_rate"):
        reset_optimizer(fresh, learning_rate=0)
    schedule = keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.9))
    with pytest.raises(ValueError, match="schedule"):
        reset_optimizer(schedule, learning_rate=1e-3)
