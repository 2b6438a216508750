"""Keras metric objects for training logs (needs TensorFlow).

* :class:`ChannelDice` — soft Dice of one channel (or of all channels pooled), accumulated over batches.
* Pixel accuracy is Keras' own ``keras.metrics.BinaryAccuracy(name="pixel_accuracy")`` (threshold 0.5, the
  mean over every pixel and channel): dermkit does not write another.

Use :func:`channel_dice_metrics` to get one :class:`ChannelDice` per named channel, e.g.
``model.compile(..., metrics=[keras.metrics.BinaryAccuracy(name="pixel_accuracy"),
*channel_dice_metrics(ISIC2017_FEATURES)])``.
"""

from __future__ import annotations

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.metrics.keras_metrics")

import keras  # noqa: E402
from keras import ops  # noqa: E402

__all__ = ["ChannelDice", "channel_dice_metrics"]


@keras.saving.register_keras_serializable(package="dermkit")
class ChannelDice(keras.metrics.Metric):
    """Soft Dice coefficient of one channel, accumulated over all batches of an epoch.

    Shapes: ``y_true`` and ``y_pred`` are ``[B, H, W, K]`` (any rank, channels last), ``y_pred`` in [0, 1].

    ``Dice_k = 2 Σ y·p / (Σ y + Σ p)``, the sums running over every pixel of every sample seen since the
    last reset (the "channel-batch" partition of kawahara2018 Eq. 7, extended to the whole epoch), so the
    epoch value is the exact Dice of all pixels, not a mean of per-batch ratios. When both sums are 0
    (nothing predicted, nothing true) the result is 1. In [0, 1], 1 is best.

    Reference: Kawahara & Hamarneh, "Fully Convolutional Neural Networks to Detect Clinical Dermoscopic
    Features", IEEE JBHI 2018 (Eq. 4 with the channel-batch partition).
    """

    def __init__(self, channel: int | None = None, name: str | None = None, dtype=None):
        """Args:
            channel: index of the channel to score (last axis), or ``None`` (default) to pool every
                channel into one Dice.
            name: metric name in logs; default ``"dice"`` or ``"dice_{channel}"``.
            dtype: dtype of the accumulators and the result; default Keras' float type.

        Raises:
            ValueError: ``channel`` is not ``None`` nor a non-negative int.
        """
        if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int) or channel < 0):
            raise ValueError(f"channel must be None or a non-negative int. Received: channel={channel!r}")
        super().__init__(name=name or ("dice" if channel is None else f"dice_{channel}"), dtype=dtype)
        self.channel = channel
        self.intersection = self.add_variable(shape=(), initializer="zeros", name="intersection")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add ``Σ w·y·p`` and ``Σ w·(y + p)`` of this batch; ``sample_weight`` broadcasts from ``[B]``."""
        y_true = ops.cast(y_true, self.dtype)
        y_pred = ops.cast(y_pred, self.dtype)
        if self.channel is not None:
            y_true = y_true[..., self.channel]
            y_pred = y_pred[..., self.channel]
        weight = ops.ones((), self.dtype)
        if sample_weight is not None:
            weight = ops.cast(sample_weight, self.dtype)
            while len(weight.shape) < len(y_true.shape):
                weight = ops.expand_dims(weight, -1)
        self.intersection.assign_add(ops.sum(weight * y_true * y_pred))
        self.total.assign_add(ops.sum(weight * (y_true + y_pred)))

    def result(self):
        return ops.where(
            self.total > 0, 2.0 * ops.divide_no_nan(self.intersection, self.total), ops.ones((), self.dtype)
        )

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "channel": self.channel}


def channel_dice_metrics(channel_names) -> list[ChannelDice]:
    """One :class:`ChannelDice` per channel, named ``dice_{channel_name}`` (e.g. ``dice_streaks``)."""
    return [ChannelDice(channel=k, name=f"dice_{name}") for k, name in enumerate(channel_names)]


import dermkit._register  # noqa: E402, F401  (every dermkit serialisable registered with Keras)
