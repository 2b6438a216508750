"""Hair and ruler-mark removal for dermoscopy images (bisla2019 Section 3.2.2, Fig. 3).

bisla2019 "extended the hair-removal algorithm [31]" (DullRazor, Lee et al. 1997): "one of its steps involves
thresholding the luminance channel of the image in the LUV color space, which may also remove dark regions
belonging to the lesion itself. To correct that, we overlay the processed image with the segmented lesion
obtained from our segmentation network"; "the holes in the background were eliminated by performing the
closing operation". Two methods:

``method="closing"`` (default) — the authors' final MATLAB code (github devansh20la/Beating-Melanoma,
``hair_removal/main.m`` + ``my_function.m`` at commit 259ad2e), step by step:

1. (``main.m``) the image and its lesion mask are resized to 400×400 — the caller's job (the ``hair`` row of
   :mod:`dermkit.papers._bisla2019_part2` does it); this function works at the size it is given;
2. ``rgb2lab`` (sRGB, D65; ``L*`` in [0, 100]) — :func:`skimage.color.rgb2lab`;
3. a grey closing with ``strel('sphere', 3)``; only the closed ``L`` is read afterwards, and dermkit closes
   ``L`` with the sphere's ``L`` section, a disk of radius 3 (29 pixels, :func:`skimage.morphology.disk`).
   (MATLAB's ``imclose`` of the [H, W, 3] Lab array with the 7×7×7 ball also takes maxima across the three
   channel planes; the reference notes and issue 16 take the planar section — dermkit's reading.) Borders
   are ignored as MATLAB does (``mode="ignore"``: the padding never wins a max or a min);
4. hair mask ``= (L_closed − L) > threshold`` with ``threshold = 0.1`` **in L* units of [0, 100]**
   (``th = 0.1`` in ``main.m``; no Otsu step, no ``wthresh`` — those are commented out in the final code;
   an earlier commit used radius 5 and th 5);
5. ``L`` is replaced by ``L_closed`` inside the mask only; ``a*`` and ``b*`` stay; ``lab2rgb``;
6. every pixel of ``lesion_mask`` (the segmentation network's mask) is copied from the original image
   (``image.*~image_seg + image_actual.*image_seg``) and left out of the returned mask.

0.1 L* units is a very low bar: the closing raises ``L`` by more than that at almost every pixel that is not a
local maximum of a textured skin, so the authors' setting marks most skin pixels, not only hairs — the
replacement there is the closing itself (a slight smoothing / brightening), which is harmless but makes the
mask no hair detector. docs/bisla2019_part2.md gives the measured share of skin pixels marked and the recall
on the synthetic hairs. A higher ``threshold`` (e.g. 10, the earlier note's reading) is an option, not the
paper's row. ``grow`` (dilate the mask) and ``chroma=True`` (replace ``a*``, ``b*`` by their closings too)
are dermkit options, off by default.

The paper speaks of "the LUV colour space"; the authors' code uses CIELAB, whose ``L*`` is CIELUV's ``L*``
(both CIE 1976, ``L* = 116 f(Y/Yn) − 16``), so the two readings find the same mask.

``method="blackhat"`` — not DullRazor (Lee et al.'s three linear structuring elements per RGB channel,
thin-structure check, bilinear interpolation and median smoothing are not implemented): a dermkit variant,
greyscale black-hat (closing minus image) with a ``kernel_size``×``kernel_size`` ellipse, threshold (on the
grey level in [0, 1]), a 3×3 closing of the mask, ``grow`` (default 1 here), ``cv2.inpaint`` (Telea), lesion
restored.

Both take RGB float in [0, 1] (uint8 is accepted and scaled by 1/255) and return float32 images in [0, 1].

NumPy + scikit-image + OpenCV, no TensorFlow.
"""

from __future__ import annotations

import numpy as np

__all__ = ["remove_hair", "HAIR_METHODS", "DEFAULT_THRESHOLDS", "DEFAULT_GROW"]

#: The ``method`` values of :func:`remove_hair`.
HAIR_METHODS = ("closing", "blackhat")

#: Default mask threshold per method: the authors' ``th = 0.1`` on ``L_closed − L`` in L* units of [0, 100]
#: (closing); 10/255 on the grey black-hat in [0, 1], the usual OpenCV value (blackhat).
DEFAULT_THRESHOLDS = {"closing": 0.1, "blackhat": 10.0 / 255.0}
#: Default ``grow`` per method: none for the authors' closing; one pixel for the dermkit black-hat variant.
DEFAULT_GROW = {"closing": 0, "blackhat": 1}
#: Upper bound of ``threshold`` per method (its units: L* in [0, 100]; grey in [0, 1]).
_THRESHOLD_MAX = {"closing": 100.0, "blackhat": 1.0}


def _as_rgb01(image) -> np.ndarray:
    from dermkit._validation import as_rgb01

    return as_rgb01(image)


def _as_lesion(lesion_mask, shape: tuple[int, int]) -> np.ndarray | None:
    if lesion_mask is None:
        return None
    from dermkit.data.masks import binarize_mask

    mask = np.asarray(lesion_mask)
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.shape != shape:
        raise ValueError(f"lesion_mask must be [H, W] = {shape} like the image. Received: shape {mask.shape}")
    return binarize_mask(mask, where="lesion_mask")


def _disk(radius: int) -> np.ndarray:
    """The closing's footprint: ``skimage.morphology.disk(radius)`` (``x² + y² ≤ r²``; 29 pixels at r = 3, the
    central section of MATLAB's ``strel('sphere', 3)``)."""
    from skimage.morphology import disk

    return disk(radius).astype(bool)


def _tidy_mask(raw: np.ndarray, lesion: np.ndarray | None, grow: int, *, close: bool) -> np.ndarray:
    """Optionally close gaps (3×3 square; ``blackhat`` only), grow by ``grow`` pixels (3×3 cross, repeated),
    leave the lesion out."""
    import cv2

    mask = raw.astype(np.uint8)
    if close:
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    if grow:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)), iterations=grow)
    mask = mask > 0
    if lesion is not None:
        mask &= ~lesion
    return mask


def _check_positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}. Received: {name}={value!r}")
    return int(value)


def remove_hair(
    image,
    lesion_mask=None,
    *,
    method: str = "closing",
    radius: int = 3,
    threshold: float | None = None,
    kernel_size: int = 17,
    inpaint_radius: int = 1,
    grow: int | None = None,
    chroma: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Remove dark hairs and ruler marks from one dermoscopy image (bisla2019 Section 3.2.2; module docstring).

    Args:
        image: RGB ``[H, W, 3]``, float in [0, 1] or uint8 (the authors resize to 400×400 first).
        lesion_mask: optional lesion mask ``[H, W]`` (or ``[H, W, 1]``; bool, 0/255 integers, or
            probabilities — :func:`dermkit.data.masks.binarize_mask`), e.g. from the segmentation network:
            its pixels are copied from ``image`` and are never part of ``hair_mask``.
        method: ``"closing"`` (the authors' CIELAB closing) or ``"blackhat"`` (dermkit's black-hat +
            ``cv2.inpaint`` variant). Default ``"closing"``.
        radius: closing disk radius in px (``"closing"``). Default 3 (the authors', at 400×400).
        threshold: mask threshold — on ``L_closed − L`` in L* units of [0, 100] (``"closing"``, default 0.1,
            the authors'; must lie in (0, 100)) or on the grey black-hat in [0, 1] (``"blackhat"``, default
            10/255; in (0, 1)). Default None (the method's).
        kernel_size: black-hat ellipse size in px, odd (``"blackhat"``). Default 17.
        inpaint_radius: ``cv2.inpaint`` radius in px (``"blackhat"``). Default 1.
        grow: pixels the mask is dilated by (4-connected steps). Default None: 0 for ``"closing"`` (the
            authors'), 1 for ``"blackhat"``.
        chroma: ``"closing"`` only — also replace ``a*``, ``b*`` by their closings inside the mask (dermkit
            option; the authors replace ``L`` only). Default False.

    Returns:
        ``(clean, hair_mask)``: ``float32 [H, W, 3]`` in [0, 1], and ``bool [H, W]``, the pixels replaced
        (outside the lesion). Pixels outside ``hair_mask`` are returned bit-identical to the input.

    Raises:
        ValueError: a bad image (shape, dtype, values outside [0, 1]), a lesion mask of another size, an
            unknown ``method``, or a bad option.
        DermkitDataError: a lesion mask with values of no binary convention.
    """
    import cv2

    if method == "dullrazor":
        raise ValueError("method='dullrazor' is not implemented (Lee et al.'s DullRazor: linear structuring "
                         "elements per RGB channel, thin-structure check, bilinear interpolation); the black-hat + "
                         "inpaint variant is method='blackhat'")
    if method not in HAIR_METHODS:
        raise ValueError(f"method must be one of {HAIR_METHODS}. Received: method={method!r}")
    rgb = _as_rgb01(image)
    lesion = _as_lesion(lesion_mask, rgb.shape[:2])
    if threshold is None:
        threshold = DEFAULT_THRESHOLDS[method]
    top = _THRESHOLD_MAX[method]
    if (isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number))
            or not 0 < threshold < top):
        raise ValueError(f"threshold must be a number in (0, {top:g}) for method={method!r}. "
                         f"Received: threshold={threshold!r}")
    grow = _check_positive_int("grow", DEFAULT_GROW[method] if grow is None else grow, 0)
    if method == "closing":
        from skimage.color import lab2rgb, rgb2lab
        from skimage.morphology import closing

        disk = _disk(_check_positive_int("radius", radius))
        lab = rgb2lab(rgb.astype(np.float64))  # L* in [0, 100], as MATLAB's rgb2lab
        lightness = lab[..., 0]
        closed = closing(lightness, disk, mode="ignore")  # MATLAB imclose: the border never wins
        mask = _tidy_mask(closed - lightness > threshold, lesion, grow, close=False)
        new = lab.copy()
        new[..., 0] = np.where(mask, closed, lightness)
        if chroma:
            for c in (1, 2):
                new[..., c] = np.where(mask, closing(lab[..., c], disk, mode="ignore"), lab[..., c])
        clean = np.clip(lab2rgb(new), 0.0, 1.0).astype(np.float32)
    else:
        size = _check_positive_int("kernel_size", kernel_size, 3)
        if size % 2 == 0:
            raise ValueError(f"kernel_size must be odd. Received: kernel_size={kernel_size!r}")
        r = _check_positive_int("inpaint_radius", inpaint_radius)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        blackhat = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel, borderType=cv2.BORDER_REFLECT)
        mask = _tidy_mask(blackhat > threshold, lesion, grow, close=True)
        rgb8 = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
        painted = cv2.inpaint(rgb8, mask.astype(np.uint8), r, cv2.INPAINT_TELEA)
        clean = rgb.copy()
        clean[mask] = painted[mask].astype(np.float32) / 255.0
    clean = clean.astype(np.float32)
    clean[~mask] = rgb[~mask]  # only the masked pixels change (also undoes the Lab round trip's rounding)
    return clean, mask
