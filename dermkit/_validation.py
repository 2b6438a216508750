"""The one image rule at dermkit's public boundaries (issue 18).

An image given to a dermkit function is RGB, ``uint8`` in [0, 255] or float in [0, 1]; both are accepted
alike and converted here, and anything else (another integer type, float outside [0, 1], NaN, a wrong
shape) is refused with the dtype, the range and the argument's name in the message. Functions that compute
in [0, 1] call :func:`as_rgb01`; the ISIC 2020 resizer, which works on 8-bit images as the authors' pipeline
does, calls :func:`as_rgb_uint8`. Models take float32 in [0, 1]; the DCGAN generator's tanh output
([−1, 1]) is mapped to [0, 1] wherever it leaves the trainer (``generate_images``, ``save_generated``,
``SampleGrid``).
"""

from __future__ import annotations

import numpy as np

from dermkit.errors import DermkitDataError

__all__ = ["as_rgb01", "as_rgb_uint8", "IMAGE_RULE"]

#: What every public function accepts as an image, for messages and docstrings.
IMAGE_RULE = "RGB uint8 in [0, 255] or float in [0, 1]"


def _checked(image, name: str, ndims: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(image)
    shapes = " or ".join({3: "[H, W, 3]", 4: "[N, H, W, 3]"}.get(n, f"{n}-D [..., 3]") for n in ndims)
    if array.ndim not in ndims or array.shape[-1] != 3:
        raise DermkitDataError(f"{name} must be RGB {shapes} ({IMAGE_RULE}). Received: shape {array.shape}")
    if 0 in array.shape[-3:-1]:
        raise DermkitDataError(f"{name} must have at least one pixel (H, W ≥ 1). Received: shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise DermkitDataError(f"{name} must be {IMAGE_RULE}. Received: dtype {array.dtype}"
                               + (f", values in [{array.min()}, {array.max()}]" if array.size else ""))
    if array.size and not np.all(np.isfinite(array)):
        raise DermkitDataError(f"{name} holds NaN or infinite values ({IMAGE_RULE} expected).")
    if array.size:
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            hint = " (0-255 values as float: pass uint8, or divide by 255)" if high <= 255.0 and low >= 0 else ""
            raise DermkitDataError(f"{name} values must lie in [0, 1] ({IMAGE_RULE}). Received: float values in "
                                   f"[{low:g}, {high:g}]{hint}")
    return array


def as_rgb01(image, *, name: str = "image", ndims: tuple[int, ...] = (3,), dtype=np.float32) -> np.ndarray:
    """``image`` as float RGB in [0, 1] (``dtype``): uint8 divided by 255, float checked and cast.

    Args:
        image: RGB array (module docstring's rule). name: the argument, for messages. ndims: accepted ranks
            (``(3,)`` one image, ``(4,)`` a batch, ``(3, 4)`` either).

    Raises:
        DermkitDataError (a ValueError): another dtype, float outside [0, 1] or non-finite, not RGB, no pixels.
    """
    array = _checked(image, name, ndims)
    if array.dtype == np.uint8:
        return array.astype(dtype) / dtype(255.0)
    return array.astype(dtype, copy=False)


def as_rgb_uint8(image, *, name: str = "image", ndims: tuple[int, ...] = (3,)) -> np.ndarray:
    """``image`` as uint8 RGB: uint8 as is, float in [0, 1] as ``round(255 · x)``. Raises as :func:`as_rgb01`."""
    array = _checked(image, name, ndims)
    if array.dtype == np.uint8:
        return array
    return np.round(array.astype(np.float64) * 255.0).astype(np.uint8)
