"""Training holes and pairs of the purification network (bisla2019 supplement 6.1)."""

from __future__ import annotations

import numpy as np
import pytest

from dermkit.preprocessing.purification import purification_masks, purification_pairs, purification_test_masks


def _lesions_and_hairs(n=400, size=16):
    lesions = np.zeros((n, size, size), bool)
    lesions[:, 4:12, 4:12] = True
    hairs = np.zeros((n, size, size), bool)
    hairs[::2, 1, :] = True  # every other image has a hair along row 1
    return lesions, hairs


def test_shares_follow_30_30_40_and_each_kind_is_what_it_says():
    lesions, hairs = _lesions_and_hairs()
    valid, kinds = purification_masks(lesions, hairs, seed=3)
    counts = {k: kinds.count(k) for k in ("lesion", "block", "hair")}
    # binomial with n = 400: the shares lie within ~3 standard deviations (~0.07) of 0.3 / 0.3 / 0.4
    assert abs(counts["lesion"] / 400 - 0.3) < 0.07
    assert abs(counts["block"] / 400 - 0.3) < 0.07
    assert abs(counts["hair"] / 400 - 0.4) < 0.07
    for v, kind, lesion in zip(valid, kinds, lesions):
        hole = ~v
        if kind == "lesion":
            np.testing.assert_array_equal(hole, lesion)  # the inverted lesion mask: hole = lesion
        elif kind == "hair":
            assert hole[1].all() and hole.sum() == 16  # one of the drawn hairs
        else:
            assert 0 < hole.sum() < hole.size
    again, kinds_again = purification_masks(lesions, hairs, seed=3)
    np.testing.assert_array_equal(again, valid)
    assert kinds_again == kinds


def test_fallbacks_to_blocks():
    lesions = np.zeros((20, 8, 8), bool)
    hairs = np.zeros((20, 8, 8), bool)
    valid, kinds = purification_masks(lesions, hairs, seed=0)
    assert set(kinds) == {"block"} and (~valid).any(axis=(1, 2)).all()


@pytest.mark.parametrize("kwargs, match", [({"fractions": (0.5, 0.5, 0.5)}, "fractions must be"),
                                           ({"n_blocks": (0, 2)}, "n_blocks must be"),
                                           ({"block_size": (0.5, 0.2)}, "block_size must be")])
def test_bad_options(kwargs, match):
    lesions, hairs = _lesions_and_hairs(4)
    with pytest.raises(ValueError, match=match):
        purification_masks(lesions, hairs, **kwargs)


def test_pairs_clean_the_images_and_test_masks_mark_the_hairs():
    size = 48
    images = np.full((3, size, size, 3), (0.85, 0.68, 0.58), np.float32)
    lesions = np.zeros((3, size, size), bool)
    lesions[:, 16:32, 16:32] = True
    images[lesions] = (0.4, 0.3, 0.25)
    hair = np.zeros((size, size), bool)
    hair[8, :] = True
    images[:, hair] = (0.1, 0.08, 0.06)
    pairs = purification_pairs(images, lesions, seed=1)
    assert pairs["targets"].shape == images.shape and pairs["valid_masks"].shape == lesions.shape
    outside = hair & ~lesions[0]
    assert pairs["hair_masks"][:, outside].all()
    np.testing.assert_allclose(pairs["targets"][:, outside], np.broadcast_to(images[0, 0, 0], (3, outside.sum(), 3)),
                               atol=0.02)  # the skin colour back
    valid = purification_test_masks(images, lesions)
    np.testing.assert_array_equal(valid, ~pairs["hair_masks"])
