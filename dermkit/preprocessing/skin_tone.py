"""Skin-tone estimation and background replacement (goel2021 Section 7, Figures 3–6).

goel2021 maps each test image's surrounding-skin colour to the nearest of 18 tones (their Figure 3, labelled
A–R from dark to light), reports sensitivity and false-negative rate per tone, and builds a "balanced skin
tone" dataset by painting the black background of segmented crops with a randomly drawn tone.

The report's palette values are not in its text (its source, Akash & Mollah 2016, gives a figure only), so
dermkit defines the 18 tones from a published scale, the Monk Skin Tone (MST) scale (E. Monk, 2019; released
by Google in 2022 with its ten sRGB colours, https://skintone.google), interpolated in CIELAB (see
:data:`SKIN_TONES`). The field's standard continuous measure, the Individual Typology Angle (ITA), is given
too (:func:`individual_typology_angle`, :func:`ita_category`) so per-tone metrics can be reported by both.

NumPy / OpenCV / scikit-image only: no TensorFlow.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np
from skimage import color

from dermkit.errors import DermkitDataError

__all__ = [
    "MONK_SKIN_TONES_HEX",
    "SkinTone",
    "SKIN_TONES",
    "SKIN_TONE_LABELS",
    "ITA_CATEGORIES",
    "get_skin_tone",
    "individual_typology_angle",
    "ita_from_lab",
    "ita_category",
    "skin_ring_mask",
    "estimate_skin_tone",
    "replace_background",
    "per_tone_rates",
]

#: The ten Monk Skin Tone scale colours as published by Google (https://skintone.google, MST 1 → MST 10),
#: light to dark. Note MST 3 has a slightly higher CIELAB L* (93.1) than MST 2 (92.3): the scale is ordered
#: by perceived depth, not strictly by lightness.
MONK_SKIN_TONES_HEX: tuple[str, ...] = (
    "#f6ede4",
    "#f3e7db",
    "#f7ead0",
    "#eadaba",
    "#d7bd96",
    "#a07e56",
    "#825c43",
    "#604134",
    "#3a312a",
    "#292420",
)


class SkinTone(NamedTuple):
    """One palette tone: ``label`` ("A" darkest … "R" lightest), ``rgb`` (sRGB uint8 triple), ``lab``
    (CIELAB, D65, of the rounded ``rgb``)."""

    label: str
    rgb: tuple[int, int, int]
    lab: tuple[float, float, float]


def _hex_to_rgb01(code: str) -> np.ndarray:
    code = code.lstrip("#")
    return np.array([int(code[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float64) / 255.0


def _rgb_to_lab(rgb01: np.ndarray) -> np.ndarray:
    """CIELAB (D65, 2°) of sRGB colours in [0, 1], any leading shape ``[..., 3]``."""
    rgb01 = np.asarray(rgb01, dtype=np.float64)
    return color.rgb2lab(rgb01.reshape(-1, 1, 3)).reshape(rgb01.shape)


def _lab_to_rgb_uint8(lab: np.ndarray) -> np.ndarray:
    lab = np.asarray(lab, dtype=np.float64)
    rgb = np.clip(color.lab2rgb(lab.reshape(-1, 1, 3)).reshape(lab.shape), 0.0, 1.0)
    return np.round(rgb * 255.0).astype(np.uint8)


def _build_palette(num_tones: int = 18) -> tuple[SkinTone, ...]:
    """Interpolate the MST colours in CIELAB to ``num_tones`` tones, dark to light.

    The ten MST colours, reversed to run dark → light, are joined into a polyline in CIELAB; the tones are
    ``num_tones`` points evenly spaced by arc length (CIE76 ΔE) along it, so both MST ends are kept exactly
    and neighbouring tones are about equally far apart perceptually (≈6 ΔE76). The resulting L* increases
    strictly from the first tone to the last.
    """
    anchors = _rgb_to_lab(np.stack([_hex_to_rgb01(c) for c in MONK_SKIN_TONES_HEX[::-1]]))
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(anchors, axis=0), axis=1))])
    samples = np.linspace(0.0, arc[-1], num_tones)
    lab = np.stack([np.interp(samples, arc, anchors[:, k]) for k in range(3)], axis=1)
    rgb = _lab_to_rgb_uint8(lab)
    lab_of_rgb = _rgb_to_lab(rgb / 255.0)
    labels = [chr(ord("A") + i) for i in range(num_tones)]
    return tuple(
        SkinTone(label, tuple(int(v) for v in c), tuple(float(v) for v in lab_c))
        for label, c, lab_c in zip(labels, rgb, lab_of_rgb)
    )


#: The 18 skin tones of goel2021's Figure 3, labelled "A" (darkest) to "R" (lightest), as
#: :class:`SkinTone` ``(label, rgb, lab)`` tuples. Defined from the Monk Skin Tone scale (Monk 2019;
#: Google 2022): its ten published sRGB colours (:data:`MONK_SKIN_TONES_HEX`) interpolated in CIELAB to 18
#: tones evenly spaced by ΔE76 arc length, dark to light; "A" is MST 10 (#292420) and "R" is MST 1 (#f6ede4).
SKIN_TONES: tuple[SkinTone, ...] = _build_palette(18)

#: ``("A", ..., "R")``, dark to light.
SKIN_TONE_LABELS: tuple[str, ...] = tuple(t.label for t in SKIN_TONES)

_TONE_BY_LABEL = {t.label: t for t in SKIN_TONES}
_PALETTE_LAB = np.array([t.lab for t in SKIN_TONES], dtype=np.float64)

#: ITA° categories, lightest first, as ``(name, lower bound)``: a value belongs to the first category whose
#: lower bound it exceeds (bounds are exclusive below, inclusive above: ITA = 55 is "light").
#: Chardon, Cretois & Hourseau, Int J Cosmet Sci 1991 (first four groups); Del Bino et al., Pigment Cell Res
#: 2006 (brown and dark); the six groups used by Kinyanjui et al., MICCAI 2020 on ISIC.
ITA_CATEGORIES: tuple[tuple[str, float], ...] = (
    ("very_light", 55.0),
    ("light", 41.0),
    ("intermediate", 28.0),
    ("tan", 10.0),
    ("brown", -30.0),
    ("dark", -math.inf),
)


def get_skin_tone(tone) -> SkinTone:
    """Return the :class:`SkinTone` for a label ("A"–"R") or a :class:`SkinTone`.

    Raises:
        ValueError: unknown label.
    """
    if isinstance(tone, SkinTone):
        return tone
    if isinstance(tone, str) and tone.upper() in _TONE_BY_LABEL:
        return _TONE_BY_LABEL[tone.upper()]
    raise ValueError(f"tone must be one of the labels {SKIN_TONE_LABELS} or a SkinTone. Received: tone={tone!r}")


# --------------------------------------------------------------------------------------------- ITA


def ita_from_lab(lightness: float, b_star: float) -> float:
    """The Individual Typology Angle of one CIELAB colour, in degrees: the one ITA equation of dermkit.

    ``ITA° = arctan((L* − 50) / b*) · 180/π`` (Chardon, Cretois & Hourseau, Int J Cosmet Sci 1991; used on
    ISIC images by Kinyanjui et al., MICCAI 2020). The plain arctangent of the ratio, as defined, so the
    result lies in [−90°, 90°]; for skin (b* > 0) it equals ``atan2(L* − 50, b*)``, but for b* < 0 ``atan2``
    would give angles beyond ±90° that no ITA group covers. b* = 0 is taken as the limit b* → 0⁺: +90° if
    L* > 50, −90° if L* < 50, 0° at L* = 50. (The goel2021 report does not use the ITA; dermkit reports it
    beside the report's palette tones.)

    Raises:
        ValueError: NaN input.
    """
    lightness, b_star = float(lightness), float(b_star)
    if math.isnan(lightness) or math.isnan(b_star):
        raise ValueError(f"L* and b* must be numbers. Received: L*={lightness!r}, b*={b_star!r}")
    if b_star == 0.0:
        return 0.0 if lightness == 50.0 else math.copysign(90.0, lightness - 50.0)
    return math.degrees(math.atan((lightness - 50.0) / b_star))


def individual_typology_angle(image: np.ndarray, skin_mask: np.ndarray | None = None) -> float:
    """Individual Typology Angle of the skin pixels, in degrees (Chardon et al. 1991).

    :func:`ita_from_lab` (``ITA° = arctan((L* − 50) / b*) · 180/π``) of L* and b* the medians (taken
    separately) of the CIELAB values (D65) of the skin pixels; in [−90°, 90°].
    Higher ITA = lighter skin; see :func:`ita_category` for the usual groups.

    Args:
        image: RGB ``[H, W, 3]``, uint8 (0..255) or float in [0, 1].
        skin_mask: ``[H, W]`` bool (or 0/1, 0/255) selecting the skin pixels; None uses every pixel.

    Raises:
        DermkitDataError: bad shapes, or the mask selects no pixel.
    """
    lab = _image_to_lab(image)
    if skin_mask is None:
        pixels = lab.reshape(-1, 3)
    else:
        mask = _as_bool_mask(skin_mask, lab.shape[:2], "skin_mask")
        pixels = lab[mask]
    if pixels.shape[0] == 0:
        raise DermkitDataError("skin_mask selects no pixel: cannot compute the ITA")
    return ita_from_lab(np.median(pixels[:, 0]), np.median(pixels[:, 2]))


def ita_category(ita: float) -> str:
    """The ITA° group of a value: ``"very_light"`` (> 55°), ``"light"`` (41°, 55°], ``"intermediate"``
    (28°, 41°], ``"tan"`` (10°, 28°], ``"brown"`` (−30°, 10°], ``"dark"`` (≤ −30°).

    Bins from Chardon et al. 1991 and Del Bino et al. 2006 (:data:`ITA_CATEGORIES`).

    Raises:
        ValueError: ``ita`` is NaN.
    """
    ita = float(ita)
    if math.isnan(ita):
        raise ValueError("ita is NaN")
    for name, lower in ITA_CATEGORIES:
        if ita > lower:
            return name
    return ITA_CATEGORIES[-1][0]


# --------------------------------------------------------------------------------- skin-tone estimate


def _image_to_lab(image: np.ndarray) -> np.ndarray:
    from dermkit._validation import as_rgb01

    rgb = as_rgb01(image, dtype=np.float64)  # the one image rule: float outside [0, 1] is refused, not clipped
    return color.rgb2lab(rgb)


def _as_bool_mask(mask: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    from dermkit.data.masks import binarize_mask

    binary = binarize_mask(mask, integer_max_one="binary")
    if binary.shape != tuple(shape):
        raise DermkitDataError(f"{name} has shape {binary.shape} but the image is {tuple(shape)}")
    return binary


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return mask.copy()
    return cv2.dilate(mask.astype(np.uint8), _disk(radius)).astype(bool)


def _default_ring(shape: tuple[int, int]) -> tuple[int, int]:
    side = min(shape)
    inner = max(2, round(0.02 * side))
    return inner, inner + max(4, round(0.08 * side))


def skin_ring_mask(
    lesion_mask: np.ndarray,
    *,
    ring: tuple[int, int] | None = None,
    exclude_corners: bool = True,
) -> np.ndarray:
    """Pixels of the skin ring around a lesion: ``dilate(mask, outer) & ~dilate(mask, inner)``.

    Dilations use a disk (``cv2.MORPH_ELLIPSE``) of the given radius; the inner dilation keeps the lesion's
    blurred border out of the ring, the outer one bounds how far from the lesion skin is sampled. With
    ``exclude_corners`` pixels outside the circle inscribed in the image (centre at the image centre,
    radius half the shorter side) are dropped: that removes the dark vignette corners of dermoscopy images.

    Args:
        lesion_mask: ``[H, W]`` bool, 0/1 or 0/255 lesion mask. An empty mask gives every (non-corner) pixel.
        ring: ``(inner, outer)`` radii in pixels, ``0 <= inner < outer``. Default None: ``inner = max(2,
            2% of the shorter side)``, ``outer = inner + max(4, 8% of the shorter side)``.
        exclude_corners: drop pixels outside the inscribed circle. Default True.

    Returns:
        ``bool [H, W]``; never includes a lesion pixel.

    Raises:
        ValueError: bad ``ring``.
    """
    binary = _as_bool_mask(lesion_mask, np.shape(lesion_mask)[:2], "lesion_mask")
    if ring is None:
        ring = _default_ring(binary.shape)
    if (
        len(ring) != 2
        or not all(isinstance(r, (int, np.integer)) and not isinstance(r, bool) for r in ring)
        or not 0 <= ring[0] < ring[1]
    ):
        raise ValueError(f"ring must be two integers (inner, outer) with 0 <= inner < outer. Received: {ring!r}")
    if binary.any():
        skin = _dilate(binary, int(ring[1])) & ~_dilate(binary, int(ring[0]))
    else:
        skin = np.ones_like(binary)
    if exclude_corners:
        height, width = binary.shape
        yy, xx = np.mgrid[0:height, 0:width]
        radius = min(height, width) / 2.0
        skin &= (yy + 0.5 - height / 2.0) ** 2 + (xx + 0.5 - width / 2.0) ** 2 <= radius**2
    return skin


def estimate_skin_tone(
    image: np.ndarray,
    lesion_mask: np.ndarray,
    *,
    ring: tuple[int, int] | None = None,
    exclude_corners: bool = True,
    min_lightness: float = 5.0,
) -> dict:
    """Estimate the surrounding-skin tone of a lesion image and map it to the nearest palette tone.

    Skin pixels: the ring of :func:`skin_ring_mask` (lesion excluded, vignette corners outside the inscribed
    circle excluded), minus pixels darker than ``min_lightness`` L* (black vignette, black background of a
    segmented crop, hair shadows at the extreme). If nothing is left, every non-lesion pixel passing the same
    filters is used. The skin colour is the per-channel median of those pixels in CIELAB (D65); the tone is
    the :data:`SKIN_TONES` entry nearest to it by CIEDE2000 (``skimage.color.deltaE_ciede2000``). The ITA° is
    computed from the same pixels (:func:`individual_typology_angle`).

    Args:
        image: RGB ``[H, W, 3]``, uint8 or float in [0, 1].
        lesion_mask: ``[H, W]`` bool, 0/1 or 0/255 lesion mask (see
            :func:`dermkit.preprocessing.crop.binarize_mask`).
        ring: ``(inner, outer)`` ring radii in pixels; default scales with the image (see
            :func:`skin_ring_mask`).
        exclude_corners: drop pixels outside the inscribed circle. Default True.
        min_lightness: drop pixels with L* below this (0..100). Default 5 (the darkest palette tone has
            L* ≈ 14.6).

    Returns:
        dict with ``tone`` (label "A"–"R"), ``rgb`` (the tone's uint8 triple), ``delta_e`` (CIEDE2000 from
        the skin colour to the tone), ``skin_rgb`` (median skin colour, uint8 triple), ``skin_lab``,
        ``ita`` (degrees), ``ita_category`` and ``n_pixels`` (skin pixels used).

    Raises:
        DermkitDataError: bad shapes, or no skin pixel is left.
    """
    lab = _image_to_lab(image)
    lesion = _as_bool_mask(lesion_mask, lab.shape[:2], "lesion_mask")
    bright = lab[..., 0] >= float(min_lightness)
    skin = skin_ring_mask(lesion, ring=ring, exclude_corners=exclude_corners) & bright
    if not skin.any():
        skin = ~lesion & bright
        if exclude_corners:
            skin &= skin_ring_mask(np.zeros_like(lesion), exclude_corners=True)
    if not skin.any():
        raise DermkitDataError(
            "no skin pixel found around the lesion (every candidate is lesion, corner, or darker than "
            f"min_lightness={min_lightness})"
        )
    pixels = lab[skin]
    skin_lab = np.median(pixels, axis=0)
    distances = color.deltaE_ciede2000(np.broadcast_to(skin_lab, _PALETTE_LAB.shape), _PALETTE_LAB)
    nearest = int(np.argmin(distances))
    tone = SKIN_TONES[nearest]
    ita = ita_from_lab(np.median(pixels[:, 0]), np.median(pixels[:, 2]))
    return {
        "tone": tone.label,
        "rgb": tone.rgb,
        "delta_e": float(distances[nearest]),
        "skin_rgb": tuple(int(v) for v in _lab_to_rgb_uint8(skin_lab)),
        "skin_lab": tuple(float(v) for v in skin_lab),
        "ita": ita,
        "ita_category": ita_category(ita),
        "n_pixels": int(skin.sum()),
    }


# ----------------------------------------------------------------------------- balanced-tone dataset


def replace_background(
    image: np.ndarray,
    lesion_mask: np.ndarray | None,
    tone,
    *,
    rng: np.random.Generator | int | None = None,
    return_label: bool = False,
):
    """Paint every non-lesion pixel with a palette tone (goel2021's balanced skin-tone dataset, Figure 5).

    Args:
        image: RGB ``[H, W, 3]``, uint8 or float in [0, 1]; the output has the same dtype (a float image
            gets the tone as ``rgb / 255``).
        lesion_mask: ``[H, W]`` bool, 0/1 or 0/255 lesion mask; None takes the lesion as every pixel that is
            not pure black, i.e. the background of a :func:`~dermkit.preprocessing.crop.crop_to_mask` crop.
        tone: a label "A"–"R", a :class:`SkinTone`, or ``"random"``: drawn uniformly from
            :data:`SKIN_TONES` with ``rng``.
        rng: ``numpy.random.Generator`` or seed for ``"random"``; None uses a fresh unseeded generator.
        return_label: also return the tone's label. Default False.

    Returns:
        The new image, or ``(image, label)`` with ``return_label=True``. Lesion pixels are unchanged.

    Raises:
        ValueError: unknown tone.
        DermkitDataError: bad shapes or dtype.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise DermkitDataError(f"image must be RGB [H, W, 3]; got shape {image.shape}")
    if lesion_mask is None:
        lesion = np.any(image != 0, axis=-1)
    else:
        lesion = _as_bool_mask(lesion_mask, image.shape[:2], "lesion_mask")
    if isinstance(tone, str) and tone.lower() == "random":
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        chosen = SKIN_TONES[int(generator.integers(len(SKIN_TONES)))]
    else:
        chosen = get_skin_tone(tone)
    if image.dtype == np.uint8:
        fill = np.asarray(chosen.rgb, dtype=np.uint8)
    elif np.issubdtype(image.dtype, np.floating):
        fill = (np.asarray(chosen.rgb, dtype=np.float64) / 255.0).astype(image.dtype)
    else:
        raise DermkitDataError(f"image must be uint8 or float in [0, 1]; got dtype {image.dtype}")
    out = np.where(lesion[..., None], image, fill).astype(image.dtype)
    return (out, chosen.label) if return_label else out


# --------------------------------------------------------------------------------------- evaluation


def per_tone_rates(y_true, y_pred, tones):
    """Sensitivity and false-negative rate per skin tone (goel2021 Figures 4 and 6).

    Thin wrapper over :func:`dermkit.metrics.isic.per_group_rates` with ``groups=tones``; the rows are then
    ordered dark → light by palette label (labels outside the palette, e.g. ITA categories, keep their
    order after the palette ones).

    Args:
        y_true: binary labels ``[N]`` (1 = malignant).
        y_pred: binary predictions ``[N]``.
        tones: group per sample ``[N]``: palette labels from :func:`estimate_skin_tone`, or ITA categories.

    Returns:
        What ``per_group_rates`` returns (a DataFrame, one row per tone), rows in palette order.
    """
    from dermkit.metrics.isic import per_group_rates

    table = per_group_rates(y_true, y_pred, tones)
    return _order_by_palette(table)


def _order_by_palette(table):
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        return table
    keys = table["group"] if "group" in table.columns else pd.Series(table.index, index=table.index)
    order = {label: i for i, label in enumerate(SKIN_TONE_LABELS)}
    order.update({name: len(order) + i for i, (name, _) in enumerate(ITA_CATEGORIES[::-1])})
    rank = [order.get(str(k), len(order) + j) for j, k in enumerate(keys)]
    return table.iloc[np.argsort(rank, kind="stable")]
