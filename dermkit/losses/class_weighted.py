"""Class-weighted cross-entropy normalised by the batch's total weight (goel2021 Section 3.2).

goel2021 writes the weighted loss (their Section 3.2, PyTorch's ``CrossEntropyLoss(weight=w)``)::

    loss(x, class) = w[class] · (−x[class] + log Σ_j exp(x_j))
    loss = Σ_i loss(i, class_i) / Σ_i w[class_i]

i.e. a weighted *average*: normalised by the sum of the weights in the batch, not by the batch size. Keras'
``fit(class_weight=...)`` multiplies each sample's loss by its weight and divides by the batch size, which
changes the loss scale with the batch's class mix (with 2:1 weights, between 1× and 2× the unweighted
scale). :class:`WeightedCategoricalCrossentropy` implements the report's form.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.losses.class_weighted")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from dermkit.losses._distribute import all_reduce_sum, replica_share  # noqa: E402

__all__ = ["WeightedCategoricalCrossentropy", "weighted_categorical_crossentropy"]


def _validate_class_weights(class_weights) -> tuple[float, ...]:
    """One weight > 0 per class, from a sequence or array (index = class) or a dict ``{k: w}`` with keys
    ``0..K-1`` (at least 2 classes); returned as a tuple of floats. Shared by every class-weighted loss."""
    if isinstance(class_weights, Mapping):
        keys = sorted(class_weights)
        if keys != list(range(len(keys))):
            raise ValueError(
                "class_weights as a dict must map every class index 0..K-1 to a weight. "
                f"Received: class_weights={dict(class_weights)!r}"
            )
        values = [class_weights[k] for k in keys]
    elif isinstance(class_weights, np.ndarray):
        values = class_weights.tolist()
    elif isinstance(class_weights, Sequence) and not isinstance(class_weights, str):
        values = list(class_weights)
    else:
        raise TypeError(
            "class_weights must be a sequence (weight of class k at index k), an array or a dict {k: weight}. "
            f"Received: class_weights={class_weights!r}"
        )
    if len(values) < 2:
        raise ValueError(f"class_weights needs one weight per class (at least 2). Received: {class_weights!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"class_weights must hold real numbers. Received: class_weights={class_weights!r}")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(
                f"class_weights must be finite and > 0. Received: class_weights={class_weights!r}"
            )
    return tuple(float(v) for v in values)


def weighted_categorical_crossentropy(y_true, y_pred, class_weights, *, from_logits=False, sample_weight=None,
                                      terms=False):
    """``Σ_i w_i · CE_i / Σ_i w_i`` over the batch (goel2021 Section 3.2), a float32 scalar
    (``terms=True``: the numerator's terms ``w_i · CE_i``, float32 ``[B]``, no all-reduce).

    Shapes: ``y_true`` one-hot (or soft) ``[B, K]``; ``y_pred`` probabilities (or logits) ``[B, K]``.
    ``CE_i = keras.losses.categorical_crossentropy(y_true_i, y_pred_i)``; the weight of sample ``i`` is
    ``w_i = Σ_k y_true[i, k] · class_weights[k]`` (the weight of its class for one-hot labels), times
    ``sample_weight[i]`` when given. A batch whose total weight is 0 gives 0. Lower is better (≥ 0).

    Under ``tf.distribute`` with ``R > 1`` replicas in sync, numerator and denominator are all-reduced
    (summed) across replicas, so every replica returns the value a single device computes on the global
    batch; gradients flow through the all-reduce.

    Raises:
        ValueError: ``class_weights`` length differs from ``K``, or shapes are not ``[B, K]``.
    """
    weights = tf.constant(_validate_class_weights(class_weights), dtype="float32")
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    if len(y_pred.shape) != 2 or len(y_true.shape) != 2:
        raise ValueError(
            f"y_true and y_pred must be [B, K]. Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
        )
    num_classes = y_pred.shape[-1]
    if num_classes is not None and num_classes != weights.shape[0]:
        raise ValueError(
            f"class_weights has {weights.shape[0]} entries but y_pred has {num_classes} classes. "
            f"Received: class_weights={class_weights!r}"
        )
    per_sample = keras.losses.categorical_crossentropy(y_true, y_pred, from_logits=from_logits)
    sample_weights = ops.sum(y_true * weights, axis=-1)
    if sample_weight is not None:
        sample_weights = sample_weights * ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
    if terms:
        return sample_weights * ops.cast(per_sample, "float32")
    numerator = ops.sum(sample_weights * ops.cast(per_sample, "float32"))
    denominator = ops.sum(sample_weights)
    numerator, denominator = all_reduce_sum([numerator, denominator])
    return ops.divide_no_nan(numerator, denominator)


@keras.saving.register_keras_serializable(package="dermkit")
class WeightedCategoricalCrossentropy(keras.losses.Loss):
    """Class-weighted categorical cross-entropy, normalised by the batch's total weight (goel2021 §3.2).

    Shapes: ``y_true`` one-hot ``[B, K]``; ``y_pred`` softmax probabilities ``[B, K]`` (logits with
    ``from_logits=True``). One float32 scalar per mini-batch (≥ 0, lower is better)::

        w_i  = class_weights[class_i]            (Σ_k y_true[i, k] · class_weights[k] for soft labels)
        loss = Σ_i w_i · CE(y_true_i, y_pred_i) / Σ_i w_i

    With equal weights it is the plain mean cross-entropy. goel2021 Table 1 row 11 ("class w. 2-1") is
    ``class_weights=(1.0, 2.0)`` with class 1 = malignant. Do not also pass ``class_weight`` to ``fit``: Keras
    would turn it into ``sample_weight``, which this loss multiplies into ``w_i`` (weighting twice).

    Reductions run in float32 (mixed precision safe). ``sample_weight``, when given, multiplies ``w_i`` (and so
    enters the normaliser too).

    Distribution: under a ``tf.distribute`` strategy with ``R > 1`` replicas (inside ``strategy.run``, as in
    ``Model.fit``) numerator and denominator are summed across replicas and each replica returns the global
    loss divided by ``R``; Keras sums the replicas' gradients (and multiplies the logged loss back by ``R``),
    so update and logged loss equal one device's on the whole global batch (as :class:`DiceF1Loss`).

    Citation: S. Goel, H. Ko, R. Mishra, "Improving Melanoma Classification With Semantic Segmentation",
    Stanford CS231N report, 2021, Section 3.2.
    """

    def __init__(self, class_weights, *, from_logits=False, reduction="sum_over_batch_size",
                 name="weighted_categorical_crossentropy"):
        """Create the loss.

        Args:
            class_weights: one weight per class, > 0: a sequence (index = class) or a dict ``{k: w}`` with
                keys ``0..K-1`` (the form of Keras' ``class_weight``).
            from_logits: ``y_pred`` holds logits rather than probabilities. Default False.
            reduction: Keras' ``reduction``. ``"sum_over_batch_size"`` (default), ``"mean"`` and
                ``"mean_with_sample_weight"`` give the paper's ``Σ w_i CE_i / Σ w_i`` (exact across replicas);
                ``"sum"`` gives ``Σ w_i CE_i``; ``"none"`` / None the per-sample ``w_i · CE_i`` ``[B]``.
            name: the loss name. Default ``"weighted_categorical_crossentropy"``.

        Options after ``class_weights`` are keyword-only (issue 18).

        Raises:
            TypeError: ``class_weights`` is not a sequence or dict of real numbers.
            ValueError: fewer than 2 weights, a weight ≤ 0 or not finite, dict keys not ``0..K-1``.
        """
        self.class_weights = _validate_class_weights(class_weights)
        self.from_logits = bool(from_logits)
        super().__init__(name=name, reduction=reduction, dtype="float32")

    def __call__(self, y_true, y_pred, sample_weight=None):
        if (sample_weight is not None and len(set(self.class_weights)) > 1
                and not getattr(self, "_warned_twice", False)):  # equal weights (goel2021's 1:1 loss): no warning
            import warnings

            self._warned_twice = True
            warnings.warn(
                f"{self.name}: WeightedCategoricalCrossentropy received sample_weight, which multiplies its "
                "class weights — fit(class_weight=...) arrives as sample_weight, so class weights would apply "
                "twice. Pass class weights to the loss or to fit, not both.", UserWarning, stacklevel=2)
        with tf.name_scope(self.name):
            if self.reduction in (None, "none", "sum"):
                per_sample = weighted_categorical_crossentropy(
                    y_true, y_pred, self.class_weights, from_logits=self.from_logits, sample_weight=sample_weight,
                    terms=True)
                # a sum over each replica's samples: Keras sums the replicas' gradients, i.e. the global sum
                return per_sample if self.reduction != "sum" else ops.sum(per_sample)
            loss = weighted_categorical_crossentropy(
                y_true, y_pred, self.class_weights, from_logits=self.from_logits, sample_weight=sample_weight
            )
            return replica_share(loss)

    def call(self, y_true, y_pred):
        return weighted_categorical_crossentropy(
            y_true, y_pred, self.class_weights, from_logits=self.from_logits
        )

    def get_config(self):
        return {"class_weights": list(self.class_weights), "from_logits": self.from_logits,
                "reduction": self.reduction, "name": self.name}
