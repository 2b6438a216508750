"""Median frequency balancing weights and the weighted binary cross-entropy (kawahara2018's BCE baseline)."""

from __future__ import annotations

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from dermkit.losses import (  # noqa: E402
    WeightedBinaryCrossentropy,
    median_frequency_weights,
    weighted_binary_crossentropy,
)

# Two 2×2 masks with K = 2 channels, [H, W, K]:
#   mask A: channel 0 = [[1, 0], [0, 0]] (1 positive of 4)   channel 1 = all 0
#   mask B: channel 0 = [[1, 1], [1, 0]] (3 positives)       channel 1 = [[1, 0], [0, 0]] (1 positive)
MASK_A = np.stack([[[1, 0], [0, 0]], [[0, 0], [0, 0]]], axis=-1).astype(np.float32)
MASK_B = np.stack([[[1, 1], [1, 0]], [[1, 0], [0, 0]]], axis=-1).astype(np.float32)
MASKS = np.stack([MASK_A, MASK_B])
# Frequencies (pixels of the class / pixels of the images where the class is present):
#   channel 0: positive 4/8 = 0.5 (both images), negative 4/8 = 0.5 (both)
#   channel 1: positive 1/4 = 0.25 (image B only), negative 7/8 = 0.875 (both)
# median_over="all": median(0.5, 0.5, 0.25, 0.875) = 0.5
#   negative weights (0.5/0.5, 0.5/0.875) = (1, 4/7); positive weights (0.5/0.5, 0.5/0.25) = (1, 2)
# median_over="channel": channel 0 median 0.5 → (1, 1); channel 1 median (0.25 + 0.875)/2 = 0.5625
#   → negative 0.5625/0.875 = 9/14, positive 0.5625/0.25 = 2.25
# (positive weights, negative weights) per channel.
EXPECTED_ALL = ([1.0, 2.0], [1.0, 4 / 7])
EXPECTED_CHANNEL = ([1.0, 2.25], [1.0, 9 / 14])


def assert_weights(weights, expected, **kwargs):
    np.testing.assert_allclose(weights.pos, expected[0], **kwargs)
    np.testing.assert_allclose(weights.neg, expected[1], **kwargs)


@pytest.mark.parametrize("median_over, expected", [("all", EXPECTED_ALL), ("channel", EXPECTED_CHANNEL)])
def test_median_frequency_weights_by_hand(median_over, expected):
    weights = median_frequency_weights(MASKS, median_over=median_over)
    assert weights._fields == ("pos", "neg")
    assert weights.pos.shape == weights.neg.shape == (2,)
    assert_weights(weights, expected, rtol=1e-12)


def test_weights_cannot_be_passed_in_the_wrong_order():
    # The issue: median_frequency_weights gave (negative, positive) rows and the loss took (pos, neg)
    # positionally, so WeightedBinaryCrossentropy(*median_frequency_weights(m)) swapped them silently.
    weights = median_frequency_weights(MASKS)
    with pytest.raises(TypeError):
        WeightedBinaryCrossentropy(*weights)
    with pytest.raises(TypeError):
        weighted_binary_crossentropy(MASKS, MASKS, *weights)
    loss = WeightedBinaryCrossentropy(pos_weights=weights.pos, neg_weights=weights.neg)
    assert loss.pos_weights == pytest.approx((1.0, 2.0)) and loss.neg_weights == pytest.approx((1.0, 4 / 7))


@pytest.mark.parametrize(
    "source, threshold",
    [
        pytest.param(lambda: [MASK_A, MASK_B], 0.5, id="list of masks"),
        pytest.param(lambda: [(np.zeros((2, 2, 3)), MASK_A), (np.zeros((2, 2, 3)), MASK_B)], 0.5, id="pairs"),
        pytest.param(lambda: iter([MASKS]), 0.5, id="one batch"),
        pytest.param(lambda: tf.data.Dataset.from_tensor_slices((np.zeros((2, 2, 2, 3)), MASKS)), 0.5, id="dataset"),
        pytest.param(
            lambda: tf.data.Dataset.from_tensor_slices((np.zeros((2, 2, 2, 3)), MASKS)).batch(2), 0.5, id="batched"
        ),
        pytest.param(lambda: (MASKS * 255).astype(np.uint8), 128, id="uint8 0/255"),
    ],
)
def test_median_frequency_weights_inputs(source, threshold):
    assert_weights(median_frequency_weights(source(), threshold=threshold), EXPECTED_ALL)


def test_absent_class_gets_weight_one_with_warning():
    masks = MASKS.copy()
    masks[..., 1] = 0.0  # channel 1 never positive
    # channel 0 as before: 0.5, 0.5; channel 1 negative: 8/8 = 1. Median(0.5, 0.5, 1) = 0.5.
    with pytest.warns(UserWarning, match=r"classes never present \(positive of channel 1\) get weight 1.0"):
        weights = median_frequency_weights(masks)
    assert_weights(weights, ([1.0, 1.0], [1.0, 0.5]))


@pytest.mark.parametrize(
    "masks, kwargs, message",
    [
        (
            MASKS,
            {"median_over": "image"},
            r"median_over must be one of \('all', 'channel'\); received "
            r"median_over='image'",
        ),
        ([], {}, r"needs at least one mask; received none"),
        ([np.zeros((2, 2))], {}, r"each mask must be \[H, W, K\] .*received shape \(2, 2\)"),
        ([MASK_A, np.zeros((2, 2, 3))], {}, r"same number of channels; received 3 after 2"),
        ([(MASK_A,)], {}, r"\(image, mask\[, \.\.\.\]\) pairs; received a tuple of length 1"),
    ],
)
def test_median_frequency_weights_errors(masks, kwargs, message):
    with pytest.raises(ValueError, match=message):
        median_frequency_weights(masks, **kwargs)


def reference_weighted_bce(y_true, y_pred, pos_weights, neg_weights, epsilon=1e-7):
    """Per-sample mean of w·BCE in float64 NumPy, with Keras' clipping of probabilities to [ε, 1 − ε]."""
    y = np.asarray(y_true, np.float64)
    p = np.clip(np.asarray(y_pred, np.float64), epsilon, 1 - epsilon)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    w = y * np.asarray(pos_weights) + (1 - y) * np.asarray(neg_weights)
    return np.mean(w * bce, axis=tuple(range(1, y.ndim)))


def test_weighted_bce_matches_numpy_reference():
    rng = np.random.default_rng(0)
    y_true = (rng.random((3, 5, 4, 2)) < 0.3).astype(np.float32)
    y_pred = rng.random((3, 5, 4, 2)).astype(np.float32)
    weights = median_frequency_weights(y_true)
    expected = reference_weighted_bce(y_true, y_pred, weights.pos, weights.neg)
    per_sample = weighted_binary_crossentropy(y_true, y_pred, pos_weights=weights.pos, neg_weights=weights.neg)
    np.testing.assert_allclose(per_sample, expected, rtol=1e-5)
    loss = WeightedBinaryCrossentropy(pos_weights=weights.pos, neg_weights=weights.neg)(y_true, y_pred)
    assert loss.shape == () and loss.dtype == "float32"
    np.testing.assert_allclose(float(loss), expected.mean(), rtol=1e-5)
    # Logits give the same loss as their sigmoid.
    logits = np.log(y_pred / (1 - y_pred))
    from_logits = WeightedBinaryCrossentropy(pos_weights=weights.pos, neg_weights=weights.neg,
                                             from_logits=True)(y_true, logits)
    np.testing.assert_allclose(float(from_logits), expected.mean(), rtol=1e-4)


# (pos_weights, neg_weights, y_true, y_pred, expected per-sample loss), shapes [B=1, H=1, W=2, K=1]
CASES = [
    ([2.0], [1.0], [1.0, 0.0], [0.5, 0.5], (2 * math.log(2) + math.log(2)) / 2),  # w = (2, 1)
    ([1.0], [3.0], [0.0, 0.0], [0.5, 0.75], 3 * (math.log(2) + math.log(4)) / 2),  # -log(1 - p), w = 3
    ([0.0], [0.0], [1.0, 0.0], [0.1, 0.9], 0.0),  # zero weights silence every pixel
]


@pytest.mark.parametrize("pos_weights, neg_weights, y_true, y_pred, expected", CASES)
def test_weighted_bce_hand_worked(pos_weights, neg_weights, y_true, y_pred, expected):
    shape = (1, 1, 2, 1)
    value = WeightedBinaryCrossentropy(pos_weights=pos_weights, neg_weights=neg_weights)(
        np.reshape(y_true, shape).astype(np.float32), np.reshape(y_pred, shape).astype(np.float32)
    )
    np.testing.assert_allclose(float(value), expected, rtol=1e-6, atol=1e-7)


def test_weighted_bce_sample_weight_and_mixed_precision():
    rng = np.random.default_rng(1)
    y_true = (rng.random((2, 4, 4, 3)) < 0.4).astype(np.float32)
    y_pred = rng.random((2, 4, 4, 3)).astype(np.float16)
    loss = WeightedBinaryCrossentropy(pos_weights=[2.0, 1.0, 0.5], neg_weights=[1.0, 1.0, 1.0])
    value = loss(y_true, tf.constant(y_pred))
    assert value.dtype == "float32"
    per_sample = reference_weighted_bce(y_true, y_pred.astype(np.float32), [2.0, 1.0, 0.5], [1.0] * 3)
    np.testing.assert_allclose(float(value), per_sample.mean(), rtol=1e-5)
    # sum_over_batch_size: weighted sum divided by the batch size.
    weighted = loss(y_true, y_pred.astype(np.float32), sample_weight=np.array([1.0, 0.0], np.float32))
    np.testing.assert_allclose(float(weighted), per_sample[0] / 2, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pos_weights": [1.0, 2.0], "neg_weights": [1.0]}, r"same length; received 2 and 1"),
        (
            {"pos_weights": [-1.0], "neg_weights": [1.0]},
            r"pos_weights must be finite and >= 0; received "
            r"pos_weights=\[-1.0\]",
        ),
        ({"pos_weights": [1.0], "neg_weights": [np.inf]}, r"neg_weights must be finite and >= 0"),
        ({"pos_weights": [[1.0]], "neg_weights": [1.0]}, r"pos_weights must be a non-empty 1-D sequence"),
        ({"pos_weights": [], "neg_weights": []}, r"pos_weights must be a non-empty 1-D sequence"),
    ],
)
def test_weighted_bce_bad_weights(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WeightedBinaryCrossentropy(**kwargs)


def test_weighted_bce_channel_mismatch():
    with pytest.raises(ValueError, match=r"y_pred has 3 channels but 2 channel weights were given"):
        loss = WeightedBinaryCrossentropy(pos_weights=[1.0, 1.0], neg_weights=[1.0, 1.0])
        loss(np.zeros((1, 2, 2, 3)), np.zeros((1, 2, 2, 3)))


def test_weighted_bce_serialisation(tmp_path):
    loss = WeightedBinaryCrossentropy(pos_weights=[2.0, 0.5], neg_weights=[1.0, 0.75], name="wbce")
    config = loss.get_config()
    assert config == {
        "pos_weights": [2.0, 0.5],
        "neg_weights": [1.0, 0.75],
        "from_logits": False,
        "reduction": "sum_over_batch_size",
        "name": "wbce",
    }
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, WeightedBinaryCrossentropy) and restored.get_config() == config

    inputs = keras.Input((4, 4, 3), name="image")
    outputs = keras.layers.Conv2D(2, 1, activation="sigmoid", name="head")(inputs)
    model = keras.Model(inputs, outputs, name="tiny")
    model.compile(optimizer="adam", loss=loss)
    x = np.random.default_rng(2).random((2, 4, 4, 3), dtype=np.float32)
    y = (x[..., :2] > 0.5).astype(np.float32)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "tiny.keras")
    reloaded = keras.saving.load_model(tmp_path / "tiny.keras", safe_mode=True)
    assert reloaded.loss.get_config() == config
    np.testing.assert_allclose(reloaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)
