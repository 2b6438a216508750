"""Fuzzy Jaccard (kawahara2018 Eq. 8–10), its superpixel form and the Table V evaluations."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from dermkit.data.superpixels import superpixel_sizes, superpixels_to_mask
from dermkit.metrics.jaccard import (
    channel_jaccard,
    channel_jaccard_superpixels,
    fuzzy_jaccard,
    fuzzy_jaccard_superpixels,
    mean_over_channels,
    per_image_jaccard,
    per_image_jaccard_superpixels,
    reduce_over_images,
    table5_evaluations,
    threshold_below,
)


def img(*rows):
    """``[H, W]`` rows of a single-channel image → ``[H, W, 1]``."""
    return np.asarray(rows, dtype=np.float64)[..., None]


# (kwargs, y_true, y_pred, expected [K])
CASES = [
    # 1 image [1, 2, 1]: Σmin = 0.5, Σmax = 1
    ({}, [img([1.0, 0.0])], [img([0.5, 0.0])], [0.5]),
    # 2 images [1, 2, 1]: J = 0.5 and a both-empty image, which J̄nan leaves out ...
    ({"empty": "ignore"}, [img([1, 1]), img([0, 0])], [img([1, 0]), img([0, 0])], [0.5]),
    # ... and J̄1 counts as 1: (0.5 + 1) / 2
    ({"empty": "one"}, [img([1, 1]), img([0, 0])], [img([1, 0]), img([0, 0])], [0.75]),
    # 1 image [1, 2, 1], nothing predicted where the truth has a feature: 0, not NaN
    ({"empty": "ignore"}, [img([0, 1])], [img([0, 0])], [0.0]),
    # 2 images [1, 1, 1], both empty everywhere: J̄nan has nothing to count (NaN), J̄1 is 1
    ({"empty": "ignore"}, [img([0]), img([0])], [img([0]), img([0])], [np.nan]),
    ({"empty": "one"}, [img([0]), img([0])], [img([0]), img([0])], [1.0]),
    # images of different sizes, [1, 1, 1] and [2, 2, 1]: J = 1 and J = Σmin/Σmax = 0.3 / 1.3
    ({}, [img([1.0]), img([1, 0], [0, 0.3])], [img([1.0]), img([0.3, 0], [0, 0])], [(1 + 0.3 / 1.3) / 2]),
    # 1 image [1, 2, 2]: channel 0 J = 0.5, channel 1 both empty
    (
        {"empty": "ignore"},
        [np.array([[[1.0, 0.0], [1.0, 0.0]]])],
        [np.array([[[1.0, 0.0], [0.0, 0.0]]])],
        [0.5, np.nan],
    ),
    # [1, 1, 2, 1] arrays (not lists): Σmin = 0.25, Σmax = 1 + 0.5
    ({}, np.array([[[[1.0], [0.0]]]]), np.array([[[[0.25], [0.5]]]]), [0.25 / 1.5]),
]


@pytest.mark.parametrize("kwargs, y_true, y_pred, expected", CASES)
def test_fuzzy_jaccard_cases(kwargs, y_true, y_pred, expected):
    np.testing.assert_allclose(fuzzy_jaccard(y_true, y_pred, **kwargs), expected)


def test_array_input_equals_list_input():
    rng = np.random.default_rng(0)
    pred = rng.random((3, 5, 4, 2))
    truth = (rng.random((3, 5, 4, 2)) > 0.6).astype(np.float32)
    np.testing.assert_allclose(fuzzy_jaccard(truth, pred), fuzzy_jaccard(list(truth), list(pred)))
    np.testing.assert_allclose(fuzzy_jaccard(y_pred=pred, y_true=truth), fuzzy_jaccard(truth, pred))


def test_per_image_values_and_nan():
    out = per_image_jaccard([img([1, 1]), img([0, 0])], [img([1, 0]), img([0, 0])])
    assert out.shape == (2, 1)
    assert out[0, 0] == 0.5 and np.isnan(out[1, 0])


def test_channel_jaccard_pools_pixels_and_differs_from_image_mean():
    # image A [1, 4, 1]: Σmin 1, Σmax 2; image B [1, 1, 1]: Σmin 0, Σmax 1
    pred = [img([1, 1, 0, 0]), img([0])]
    truth = [img([1, 0, 0, 0]), img([1])]
    np.testing.assert_allclose(channel_jaccard(truth, pred), [1 / 3])
    np.testing.assert_allclose(fuzzy_jaccard(truth, pred), [0.25])


def test_channel_jaccard_nan_when_all_empty():
    assert np.isnan(channel_jaccard([img([0])], [img([0])])[0])


def test_reduce_over_images_matches_equations():
    table = np.array([[0.2, np.nan], [np.nan, np.nan], [0.6, 0.4]])
    np.testing.assert_allclose(reduce_over_images(table, empty="ignore"), [0.4, 0.4])
    np.testing.assert_allclose(reduce_over_images(table, empty="one"), [(0.2 + 1 + 0.6) / 3, (1 + 1 + 0.4) / 3])


def test_superpixel_form_equals_full_size_painting():
    rng = np.random.default_rng(1)
    preds, truths, sizes, pred_masks, truth_masks = [], [], [], [], []
    for h, w, n in [(17, 23, 9), (30, 12, 25), (8, 8, 3)]:
        index = rng.permutation(np.arange(h * w) % n).reshape(h, w)  # every superpixel occurs
        p = rng.random((n, 4))
        t = (rng.random((n, 4)) > 0.7).astype(np.float64)
        t[:, 3] = 0.0  # a channel empty in the truth ...
        p[:, 3] = np.where(p[:, 3] > 0.5, 0.0, p[:, 3]) * (h != 8)  # ... and empty in one prediction
        preds.append(p)
        truths.append(t)
        sizes.append(superpixel_sizes(index, n))
        pred_masks.append(superpixels_to_mask(index, p))
        truth_masks.append(superpixels_to_mask(index, t))
    np.testing.assert_allclose(
        per_image_jaccard_superpixels(truths, preds, sizes), per_image_jaccard(truth_masks, pred_masks), rtol=1e-6
    )
    np.testing.assert_allclose(
        channel_jaccard_superpixels(truths, preds, sizes), channel_jaccard(truth_masks, pred_masks), rtol=1e-6
    )
    for empty in ("one", "ignore"):
        np.testing.assert_allclose(
            fuzzy_jaccard_superpixels(truths, preds, sizes, empty=empty),
            fuzzy_jaccard(truth_masks, pred_masks, empty=empty),
            rtol=1e-6,
        )


def test_superpixel_sizes_weight_the_score():
    # 1 image, 2 superpixels of 3 and 1 pixels: Σmin = 3·0.5 = 1.5, Σmax = 3·1 + 1·0.2 = 3.2
    out = fuzzy_jaccard_superpixels([np.array([[1.0], [0.0]])], [np.array([[0.5], [0.2]])], [np.array([3, 1])])
    np.testing.assert_allclose(out, [1.5 / 3.2])
    # the same as [1, 2, 1] and [1, 2] arrays (images first) instead of lists
    out = fuzzy_jaccard_superpixels(np.array([[[1.0], [0.0]]]), np.array([[[0.5], [0.2]]]), np.array([[3, 1]]))
    np.testing.assert_allclose(out, [1.5 / 3.2])


@pytest.mark.parametrize("x, expected", [([0.2, 0.5, 0.7], [0.0, 0.5, 0.7]), ([0.49999, 1.0, 0.0], [0.0, 1.0, 0.0])])
def test_threshold_below(x, expected):
    np.testing.assert_array_equal(threshold_below(np.array(x)), expected)


def test_threshold_below_keeps_dtype():
    assert threshold_below(np.array([0.1, 0.9], dtype=np.float32)).dtype == np.float32


def test_mean_over_channels_skips_nan_quietly():
    assert mean_over_channels([0.2, np.nan, 0.4]) == pytest.approx(0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(mean_over_channels([np.nan, np.nan]))


def test_table5_hand_case():
    # 1 image [2, 2, 1], two superpixels (top row 0, bottom row 1), truth: superpixel 0 positive.
    index = np.array([[0, 0], [1, 1]])
    truth_sp = [np.array([[1.0], [0.0]])]
    pred = [img([0.9, 0.3], [0.4, 0.0])]
    out = table5_evaluations(truth_sp, pred, [index])
    assert set(out) == {"direct", "thresholded", "superpixel"}
    # direct: Σmin = 0.9 + 0.3, Σmax = 1 + 1 + 0.4 + 0
    np.testing.assert_allclose(out["direct"], [1.2 / 2.4])
    # thresholded: [[0.9, 0], [0, 0]] → 0.9 / 2
    np.testing.assert_allclose(out["thresholded"], [0.45])
    # superpixel: means 0.6 and 0.2 → 0.6 and 0 → Σmin = 2·0.6, Σmax = 2·1
    np.testing.assert_allclose(out["superpixel"], [0.6])


def test_table5_matches_the_building_blocks():
    rng = np.random.default_rng(2)
    preds, indexes, truths = [], [], []
    for h, w, n in [(12, 10, 7), (9, 14, 5)]:
        index = rng.permutation(np.arange(h * w) % n).reshape(h, w)
        indexes.append(index)
        truths.append((rng.random((n, 4)) > 0.6).astype(np.float64))
        preds.append(rng.random((h, w, 4)))
    out = table5_evaluations(truths, preds, indexes, empty="one")
    masks = [superpixels_to_mask(i, t) for i, t in zip(indexes, truths)]
    np.testing.assert_allclose(out["direct"], fuzzy_jaccard(masks, preds, empty="one"))
    np.testing.assert_allclose(
        out["thresholded"], fuzzy_jaccard(masks, [threshold_below(p) for p in preds], empty="one")
    )


def test_table5_errors_name_the_image():
    index = np.zeros((2, 2), dtype=int)
    with pytest.raises(ValueError, match=r"image 1: y_pred mask is \(3, 2\) but its index map is \(2, 2\)"):
        table5_evaluations([np.zeros((1, 1))] * 2, [img([0, 0], [0, 0]), img([0, 0], [0, 0], [0, 0])], [index, index])
    with pytest.raises(ValueError, match="y_true_sp, y_pred and index_maps must have one entry per image"):
        table5_evaluations([np.zeros((1, 1))], [img([0, 0], [0, 0])], [index, index])
    with pytest.raises(ValueError, match="image 0: superpixel label array has 2 rows"):
        table5_evaluations([np.zeros((2, 1))], [img([0, 0], [0, 0])], [index])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: fuzzy_jaccard([img([0])], [img([0])], empty="zero"), ValueError,
         r"empty must be one of \('one', 'ignore'\); received empty='zero'"),
        (lambda: fuzzy_jaccard([img([0]), img([0])], [img([0]), img([0, 1])]), ValueError,
         r"image 1: y_pred mask shape \(1, 2, 1\) differs from y_true shape \(1, 1, 1\)"),
        (lambda: fuzzy_jaccard([img([0]), img([0])], [img([0])]), ValueError, "y_true has 2 images but y_pred has 1"),
        (lambda: fuzzy_jaccard([img([0])], [img([1.5])]), ValueError,
         r"y_pred\[0\] must hold finite values in \[0, 1\]"),
        (lambda: fuzzy_jaccard([img([-0.5])], [img([0])]), ValueError,
         r"y_true\[0\] must hold finite values in \[0, 1\]"),
        (lambda: fuzzy_jaccard([img([0])], [img([np.nan])]), ValueError, "finite values"),
        (lambda: fuzzy_jaccard(np.zeros((2, 2, 1)), np.zeros((2, 2, 1))), ValueError, r"must be \[N, H, W, K\]"),
        (lambda: fuzzy_jaccard("abc", [img([0])]), TypeError, "y_true must be an array or a list of arrays"),
        (lambda: fuzzy_jaccard([img([0])], [img([0])], "one"), TypeError, "positional argument"),
        (lambda: fuzzy_jaccard([], []), ValueError, "no images to score"),
        (lambda: fuzzy_jaccard_superpixels([np.zeros((2, 1))], [np.zeros((2, 1))], [np.ones(3)]), ValueError,
         "image 0: sizes has 3 superpixels but y_true_sp has 2"),
        (lambda: fuzzy_jaccard_superpixels([np.zeros((3, 1))], [np.zeros((2, 1))], [np.ones(3)]), ValueError,
         r"image 0: y_pred_sp superpixel shape \(2, 1\) differs from y_true_sp shape \(3, 1\)"),
        (lambda: fuzzy_jaccard_superpixels([np.zeros((2, 1))], np.zeros((2, 1)), [np.ones(2)]), ValueError,
         r"y_pred_sp as an array must have 3 dimensions \(images first\)"),
        (lambda: fuzzy_jaccard_superpixels([np.zeros((2, 1))], 3.0, [np.ones(2)]), TypeError,
         "y_pred_sp must be a list"),
        (lambda: threshold_below(np.zeros(2), 0.5), TypeError, "positional argument"),
    ],
)  # fmt: skip
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_import_does_not_load_tensorflow():
    code = (
        "import sys, dermkit.metrics, dermkit.metrics.jaccard, dermkit.metrics.isic;"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
