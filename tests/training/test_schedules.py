"""step_decay / StepDecay: barata2020's learning rate ÷10 at 50 % and 75 % of training (Section 4.3)."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from dermkit.training.schedules import StepDecay, step_decay  # noqa: E402

# (kwargs, {step: expected learning rate}); boundaries ⌊f · epochs · steps_per_epoch⌋ worked out by hand.
CASES = [
    # Flat model, Adam: 150 epochs × 10 steps = 1500 steps → boundaries 750, 1125.
    ({"initial_learning_rate": 1e-5, "epochs": 150, "steps_per_epoch": 10},
     {0: 1e-5, 749: 1e-5, 750: 1e-6, 1124: 1e-6, 1125: 1e-7, 1499: 1e-7, 10_000: 1e-7}),
    # Hierarchical model, SGD: 250 epochs × 7 steps = 1750 → 875 and ⌊1312.5⌋ = 1312.
    ({"initial_learning_rate": 1e-4, "epochs": 250, "steps_per_epoch": 7},
     {0: 1e-4, 874: 1e-4, 875: 1e-5, 1311: 1e-5, 1312: 1e-6, 1749: 1e-6}),
    # Boundaries in steps directly, another factor.
    ({"initial_learning_rate": 2.0, "boundaries": [3, 5], "factor": 0.5}, {0: 2.0, 2: 2.0, 3: 1.0, 4: 1.0, 5: 0.5}),
    # A 1-epoch, 2-step run: ⌊1⌋ = 1 and ⌊1.5⌋ = 1, both decays at step 1.
    ({"initial_learning_rate": 1.0, "epochs": 1, "steps_per_epoch": 2}, {0: 1.0, 1: 0.01}),
    # Other fractions: 100 epochs × 1 step, 0.29 → step 29 (0.29 · 100 is 28.999999999999996 in floating point).
    ({"initial_learning_rate": 1.0, "epochs": 100, "steps_per_epoch": 1, "fractions": (0.29,)}, {28: 1.0, 29: 0.1}),
]


@pytest.mark.parametrize("kwargs, expected", CASES)
def test_values_at_the_boundaries(kwargs, expected):
    kwargs = dict(kwargs)
    schedule = step_decay(kwargs.pop("initial_learning_rate"), **kwargs)
    assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
    for step, rate in expected.items():
        np.testing.assert_allclose(float(schedule(step)), rate, rtol=1e-6, err_msg=f"step {step}")


def test_boundaries_from_epochs():
    assert step_decay(1e-5, epochs=150, steps_per_epoch=400).boundaries == [30_000, 45_000]
    assert step_decay(1e-4, epochs=250, steps_per_epoch=403).boundaries == [50_375, 75_562]  # 75562.5 floored


def test_optimizer_uses_the_decayed_rate():
    """The optimizer's rate at iteration t is schedule(t): the update after b completed updates is decayed."""
    optimizer = keras.optimizers.SGD(step_decay(1e-4, boundaries=[2, 4]), momentum=0.9, nesterov=True)
    variable = keras.Variable(np.zeros(1, np.float32))
    rates = []
    for _ in range(5):
        rates.append(float(optimizer.learning_rate))
        optimizer.apply_gradients([(np.ones(1, np.float32), variable)])
    np.testing.assert_allclose(rates, [1e-4, 1e-4, 1e-5, 1e-5, 1e-6], rtol=1e-6)


def test_serialisation_round_trip():
    schedule = step_decay(1e-5, epochs=150, steps_per_epoch=10)
    assert schedule.get_config() == {"initial_learning_rate": 1e-5, "boundaries": [750, 1125], "factor": 0.1,
                                     "name": None}
    serialised = keras.saving.serialize_keras_object(schedule)
    assert serialised["registered_name"] == "dermkit>StepDecay"
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialised)))
    assert isinstance(restored, StepDecay) and restored.get_config() == schedule.get_config()
    optimizer = keras.optimizers.Adam(schedule)
    copy = keras.optimizers.Adam.from_config(json.loads(json.dumps(optimizer.get_config())))
    assert isinstance(copy._learning_rate, StepDecay)
    assert copy._learning_rate.get_config() == schedule.get_config()


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((1e-5,), {}, r"epochs must be an integer >= 1 \(or give boundaries in steps\); received epochs=None"),
        ((1e-5,), {"epochs": 10}, r"steps_per_epoch must be an integer >= 1"),
        ((1e-5,), {"epochs": 10, "steps_per_epoch": 2, "boundaries": [5]}, r"either boundaries or epochs"),
        ((1e-5,), {"epochs": 10, "steps_per_epoch": 2, "fractions": (0.75, 0.5)}, r"fractions must be increasing"),
        ((1e-5,), {"epochs": 10, "steps_per_epoch": 2, "fractions": (0.5, 1.0)}, r"in \(0, 1\)"),
        ((0.0,), {"boundaries": [1]}, r"initial_learning_rate must be a finite number > 0; received "
                                      r"initial_learning_rate=0.0"),
        ((1e-5,), {"boundaries": [1], "factor": 2.0}, r"factor must lie in \(0, 1\]; received factor=2.0"),
        ((1e-5,), {"boundaries": [5, 3]}, r"boundaries must be non-decreasing integer steps >= 0; received "
                                          r"boundaries=\[5, 3\]"),
        ((1e-5,), {"boundaries": [-1]}, r"non-decreasing integer steps >= 0"),
        ((1e-5,), {"boundaries": [2.5]}, r"non-decreasing integer steps >= 0"),
    ],
)
def test_bad_arguments(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        step_decay(*args, **kwargs)
