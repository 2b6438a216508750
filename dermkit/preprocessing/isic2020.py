"""ISIC 2020 image preparation of goel2021 (report Section 4.1), on NumPy arrays.

    "First, we resized the images to a resolution of 640*480 pixels. [...] Second, we cropped the sides to
    achieve a 480*480 image size. Third, we resized all images to 224*224 which is the input size for our
    DenseNet classifier."

:func:`preprocess_isic2020` runs the three steps and returns both the 640×480 stage (the image the segmenter
sees, whose lesion crops feed the segmented-data rows) and the classifier input (the original-data rows).
Every resize is dermkit's one image-resize rule, :func:`dermkit.data.resize.resize_image` (area averaging
along an axis that shrinks, bilinear along one that grows, rounded to 8-bit levels — what the training
pipelines and the predictors apply to model inputs), so calling these functions needs TensorFlow; importing
this module does not.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["ISIC2020_BASE_SIZE", "Isic2020Images", "resize_uint8", "centre_square_crop", "preprocess_isic2020"]

#: (height, width) of the report's first resize: 640×480 ("the smallest image size" of ISIC 2020).
ISIC2020_BASE_SIZE: tuple[int, int] = (480, 640)


class Isic2020Images(NamedTuple):
    """The two stages of :func:`preprocess_isic2020`: ``base`` (``[H_b, W_b, 3]``, the 640×480 resize) and
    ``classifier`` (``[S, S, 3]``, the centre square resized to the classifier input)."""

    base: np.ndarray
    classifier: np.ndarray


def _check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """The one image rule (:mod:`dermkit._validation`): uint8 as is, float in [0, 1] as ``round(255 · x)``."""
    from dermkit._validation import as_rgb_uint8

    return as_rgb_uint8(image, name=name)


def resize_uint8(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """:func:`dermkit.data.resize.resize_image` (the package's one resize rule) on an RGB ``uint8`` NumPy image;
    returns ``uint8 [height, width, 3]``. An image already at ``size`` comes back unchanged (a copy).

    Raises:
        ValueError: ``size`` is not two positive integers.
        DermkitDataError: ``image`` is not ``uint8 [H, W, 3]``.
    """
    from dermkit.data.resize import resize_image

    image = _check_image(image)
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in size):
        raise ValueError(f"size must be (height, width), two positive integers. Received: size={size!r}")
    if image.shape[:2] == (int(size[0]), int(size[1])):
        return image.copy()
    return np.asarray(resize_image(image, (int(size[0]), int(size[1]))))


def centre_square_crop(image: np.ndarray) -> np.ndarray:
    """Crop the sides (or top and bottom) of an image to its centred ``min(H, W)`` square (report §4.1: 640×480
    → 480×480). With an odd margin the extra column (row) is dropped on the right (bottom)."""
    image = _check_image(image)
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[top : top + side, left : left + side].copy()


def preprocess_isic2020(
    image: np.ndarray, *, base_size: tuple[int, int] = ISIC2020_BASE_SIZE, out_size: int = 224
) -> Isic2020Images:
    """goel2021 Section 4.1: resize to ``base_size`` (640×480), crop the centred square (480×480), resize it to
    ``out_size``² (224×224).

    Args:
        image: RGB ``uint8 [H, W, 3]`` (ISIC 2020 images range from 6000×4000 to 640×480).
        base_size: ``(height, width)`` of the first resize. Default (480, 640).
        out_size: side of the classifier input. Default 224.

    Returns:
        :class:`Isic2020Images` ``(base [base_size, 3], classifier [out_size, out_size, 3])``, both uint8.

    Raises:
        ValueError: bad ``base_size`` / ``out_size``.
        DermkitDataError: ``image`` is not ``uint8 [H, W, 3]``.
    """
    if isinstance(out_size, bool) or not isinstance(out_size, (int, np.integer)) or out_size < 1:
        raise ValueError(f"out_size must be a positive integer. Received: out_size={out_size!r}")
    base = resize_uint8(image, tuple(base_size))
    classifier = resize_uint8(centre_square_crop(base), (int(out_size), int(out_size)))
    return Isic2020Images(base, classifier)
