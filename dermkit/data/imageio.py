"""Image and PNG I/O with clear errors (missing, corrupt, truncated, wrong mode).

All readers return NumPy arrays; nothing here needs TensorFlow. Images are RGB ``uint8 [H, W, 3]``;
masks are ``uint8 [H, W]``. Writers are atomic and refuse to overwrite unless ``overwrite=True``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from dermkit._io import atomic_path
from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

__all__ = [
    "ImageInfo",
    "image_info",
    "image_size",
    "check_image_end",
    "read_image",
    "read_mask",
    "read_rgb_png",
    "write_png",
    "write_jpeg",
]


class ImageInfo(NamedTuple):
    """What an image file's header says, without decoding pixels."""

    height: int
    width: int
    mode: str  #: PIL mode, e.g. "RGB", "L", "P"
    format: str | None  #: PIL format name, e.g. "PNG", "JPEG"


def _open(path: str | os.PathLike) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise DermkitFileNotFoundError(f"{path}: file not found")
    try:
        img = Image.open(path)
    except UnidentifiedImageError as exc:
        raise DermkitDataError(f"{path}: not a readable image ({exc})") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DermkitDataError(f"{path}: cannot open image ({exc})") from exc
    return img


def _decode(path: str | os.PathLike, mode: str) -> np.ndarray:
    img = _open(path)
    try:
        img.load()  # raises on truncated/corrupt data (PIL's LOAD_TRUNCATED_IMAGES stays False)
        if img.mode != mode:
            img = img.convert(mode)
        return np.asarray(img)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DermkitDataError(f"{path}: corrupt or truncated image ({exc})") from exc
    finally:
        img.close()


def image_info(path: str | os.PathLike) -> ImageInfo:
    """Size, mode and format from the file header only (cheap; no pixel decode).

    A file that is not an image at all fails here; a file cut short after its header is only caught by
    decoding it (:func:`read_image`, :func:`read_mask`, :func:`read_rgb_png`).

    Raises:
        DermkitFileNotFoundError: the file does not exist.
        DermkitDataError: the header cannot be read.
    """
    img = _open(path)
    try:
        width, height = img.size
        return ImageInfo(int(height), int(width), img.mode, img.format)
    finally:
        img.close()


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` from the file header only (cheap; no pixel decode)."""
    info = image_info(path)
    return info.height, info.width


_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"
_PNG_START, _PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
_TAIL_BYTES = 64


def check_image_end(path: str | os.PathLike) -> None:
    """Cheap check that a JPEG or PNG file is not cut short, e.g. by an interrupted download or copy.

    Reads the file's first and last bytes only: a JPEG must end with its end-of-image marker (``FF D9``), a
    PNG with its ``IEND`` chunk (trailing zero bytes, which some writers pad with, are ignored). A file whose
    end looks wrong is decoded in full to decide (some cameras append data after the marker; such a file
    decodes and passes). Other formats are not checked here.

    Raises:
        DermkitFileNotFoundError: the file does not exist.
        DermkitDataError: the file is truncated or corrupt (it fails to decode).
    """
    path = Path(path)
    if not path.is_file():
        raise DermkitFileNotFoundError(f"{path}: file not found")
    with path.open("rb") as fh:
        head = fh.read(len(_PNG_START))
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - _TAIL_BYTES))
        tail = fh.read().rstrip(b"\x00")
    if head.startswith(_JPEG_START):
        complete = tail.endswith(_JPEG_END)
    elif head.startswith(_PNG_START):
        complete = tail.endswith(_PNG_END)
    else:
        return
    if not complete:
        img = _open(path)
        try:
            img.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise DermkitDataError(f"{path}: corrupt or truncated image ({exc})") from exc
        finally:
            img.close()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to RGB ``uint8 [H, W, 3]`` (grey or RGBA inputs are converted)."""
    return _decode(path, "RGB")


def read_rgb_png(path: str | os.PathLike) -> np.ndarray:
    """Decode a PNG *exactly* as stored, RGB ``uint8 [H, W, 3]`` with R the first channel.

    Used for superpixel index PNGs, where the channel bytes carry an integer: unlike OpenCV (BGR), PIL
    returns channels in stored order. Palette or grey PNGs are refused: they cannot hold an RGB index.
    """
    info = image_info(path)
    if info.format != "PNG":
        # A lossy JPEG would scramble the index bytes: refuse rather than return wrong indices.
        raise DermkitDataError(f"{path}: expected a PNG (superpixel index), found format {info.format!r}")
    if info.mode not in ("RGB", "RGBA"):
        raise DermkitDataError(f"{path}: expected an RGB PNG (superpixel index), found mode {info.mode!r}")
    arr = _decode(path, info.mode)
    return np.ascontiguousarray(arr[..., :3])


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Decode a single-channel mask PNG to ``uint8 [H, W]`` (RGB masks are reduced by their first channel)."""
    mode = image_info(path).mode
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


def write_jpeg(path: str | os.PathLike, array: np.ndarray, quality: int = 95, overwrite: bool = False) -> Path:
    """Write an RGB ``uint8 [H, W, 3]`` array as JPEG, atomically."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
        raise DermkitDataError(f"{path}: write_jpeg needs uint8 [H, W, 3], got {array.dtype} {array.shape}")
    with atomic_path(path, overwrite=overwrite) as tmp:
        Image.fromarray(array).save(tmp, format="JPEG", quality=quality)
    return Path(path)
