"""Hair and ruler-mark removal for dermoscopy images (bisla2019 Section 3.2.2, Fig. 3).

bisla2019 "extended the hair-removal algorithm [31]" (DullRazor, Lee et al. 1997): occlusions (dark hairs and
ruler marks) are found by thresholding luminance, replaced, and "to correct [the removal of dark regions of the
lesion itself], we overlay the processed image with the segmented lesion obtained from our segmentation
network"; "the holes in the background were eliminated by performing the closing operation". Two methods:

``method="closing"`` — the authors' MATLAB steps (../shared/reference/bisla2019.md, from their public code):

1. convert RGB to CIELAB; ``L`` is scaled to [0, 1] (``L* / 100``);
2. grey closing of ``L`` with a disk of radius ``radius`` (3 px for the authors' 400×400 images; the disk is
   the 2-D section of MATLAB's ``strel('sphere', 3)``; dermkit closes ``L`` only, the one channel the next
   steps read) — closing is dilation then erosion, so a dark structure narrower than the disk is filled with
   the surrounding brighter skin;
3. hair mask ``= (L_closed − L) > threshold`` (0.1 in ``L/100`` units); the mask is then closed with a 3×3
   square (the "closing operation" that removes holes between mask fragments) and dilated by ``grow``
   pixels (default 1) so a hair's blurred rim is replaced too;
4. inside the mask, ``L`` is replaced by ``L_closed`` and ``a*``, ``b*`` by their greyscale closings
   (replacing ``L`` alone would leave the hair's chroma: dark hairs become grey streaks); back to RGB;
5. the pixels of ``lesion_mask`` (the segmentation network's output) are restored from the input and left
   out of the returned hair mask.

The paper says the threshold is applied "in the LUV colour space"; the authors' code uses CIELAB, whose
``L*`` is the same lightness as CIELUV's ``L*`` (both CIE 1976, ``L* = 116 f(Y/Yn) − 16``), so the two readings
find the same mask.

``method="dullrazor"`` — the classic recipe: greyscale, black-hat (closing minus image) with a
``kernel_size``×``kernel_size`` ellipse, threshold, ``cv2.inpaint`` (Telea) of the masked pixels; the mask
gets the same closing, dilation and lesion restoration as above.

Both take RGB float32 in [0, 1] (uint8 is accepted and scaled by 1/255) and return float32 images in [0, 1].
The authors resize to 400×400 first; these functions work at the size given (scale ``radius`` /
``kernel_size`` with the image: a hair narrower than ``2·radius + 1`` px is removed).

NumPy + OpenCV, no TensorFlow.
"""

from __future__ import annotations

import numpy as np

__all__ = ["remove_hair", "HAIR_METHODS", "DEFAULT_THRESHOLDS"]

#: The ``method`` values of :func:`remove_hair`.
HAIR_METHODS = ("closing", "dullrazor")

#: Default mask threshold per method: the authors' 0.1 on ``L*/100`` (closing); 10/255 on the grey
#: black-hat, the usual DullRazor/OpenCV value (dullrazor).
DEFAULT_THRESHOLDS = {"closing": 0.1, "dullrazor": 10.0 / 255.0}


def _as_rgb01(image) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"image must be RGB [H, W, 3]. Received: an array of shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"image must be float RGB in [0, 1] or uint8. Received: dtype {array.dtype}")
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError("image holds NaN or infinite values.")
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"image values must lie in [0, 1]. Received: values in [{low:g}, {high:g}]")
    return array


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
    import cv2

    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _tidy_mask(raw: np.ndarray, lesion: np.ndarray | None, grow: int) -> np.ndarray:
    """Close gaps (3×3 square), grow by ``grow`` pixels (3×3 cross, repeated), leave the lesion out."""
    import cv2

    mask = cv2.morphologyEx(raw.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
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
    grow: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Remove dark hairs and ruler marks from one dermoscopy image (bisla2019 Section 3.2.2; module docstring).

    Args:
        image: RGB ``[H, W, 3]``, float in [0, 1] or uint8.
        lesion_mask: optional lesion mask ``[H, W]`` (or ``[H, W, 1]``; bool, 0/255 integers, or
            probabilities > 0.5 — :func:`dermkit.data.masks.binarize_mask`), e.g. from the segmentation
            network: its pixels are returned unchanged and are never part of ``hair_mask``.
        method: ``"closing"`` (the authors' CIELAB closing) or ``"dullrazor"`` (black-hat + ``cv2.inpaint``).
            Default ``"closing"``.
        radius: closing disk radius in px (``"closing"``); 3 for 400×400 images. Default 3.
        threshold: mask threshold — on ``L_closed − L`` with ``L = L*/100`` (``"closing"``, default 0.1) or on
            the grey black-hat in [0, 1] (``"dullrazor"``, default 10/255). Default None (the method's).
        kernel_size: black-hat ellipse size in px, odd (``"dullrazor"``). Default 17.
        inpaint_radius: ``cv2.inpaint`` radius in px (``"dullrazor"``). Default 1.
        grow: pixels the mask is dilated by (4-connected steps) so a hair's blurred rim is replaced too;
            0 keeps the thresholded (and closed) mask. Default 1.

    Returns:
        ``(clean, hair_mask)``: ``float32 [H, W, 3]`` in [0, 1], and ``bool [H, W]``, the pixels replaced
        (hairs and ruler marks found outside the lesion).

    Raises:
        ValueError: a bad image (shape, dtype, values outside [0, 1]), a lesion mask of another size or with
            values of no binary convention, an unknown ``method``, or a bad option.
    """
    import cv2

    if method not in HAIR_METHODS:
        raise ValueError(f"method must be one of {HAIR_METHODS}. Received: method={method!r}")
    rgb = _as_rgb01(image)
    lesion = _as_lesion(lesion_mask, rgb.shape[:2])
    if threshold is None:
        threshold = DEFAULT_THRESHOLDS[method]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or not 0 < threshold < 1:
        raise ValueError(f"threshold must be a number in (0, 1). Received: threshold={threshold!r}")

    grow = _check_positive_int("grow", grow, 0)
    if method == "closing":
        disk = _disk(_check_positive_int("radius", radius))
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)  # float32: L* in [0, 100], a*, b* in about [-127, 127]
        closed = cv2.morphologyEx(lab, cv2.MORPH_CLOSE, disk, borderType=cv2.BORDER_REFLECT)
        raw = (closed[..., 0] - lab[..., 0]) / 100.0 > threshold
        mask = _tidy_mask(raw, lesion, grow)
        lab[mask] = closed[mask]
        clean = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0.0, 1.0)
    else:
        size = _check_positive_int("kernel_size", kernel_size, 3)
        if size % 2 == 0:
            raise ValueError(f"kernel_size must be odd. Received: kernel_size={kernel_size!r}")
        r = _check_positive_int("inpaint_radius", inpaint_radius)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        blackhat = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel, borderType=cv2.BORDER_REFLECT)
        mask = _tidy_mask(blackhat > threshold, lesion, grow)
        rgb8 = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
        painted = cv2.inpaint(rgb8, mask.astype(np.uint8), r, cv2.INPAINT_TELEA)
        clean = rgb.copy()
        clean[mask] = painted[mask].astype(np.float32) / 255.0
    clean = clean.astype(np.float32)
    clean[~mask] = rgb[~mask]  # only the masked pixels change (also undoes the Lab round trip's rounding)
    return clean, mask
