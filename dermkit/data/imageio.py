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
    "jpeg_structure_error",
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


#: JPEG marker codes (the byte after ``FF``) that take a 2-byte length: SOFn, DHT, DAC, DQT, DRI, DNL, APPn,
#: COM, SOS, DHP, EXP. RSTn, TEM, SOI, EOI stand alone; any other code is unknown to libjpeg (a fatal error).
_JPEG_SEGMENTS = frozenset([*range(0xC0, 0xD0), 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, *range(0xE0, 0xF0), 0xFE])
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_ALONE = frozenset([0x01, *range(0xD0, 0xD8)])


def jpeg_structure_error(data: bytes) -> str | None:
    """Why libjpeg (TensorFlow's ``decode_jpeg``) fails on a JPEG's marker structure, or None when it is sound.

    Walks the markers from SOI to the first EOI the way libjpeg reads them, skipping each scan's
    entropy-coded data (``FF 00`` stuffing, ``RSTn`` and fill bytes stay inside it) and each segment by its
    length. It reports what libjpeg treats as fatal: a segment whose length runs past the end of the file
    (libjpeg: "Input file read error"), a length below 2, an unknown marker code, a second SOI or SOF, no EOI.
    Random bytes in place of the pixel data usually contain such a marker: TensorFlow then fails with
    ``jpeg::Uncompress failed``, while PIL returns a grey or zero-filled picture without a word — so the NumPy
    readers run this check to refuse what the tf.data pipelines refuse. Garbage bytes between segments and
    corrupt Huffman codes are only warnings for libjpeg (it decodes such files) and pass here too.

    Args:
        data: the file's bytes (must start with SOI, ``FF D8``).
    """
    buf = np.frombuffer(data, np.uint8)
    n = len(buf)
    if n < 4 or buf[0] != 0xFF or buf[1] != 0xD8:
        return "no JPEG start-of-image marker"
    # Candidate markers: FF followed by a byte that is neither stuffing (00), fill (FF) nor RSTn.
    ff = np.flatnonzero(buf[:-1] == 0xFF)
    nxt = buf[ff + 1]
    ff = ff[(nxt != 0x00) & (nxt != 0xFF) & ((nxt < 0xD0) | (nxt > 0xD7))]
    pos, frames, scanning = 2, 0, False
    while True:
        if scanning:  # entropy-coded data runs to the next marker
            k = int(np.searchsorted(ff, pos))
            if k == len(ff):
                return "the data ends inside a scan, with no end-of-image marker"
            pos = int(ff[k])
        else:  # libjpeg skips (warns about) bytes before the next FF, and fill bytes
            while pos < n and buf[pos] != 0xFF:
                pos += 1
            while pos + 1 < n and buf[pos + 1] == 0xFF:
                pos += 1
            if pos + 1 >= n:
                return "the data ends before the end-of-image marker"
        code = int(buf[pos + 1])
        if code == 0x00 and not scanning:  # libjpeg discards FF 00 between segments as garbage
            pos += 2
            continue
        if code == 0xD9:
            return None
        if code == 0xD8:
            return f"a second start-of-image marker at byte {pos}"
        if code in _JPEG_ALONE:
            pos += 2
            continue
        if code not in _JPEG_SEGMENTS:
            return f"unknown marker 0x{code:02x} at byte {pos}"
        if pos + 4 > n:
            return f"marker 0x{code:02x} at byte {pos} is cut off by the end of the file"
        length = int(buf[pos + 2]) << 8 | int(buf[pos + 3])
        if length < 2:
            return f"marker 0x{code:02x} at byte {pos} has a bogus length {length}"
        if pos + 2 + length > n:
            return (f"marker 0x{code:02x} at byte {pos} declares {length} bytes, past the end of the file "
                    f"({n} bytes)")
        if code in _JPEG_SOF:
            frames += 1
            if frames > 1:
                return f"a second frame header (SOF marker 0x{code:02x}) at byte {pos}"
        scanning = code == 0xDA
        pos += 2 + length


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to RGB ``uint8 [H, W, 3]`` (grey or RGBA inputs are converted).

    A JPEG must also pass :func:`jpeg_structure_error`: PIL decodes some JPEGs whose pixel data is garbage
    (returning a flat picture) that TensorFlow's decoder refuses; both readers refuse them, naming the file.

    Raises:
        DermkitFileNotFoundError: the file does not exist.
        DermkitDataError: not an image, truncated or corrupt (the message names the file).
    """
    img = _open(path)
    try:
        is_jpeg = img.format == "JPEG"
    finally:
        img.close()
    image = _decode(path, "RGB")  # a file cut short fails here, with PIL's words
    if is_jpeg:
        reason = jpeg_structure_error(Path(path).read_bytes())
        if reason is not None:
            raise DermkitDataError(
                f"{path}: corrupt or truncated image (JPEG {reason}: its pixel data is damaged; PIL would "
                "return a flat picture, TensorFlow's decoder fails with 'jpeg::Uncompress failed'); replace the file"
            )
    return image


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
