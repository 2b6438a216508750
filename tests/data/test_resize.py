"""One image-resize rule (issue 8 item 2): the tf.data pipelines and every predictor feed a model the same
array for the same file; the rule itself checked against plain NumPy / OpenCV references."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from dermkit.data.imageio import read_image, write_jpeg, write_png
from dermkit.data.isic import read_superpixels, write_superpixel_labels
from dermkit.data.superpixels import encode_superpixels

tf = pytest.importorskip("tensorflow")

from dermkit import inference  # noqa: E402
from dermkit.data import pipelines, resize  # noqa: E402


def _textured(height, width, seed=0):
    """Fine stripes plus noise: aliasing-prone, so two resize rules disagree visibly."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([np.sin(xx / 1.7 + yy / 3.1), np.cos(xx / 2.3 - yy / 1.9), np.sin((xx + yy) / 1.3)], -1)
    noisy = 127 + 90 * base + rng.normal(0, 20, (height, width, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


class Recorder:
    """A stand-in model that records its input (both call styles the predictors use)."""

    def __init__(self, size, channels=1):
        self.input_shape = (None, *size, 3)
        self.channels = channels
        self.seen = []

    def _out(self, x):
        x = np.asarray(x)
        self.seen.append(x)
        return np.zeros((*x.shape[:3], self.channels), np.float32)

    def __call__(self, x, training=False):
        return self._out(x)

    def predict(self, x, verbose=0):
        return self._out(x)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """ISIC-sized images (1022×767, as in ISIC 2017) and small ones that are enlarged, with superpixel maps."""
    root = tmp_path_factory.mktemp("resize")
    rows = []
    for i, (h, w) in enumerate([(767, 1022), (200, 150), (500, 300)]):
        image_id = f"ISIC_{i:07d}"
        path = write_jpeg(root / f"{image_id}.jpg", _textured(h, w, seed=i), quality=90)
        index = (np.arange(h)[:, None] // 50) * 100 + np.arange(w)[None, :] // 50
        index = np.unique(index, return_inverse=True)[1].reshape(h, w)
        sp = write_png(root / f"{image_id}_superpixels.png", encode_superpixels(index))
        rows.append(dict(image_id=image_id, image_path=str(path), superpixels_path=str(sp), label=0))
    return pd.DataFrame(rows)


def _pipeline_inputs(df, size):
    ds = pipelines.classification_dataset(df, image_size=size, batch_size=len(df), num_classes=1)
    return next(iter(ds))[0].numpy()


@pytest.mark.parametrize("size", [(336, 336), (224, 288)])
def test_pipeline_and_predictors_feed_the_model_the_same_array(files, size):
    expected = _pipeline_inputs(files, size)
    # predict_mask (evaluation, `dermkit predict`, the Lesion baseline) on the decoded file
    for row, want in zip(files.itertuples(), expected):
        model = Recorder(size)
        inference.predict_mask(model, read_image(row.image_path))
        np.testing.assert_allclose(model.seen[0][0], want, atol=1e-5, rtol=0)
        # float images in [0, 1] (iter_isic2017_eval gives these) are the same input
        model = Recorder(size)
        inference.predict_mask(model, read_image(row.image_path).astype(np.float32) / 255.0)
        np.testing.assert_allclose(model.seen[0][0], want, atol=1e-5, rtol=0)
        model = Recorder(size, channels=4)
        inference.predict_isic2017_features(model, row.image_path, row.superpixels_path)
        np.testing.assert_allclose(model.seen[0][0], want, atol=1e-5, rtol=0)


def test_batch_predictors_feed_the_model_the_same_array(files, tmp_path):
    from dermkit.preprocessing.crop import segment_and_crop

    size = (336, 336)
    expected = _pipeline_inputs(files, size)
    model = Recorder(size)
    inference.write_isic_masks(model, files, tmp_path / "masks", batch_size=8, progress=False)
    np.testing.assert_allclose(np.concatenate(model.seen), expected, atol=1e-5, rtol=0)
    model = Recorder(size)
    segment_and_crop(model, files, tmp_path / "crops", image_size=size, progress=False)
    np.testing.assert_allclose(np.concatenate(model.seen), expected, atol=1e-5, rtol=0)


def test_feature_pipeline_resizes_like_the_others(files):
    paths = []
    for row in files.itertuples():
        path = row.superpixels_path.replace("_superpixels.png", "_features.json")
        n = int(read_superpixels(row.superpixels_path).max()) + 1
        paths.append(str(write_superpixel_labels(path, np.zeros((n, 4)), overwrite=True)))
    df = files.assign(features_path=paths)
    images = next(iter(pipelines.feature_dataset(df, image_size=336, batch_size=len(df))))[0].numpy()
    np.testing.assert_allclose(images, _pipeline_inputs(files, (336, 336)), atol=1e-5, rtol=0)


def test_shrinking_is_area_averaging():
    image = _textured(60, 90)
    out = np.asarray(resize.resize_image(image, (20, 30)))  # exact factor 3: the mean of each 3×3 block
    blocks = image.astype(np.float64).reshape(20, 3, 30, 3, 3).mean(axis=(1, 3))
    np.testing.assert_array_equal(out, np.round(blocks).astype(np.uint8))
    # a non-integer factor: OpenCV's INTER_AREA is the same area-weighted average (within rounding)
    ours = np.asarray(resize.resize_image(_textured(767, 1022), (252, 336))).astype(int)
    cv = cv2.resize(_textured(767, 1022), (336, 252), interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(ours - cv).max() <= 1 and np.abs(ours - cv).mean() < 0.05


def test_enlarging_is_bilinear_and_mixed_sizes_go_axis_by_axis():
    image = _textured(30, 40)
    ours = np.asarray(resize.resize_image(image, (75, 100))).astype(int)
    cv = cv2.resize(image, (100, 75), interpolation=cv2.INTER_LINEAR).astype(int)  # half-pixel centres
    assert np.abs(ours - cv).max() <= 1
    # height shrinks 60 → 20 (3×3 → rows averaged in threes), width grows 40 → 100 (bilinear)
    tall = _textured(60, 40)
    rows = tall.astype(np.float32).reshape(20, 3, 40, 3).mean(axis=1)
    want = cv2.resize(rows, (100, 20), interpolation=cv2.INTER_LINEAR)
    ours = np.asarray(resize.resize_image(tall, (20, 100))).astype(np.float32)
    assert np.abs(ours - want).max() <= 0.5 + 1e-3


def test_the_old_predictor_rule_really_differed(files):
    """The regression this guards: plain bilinear (cv2.INTER_LINEAR) on a 1022×767 image differs a lot."""
    image = read_image(files.image_path[0])
    old = cv2.resize(image.astype(np.float32) / 255.0, (336, 336), interpolation=cv2.INTER_LINEAR)
    assert np.abs(old - _pipeline_inputs(files, (336, 336))[0]).mean() > 0.02


def test_bad_method_and_size_are_refused():
    with pytest.raises(ValueError, match="image_resize must be one of"):
        resize.resize_image(np.zeros((4, 4, 3), np.uint8), (2, 2), method="cubic")
    with pytest.raises(ValueError, match="size must be two positive integers"):
        resize.resize_image(np.zeros((4, 4, 3), np.uint8), (0, 2))
