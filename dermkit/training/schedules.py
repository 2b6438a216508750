"""Learning-rate schedules: barata2020's step decay (÷10 at 50 % and 75 % of training, Section 4.3).

barata2020: "the initial learning rates are 1e-4 for SGD and 1e-5 for ADAM, both scheduled to decay by 1/10
at 50% and 75% of the total number of epochs" (150 flat, 250 hierarchical). :func:`step_decay` builds the
schedule from epochs and steps per epoch; :class:`StepDecay` is the registered Keras schedule (boundaries
in optimizer steps).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.training.schedules")

import keras  # noqa: E402
from keras import ops  # noqa: E402

__all__ = ["PAPER_DECAY_FRACTIONS", "StepDecay", "step_decay"]

#: barata2020's decay points, as fractions of the training steps.
PAPER_DECAY_FRACTIONS = (0.5, 0.75)


def _check_rate(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0; received {name}={value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="dermkit")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Piecewise-constant decay: ``lr(step) = initial · factor^{#{b ∈ boundaries : step ≥ b}}``.

    ``step`` is the optimizer's iteration count (0 for the first update), so the update that follows
    ``b`` completed updates already uses the decayed rate. With barata2020's ``factor = 0.1`` and boundaries
    at 50 % and 75 % of the training steps (:func:`step_decay`) the rate is ``lr``, then ``lr/10``, then
    ``lr/100``. (Keras' ``PiecewiseConstantDecay`` switches one step later, at ``step > b``.)
    """

    def __init__(self, initial_learning_rate: float, boundaries: Sequence[int], factor: float = 0.1, name=None):
        """Args:
            initial_learning_rate: the rate before the first boundary, > 0.
            boundaries: non-decreasing optimizer steps ≥ 0 at which the rate is multiplied by ``factor``
                (a step given twice multiplies by ``factor²``).
            factor: the multiplier at each boundary, in (0, 1]. Default 0.1 (÷10).
            name: optional name for the ops.

        Raises:
            ValueError: a rate or factor out of range; boundaries not non-decreasing integers ≥ 0.
        """
        super().__init__()
        self.initial_learning_rate = _check_rate(initial_learning_rate, "initial_learning_rate")
        self.factor = _check_rate(factor, "factor")
        if self.factor > 1:
            raise ValueError(f"factor must lie in (0, 1]; received factor={factor!r}")
        boundaries = list(boundaries)
        if any(isinstance(b, bool) or not isinstance(b, numbers.Integral) or b < 0 for b in boundaries) or any(
            a > b for a, b in zip(boundaries, boundaries[1:])
        ):
            raise ValueError(
                f"boundaries must be non-decreasing integer steps >= 0; received boundaries={boundaries!r}"
            )
        self.boundaries = [int(b) for b in boundaries]
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "int64")
        passed = ops.zeros((), "float32")
        for boundary in self.boundaries:
            passed = passed + ops.cast(ops.greater_equal(step, boundary), "float32")
        return ops.multiply(
            ops.cast(self.initial_learning_rate, "float32"), ops.power(ops.cast(self.factor, "float32"), passed)
        )

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "boundaries": list(self.boundaries),
            "factor": self.factor,
            "name": self.name,
        }


def step_decay(
    initial_learning_rate: float,
    *,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    boundaries: Sequence[int] | None = None,
    fractions: Sequence[float] = PAPER_DECAY_FRACTIONS,
    factor: float = 0.1,
) -> StepDecay:
    """barata2020's learning-rate schedule: ``initial_learning_rate`` ÷10 at 50 % and 75 % of training.

    Give either ``epochs`` and ``steps_per_epoch`` — then the boundaries are
    ``⌊fraction · epochs · steps_per_epoch⌋`` optimizer steps for each of ``fractions`` (for 150 epochs of
    400 steps: steps 30,000 and 45,000, the start of epoch 75 and the middle of epoch 112, 0-based) — or the
    ``boundaries`` in steps directly. A run too short to separate them (``epochs · steps_per_epoch`` < 4)
    gets equal boundaries: both decays at once.

    Usage: ``keras.optimizers.Adam(step_decay(1e-5, epochs=150, steps_per_epoch=len(train_ds)))``;
    SGD-Nesterov: ``keras.optimizers.SGD(step_decay(1e-4, ...), momentum=0.9, nesterov=True)``.

    Raises:
        ValueError: both or neither of (``epochs``, ``steps_per_epoch``) and ``boundaries``; a count < 1;
            fractions outside (0, 1) or not increasing; see :class:`StepDecay`.
    """
    if boundaries is not None:
        if epochs is not None or steps_per_epoch is not None:
            raise ValueError(
                "give either boundaries or epochs and steps_per_epoch, not both; received "
                f"boundaries={boundaries!r}, epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}"
            )
        return StepDecay(initial_learning_rate, list(boundaries), factor)
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(
                f"{name} must be an integer >= 1 (or give boundaries in steps); received {name}={value!r}"
            )
    fractions = [float(f) for f in fractions]
    if any(not 0.0 < f < 1.0 for f in fractions) or any(a >= b for a, b in zip(fractions, fractions[1:])):
        raise ValueError(f"fractions must be increasing and in (0, 1); received fractions={fractions!r}")
    total = epochs * steps_per_epoch
    # round() first, so that a product meant to be an integer floors to it (0.29 · 100 = 28.999999999999996).
    steps = [math.floor(round(f * total, 6)) for f in fractions]
    return StepDecay(initial_learning_rate, steps, factor)
