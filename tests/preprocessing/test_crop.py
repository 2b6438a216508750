"""crop_to_mask / lesion_bbox / segment_and_crop (goel2021 §5.1) on small hand-made arrays."""

from __future__ import annotations

import re
import sys

import numpy as np
import pandas as pd
import pytest

from dermkit.data.imageio import read_image, write_png
from dermkit.data.masks import binarize_mask
from dermkit.errors import DermkitDataError
from dermkit.preprocessing.crop import (
    MANIFEST_NAME,
    crop_to_mask,
    lesion_bbox,
    segment_and_crop,
)


def _image(h=20, w=30):
    rng = np.random.default_rng(0)
    return rng.integers(1, 256, size=(h, w, 3), dtype=np.uint8)  # no black pixel: masking is visible


def _two_blobs(h=20, w=30):
    mask = np.zeros((h, w), dtype=np.uint8)
    mask[2:5, 3:6] = 1  # small blob, 3×3
    mask[8:16, 10:22] = 1  # large blob, 8×12
    return mask


# (mask, binarize_mask options, expected bool mask) — each row a [1, 4] mask
BINARIZE_CASES = [
    (np.array([[False, True, True, False]]), {}, [[0, 1, 1, 0]]),  # bool as is
    (np.array([[0, 255, 255, 0]], dtype=np.uint8), {}, [[0, 1, 1, 0]]),  # ISIC 0/255
    (np.array([[0, 1, 1, 0]], dtype=np.uint8), {"mask_values": "0/1"}, [[0, 1, 1, 0]]),  # declared 0/1
    (np.array([[0, 1, 1, 0]], dtype=np.int64), {"mask_values": "0/1"}, [[0, 1, 1, 0]]),
    (np.array([[0, 255, 200, 127]], dtype=np.uint8), {"threshold": 128}, [[0, 1, 1, 0]]),  # explicit threshold
    (np.array([[0.0, 0.51, 1.0, 0.5]], dtype=np.float32), {}, [[0, 1, 1, 0]]),  # probabilities, > 0.5
    (np.array([[[0], [255], [255], [0]]], dtype=np.uint8), {}, [[0, 1, 1, 0]]),  # [H, W, 1]
    (np.zeros((1, 4), np.uint8), {}, [[0, 0, 0, 0]]),  # all zero: empty under either convention
    # the older integer_max_one="binary" (kept for callers) reads 0/1 and 0/255 masks
    (np.array([[0, 1, 1, 0]], dtype=np.uint8), {"integer_max_one": "binary"}, [[0, 1, 1, 0]]),
    (np.array([[0, 255, 255, 0]], dtype=np.uint8), {"integer_max_one": "binary"}, [[0, 1, 1, 0]]),
]


@pytest.mark.parametrize("mask, options, expected", BINARIZE_CASES)
def test_binarize_mask(mask, options, expected):
    np.testing.assert_array_equal(binarize_mask(mask, **options), np.asarray(expected, dtype=bool))


@pytest.mark.parametrize(
    "mask, options, match",
    [
        # Issue 8 item 7: a mask outside {0, 255} was read at > 128, silently empty for 0/1, 0/2, 0/100.
        (np.array([[0, 1, 1, 0]], np.uint8), {}, r"mask.png: integer mask with maximum 1 is ambiguous \(values \[0, 1"),
        (np.array([[0, 2, 2, 0]], np.uint8), {}, r"mask.png: mask holds values \[0, 2\], not only the 0/255"),
        (np.array([[0, 100, 100, 0]], np.uint8), {}, r"mask.png: mask holds values \[0, 100\]"),
        (np.array([[0, 255, 200, 127]], np.uint8), {}, r"mask.png: mask holds values \[0, 127, 200, 255\]"),
        (np.array([[0, 255, 255, 0]], np.uint8), {"mask_values": "0/1"}, r"values \[0, 255\], not only the 0/1"),
        (np.array([[0, 100, 100, 0]], np.uint8), {"integer_max_one": "binary"}, r"values \[0, 100\]"),
    ],
)
def test_binarize_refuses_values_outside_the_convention(mask, options, match):
    with pytest.raises(DermkitDataError, match=match):
        binarize_mask(mask, where="mask.png", **options)


def test_binarize_rejects_bad_shape_nan_and_arguments():
    with pytest.raises(DermkitDataError, match=r"\[H, W\]"):
        binarize_mask(np.zeros((2, 2, 3)))
    with pytest.raises(DermkitDataError, match="NaN"):
        binarize_mask(np.array([[np.nan, 1.0]]))
    with pytest.raises(DermkitDataError, match="maximum 1 is ambiguous.*mask_values='0/1'"):
        binarize_mask(np.array([[0, 1]], np.uint8))  # the default refuses 0/1 integers
    with pytest.raises(ValueError, match="mask_values must be one of"):
        binarize_mask(np.array([[0, 1]], np.uint8), mask_values="0-1")


def test_lesion_bbox_largest_blob_half_open():
    assert lesion_bbox(_two_blobs(), mask_values="0/1") == (8, 10, 16, 22)
    assert lesion_bbox(_two_blobs() * 255) == (8, 10, 16, 22)


def test_lesion_bbox_pad_is_clipped():
    mask = np.zeros((10, 10), dtype=bool)
    mask[0:3, 7:10] = True
    assert lesion_bbox(mask, pad=2) == (0, 5, 5, 10)


@pytest.mark.parametrize("scale, mask_values", [(1, "0/1"), (255, "0/255")])
def test_crop_to_mask_blacks_background_and_crops(scale, mask_values):
    image, mask = _image(), _two_blobs() * scale
    crop = crop_to_mask(image, mask.astype(np.uint8), mask_values=mask_values)
    assert crop.shape == (8, 12, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, image[8:16, 10:22])  # the blob fills its rectangle


def test_crop_to_mask_bool_mask_and_padding_is_black():
    image = _image()
    mask = np.zeros((20, 30), dtype=bool)
    mask[5:10, 5:10] = True
    mask[7, 4] = False  # irrelevant, outside the blob
    mask[5, 5] = False  # a background pixel inside the rectangle
    crop = crop_to_mask(image, mask, pad=1)
    assert crop.shape == (7, 7, 3)
    assert (crop[0] == 0).all() and (crop[:, 0] == 0).all()  # padding ring is background → black
    assert (crop[1, 1] == 0).all()  # mask[5, 5] was off
    np.testing.assert_array_equal(crop[2:6, 2:6], image[6:10, 6:10])


def test_crop_to_mask_other_blob_inside_rectangle_is_kept():
    image = _image()
    mask = _two_blobs()
    mask[10, 11] = 0  # hole in the large blob → black in the crop
    crop = crop_to_mask(image, mask, mask_values="0/1")
    assert (crop[2, 1] == 0).all()


def test_crop_to_mask_grey_image_and_float_dtype():
    image = np.linspace(0.1, 1.0, 20 * 30, dtype=np.float32).reshape(20, 30)
    crop = crop_to_mask(image, _two_blobs() > 0)
    assert crop.shape == (8, 12) and crop.dtype == np.float32


def test_crop_to_mask_errors():
    with pytest.raises(DermkitDataError, match="empty"):
        crop_to_mask(_image(), np.zeros((20, 30), dtype=np.uint8))
    with pytest.raises(DermkitDataError, match="sizes differ"):
        crop_to_mask(_image(), np.full((20, 31), 255, dtype=np.uint8))
    with pytest.raises(ValueError, match="pad must be"):
        crop_to_mask(_image(), _two_blobs() > 0, pad=-1)
    with pytest.raises(DermkitDataError, match=r"maximum 1 is ambiguous \(values \[0, 1\]"):
        crop_to_mask(_image(), _two_blobs())  # a 0/1 mask is declared, not guessed
    with pytest.raises(DermkitDataError, match=r"mask holds values \[0, 100\]"):
        lesion_bbox(_two_blobs() * 100)
    assert lesion_bbox(_two_blobs() * 100, threshold=50) == (8, 10, 16, 22)


# --------------------------------------------------------------------------------- segment_and_crop


class BrightIsLesion:
    """Stand-in segmenter: lesion = pixels brighter than 0.5 (sigmoid-shaped output [B, H, W, 1])."""

    def __init__(self):
        self.calls = []

    def predict(self, x):
        self.calls.append(x.shape)
        assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
        return (x.mean(axis=-1, keepdims=True) > 0.5).astype(np.float32)


def _dataset(root, n=5, size=(24, 36)):
    rows = []
    for i in range(n):
        image = np.full(size + (3,), 40, dtype=np.uint8)
        if i != 2:  # image 2 has no lesion → fallback
            image[4 + i : 14 + i, 6:20 + i] = 220
        path = root / f"img_{i}.png"
        write_png(path, image)
        rows.append({"image_id": f"img_{i}", "image_path": str(path), "target": i % 2})
    return pd.DataFrame(rows)


def test_segment_and_crop_writes_crops_manifest_and_resumes(tmp_path):
    df = _dataset(tmp_path / "in")
    model = BrightIsLesion()
    out = segment_and_crop(model, df, tmp_path / "crops", image_size=(16, 16), batch_size=2, progress=False)

    assert [c for c in model.calls] == [(2, 16, 16, 3), (2, 16, 16, 3), (1, 16, 16, 3)]
    assert list(out.columns) == ["image_id", "image_path", "target", "crop_path", "fallback", "bbox"]
    assert out["fallback"].tolist() == [False, False, True, False, False]
    assert out["bbox"][2] == (0, 0, 24, 36)
    y0, x0, y1, x1 = out["bbox"][1]
    assert abs(y0 - 5) <= 1 and abs(y1 - 15) <= 1 and abs(x0 - 6) <= 1 and abs(x1 - 21) <= 1
    crop = read_image(out["crop_path"][1])
    assert crop.shape == (y1 - y0, x1 - x0, 3)
    np.testing.assert_array_equal(read_image(out["crop_path"][2]), read_image(df["image_path"][2]))

    manifest = pd.read_csv(tmp_path / "crops" / MANIFEST_NAME)
    assert list(manifest.columns) == ["image_id", "crop_path", "fallback", "bbox"]
    assert manifest.loc[manifest["fallback"], "image_id"].tolist() == ["img_2"]

    # Resume: nothing to predict again; one missing crop is recomputed alone.
    (tmp_path / "crops" / "img_3.png").unlink()
    again = BrightIsLesion()
    out2 = segment_and_crop(again, df, tmp_path / "crops", image_size=(16, 16), batch_size=2, progress=False)
    assert again.calls == [(1, 16, 16, 3)]
    pd.testing.assert_frame_equal(out, out2)

    # overwrite=True recomputes everything.
    third = BrightIsLesion()
    segment_and_crop(third, df, tmp_path / "crops", image_size=(16, 16), overwrite=True, progress=False)
    assert third.calls == [(5, 16, 16, 3)]


def test_segment_and_crop_recomputes_a_broken_earlier_crop(tmp_path):
    df = _dataset(tmp_path / "in", n=3)
    segment_and_crop(BrightIsLesion(), df, tmp_path / "crops", image_size=(16, 16), progress=False)
    good = (tmp_path / "crops" / "img_0.png").read_bytes()
    (tmp_path / "crops" / "img_1.png").write_bytes(b"")  # 0 bytes, still listed in the manifest
    (tmp_path / "crops" / "img_0.png").write_bytes(good[: len(good) // 2])  # cut short
    again = BrightIsLesion()
    with pytest.warns(UserWarning) as caught:
        out = segment_and_crop(again, df, tmp_path / "crops", image_size=(16, 16), progress=False)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert re.search(r"img_0.png: earlier crop is not valid \((corrupt or truncated|not a readable) image", messages[0])
    assert re.search(r"img_1.png: earlier crop is not valid \(not a readable image", messages[1])
    assert again.calls == [(2, 16, 16, 3)]
    assert read_image(out["crop_path"][1]).size and read_image(out["crop_path"][0]).size


def test_segment_and_crop_out_dir_that_is_a_file(tmp_path):
    df = _dataset(tmp_path / "in", n=1)
    (tmp_path / "crops").write_text("not a folder")
    with pytest.raises(DermkitDataError, match="crops: is a file, but the output folder"):
        segment_and_crop(BrightIsLesion(), df, tmp_path / "crops", image_size=(16, 16), progress=False)


def test_segment_and_crop_softmax_output(tmp_path):
    class TwoChannel(BrightIsLesion):
        def predict(self, x):
            fg = super().predict(x)
            return np.concatenate([1.0 - fg, fg], axis=-1)

    df = _dataset(tmp_path / "in", n=2)
    out = segment_and_crop(TwoChannel(), df, tmp_path / "crops", image_size=(16, 16), progress=False)
    assert out["fallback"].tolist() == [False, False]


def test_segment_and_crop_validates(tmp_path):
    df = _dataset(tmp_path / "in", n=2)
    with pytest.raises(ValueError, match="image_size"):
        segment_and_crop(BrightIsLesion(), df, tmp_path / "c", image_size=(16,))
    with pytest.raises(DermkitDataError, match="no column 'path'"):
        segment_and_crop(BrightIsLesion(), df, tmp_path / "c", image_size=(16, 16), path_column="path")
    with pytest.raises(DermkitDataError, match="repeated image ids"):
        segment_and_crop(BrightIsLesion(), pd.concat([df, df]), tmp_path / "c", image_size=(16, 16))

    class BadShape:
        def predict(self, x):
            return np.zeros((len(x), 16, 16, 3), dtype=np.float32)

    with pytest.raises(DermkitDataError, match="segmentation model output"):
        segment_and_crop(BadShape(), df, tmp_path / "c", image_size=(16, 16), progress=False)


def test_preprocessing_does_not_import_tensorflow():
    import subprocess

    code = (
        "import sys; import dermkit.preprocessing, dermkit.preprocessing.crop, dermkit.preprocessing.skin_tone;"
        "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_segment_and_crop_with_a_keras_model(tmp_path):
    keras = pytest.importorskip("keras")
    inputs = keras.Input((16, 16, 3))
    # Fixed 1×1 convolution + sigmoid: lesion where the mean intensity is above 0.5.
    conv = keras.layers.Conv2D(1, 1, activation="sigmoid", name="seg")
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([np.full((1, 1, 3, 1), 100.0 / 3, np.float32), np.array([-50.0], np.float32)])
    df = _dataset(tmp_path / "in", n=3)
    out = segment_and_crop(model, df, tmp_path / "crops", image_size=(16, 16), batch_size=2, progress=False)
    assert out["fallback"].tolist() == [False, False, True]
    assert read_image(out["crop_path"][0]).shape[:2] == (
        out["bbox"][0][2] - out["bbox"][0][0],
        out["bbox"][0][3] - out["bbox"][0][1],
    )
