"""Negative multi-label Sørensen-Dice-F1 loss over mini-batch partitions (kawahara2018 Section II-D).

kawahara2018 Eq. 3 defines the fuzzy F1 score of two arrays ``a_hat`` (predicted) and ``a`` (truth) with
values in [0, 1]::

    D(a_hat, a) = (2·TP + alpha) / (2·TP + FP + FN + beta)                                       (Eq. 3)
    TP = Σ a_hat·a,   FP = Σ a_hat·(1 − a),   FN = Σ (1 − a_hat)·a

and, since 2·TP + FP + FN = Σ a_hat + Σ a, equivalently (Eq. 4)::

    D(a_hat, a) = (2·Σ a_hat·a + alpha) / (Σ (a_hat + a) + beta)                                 (Eq. 4)

``alpha`` enters the numerator only, ``beta`` the denominator only: ``beta > 0`` prevents a division by zero
and ``alpha / beta`` is the score of a partition where neither truth nor prediction has a positive value.
The loss is ``1 − D*`` (Eq. 5) with ``D*`` computed over one of three partitions of a ``[B, H, W, K]``
mini-batch (any rank ≥ 2 with channels last):

- ``"volume"``: one ``D`` over the whole mini-batch, all samples, channels and pixels (``D* = D``, the
  paper's "volume mini-batch", Table III b);
- ``"channel_image"``: the mean over the ``B·K`` sample-channel pairs of ``D`` (Eq. 6, ``D_{B,K}``);
- ``"channel_batch"``: the mean over the ``K`` channels of ``D`` computed over all ``B`` samples of channel
  ``k`` (Eq. 7, ``D_K``, the paper's best partition and dermkit's default).

The equation lives in :func:`dice_f1_coefficient`; :class:`DiceF1Loss` is ``1 −`` that value.
"""

from __future__ import annotations

import math
import numbers

import keras
import tensorflow as tf
from keras import ops

from dermkit.losses._distribute import all_reduce_sum, replica_context, replica_share

__all__ = ["PARTITIONS", "DiceF1Loss", "dice_f1_coefficient"]

PARTITIONS = ("volume", "channel_image", "channel_batch")


def _validate_options(partition, alpha, beta) -> tuple[float, float]:
    """Check the partition and the smoothing terms; return (alpha, beta) as floats."""
    if partition not in PARTITIONS:
        raise ValueError(f"partition must be one of {PARTITIONS}; received partition={partition!r}")
    for name, value in (("alpha", alpha), ("beta", beta)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number; received {name}={value!r}")
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"{name} must be finite and >= 0; received {name}={value!r}")
    if alpha > beta:
        raise ValueError(
            "alpha must not exceed beta: with alpha > beta an empty partition scores alpha/beta > 1 "
            f"(a negative loss); received alpha={alpha!r}, beta={beta!r}"
        )
    return float(alpha), float(beta)


def _check_shapes(y_true, y_pred) -> None:
    if len(y_pred.shape) < 2:
        raise ValueError(
            "the Dice-F1 score needs inputs of rank >= 2 shaped [B, ..., K] (channels last); "
            f"received y_pred.shape={tuple(y_pred.shape)}"
        )
    if len(y_true.shape) != len(y_pred.shape) or any(
        t is not None and p is not None and t != p for t, p in zip(y_true.shape, y_pred.shape)
    ):
        raise ValueError(
            "y_true and y_pred must have the same shape [B, ..., K]; "
            f"received y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}"
        )


def dice_f1_coefficient(y_true, y_pred, *, partition="channel_batch", alpha=0.0, beta=1.0):
    """The Sørensen-Dice-F1 score ``D*`` of kawahara2018 Eq. 4 over a mini-batch partition (Eq. 5–7).

    Shapes: ``y_true`` and ``y_pred`` are ``[B, H, W, K]`` (any rank ≥ 2, channels last) with values in
    [0, 1]; ``y_true`` may be binary or fuzzy, bool or integer. Both are cast to float32 before any sum, so
    the score is float32 under mixed precision. Range: 1 is best; with ``alpha <= beta`` the score lies in
    [0, 1].

    ``D(a_hat, a) = (2·Σ a_hat·a + alpha) / (Σ a_hat + Σ a + beta)`` (Eq. 4, the same value as Eq. 3 with
    fuzzy TP, FP, FN). When the denominator is 0 (``beta = 0`` and an all-zero partition in both truth and
    prediction) the score of that partition is defined as 0, the limit of ``alpha = 0, beta → 0+``
    (``alpha`` must be 0 when ``beta`` is 0).

    Under ``tf.distribute`` (inside ``strategy.run``, e.g. in ``Model.fit``) with more than one replica the
    score is that of the *global* batch: the per-channel sums (``"volume"``, ``"channel_batch"``) or the sum
    and count of per-image scores (``"channel_image"``) are all-reduced across replicas before the ratio, so
    every replica returns the same value, the one a single device would compute on the whole global batch.
    Gradients flow through the all-reduce.

    Args:
        y_true: ground-truth masks, ``[B, ..., K]``.
        y_pred: predicted probabilities (after the sigmoid), same shape.
        partition: ``"volume"`` (one score over everything, Eq. 5 with ``D* = D``), ``"channel_image"``
            (mean over samples and channels, Eq. 6) or ``"channel_batch"`` (mean over channels of the score
            over all samples, Eq. 7). Default ``"channel_batch"``.
        alpha: added to the numerator, ≥ 0, ≤ ``beta``; ``alpha / beta`` is the score of an empty
            partition. Default 0.
        beta: added to the denominator, ≥ 0. Default 1.

    Returns:
        A float32 scalar tensor.

    Raises:
        ValueError: unknown ``partition``; ``alpha`` or ``beta`` negative, NaN or infinite; ``alpha > beta``;
            inputs of rank < 2 or of different shapes.
        TypeError: ``alpha`` or ``beta`` is not a real number.
    """
    alpha, beta = _validate_options(partition, alpha, beta)
    y_pred = ops.cast(y_pred, "float32")
    y_true = ops.cast(y_true, "float32")
    _check_shapes(y_true, y_pred)

    rank = len(y_pred.shape)
    if partition == "volume":
        axes = tuple(range(rank))
    elif partition == "channel_batch":
        axes = tuple(range(rank - 1))
    else:  # channel_image
        axes = tuple(range(1, rank - 1))
    intersection = ops.sum(y_pred * y_true, axis=axes)  # TP
    total = ops.sum(y_pred, axis=axes) + ops.sum(y_true, axis=axes)  # 2·TP + FP + FN

    context = replica_context()
    if context is not None and partition != "channel_image":
        intersection, total = all_reduce_sum([intersection, total], context)

    # Eq. 4; divide_no_nan defines 0/0 (only reachable with alpha = beta = 0) as 0, with a zero gradient.
    scores = ops.divide_no_nan(2.0 * intersection + alpha, total + beta)

    if context is not None and partition == "channel_image":
        # Eq. 6 over the global batch: the mean of all B·K per-image scores, whatever the replica split.
        score_sum, count = all_reduce_sum([ops.sum(scores), ops.cast(ops.size(scores), "float32")], context)
        return score_sum / count
    return ops.mean(scores)


@keras.saving.register_keras_serializable(package="dermkit")
class DiceF1Loss(keras.losses.Loss):
    """Negative multi-label Sørensen-Dice-F1 loss, ``1 − D*`` (kawahara2018 Eq. 5).

    Shapes: ``y_true`` and ``y_pred`` are ``[B, H, W, K]`` (any rank ≥ 2, channels last); ``y_pred`` holds
    sigmoid probabilities. The partition already reduces over the batch, so the loss is one float32 scalar
    per mini-batch (0 is best; in [0, 1] since ``alpha <= beta``)::

        loss = 1 − D*,   D(a_hat, a) = (2·Σ a_hat·a + alpha) / (Σ a_hat + Σ a + beta)        (Eq. 3/4)
        D* = D(M_hat, M)                                  partition="volume"
        D* = 1/(B·K) Σ_b Σ_k D(M_hat[b,...,k], M[b,...,k])   partition="channel_image"   (Eq. 6)
        D* = 1/K Σ_k D(M_hat[:,...,k], M[:,...,k])         partition="channel_batch"   (Eq. 7)

    See :func:`dice_f1_coefficient` (the one place the equation lives) for the empty-partition rule.

    Reductions run in float32 whatever the inputs' dtype (mixed precision: a float16 ``y_pred`` gives a
    float32 loss). ``sample_weight`` is rejected: every partition but ``"channel_image"`` is a ratio of sums
    over the batch, to which a per-sample weight has no meaning the paper gives; kawahara2018 balances
    samples by over-sampling instead (Section II-E).

    Distribution: under a ``tf.distribute`` strategy with ``R > 1`` replicas (inside ``strategy.run``, as in
    ``Model.fit``/``evaluate``) the score is computed over the *global* batch (sums all-reduced across
    replicas) and each replica returns ``(1 − D*) / R``. Keras sums the replicas' gradients and reports the
    loss multiplied back by ``R``, so the update and the logged loss equal those of one device on the whole
    global batch. The value of one call is then ``1/R`` of the loss: use ``strategy.reduce("SUM", ...)`` on
    per-replica results in a custom loop. Outside a replica context (default strategy, or a direct call in
    the cross-replica context) the loss is computed on the tensors given, unscaled.

    Citation: J. Kawahara and G. Hamarneh, "Fully Convolutional Neural Networks to Detect Clinical
    Dermoscopic Features", IEEE JBHI 23(2), 2018, Section II-D.
    """

    def __init__(self, *, partition="channel_batch", alpha=0.0, beta=1.0, reduction="sum_over_batch_size",
                 name="dice_f1_loss"):
        """Create the loss.

        Args:
            partition: ``"volume"`` (one score over the whole mini-batch), ``"channel_image"`` (Eq. 6, mean
                over samples and channels) or ``"channel_batch"`` (Eq. 7, mean over channels of the score
                over all samples). Default ``"channel_batch"``.
            alpha: added to the numerator of Eq. 3, ≥ 0 and ≤ ``beta``; ``alpha / beta`` is the score of a
                partition empty in both truth and prediction (``alpha = 0``: loss 1, ``alpha = beta``: loss
                0). Default 0 (the paper's best setting, Table IV).
            beta: added to the denominator of Eq. 3, ≥ 0. Default 1. With ``beta = 0`` an empty partition
                scores 0 (see :func:`dice_f1_coefficient`).
            reduction: Keras' ``reduction`` argument, accepted and kept in the config. The loss is one value
                per mini-batch by definition (Eq. 3 over the partitions of the whole batch), which every
                reduction leaves as it is.
            name: the loss name. Default ``"dice_f1_loss"``.

        Every option is keyword-only (issue 18): ``DiceF1Loss(partition="channel_image")``.

        Raises:
            ValueError: ``partition`` is not one of ``PARTITIONS``; ``alpha`` or ``beta`` is negative, NaN
                or infinite; ``alpha > beta``.
            TypeError: ``alpha`` or ``beta`` is not a real number.
        """
        self.alpha, self.beta = _validate_options(partition, alpha, beta)
        self.partition = partition
        # `reduction` is validated by Keras but never applied (__call__ below returns the scalar of `call`);
        # float32 always: the sums must not run in float16 under mixed precision.
        super().__init__(name=name, reduction=reduction, dtype="float32")

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                f"{type(self).__name__} does not take sample_weight (nor class_weight in fit): partition="
                f"{self.partition!r} reduces over the whole mini-batch; over-sample instead. Received "
                "sample_weight that is not None."
            )
        with tf.name_scope(self.name):
            return self.call(y_true, y_pred)

    def call(self, y_true, y_pred):
        score = dice_f1_coefficient(y_true, y_pred, partition=self.partition, alpha=self.alpha, beta=self.beta)
        # Keras sums the replicas' gradients (and multiplies the tracked loss by R): each replica holds the
        # global loss, so it contributes 1/R of it (see the class docstring and dermkit.losses._distribute).
        return replica_share(1.0 - score)

    def get_config(self):
        return {"partition": self.partition, "alpha": self.alpha, "beta": self.beta, "reduction": self.reduction,
                "name": self.name}
