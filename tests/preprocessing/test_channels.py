"""seven_channel_input (bisla2019 §3.2.3) against colorsys (HSV) and scikit-image (CIELAB L*)."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
from skimage.color import rgb2lab

from dermkit.preprocessing.channels import SEVEN_CHANNELS, seven_channel_input


def _reference(rgb: np.ndarray) -> np.ndarray:
    out = np.zeros(rgb.shape[:-1] + (7,), np.float64)
    for idx in np.ndindex(rgb.shape[:-1]):
        r, g, b = (float(v) for v in rgb[idx])
        out[idx] = [r, g, b, *colorsys.rgb_to_hsv(r, g, b), 0.0]
    out[..., 6] = rgb2lab(rgb.astype(np.float64))[..., 0] / 100.0
    return (out - 0.5) / 0.5


def test_hand_computed_pixels():
    rgb = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]], np.float32)
    x = seven_channel_input(rgb)
    # red: H 0, S 1, V 1, L* 53.24; green: H 1/3, L* 87.73; white: S 0, V 1, L 1; black: all 0 → -1
    expected = np.array([
        [1, 0, 0, 0, 1, 1, 0.5324],
        [0, 1, 0, 1 / 3, 1, 1, 0.8773],
        [1, 1, 1, 0, 0, 1, 1.0],
        [0, 0, 0, 0, 0, 0, 0.0],
    ])
    np.testing.assert_allclose(x[0], 2 * expected - 1, atol=2e-3)
    assert SEVEN_CHANNELS == ("R", "G", "B", "H", "S", "V", "L")


def test_random_image_matches_independent_conversions_and_batches():
    rng = np.random.default_rng(0)
    rgb = rng.random((2, 9, 11, 3)).astype(np.float32)
    x = seven_channel_input(rgb)
    assert x.shape == (2, 9, 11, 7) and x.dtype == np.float32
    assert x.min() >= -1 and x.max() <= 1
    reference = _reference(rgb)
    np.testing.assert_allclose(x[..., :6], reference[..., :6], atol=1e-5)
    np.testing.assert_allclose(x[..., 6], reference[..., 6], atol=6e-3)  # OpenCV's float Lab: within 0.3 L*
    np.testing.assert_array_equal(seven_channel_input(rgb[1]), x[1])
    u8 = np.round(rgb[0] * 255).astype(np.uint8)
    np.testing.assert_allclose(seven_channel_input(u8), _reference(u8 / 255.0), atol=6e-3)


def test_bad_input():
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        seven_channel_input(np.zeros((4, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        seven_channel_input(np.full((4, 4, 3), 3.0, np.float32))
    with pytest.raises(ValueError, match="dtype"):
        seven_channel_input(np.zeros((4, 4, 3), np.int32))
    with pytest.raises(ValueError, match=r"at least one pixel.*\(0, 0, 3\)"):
        seven_channel_input(np.zeros((0, 0, 3), np.float32))
    with pytest.raises(ValueError, match="at least one pixel"):
        seven_channel_input(np.zeros((2, 0, 4, 3), np.uint8))
    assert seven_channel_input(np.zeros((0, 4, 4, 3), np.float32)).shape == (0, 4, 4, 7)  # an empty batch is fine
