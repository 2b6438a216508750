"""barata2020's input handling in the shared pipeline: random-resized crops (area 0.5–1, aspect 0.75–1.33),
the central 0.875 evaluation crop, and a NumPy per-image transform (colour constancy) before resizing."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

tf = pytest.importorskip("tensorflow")

from dermkit.data.pipelines import Augment, _random_crop_box, classification_dataset  # noqa: E402
from dermkit.data.resize import resize_image_array  # noqa: E402


@pytest.fixture()
def frame(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(4):
        image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        path = tmp_path / f"ISIC_{i:07d}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
    return pd.DataFrame({"image_path": paths, "label": [0, 1, 2, 1]})


def _images(ds):
    return np.concatenate([x.numpy() for x, _ in ds])


def test_full_area_square_crop_is_the_identity(tmp_path, frame):
    """A crop covering the whole original image leaves only the one resize: on square originals with aspect 1
    and on the fixture's 4:3 (64 × 48) originals with aspect 4/3 (the crop is taken from the original)."""
    no_flips = {"flip_horizontal": False, "flip_vertical": False, "rot90": False, "crop_area": (1.0, 1.0)}
    rng = np.random.default_rng(1)
    square = []
    for i in range(3):
        path = tmp_path / f"square_{i}.png"
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path)
        square.append(str(path))
    squares = pd.DataFrame({"image_path": square, "label": [0, 1, 2]})
    for df, aspect in ((squares, 1.0), (frame, 4 / 3)):
        plain = _images(classification_dataset(df, image_size=32, batch_size=4, num_classes=3))
        aug = Augment(**no_flips, crop_aspect=(aspect, aspect))
        cropped = _images(classification_dataset(df, image_size=32, batch_size=4, num_classes=3, augment=aug, seed=1))
        np.testing.assert_allclose(cropped, plain, atol=1e-5)


def test_random_crop_is_taken_from_the_original_image_before_resizing(frame):
    """barata2020 Section 4.2 order: crop the original, then resize. A square crop (aspect 1) of three quarters of
    a 64 × 48 original is a 48 × 48 window at some column offset 0–16, resized to 32²: it matches the resize of
    one such NumPy slice of the original. (A crop of the already-resized 32² image would squeeze the whole
    width into the window instead and match none.)"""
    aug = Augment(flip_horizontal=False, flip_vertical=False, rot90=False, crop_area=(0.75, 0.75), crop_aspect=(1, 1))
    for seed in (1, 2):
        got = _images(classification_dataset(frame, image_size=32, batch_size=4, num_classes=3, augment=aug,
                                             seed=seed))
        for k, path in enumerate(frame["image_path"]):
            original = np.asarray(Image.open(path))
            errors = [np.abs(got[k] - resize_image_array(original[:, x0:x0 + 48], (32, 32))).max()
                      for x0 in range(0, 17)]
            assert min(errors) < 1e-5, (seed, k, min(errors))


def test_crop_from_the_original_refuses_a_memory_cached_sampler(frame):
    class Sampler:
        batch_size = 2

        def __len__(self):
            return 2

        def __iter__(self):
            return iter([np.array([0, 1]), np.array([2, 3])])

    aug = Augment(crop_area=(0.5, 1.0))
    with pytest.raises(ValueError, match="crop_area crops the original images"):
        classification_dataset(frame, image_size=16, batch_size=2, num_classes=3, augment=aug, sampler=Sampler(),
                               cache="memory")


def test_crop_boxes_cover_the_drawn_area_and_aspect():
    aug = Augment(crop_area=(0.5, 1.0), crop_aspect=(0.75, 4 / 3))
    height, width = 30, 40
    boxes = np.array([_random_crop_box(tf.constant([s, 7]), aug, height, width).numpy() for s in range(300)])
    y1, x1, y2, x2 = boxes.T
    assert np.all((0 <= y1) & (y1 < y2) & (y2 <= 1 + 1e-6) & (0 <= x1) & (x1 < x2) & (x2 <= 1 + 1e-6))
    frac_h, frac_w = y2 - y1, x2 - x1
    area, aspect = frac_h * frac_w, (frac_w * width) / (frac_h * height)
    unclipped = (frac_h < 1 - 1e-6) & (frac_w < 1 - 1e-6)  # no side clipped at the image border
    assert unclipped.mean() > 0.5
    assert np.all((area[unclipped] >= 0.5 - 1e-6) & (area[unclipped] <= 1 + 1e-6))
    assert np.all((aspect[unclipped] >= 0.75 - 1e-4) & (aspect[unclipped] <= 4 / 3 + 1e-4))
    assert np.all(area <= 1 + 1e-6)  # a clipped box only loses area


def test_crop_area_draws_match_the_requested_range_when_nothing_is_clipped():
    aug = Augment(crop_area=(0.3, 0.3), crop_aspect=(1.0, 1.0))
    y1, x1, y2, x2 = _random_crop_box(tf.constant([1, 2]), aug, 50, 50).numpy()
    assert (y2 - y1) == pytest.approx(math.sqrt(0.3), abs=1e-6) and (x2 - x1) == pytest.approx(math.sqrt(0.3), abs=1e-6)
    aug = Augment(crop_area=(0.5, 0.5), crop_aspect=(2.0, 2.0))  # w/h = 2 on a 40×40 image: w = 1, h = 0.5
    y1, x1, y2, x2 = _random_crop_box(tf.constant([3, 4]), aug, 40, 40).numpy()
    assert (x2 - x1) == pytest.approx(1.0) and (y2 - y1) == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"crop_area": (0.0, 1.0)}, r"crop_area needs 0 < low <= high <= 1"),
    ({"crop_area": (0.5, 1.2)}, r"crop_area needs 0 < low <= high <= 1"),
    ({"crop_area": 0.5}, r"crop_area must be \(low, high\)"),
    ({"crop_aspect": (2.0, 1.0)}, r"crop_aspect needs 0 < low <= high"),
])
def test_bad_crop_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Augment(**kwargs)


def test_central_crop_then_the_one_resize_rule(frame):
    got = _images(classification_dataset(frame, image_size=(20, 24), batch_size=4, num_classes=3, central_crop=0.875))
    for k, path in enumerate(frame["image_path"]):
        image = np.asarray(Image.open(path))
        top, left = int((48 - 42) / 2), int((64 - 56) / 2)  # tf.image.central_crop: 42 × 56 kept of 48 × 64
        expected = resize_image_array(image[top:top + 42, left:left + 56], (20, 24))
        np.testing.assert_allclose(got[k], expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"central_crop must be in \(0, 1\]"):
        classification_dataset(frame, image_size=8, batch_size=2, central_crop=1.5)


def test_image_transform_runs_on_the_original_image_before_resizing(frame):
    def invert(image):
        return 1.0 - image

    got = _images(classification_dataset(frame, image_size=16, batch_size=4, num_classes=3, image_transform=invert))
    for k, path in enumerate(frame["image_path"]):
        expected = resize_image_array(255 - np.asarray(Image.open(path)), (16, 16))
        np.testing.assert_allclose(got[k], expected, atol=1e-6)
    with pytest.raises(TypeError, match="image_transform must be a function"):
        classification_dataset(frame, image_size=8, batch_size=2, image_transform="sog")
