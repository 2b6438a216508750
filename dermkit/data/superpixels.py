"""Superpixels ↔ masks — kawahara2018 Eq. 1 and Eq. 2.

ISIC 2017 Part 2 stores, per image, a superpixel index map (an RGB PNG whose pixel value
``R + 256·G + 65536·B`` is the superpixel index, 0..N-1) and per-superpixel labels ``[N, K]``.

* Eq. 1 paints labels onto pixels: ``mask[x, k] = labels[s(x), k]`` where ``s(x)`` is the superpixel of
  pixel ``x``.
* Eq. 2 averages a pixel mask inside each superpixel: ``labels[i, k] = (1/|s_i|) Σ_{x ∈ s_i} mask[x, k]``.

Both are vectorised (fancy indexing and ``np.bincount``), with no Python loop over superpixels or pixels.
To train at a smaller size, resize the *index map* with nearest neighbour (:func:`resize_index`) and
apply Eq. 1 there; never resize a soft mask and re-binarise it.
"""

from __future__ import annotations

import numpy as np

from dermkit.errors import DermkitDataError

__all__ = [
    "decode_superpixels",
    "encode_superpixels",
    "superpixels_to_mask",
    "mask_to_superpixels",
    "superpixel_sizes",
    "resize_index",
]


def decode_superpixels(rgb: np.ndarray) -> np.ndarray:
    """RGB-encoded superpixel PNG data ``uint8 [H, W, 3]`` → index map ``int32 [H, W]``.

    ``index = R + 256·G + 65536·B`` with R the first channel (as stored in the PNG, as PIL returns it).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] < 3:
        raise DermkitDataError(f"superpixel data must be [H, W, 3] RGB, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise DermkitDataError(f"superpixel data must be uint8 bytes as stored in the PNG, got {rgb.dtype}")
    rgb = rgb[..., :3].astype(np.int32, copy=False)
    return rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)


def encode_superpixels(index: np.ndarray) -> np.ndarray:
    """Index map ``int [H, W]`` (0 ≤ index < 2**24) → ``uint8 [H, W, 3]`` RGB as stored in ISIC PNGs."""
    index = np.asarray(index)
    if index.ndim != 2:
        raise DermkitDataError(f"superpixel index map must be [H, W], got shape {index.shape}")
    if index.size and (index.min() < 0 or index.max() >= 1 << 24):
        raise DermkitDataError("superpixel indices must lie in [0, 2**24) to fit an RGB PNG")
    index = index.astype(np.uint32, copy=False)
    out = np.empty(index.shape + (3,), dtype=np.uint8)
    out[..., 0] = index & 0xFF
    out[..., 1] = (index >> 8) & 0xFF
    out[..., 2] = (index >> 16) & 0xFF
    return out


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _check_index(index: np.ndarray, where: str = "", *, require_2d: bool = True) -> int:
    """Check an index map (integer dtype, [H, W], no negative value); return ``N = max + 1`` (0 if empty)."""
    if require_2d and index.ndim != 2:
        raise DermkitDataError(f"{_prefix(where)}superpixel index map must be [H, W], got shape {index.shape}")
    if not np.issubdtype(index.dtype, np.integer):
        raise DermkitDataError(f"{_prefix(where)}superpixel index map must hold integers, got dtype {index.dtype}")
    if not index.size:
        return 0
    if index.min() < 0:
        raise DermkitDataError(f"{_prefix(where)}negative superpixel index {int(index.min())}")
    return int(index.max()) + 1


def _check_labels(num: int, labels: np.ndarray, where: str = "") -> None:
    if labels.shape[0] != num:
        raise DermkitDataError(
            f"{_prefix(where)}superpixel label array has {labels.shape[0]} rows but the index map has "
            f"{num} superpixels (max index {num - 1})"
        )


def superpixels_to_mask(index: np.ndarray, labels: np.ndarray, *, where: str = "") -> np.ndarray:
    """kawahara2018 Eq. 1: per-superpixel labels → pixel mask, ``mask[x, k] = labels[s(x), k]``.

    Args:
        index: ``int [H, W]`` superpixel index map, values 0..N-1.
        labels: ``[N, K]`` (or ``[N]``) per-superpixel labels, floats in [0, 1].
        where: optional file name put into error messages.

    Returns:
        ``float32 [H, W, K]`` (``[H, W, 1]`` for 1-D labels).

    Raises:
        DermkitDataError: ``N != index.max() + 1``, a negative index, or a non-integer index map.
    """
    index = np.asarray(index)
    labels = np.asarray(labels, dtype=np.float32)
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2:
        raise DermkitDataError(f"{_prefix(where)}labels must be [N, K] or [N], got shape {labels.shape}")
    num = _check_index(index, where)
    _check_labels(num, labels, where)
    # np.take along axis 0 is the same gather as labels[index], and a little faster.
    return np.take(labels, index, axis=0)


def superpixel_sizes(index: np.ndarray, num_superpixels: int | None = None) -> np.ndarray:
    """Pixel count ``|s_i|`` of every superpixel, ``int64 [N]`` (``N = index.max() + 1`` unless given)."""
    index = np.asarray(index)
    num = _check_index(index, require_2d=False)
    n = num if num_superpixels is None else int(num_superpixels)
    if n < num:
        raise DermkitDataError(f"num_superpixels={n} but the index map holds index {num - 1}")
    return np.bincount(index.ravel(), minlength=n)


def mask_to_superpixels(
    mask: np.ndarray, index: np.ndarray, *, num_superpixels: int | None = None, where: str = ""
) -> np.ndarray:
    """kawahara2018 Eq. 2: pixel mask → mean of the mask inside each superpixel.

    ``labels[i, k] = (1 / |s_i|) Σ_{x ∈ s_i} mask[x, k]``.

    Args:
        mask: ``[H, W, K]`` (or ``[H, W]``) pixel values, e.g. predicted probabilities.
        index: ``int [H, W]`` superpixel index map of the same H, W.
        num_superpixels: N, when known (e.g. the length of the image's ``_features.json`` lists); it must
            be at least ``index.max() + 1``. Default ``index.max() + 1``.
        where: optional file name put into error messages.

    Returns:
        ``float32 [N, K]``; a superpixel with no pixels (an index that does not occur) gets 0.

    Raises:
        DermkitDataError: H, W of ``mask`` and ``index`` differ; a negative or non-integer index;
            ``num_superpixels`` smaller than ``index.max() + 1``.
    """
    mask = np.asarray(mask)
    index = np.asarray(index)
    if mask.ndim == 2:
        mask = mask[..., None]
    if mask.ndim != 3 or mask.shape[:2] != index.shape:
        raise DermkitDataError(
            f"{_prefix(where)}mask is {mask.shape} but the superpixel index map is {index.shape}: resize "
            "the prediction to the index map's size first"
        )
    num = _check_index(index, where)
    n = num if num_superpixels is None else int(num_superpixels)
    if n < num:
        raise DermkitDataError(f"{_prefix(where)}num_superpixels={n} but the index map holds index {num - 1}")
    flat = index.ravel()
    k = mask.shape[-1]
    sizes = np.bincount(flat, minlength=n).astype(np.float64)
    # Channel-major float64 copy: each channel's weights are then contiguous for np.bincount.
    values = np.moveaxis(mask, -1, 0).reshape(k, -1).astype(np.float64)
    # One bincount per channel: the floor of what NumPy can do for a grouped mean.
    sums = np.empty((n, k), dtype=np.float64)
    for c in range(k):
        sums[:, c] = np.bincount(flat, weights=values[c], minlength=n)
    out = np.divide(sums, sizes[:, None], out=np.zeros_like(sums), where=sizes[:, None] > 0)
    return out.astype(np.float32)


def resize_index(index: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an index map to ``size = (height, width)``; values stay exact.

    Uses OpenCV's ``INTER_NEAREST_EXACT`` (pixel-centre aligned, the same sampling as PIL's ``NEAREST``);
    plain ``INTER_NEAREST`` shifts the map by up to half a source pixel.

    Raises:
        DermkitDataError: ``size`` not two positive integers, or a bad index map.
    """
    import cv2

    index = np.asarray(index)
    _check_index(index)
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise DermkitDataError(f"size must be (height, width); received size={size!r}") from exc
    if h <= 0 or w <= 0:
        raise DermkitDataError(f"size must be two positive integers; received size={size!r}")
    if index.size and index.max() >= 1 << 31:
        raise DermkitDataError("superpixel indices must fit int32 to be resized")
    out = cv2.resize(np.ascontiguousarray(index, dtype=np.int32), (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
    return out.reshape(h, w)
