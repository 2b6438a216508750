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


def _hairy(n=3, size=48):
    images = np.full((n, size, size, 3), (0.85, 0.68, 0.58), np.float32)
    lesions = np.zeros((n, size, size), bool)
    lesions[:, 16:32, 16:32] = True
    images[lesions] = (0.4, 0.3, 0.25)
    hair = np.zeros((size, size), bool)
    hair[8, :] = True
    hair[:, 24] = True  # crosses the lesion too
    images[:, hair] = (0.1, 0.08, 0.06)
    return images, lesions, hair


def test_pairs_are_original_input_purified_target_and_holes_cover_the_occlusions():
    """Supplement 6.1: input = the original (occluded) image, target = the classically purified one, holes =
    the image's occlusion mask ∪ a random mask; outside the holes input and target agree."""
    from skimage.color import rgb2lab

    images, lesions, hair = _hairy()
    pairs = purification_pairs(images, lesions, seed=1)
    np.testing.assert_array_equal(pairs["inputs"], images)  # the network sees the occlusions
    outside = hair & ~lesions[0]
    assert pairs["hair_masks"][:, outside].all() and not pairs["hair_masks"][:, lesions[0]].any()
    L_target = rgb2lab(pairs["targets"].astype(np.float64))[..., 0]
    L_skin = rgb2lab(np.array([[[0.85, 0.68, 0.58]]]))[0, 0, 0]
    far = outside.copy()
    far[9:39] = False  # within the closing's reach (2 × radius) of the dark lesion the fill is the lesion's L*
    np.testing.assert_allclose(L_target[:, far], L_skin, atol=0.05)  # the skin's lightness back (a, b stay)
    holes = ~pairs["valid_masks"]
    assert holes[:, outside].all()  # every occlusion is a hole ...
    random_valid, kinds = purification_masks(lesions, pairs["hair_masks"], seed=1)
    np.testing.assert_array_equal(pairs["valid_masks"], random_valid & ~pairs["hair_masks"])  # ... ∪ the random mask
    assert kinds == pairs["kinds"]
    valid = pairs["valid_masks"]
    np.testing.assert_array_equal(pairs["inputs"][valid], pairs["targets"][valid])
    np.testing.assert_array_equal(pairs["targets"][:, lesions[0]], images[:, lesions[0]])  # lesion copied
    u8 = purification_pairs(np.round(images * 255).astype(np.uint8), lesions, seed=1)
    assert u8["inputs"].dtype == np.float32 and u8["inputs"].max() <= 1.0


def test_test_masks_never_open_the_segmented_lesion():
    """Table 6 / Fig. 10: with the segmented lesion passed, the hair that crosses the lesion stays valid there
    (never repainted); outside the lesion the test masks are the training occlusion masks."""
    images, lesions, hair = _hairy()
    valid = purification_test_masks(images, lesions)
    assert valid[:, lesions[0]].all()
    assert not valid[:, hair & ~lesions[0]].any()
    np.testing.assert_array_equal(valid, ~purification_pairs(images, lesions)["hair_masks"])
    with pytest.raises(TypeError):
        purification_test_masks(images)  # the lesion masks are required
    with pytest.raises(ValueError, match="lesion_masks is required"):
        purification_test_masks(images, None)
    with pytest.raises(ValueError, match="one mask per image"):
        purification_test_masks(images, lesions[:2])
    with pytest.raises(ValueError, match="images must be RGB"):
        purification_test_masks(images[0], lesions)
