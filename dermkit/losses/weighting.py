"""Pixel and class weighting for cross-entropy losses.

Now: kawahara2018's weighted binary cross-entropy baseline (Section III-D, the "Cross-entropy" rows of
Tables III a and IV), whose pixels are weighted by median frequency balancing (Eigen & Fergus, ICCV 2015).
Later: barata2020's focal wrappers and class-balanced (CB) / effective-number (ES) weights belong here too.

Median frequency balancing (Eigen & Fergus 2015, Section 4.4): ``weight_c = median_freq / freq(c)`` where
``freq(c)`` is the number of pixels of class ``c`` divided by the total number of pixels in the images where
``c`` is present, and ``median_freq`` is the median of those frequencies over the classes.

kawahara2018's task is multi-label (K sigmoid channels, features overlap), so dermkit applies the definition
with two classes per channel — "feature k present at this pixel" (positive) and "absent" (negative) — giving
2·K classes:

- ``freq_pos[k]`` = positive pixels of channel k / total pixels of the images where channel k has at least
  one positive pixel;
- ``freq_neg[k]`` = negative pixels of channel k / total pixels of the images where channel k has at least
  one negative pixel;
- by default (``median_over="all"``) ``median_freq`` is the median over all 2·K frequencies, so the weights
  correct both the pixel imbalance inside a channel and the imbalance between features (kawahara2018 calls
  its baseline "class-weighted" and says it is weighted "to account for class imbalance", Table III; a
  rare feature's positives get a larger weight than a common feature's). ``median_over="channel"`` takes the
  median of each channel's two frequencies only (their mean), balancing positives against negatives within
  each channel and nothing across channels.

The loss weights each pixel by its class's weight and averages over the pixels and the K channels
("the weighted binary cross-entropy loss averaged over the four dermoscopic features", kawahara2018).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import keras
import numpy as np
from keras import ops

__all__ = [
    "MedianFrequencyWeights",
    "WeightedBinaryCrossentropy",
    "median_frequency_weights",
    "weighted_binary_crossentropy",
]

MEDIAN_OVER = ("all", "channel")


class MedianFrequencyWeights(NamedTuple):
    """Per-channel pixel weights from :func:`median_frequency_weights`, by name (no order to get wrong).

    Attributes:
        pos: float64 ``[K]``, the weight of a positive pixel (label 1) of each channel.
        neg: float64 ``[K]``, the weight of a negative pixel (label 0) of each channel.

    Pass them by keyword: ``WeightedBinaryCrossentropy(pos_weights=w.pos, neg_weights=w.neg)``.
    """

    pos: np.ndarray
    neg: np.ndarray


def _mask_batches(masks) -> Iterable[np.ndarray]:
    """Yield [N, ..., K] NumPy arrays from masks, (image, mask) pairs or a tf.data dataset of either."""
    if hasattr(masks, "as_numpy_iterator"):  # tf.data.Dataset
        masks = masks.as_numpy_iterator()
    elif isinstance(masks, np.ndarray):
        masks = [masks] if masks.ndim == 3 else masks
    for element in masks:
        if isinstance(element, (tuple, list)):
            if len(element) < 2:
                raise ValueError(
                    f"expected masks or (image, mask[, ...]) pairs; received a tuple of length {len(element)}"
                )
            element = element[1]
        array = np.asarray(element)
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4:
            raise ValueError(f"each mask must be [H, W, K] (or a batch [B, H, W, K]); received shape {array.shape}")
        yield array


def median_frequency_weights(masks, *, threshold=0.5, median_over="all") -> MedianFrequencyWeights:
    """Per-channel positive and negative pixel weights by median frequency balancing (Eigen & Fergus 2015).

    See the module docstring for the definition applied to K binary channels and why.

    Args:
        masks: the training masks — an array ``[N, H, W, K]``, an iterable of ``[H, W, K]`` (or batched
            ``[B, H, W, K]``) masks, an iterable of ``(image, mask)`` pairs, or a ``tf.data.Dataset`` of
            masks or ``(image, mask[, ...])`` pairs (batched or not). Read once, in NumPy.
        threshold: a pixel counts as positive when its mask value is ≥ ``threshold``. Default 0.5.
        median_over: ``"all"`` (median over all 2·K class frequencies; default) or ``"channel"`` (median
            over each channel's own two frequencies).

    Returns:
        :class:`MedianFrequencyWeights` ``(pos, neg)``: two float64 ``[K]`` arrays, the weights of positive
        (label 1) and of negative (label 0) pixels per channel. A class that never occurs (a channel with
        no positive pixel anywhere, or one positive everywhere) is left out of the median and gets weight
        1.0, with a warning.

    Raises:
        ValueError: no masks; masks of rank other than 3 (or 4 when batched); masks with different channel
            counts; ``median_over`` not one of ``("all", "channel")``.
    """
    if median_over not in MEDIAN_OVER:
        raise ValueError(f"median_over must be one of {MEDIAN_OVER}; received median_over={median_over!r}")
    class_pixels = None  # [2, K]: pixels of class (negative, positive) per channel
    present_pixels = None  # [2, K]: total pixels of the images where that class is present
    for batch in _mask_batches(masks):
        positive = (batch >= threshold).reshape(batch.shape[0], -1, batch.shape[-1])
        n_pixels = positive.shape[1]
        n_positive = positive.sum(axis=1, dtype=np.int64)  # [B, K]
        counts = np.stack([n_pixels - n_positive, n_positive])  # [2, B, K]
        if class_pixels is None:
            class_pixels = np.zeros((2, batch.shape[-1]), np.int64)
            present_pixels = np.zeros_like(class_pixels)
        elif batch.shape[-1] != class_pixels.shape[1]:
            raise ValueError(
                f"all masks must have the same number of channels; received {batch.shape[-1]} after "
                f"{class_pixels.shape[1]}"
            )
        class_pixels += counts.sum(axis=1)
        present_pixels += ((counts > 0) * n_pixels).sum(axis=1)
    if class_pixels is None:
        raise ValueError("median_frequency_weights needs at least one mask; received none")

    present = present_pixels > 0
    frequencies = np.divide(class_pixels, present_pixels, out=np.full(class_pixels.shape, np.nan), where=present)
    if not present.all():
        missing = [f"{('negative', 'positive')[c]} of channel {k}" for c, k in zip(*np.nonzero(~present))]
        warnings.warn(
            f"median_frequency_weights: classes never present ({', '.join(missing)}) get weight 1.0",
            stacklevel=2,
        )
    if median_over == "all":
        median = np.nanmedian(frequencies)
    else:
        median = np.nanmedian(frequencies, axis=0, keepdims=True)
    with np.errstate(invalid="ignore"):
        weights = median / frequencies
    weights = np.where(present, weights, 1.0)  # row 0: negative pixels, row 1: positive pixels
    return MedianFrequencyWeights(pos=weights[1], neg=weights[0])


def _channel_weights(pos_weights, neg_weights) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Validate the two per-channel weight vectors; return them as tuples of floats."""
    vectors = []
    for name, values in (("pos_weights", pos_weights), ("neg_weights", neg_weights)):
        array = np.asarray(values, dtype=np.float64)
        if array.ndim != 1 or array.size == 0:
            raise ValueError(
                f"{name} must be a non-empty 1-D sequence, one weight per channel; received {name}={values!r}"
            )
        if not np.all(np.isfinite(array)) or np.any(array < 0):
            raise ValueError(f"{name} must be finite and >= 0; received {name}={values!r}")
        vectors.append(tuple(float(v) for v in array))
    if len(vectors[0]) != len(vectors[1]):
        raise ValueError(
            f"pos_weights and neg_weights must have the same length; received {len(vectors[0])} and {len(vectors[1])}"
        )
    return vectors[0], vectors[1]


def weighted_binary_crossentropy(y_true, y_pred, *, pos_weights, neg_weights, from_logits=False):
    """Per-sample binary cross-entropy with per-channel pixel weights (kawahara2018's BCE baseline).

    Shapes: ``y_true``, ``y_pred`` ``[B, H, W, K]`` (any rank ≥ 2, channels last); returns ``[B]`` float32::

        w[b, i, k] = y[b, i, k]·pos_weights[k] + (1 − y[b, i, k])·neg_weights[k]
        loss[b]    = mean over pixels i and channels k of  w[b, i, k] · BCE(y[b, i, k], p[b, i, k])

    The elementwise ``BCE`` is ``keras.ops.binary_crossentropy`` (Keras clips probabilities to
    [ε, 1 − ε]). The mean divides by the number of pixels, not by the sum of weights. Get the weights from
    :func:`median_frequency_weights`: ``pos_weights=w.pos, neg_weights=w.neg``.

    Args:
        y_true: masks in [0, 1] (fuzzy labels interpolate the two weights).
        y_pred: probabilities, or logits with ``from_logits=True``.
        pos_weights: K weights of positive pixels.
        neg_weights: K weights of negative pixels.
        from_logits: whether ``y_pred`` holds logits. Default False.

    Raises:
        ValueError: weights not 1-D, of different lengths, negative or not finite; the channel count of
            ``y_pred`` differs from the number of weights.
    """
    pos, neg = _channel_weights(pos_weights, neg_weights)
    y_pred = ops.cast(y_pred, "float32")
    y_true = ops.cast(y_true, "float32")
    if y_pred.shape[-1] is not None and y_pred.shape[-1] != len(pos):
        raise ValueError(
            f"y_pred has {y_pred.shape[-1]} channels but {len(pos)} channel weights were given; "
            f"received y_pred.shape={tuple(y_pred.shape)}"
        )
    pixel_weights = y_true * ops.convert_to_tensor(pos, "float32") + (1.0 - y_true) * ops.convert_to_tensor(
        neg, "float32"
    )
    elementwise = ops.binary_crossentropy(y_true, y_pred, from_logits=from_logits)
    return ops.mean(pixel_weights * elementwise, axis=tuple(range(1, len(y_pred.shape))))


@keras.saving.register_keras_serializable(package="dermkit")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy with per-channel positive/negative pixel weights (median frequency balancing).

    Shapes: ``[B, H, W, K]`` (any rank ≥ 2, channels last). Per sample, the mean over pixels and channels of
    ``w · BCE(y, p)`` with ``w = y·pos_weights[k] + (1 − y)·neg_weights[k]`` (see
    :func:`weighted_binary_crossentropy`, where the equation lives); then Keras' ``reduction`` over the
    batch, with ``sample_weight`` supported as for any Keras loss. Lower is better.

    kawahara2018 Section III-D / Tables III a, IV ("Cross-entropy"): "we weight each pixel using median
    frequency balancing [Eigen & Fergus 2015] ... averaged over the four dermoscopic features". Build the
    weights with :func:`median_frequency_weights` on the training masks::

        w = median_frequency_weights(train_masks)
        loss = WeightedBinaryCrossentropy(pos_weights=w.pos, neg_weights=w.neg)

    The weights are keyword-only, so the two vectors cannot be swapped by position.
    """

    def __init__(
        self,
        *,
        pos_weights: Sequence[float],
        neg_weights: Sequence[float],
        from_logits: bool = False,
        reduction="sum_over_batch_size",
        name="weighted_binary_crossentropy",
    ):
        """Create the loss.

        Args:
            pos_weights: K weights of positive pixels (``.pos`` of :func:`median_frequency_weights`).
            neg_weights: K weights of negative pixels (``.neg``).
            from_logits: whether ``y_pred`` holds logits. Default False (kawahara2018's sigmoid head).
            reduction: Keras reduction over the per-sample values: ``"sum_over_batch_size"`` (default),
                ``"sum"``, ``"mean"``, ``"mean_with_sample_weight"``, ``"none"`` or None.
            name: the loss name. Default ``"weighted_binary_crossentropy"``.

        Raises:
            ValueError: weights not 1-D, empty, negative or not finite, or of different lengths; an unknown
                ``reduction``.
        """
        super().__init__(name=name, reduction=reduction, dtype="float32")
        self.pos_weights, self.neg_weights = _channel_weights(pos_weights, neg_weights)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return weighted_binary_crossentropy(
            y_true,
            y_pred,
            pos_weights=self.pos_weights,
            neg_weights=self.neg_weights,
            from_logits=self.from_logits,
        )

    def get_config(self):
        return {
            "pos_weights": list(self.pos_weights),
            "neg_weights": list(self.neg_weights),
            "from_logits": self.from_logits,
            "reduction": self.reduction,
            "name": self.name,
        }
