"""Image and PNG I/O with clear errors (missing, corrupt, truncated, wrong mode).

All readers return NumPy arrays; nothing here needs TensorFlow. Images are RGB ``uint8 [H, W, 3]``;
masks are ``uint8 [H, W]``. Writers are atomic and refuse to overwrite unless ``overwrite=True``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from dermkit._io import atomic_path
from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

__all__ = ["read_image", "read_mask", "read_rgb_png", "image_size", "write_png", "write_jpeg"]


def _open(path: str | os.PathLike) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise DermkitFileNotFoundError(f"{path}: file not found")
    try:
        img = Image.open(path)
    except UnidentifiedImageError as exc:
        raise DermkitDataError(f"{path}: not a readable image ({exc})") from exc
    except OSError as exc:
        raise DermkitDataError(f"{path}: cannot open image ({exc})") from exc
    return img


def _decode(path: str | os.PathLike, mode: str) -> np.ndarray:
    img = _open(path)
    try:
        img.load()  # raises on truncated/corrupt data (PIL's LOAD_TRUNCATED_IMAGES stays False)
        if img.mode != mode:
            img = img.convert(mode)
        return np.asarray(img)
    except (OSError, SyntaxError, ValueError) as exc:
        raise DermkitDataError(f"{path}: corrupt or truncated image ({exc})") from exc
    finally:
        img.close()


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` from the file header only (cheap; no pixel decode)."""
    img = _open(path)
    try:
        width, height = img.size
    finally:
        img.close()
    return height, width


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to RGB ``uint8 [H, W, 3]`` (grey or RGBA inputs are converted)."""
    return _decode(path, "RGB")


def read_rgb_png(path: str | os.PathLike) -> np.ndarray:
    """Decode a PNG *exactly* as stored, RGB ``uint8 [H, W, 3]`` with R the first channel.

    Used for superpixel index PNGs, where the channel bytes carry an integer: unlike OpenCV (BGR), PIL
    returns channels in stored order. Palette or grey PNGs are refused: they cannot hold an RGB index.
    """
    img = _open(path)
    try:
        if img.mode not in ("RGB", "RGBA"):
            raise DermkitDataError(f"{path}: expected an RGB PNG (superpixel index), found mode {img.mode!r}")
    finally:
        img.close()
    arr = _decode(path, "RGBA") if img.mode == "RGBA" else _decode(path, "RGB")
    return np.ascontiguousarray(arr[..., :3])


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Decode a single-channel mask PNG to ``uint8 [H, W]`` (RGB masks are reduced by their first channel)."""
    img = _open(path)
    try:
        mode = img.mode
    finally:
        img.close()
    if mode in ("L", "1", "P", "I", "I;16"):
        arr = _decode(path, "L")
    else:
        arr = _decode(path, "RGB")[..., 0]
    return np.ascontiguousarray(arr)


def write_png(path: str | os.PathLike, array: np.ndarray, overwrite: bool = False) -> Path:
    """Write a ``uint8`` ``[H, W]`` or ``[H, W, 3]`` array as PNG, atomically."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise DermkitDataError(f"{path}: write_png needs uint8 data, got {array.dtype}")
    with atomic_path(path, overwrite=overwrite) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
    return Path(path)


def write_jpeg(
    path: str | os.PathLike, array: np.ndarray, quality: int = 95, overwrite: bool = False
) -> Path:
    """Write an RGB ``uint8 [H, W, 3]`` array as JPEG, atomically."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
        raise DermkitDataError(f"{path}: write_jpeg needs uint8 [H, W, 3], got {array.dtype} {array.shape}")
    with atomic_path(path, overwrite=overwrite) as tmp:
        Image.fromarray(array).save(tmp, format="JPEG", quality=quality)
    return Path(path)
