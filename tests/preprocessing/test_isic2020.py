"""ISIC 2020 preparation of goel2021 Section 4.1: resize to 640×480, centre crop 480×480, resize to 224×224."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorflow")

from dermkit.errors import DermkitDataError
from dermkit.preprocessing.isic2020 import centre_square_crop, preprocess_isic2020, resize_uint8


def test_preprocess_resizes_then_centre_crops():
    image = np.zeros((400, 600, 3), np.uint8)  # a 3:2 source
    image[:, 300:] = 255  # right half white
    base, out = preprocess_isic2020(image, base_size=(480, 640), out_size=224)
    assert base.shape == (480, 640, 3) and out.shape == (224, 224, 3) and out.dtype == np.uint8
    # the 640-wide stage is white from x = 320; the crop keeps x in [80, 560), so white from crop column 240 of
    # 480, i.e. output column 112 of 224
    assert base[:, :319].max() == 0 and base[:, 321:].min() == 255
    assert out[:, :110].max() == 0 and out[:, 114:].min() == 255


def test_shrinking_is_area_averaging():
    """An exact 2× shrink is the mean of each 2×2 block (plain NumPy), rounded to 8-bit levels."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    blocks = image.reshape(48, 2, 64, 2, 3).astype(np.float64).mean(axis=(1, 3))
    base = resize_uint8(image, (48, 64))
    assert np.abs(base.astype(np.float64) - blocks).max() <= 0.5 + 1e-6


def test_the_classifier_input_is_what_the_pipeline_makes(tmp_path):
    """One resize rule: the stored classifier input equals the training pipeline's own resize of the centre
    square (a 2.4× shrink, where OpenCV's INTER_AREA and the pipeline's area resize round differently)."""
    from dermkit.data.imageio import write_png
    from dermkit.data.pipelines import classification_dataset

    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    base, classifier = preprocess_isic2020(image, base_size=(48, 64), out_size=20)
    path = write_png(tmp_path / "square.png", centre_square_crop(base))
    x, _ = next(iter(classification_dataset(pd.DataFrame({"image_path": [str(path)], "label": [0]}), image_size=20,
                                            batch_size=1, num_classes=2)))
    np.testing.assert_array_equal(np.round(x.numpy()[0] * 255).astype(np.uint8), classifier)


def test_growing_is_bilinear_and_same_size_is_a_copy():
    image = np.zeros((2, 2, 3), np.uint8)
    image[:, 1] = 200
    grown = resize_uint8(image, (2, 4))
    # half-pixel centres: output columns at x = 0.25, 0.75 (source px) → 0, 0, then 0.25 → 50, 0.75 → 150 ...
    assert grown[0, :, 0].tolist() == [0, 50, 150, 200]
    same = resize_uint8(image, (2, 2))
    assert same is not image and np.array_equal(same, image)


def test_centre_square_crop():
    image = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)
    assert np.array_equal(centre_square_crop(image), image[:, 1:4])
    tall = np.zeros((7, 4, 3), np.uint8)
    assert centre_square_crop(tall).shape == (4, 4, 3)


def test_bad_inputs():
    with pytest.raises(DermkitDataError, match=r"uint8 in \[0, 255\] or float in \[0, 1\].*int16"):
        preprocess_isic2020(np.zeros((4, 4, 3), np.int16))
    with pytest.raises(DermkitDataError, match=r"\[0, 255\]"):
        preprocess_isic2020(np.full((4, 4, 3), 200.0, np.float32))  # 0-255 values as float
    with pytest.raises(DermkitDataError, match=r"\[H, W, 3\]"):
        resize_uint8(np.zeros((4, 4), np.uint8), (2, 2))
    with pytest.raises(ValueError, match="out_size"):
        preprocess_isic2020(np.zeros((4, 4, 3), np.uint8), out_size=0)
    with pytest.raises(ValueError, match="size"):
        resize_uint8(np.zeros((4, 4, 3), np.uint8), (2,))


def test_float_images_follow_the_one_image_rule():
    """Issue 18: float in [0, 1] is accepted and gives the uint8 image's result (round(255 x))."""
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    a = preprocess_isic2020(image, base_size=(20, 15), out_size=8)
    b = preprocess_isic2020(image.astype(np.float32) / 255.0, base_size=(20, 15), out_size=8)
    np.testing.assert_array_equal(a.classifier, b.classifier)
