"""segmentation_summary (goel2021 Table 3 top): hand cases and a plain-NumPy soft Dice."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from dermkit.metrics.segmentation import segmentation_summary  # noqa: E402


def _truth():
    truth = np.zeros((2, 4, 4, 1), np.float32)
    truth[0, :2, :2] = 1  # 4 lesion pixels
    truth[1, 2:, 2:] = 1  # 4 lesion pixels
    return truth


def test_hand_cases():
    truth = _truth()
    same = segmentation_summary(truth, truth.copy())
    assert same["soft_dice"] == pytest.approx(1.0, abs=1e-6) and same["dice_loss"] == pytest.approx(0.0, abs=1e-6)
    assert same["pixel_accuracy"] == 1.0 and same["jaccard"] == 1.0 and same["dice"] == 1.0
    zero = segmentation_summary(truth, np.zeros_like(truth))
    assert zero["soft_dice"] == pytest.approx(0.0, abs=1e-5) and zero["pixel_accuracy"] == 24 / 32
    half = truth.copy()
    half[1] = 0  # one lesion of two found: Dice over all pixels 2·4 / (4 + 8); per image 1 and 0
    m = segmentation_summary(truth, half)
    assert m["soft_dice"] == pytest.approx(8 / 12, abs=1e-5) and m["dice_loss"] == pytest.approx(4 / 12, abs=1e-5)
    assert m["jaccard"] == 0.5 and m["dice"] == 0.5 and m["pixel_accuracy"] == 28 / 32


def test_soft_dice_is_the_pooled_formula():
    rng = np.random.default_rng(0)
    truth = (rng.random((3, 8, 8)) > 0.6).astype(np.float32)
    prob = rng.random((3, 8, 8)).astype(np.float32)
    expected = (2 * (prob * truth).sum() + 1e-5) / (prob.sum() + truth.sum() + 1e-5)  # every pixel in one sum
    m = segmentation_summary(truth, prob)
    assert m["soft_dice"] == pytest.approx(expected, rel=1e-5)
    assert m["pixel_accuracy"] == pytest.approx(np.mean((prob > 0.5) == (truth > 0.5)))


def test_errors():
    truth = _truth()
    with pytest.raises(ValueError, match="0/1"):
        segmentation_summary(truth * 255, truth)
    with pytest.raises(ValueError, match="probabilities"):
        segmentation_summary(truth, truth * 2)
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        segmentation_summary(truth, truth[:1])
