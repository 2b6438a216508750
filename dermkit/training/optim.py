"""Optimizer helpers for rows that reuse one compiled model (goel2021's DenseNet121 across Table 1's rows)."""

from __future__ import annotations

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.training.optim")

import numpy as np  # noqa: E402

__all__ = ["reset_optimizer"]


def reset_optimizer(optimizer, *, learning_rate: float | None = None):
    """Return a built Keras optimizer to its freshly-created state, in place; optionally set its learning rate.

    Every optimizer variable — the iteration counter and the slots (Adam's first and second moments, ...) —
    is set to zero, so the next ``apply`` is the same step a new optimizer of the same class and settings
    would take (Adam's bias correction restarts at step 1). The learning rate is kept, or set to
    ``learning_rate``. An optimizer that is not built yet (``optimizer.built`` False) has no state: only the
    learning rate is set.

    goel2021 reuses one compiled DenseNet121 for the classifier rows of Tables 1–2: each row restores the
    initial weights and calls this, which gives the same training as compiling a new model with a new Adam.

    Args:
        optimizer: a ``keras.optimizers.Optimizer`` with a constant learning rate (not a schedule, when
            ``learning_rate`` is given).
        learning_rate: the new learning rate; None keeps the current one.

    Returns:
        ``optimizer``.

    Raises:
        ValueError: ``learning_rate`` is not a positive number, or the optimizer uses a schedule.
    """
    import keras

    if learning_rate is not None:
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
            raise ValueError(f"learning_rate must be a positive number. Received: learning_rate={learning_rate!r}")
        if isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError("the optimizer uses a learning-rate schedule; reset_optimizer cannot set a constant one")
    lr_var = getattr(optimizer, "_learning_rate", None)
    if getattr(optimizer, "built", False):
        for var in optimizer.variables:
            if var is lr_var or str(getattr(var, "path", "")).endswith("learning_rate"):
                continue
            var.assign(np.zeros(var.shape, dtype=var.dtype))
    if learning_rate is not None:
        optimizer.learning_rate = float(learning_rate)
    return optimizer
