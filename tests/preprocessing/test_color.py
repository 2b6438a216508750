"""Shades of Gray colour constancy (barata2020 §4.2, Barata et al. 2015) against NumPy formulas written here."""

from __future__ import annotations

import numpy as np
import pytest

from dermkit.preprocessing import estimate_illuminant, shades_of_gray

RNG = np.random.default_rng(7)


def reference_shades_of_gray(image: np.ndarray, p: float) -> np.ndarray:
    """The textbook formula, written directly: e_c = mean(I_c^p)^(1/p); out_c = I_c · ||e|| / (√3 e_c)."""
    x = image.astype(np.float64)
    e = np.array([np.mean(x[..., c] ** p) ** (1.0 / p) for c in range(3)])
    gains = np.linalg.norm(e) / (np.sqrt(3.0) * e)
    return np.clip(x * gains, 0.0, 1.0)


def test_achromatic_image_is_unchanged():
    grey = RNG.random((20, 30, 1))
    image = np.repeat(grey, 3, axis=-1).astype(np.float32)
    np.testing.assert_allclose(shades_of_gray(image), image, atol=1e-6)


def test_colour_cast_is_restored_to_neutral():
    # An achromatic scene under a reddish cast k: every channel is scaled by k_c, so e_c = k_c · e_grey and the
    # correction gives grey · ||k|| / √3 in every channel.
    grey = 0.1 + 0.8 * RNG.random((24, 24))
    cast = np.array([0.95, 0.7, 0.45])
    image = (grey[..., None] * cast).astype(np.float32)
    out = shades_of_gray(image)
    expected = grey * np.linalg.norm(cast) / np.sqrt(3.0)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], expected, atol=1e-5)
    assert np.max(np.abs(out[..., 0] - out[..., 2])) < 1e-5  # neutral: R = B (it was 0.5 · grey apart)


@pytest.mark.parametrize("p", [1, 2, 6, 12])
def test_matches_the_numpy_formula_on_a_coloured_image(p):
    image = (RNG.random((16, 20, 3)) * np.array([0.9, 0.6, 0.4])).astype(np.float32)
    np.testing.assert_allclose(shades_of_gray(image, p=p), reference_shades_of_gray(image, p), atol=1e-6)


def test_output_is_clipped_float32():
    image = np.zeros((4, 4, 3), np.float32) + np.array([0.2, 0.5, 0.9], np.float32)
    image[0, 0] = [1.0, 0.05, 0.05]  # a red pixel gets a red gain > 1 → would exceed 1
    out = shades_of_gray(image)
    assert out.dtype == np.float32 and out.max() <= 1.0 and out.min() >= 0.0
    assert out[0, 0, 0] == 1.0


def test_p1_is_grey_world_and_large_p_approaches_max_rgb():
    image = RNG.random((32, 32, 3)) * np.array([0.9, 0.7, 0.5])
    np.testing.assert_allclose(estimate_illuminant(image, p=1), image.reshape(-1, 3).mean(axis=0), rtol=1e-12)
    channel_max = image.reshape(-1, 3).max(axis=0)
    np.testing.assert_allclose(estimate_illuminant(image, p=np.inf), channel_max)
    assert np.all(np.abs(estimate_illuminant(image, p=400) / channel_max - 1) < 0.02)
    # p = 6 lies between the two (the Minkowski mean grows with p).
    e6 = estimate_illuminant(image, p=6)
    assert np.all(image.reshape(-1, 3).mean(axis=0) < e6) and np.all(e6 < channel_max)
    # Gray World correction: equal channel means after the correction (nothing clipped at these values).
    out = shades_of_gray(image.astype(np.float32) * 0.5, p=1)
    means = out.reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(means, means[0], rtol=1e-5)


def test_large_p_does_not_underflow():
    image = np.full((8, 8, 3), 1e-3)
    image[0, 0] = [2e-3, 1e-3, 1e-3]
    e = estimate_illuminant(image, p=1000)
    assert np.all(np.isfinite(e)) and np.all(e > 0)


def test_batch_corrects_each_image_with_its_own_illuminant():
    batch = RNG.random((3, 10, 12, 3)) * np.array([[0.9, 0.5, 0.3], [0.3, 0.9, 0.5], [0.5, 0.3, 0.9]])[:, None, None]
    out = shades_of_gray(batch.astype(np.float32))
    for i in range(3):
        np.testing.assert_allclose(out[i], reference_shades_of_gray(batch[i], 6), atol=1e-6)


@pytest.mark.parametrize(
    "image, kwargs, message",
    [
        (np.zeros((4, 4), np.float32), {}, r"must be RGB \[H, W, 3\].*shape \(4, 4\)"),
        (np.zeros((4, 4, 4), np.float32), {}, r"must be RGB"),
        (np.full((4, 4, 3), 128, np.int32), {}, r"uint8 in \[0, 255\] or float in \[0, 1\].*int32"),
        (np.full((4, 4, 3), 2.0, np.float32), {}, r"values must lie in \[0, 1\].*\[2, 2\]"),
        (np.full((4, 4, 3), np.nan, np.float32), {}, r"NaN or infinite"),
        (np.full((4, 4, 3), 0.5, np.float32), {"p": 0.5}, r"p must be a real number >= 1.*p=0.5"),
        (np.full((4, 4, 3), 0.5, np.float32), {"p": "6"}, r"p must be a real number"),
        (np.dstack([np.full((4, 4), 0.5), np.zeros((4, 4)), np.full((4, 4), 0.5)]).astype(np.float32), {},
         r"channel\(s\) G are zero over a whole image"),
    ],
)
def test_bad_input_is_named(image, kwargs, message):
    with pytest.raises(ValueError, match=message):
        shades_of_gray(image, **kwargs)


def test_uint8_and_float_images_are_accepted_alike():
    """Issue 18's one image rule: uint8 x gives the result of float x / 255."""
    rng = np.random.default_rng(1)
    image = rng.integers(1, 256, size=(6, 5, 3), dtype=np.uint8)
    np.testing.assert_allclose(shades_of_gray(image), shades_of_gray(image.astype(np.float64) / 255.0), atol=1e-6)
