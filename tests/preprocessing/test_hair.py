"""remove_hair (bisla2019 §3.2.2, the authors' final MATLAB code) on hand-made L* images and synthetic images with
hairs and ruler marks drawn at known pixels; references from scikit-image (Lab) and SciPy (grey closing)."""

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


def _disk_reference(r: int) -> np.ndarray:
    """The central section of MATLAB's strel('sphere', r): x² + y² ≤ r² on the integer grid."""
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    return x**2 + y**2 <= r**2


def test_disk_is_the_spheres_section_with_29_pixels():
    from dermkit.preprocessing.hair import _disk

    assert _disk_reference(3).sum() == 29
    np.testing.assert_array_equal(_disk(3), _disk_reference(3))


def _rgb_from_lab(lab: np.ndarray) -> np.ndarray:
    from skimage.color import lab2rgb

    rgb = lab2rgb(lab)
    assert rgb.min() > 0 and rgb.max() < 1  # in gamut: no clipping blurs the facts below
    return rgb.astype(np.float32)


def test_mask_threshold_is_in_L_units_of_0_100_on_a_hand_made_L_image():
    """Grey image, L* = 60 everywhere; 1-px dark lines of depth 20, 2 and 0.05 L* units in columns 10, 30, 50.
    The radius-3 closing fills each line back to 60: the authors' th = 0.1 (L* in [0, 100]) marks the first two
    lines, all rows, and nothing else; the wrong reading (0.1 of L in [0, 1] = 10 L* units) would miss the
    second. Inside the mask L* becomes 60."""
    from skimage.color import rgb2lab

    lab = np.zeros((40, 64, 3))
    lab[..., 0] = 60.0
    for col, depth in ((10, 20.0), (30, 2.0), (50, 0.05)):
        lab[:, col, 0] -= depth
    image = _rgb_from_lab(lab)
    out, mask = remove_hair(image)
    expected = np.zeros((40, 64), bool)
    expected[:, [10, 30]] = True
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_allclose(rgb2lab(out.astype(np.float64))[mask][:, 0], 60.0, atol=0.01)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    _, ten = remove_hair(image, threshold=10.0)  # the earlier note's reading, an option only
    assert ten[:, 10].all() and not ten[:, 30].any()


def test_mask_matches_scipy_grey_closing_away_from_the_border():
    """Random smooth L*: the mask is (grey_closing(L, disk 3) − L) > 0.1 (SciPy's closing as the reference; the
    border band differs by design — MATLAB ignores the padding, SciPy reflects it)."""
    from scipy.ndimage import gaussian_filter, grey_closing
    from skimage.color import rgb2lab

    rng = np.random.default_rng(0)
    lab = np.zeros((48, 48, 3))
    lab[..., 0] = 55 + 8 * gaussian_filter(rng.normal(size=(48, 48)), 1.5)
    lab[..., 1], lab[..., 2] = 8.0, 12.0
    image = _rgb_from_lab(lab)
    L = rgb2lab(image.astype(np.float64))[..., 0]
    want = grey_closing(L, footprint=_disk_reference(3)) - L > 0.1
    _, mask = remove_hair(image)
    np.testing.assert_array_equal(mask[6:-6, 6:-6], want[6:-6, 6:-6])


def test_a_and_b_stay_inside_the_mask():
    """Skin L*a*b* (70, 12, 16) with a 2-px hair (35, 4, 6): inside the mask L* is the skin's 70 and a*, b* stay
    the hair's (4, 6) (the authors replace L only); ``chroma=True`` (dermkit option) gives the skin's a*, b*."""
    from skimage.color import rgb2lab

    lab = np.empty((32, 32, 3))
    lab[:] = (70.0, 12.0, 16.0)
    lab[:, 15:17] = (35.0, 4.0, 6.0)
    image = _rgb_from_lab(lab)
    out, mask = remove_hair(image)
    assert mask[:, 15:17].all() and mask.sum() == 64
    np.testing.assert_allclose(rgb2lab(out.astype(np.float64))[mask], np.broadcast_to((70.0, 4.0, 6.0), (64, 3)),
                               atol=0.01)
    out2, _ = remove_hair(image, chroma=True)
    np.testing.assert_allclose(rgb2lab(out2.astype(np.float64))[mask], np.broadcast_to((70.0, 12.0, 16.0), (64, 3)),
                               atol=0.01)


def test_lesion_pixels_are_copied_from_the_original():
    image, _, occlusion, lesion = _scene(96, 2)
    assert (occlusion & lesion).any()  # some hairs cross the lesion
    out, mask = remove_hair(image, lesion)
    np.testing.assert_array_equal(out[lesion], image[lesion])
    assert not (mask & lesion).any()
    _, unmasked = remove_hair(image)  # without the lesion mask those hairs are replaced too
    assert (unmasked & occlusion & lesion).sum() / (occlusion & lesion).sum() >= 0.95


def test_authors_setting_finds_the_hairs_and_marks_skin_texture_too():
    """Recall ≥ 0.95 on drawn hairs, whose L* comes back to the skin's (within 2 of the ~70 L* units the hair
    took away; a* and b* keep the hair's, as in the authors' code); the marked hair-free skin (textured)
    changes by little: the closing there moves L* by a fraction of a unit."""
    from skimage.color import rgb2lab

    image, clean, occlusion, lesion = _scene(128, 2)
    out, mask = remove_hair(image, lesion)
    truth = occlusion & ~lesion
    assert (mask & truth).sum() / truth.sum() >= 0.95
    skin = ~occlusion & ~lesion & ~_dilate(occlusion)
    assert np.abs(out - image)[skin].max() < 0.03
    L_out, L_clean, L_in = (rgb2lab(x.astype(np.float64))[..., 0] for x in (out, clean, image))
    assert (L_clean - L_in)[truth].mean() > 50
    assert np.abs(L_out - L_clean)[truth].mean() < 2.0


@pytest.mark.parametrize("method, kwargs", [("blackhat", {}),
                                            ("closing", {"threshold": 5.0, "grow": 1, "chroma": True})])
@pytest.mark.parametrize("size, width", [(64, 1), (128, 2)])
def test_hairs_found_replaced_and_lesion_kept(method, kwargs, size, width):
    image, clean, occlusion, lesion = _scene(size, width)
    out, mask = remove_hair(image, lesion, method=method, **kwargs)
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


@pytest.mark.parametrize("method", ["closing", "blackhat"])
def test_ruler_ticks_removed(method):
    image, clean, occlusion, lesion = _scene(128, 2, n_hairs=0, ruler=True)
    out, mask = remove_hair(image, lesion, method=method)
    assert (mask & occlusion).sum() / occlusion.sum() >= 0.9
    assert np.abs(out - clean)[occlusion].mean() < 0.1


@pytest.mark.parametrize("method, kwargs", [("blackhat", {}), ("closing", {"threshold": 5.0})])
def test_hair_free_image_is_left_alone(method, kwargs):
    _, clean, _, lesion = _scene(128, 2)
    out, mask = remove_hair(clean, lesion, method=method, **kwargs)
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
    out, mask = remove_hair(u8, (lesion * 255).astype(np.uint8), threshold=5.0)
    truth = occlusion & ~lesion
    assert (mask & truth).sum() / truth.sum() >= 0.95
    assert (mask & truth).sum() / mask.sum() >= 0.85  # no rim without growing
    assert out.dtype == np.float32


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "razor"}, "method must be one of"),
        ({"threshold": 150.0}, r"threshold must be a number in \(0, 100\)"),
        ({"method": "blackhat", "threshold": 1.5}, r"threshold must be a number in \(0, 1\)"),
        ({"method": "dullrazor"}, "method='blackhat'"),
        ({"radius": 0}, "radius must be an integer"),
        ({"method": "blackhat", "kernel_size": 16}, "kernel_size must be odd"),
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
