"""kawahara2018 Eq. 1 / Eq. 2 on hand-computed cases, against a plain loop, and their error cases."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dermkit import DermkitDataError
from dermkit.data.superpixels import (
    decode_superpixels,
    encode_superpixels,
    mask_to_superpixels,
    resize_index,
    superpixel_sizes,
    superpixels_to_mask,
)

# 2x3 index map with 3 superpixels: s0 = {(0,0), (1,0)}, s1 = {(0,1), (0,2)}, s2 = {(1,1), (1,2)}
INDEX = np.array([[0, 1, 1], [0, 2, 2]], np.int32)

# Eq. 1: mask[x, k] = labels[s(x), k]
EQ1_CASES = [
    # labels [3, 2] -> mask [2, 3, 2]
    (np.array([[1, 0], [0, 1], [1, 1]]), np.array([[[1, 0], [0, 1], [0, 1]], [[1, 0], [1, 1], [1, 1]]])),
    # 1-D labels [3] -> mask [2, 3, 1]
    (np.array([0.25, 0.5, 1.0]), np.array([[0.25, 0.5, 0.5], [0.25, 1.0, 1.0]])[..., None]),
]


@pytest.mark.parametrize(("labels", "expected"), EQ1_CASES)
def test_eq1_hand_computed(labels, expected):
    mask = superpixels_to_mask(INDEX, labels)
    assert mask.dtype == np.float32 and mask.shape == expected.shape
    np.testing.assert_array_equal(mask, expected)


# Eq. 2: labels[i, k] = mean of mask[x, k] over x in s_i
EQ2_CASES = [
    # mask [2, 3] -> labels [3, 1]: s0 = (1 + 0) / 2, s1 = (1 + 1) / 2, s2 = (0 + 0.5) / 2
    (np.array([[1, 1, 1], [0, 0, 0.5]]), np.array([[0.5], [1.0], [0.25]])),
    # mask [2, 3, 2] -> labels [3, 2]
    (
        np.stack([np.array([[1, 1, 1], [0, 0, 0.5]]), np.array([[0, 0.2, 0.4], [1, 0, 0]])], axis=-1),
        np.array([[0.5, 0.5], [1.0, 0.3], [0.25, 0.0]]),
    ),
]


@pytest.mark.parametrize(("mask", "expected"), EQ2_CASES)
def test_eq2_hand_computed(mask, expected):
    labels = mask_to_superpixels(mask, INDEX)
    assert labels.dtype == np.float32
    np.testing.assert_allclose(labels, expected, rtol=1e-6)


def test_eq2_absent_superpixel_gets_zero_and_num_superpixels():
    index = np.array([[0, 2], [0, 2]], np.int32)  # superpixel 1 has no pixel
    labels = mask_to_superpixels(np.ones((2, 2)), index, num_superpixels=5)
    np.testing.assert_array_equal(labels[:, 0], [1, 0, 1, 0, 0])
    with pytest.raises(DermkitDataError, match="num_superpixels=2"):
        mask_to_superpixels(np.ones((2, 2)), index, num_superpixels=2)


def _eq2_loop(mask: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Reference: one superpixel at a time, in plain Python."""
    n = int(index.max()) + 1
    out = np.zeros((n, mask.shape[-1]))
    for i in range(n):
        member = index == i
        if member.any():
            out[i] = mask[member].mean(axis=0)
    return out


def test_eq2_matches_loop_on_random_data():
    rng = np.random.default_rng(0)
    index = rng.integers(0, 50, (40, 30)).astype(np.int32)
    mask = rng.random((40, 30, 4)).astype(np.float32)
    np.testing.assert_allclose(mask_to_superpixels(mask, index), _eq2_loop(mask, index), rtol=1e-5, atol=1e-7)


def test_eq2_then_eq1_is_identity_on_piecewise_constant_masks():
    rng = np.random.default_rng(1)
    index = rng.integers(0, 20, (16, 16)).astype(np.int32)
    index.flat[:20] = np.arange(20)  # every index occurs
    labels = rng.random((20, 4)).astype(np.float32)
    np.testing.assert_allclose(mask_to_superpixels(superpixels_to_mask(index, labels), index), labels, rtol=1e-6)


@pytest.mark.parametrize(("rows", "num"), [(2, 3), (4, 3)])
def test_eq1_label_count_mismatch(rows, num):
    with pytest.raises(DermkitDataError, match=f"has {rows} rows but the index map has {num} superpixels"):
        superpixels_to_mask(INDEX, np.zeros((rows, 4)), where="ISIC_0000000_features.json")
    with pytest.raises(DermkitDataError, match="ISIC_0000000_features.json"):
        superpixels_to_mask(INDEX, np.zeros((rows, 4)), where="ISIC_0000000_features.json")


def test_bad_index_maps():
    with pytest.raises(DermkitDataError, match="negative superpixel index"):
        superpixels_to_mask(np.array([[0, -1]]), np.zeros((1, 4)))
    with pytest.raises(DermkitDataError, match="negative superpixel index"):
        mask_to_superpixels(np.zeros((1, 2)), np.array([[0, -1]]))
    with pytest.raises(DermkitDataError, match="must hold integers"):
        superpixels_to_mask(INDEX.astype(np.float32), np.zeros((3, 4)))
    with pytest.raises(DermkitDataError, match=re.escape("mask is (2, 2, 1)")):
        mask_to_superpixels(np.zeros((2, 2)), INDEX)


def test_encode_decode_round_trip():
    rng = np.random.default_rng(2)
    index = rng.integers(0, 1 << 24, (9, 7)).astype(np.int32)
    rgb = encode_superpixels(index)
    assert rgb.dtype == np.uint8 and rgb.shape == (9, 7, 3)
    np.testing.assert_array_equal(decode_superpixels(rgb), index)
    # R is the low byte: index 258 = R 2, G 1, B 0.
    np.testing.assert_array_equal(encode_superpixels(np.array([[258]])), [[[2, 1, 0]]])
    with pytest.raises(DermkitDataError, match="2\\*\\*24"):
        encode_superpixels(np.array([[1 << 24]]))
    with pytest.raises(DermkitDataError, match="uint8"):
        decode_superpixels(np.zeros((2, 2, 3), np.int32))


def test_superpixel_sizes():
    np.testing.assert_array_equal(superpixel_sizes(INDEX), [2, 2, 2])
    np.testing.assert_array_equal(superpixel_sizes(INDEX, num_superpixels=4), [2, 2, 2, 0])


@pytest.mark.parametrize("size", [(20, 30), (5, 7), (13, 3), (1, 1)])
def test_resize_index_keeps_values_exact(size):
    rng = np.random.default_rng(3)
    index = rng.integers(0, 1 << 24, (12, 10)).astype(np.int32)  # large values: no interpolation allowed
    out = resize_index(index, size)
    assert out.shape == size and out.dtype == np.int32
    assert set(np.unique(out)) <= set(np.unique(index))


def test_resize_index_is_pixel_centre_aligned():
    index = np.arange(4, dtype=np.int32).reshape(2, 2)
    np.testing.assert_array_equal(resize_index(index, (4, 4)), np.kron(index, np.ones((2, 2), np.int32)))
    # Downsampling 4 -> 2 takes source pixels 1 and 3 (centres), like PIL NEAREST.
    np.testing.assert_array_equal(resize_index(np.arange(4, dtype=np.int32)[None], (1, 2)), [[1, 3]])
    with pytest.raises(DermkitDataError, match="positive"):
        resize_index(index, (0, 4))
