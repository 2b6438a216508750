"""remove_hair (bisla2019 §3.2.2) on synthetic images with hairs and ruler marks drawn at known pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dermkit.errors import DermkitDataError
from dermkit.preprocessing.hair import remove_hair


def _scene(size: int = 128, width: int = 2, seed: int = 0, n_hairs: int = 5, ruler: bool = False):
    """Skin with a dark round lesion; hairs (dark polylines, ``width`` px) and ruler ticks at known pixels.

    Returns (image with hairs, hair-free image, drawn-occlusion mask, lesion mask)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    skin = np.array([0.88, 0.70, 0.60], np.float32)
    clean = np.empty((size, size, 3), np.float32)
    clean[:] = skin
    clean *= (1 + 0.03 * np.sin(xx / 9.0) * np.cos(yy / 13.0))[..., None]
    lesion = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (0.25 * size) ** 2
    clean[lesion] = skin * np.array([0.45, 0.35, 0.33], np.float32)
    drawn = np.zeros((size, size), np.uint8)
    for _ in range(n_hairs):
        x0, y0, angle = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(0, 2 * np.pi)
        points = []
        for t in range(10):
            angle += rng.normal(0, 0.1)
            points.append((x0 + t * 0.12 * size * np.cos(angle), y0 + t * 0.12 * size * np.sin(angle)))
        cv2.polylines(drawn, [np.round(np.array(points) * 4).astype(np.int32)], False, 1, thickness=width, shift=2)
    image = clean.copy()
    if ruler:  # a light band along the top edge with dark 1-px ticks every 6 px (ruler marks)
        clean[: size // 12] = 0.92
        image[: size // 12] = 0.92
        ticks = np.zeros_like(drawn)
        ticks[: size // 16, 3::6] = 1
        drawn |= ticks
    occlusion = drawn > 0
    image[occlusion] = (0.12, 0.09, 0.07)
    return image, clean, occlusion, lesion


def _dilate(mask: np.ndarray) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))) > 0


@pytest.mark.parametrize("method", ["closing", "dullrazor"])
@pytest.mark.parametrize("size, width", [(64, 1), (128, 2)])
def test_hairs_found_replaced_and_lesion_kept(method, size, width):
    image, clean, occlusion, lesion = _scene(size, width)
    out, mask = remove_hair(image, lesion, method=method)
    truth = occlusion & ~lesion  # hairs over the lesion stay (the lesion is restored from the input)
    recall = (mask & truth).sum() / truth.sum()
    precision = (mask & _dilate(truth)).sum() / mask.sum()  # a one-pixel rim around each hair is expected
    assert recall >= 0.95
    assert precision >= 0.9
    assert not (mask & lesion).any()
    np.testing.assert_array_equal(out[lesion], image[lesion])
    np.testing.assert_array_equal(out[~mask], image[~mask])  # only masked pixels change
    before = np.abs(image - clean)[truth].mean()
    after = np.abs(out - clean)[truth].mean()
    assert before > 0.5
    assert after < 0.1 * before
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("method", ["closing", "dullrazor"])
def test_ruler_ticks_removed(method):
    image, clean, occlusion, lesion = _scene(128, 2, n_hairs=0, ruler=True)
    out, mask = remove_hair(image, lesion, method=method)
    assert (mask & occlusion).sum() / occlusion.sum() >= 0.9
    assert np.abs(out - clean)[occlusion].mean() < 0.1


@pytest.mark.parametrize("method", ["closing", "dullrazor"])
def test_hair_free_image_is_left_alone(method):
    _, clean, _, lesion = _scene(128, 2)
    out, mask = remove_hair(clean, lesion, method=method)
    assert mask.sum() == 0
    np.testing.assert_array_equal(out, clean)


def test_without_lesion_mask_dark_lesion_parts_are_touched_only_at_thin_structures():
    image, _, occlusion, _ = _scene(128, 2)
    _, mask = remove_hair(image, method="closing")
    # the 64-px-wide lesion is far wider than the radius-3 disk: closing does not fill it
    assert (mask & occlusion).sum() / occlusion.sum() >= 0.95


def test_wide_hair_needs_a_larger_radius():
    image, _, occlusion, _ = _scene(128, 6, n_hairs=3)
    _, small = remove_hair(image, method="closing", radius=2, grow=0)
    _, large = remove_hair(image, method="closing", radius=5, grow=0)
    assert (small & occlusion).sum() / occlusion.sum() < 0.3
    assert (large & occlusion).sum() / occlusion.sum() > 0.9


def test_uint8_input_and_grow_zero():
    image, _, occlusion, lesion = _scene(64, 1)
    u8 = np.round(image * 255).astype(np.uint8)
    out, mask = remove_hair(u8, (lesion * 255).astype(np.uint8), grow=0)
    truth = occlusion & ~lesion
    assert (mask & truth).sum() / truth.sum() >= 0.95
    assert (mask & truth).sum() / mask.sum() >= 0.85  # no rim without growing (the 3×3 closing fills corners)
    assert out.dtype == np.float32


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "razor"}, "method must be one of"),
        ({"threshold": 1.5}, "threshold must be a number in"),
        ({"radius": 0}, "radius must be an integer"),
        ({"method": "dullrazor", "kernel_size": 16}, "kernel_size must be odd"),
        ({"grow": -1}, "grow must be an integer"),
    ],
)
def test_bad_options(kwargs, match):
    image, *_ = _scene(64, 1)
    with pytest.raises(ValueError, match=match):
        remove_hair(image, **kwargs)


def test_bad_images_and_masks():
    with pytest.raises(ValueError, match=r"RGB \[H, W, 3\]"):
        remove_hair(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        remove_hair(np.full((8, 8, 3), 2.0, np.float32))
    with pytest.raises(ValueError, match="lesion_mask must be"):
        remove_hair(np.zeros((8, 8, 3), np.float32), np.zeros((4, 4), bool))
    with pytest.raises(DermkitDataError, match="lesion_mask"):
        remove_hair(np.zeros((8, 8, 3), np.float32), np.full((8, 8), 7, np.uint8))
