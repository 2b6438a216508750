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


def _check_labels(index: np.ndarray, labels: np.ndarray, where: str = "") -> None:
    num = int(index.max()) + 1 if index.size else 0
    if labels.shape[0] != num:
        src = f"{where}: " if where else ""
        raise DermkitDataError(
            f"{src}superpixel label array has {labels.shape[0]} rows but the index map has "
            f"{num} superpixels (max index {num - 1})"
        )


def superpixels_to_mask(index: np.ndarray, labels: np.ndarray, *, where: str = "") -> np.ndarray:
    """kawahara2018 Eq. 1: per-superpixel labels → pixel mask.

    Args:
        index: ``int [H, W]`` superpixel index map, values 0..N-1.
        labels: ``[N, K]`` (or ``[N]``) per-superpixel labels, floats in [0, 1].
        where: optional file name put into error messages.

    Returns:
        ``float32 [H, W, K]`` (``[H, W, 1]`` for 1-D labels).

    Raises:
        DermkitDataError: ``N != index.max() + 1`` or a negative index.
    """
    index = np.asarray(index)
    labels = np.asarray(labels, dtype=np.float32)
    if labels.ndim == 1:
        labels = labels[:, None]
    if index.size and index.min() < 0:
        raise DermkitDataError(f"{where + ': ' if where else ''}negative superpixel index")
    _check_labels(index, labels, where)
    return labels[index]


def superpixel_sizes(index: np.ndarray, num_superpixels: int | None = None) -> np.ndarray:
    """Pixel count ``|s_i|`` of every superpixel, ``int64 [N]``."""
    index = np.asarray(index).ravel()
    n = int(index.max()) + 1 if num_superpixels is None else int(num_superpixels)
    return np.bincount(index, minlength=n)


def mask_to_superpixels(mask: np.ndarray, index: np.ndarray) -> np.ndarray:
    """kawahara2018 Eq. 2: pixel mask → mean of the mask inside each superpixel.

    Args:
        mask: ``[H, W, K]`` (or ``[H, W]``) pixel values, e.g. predicted probabilities.
        index: ``int [H, W]`` superpixel index map of the same H, W.

    Returns:
        ``float32 [N, K]`` with ``N = index.max() + 1``; a superpixel with no pixels (an index that does
        not occur) gets 0.

    Raises:
        DermkitDataError: H, W of ``mask`` and ``index`` differ.
    """
    mask = np.asarray(mask)
    index = np.asarray(index)
    if mask.ndim == 2:
        mask = mask[..., None]
    if mask.shape[:2] != index.shape:
        raise DermkitDataError(
            f"mask is {mask.shape[:2]} but the superpixel index map is {index.shape}: resize the "
            "prediction to the index map's size first"
        )
    flat = index.ravel()
    n = int(flat.max()) + 1
    k = mask.shape[-1]
    sizes = np.bincount(flat, minlength=n).astype(np.float64)
    values = mask.reshape(-1, k)
    # One bincount per channel: the floor of what NumPy can do for a grouped mean.
    sums = np.stack(
        [np.bincount(flat, weights=values[:, c], minlength=n) for c in range(k)], axis=1
    )
    out = np.divide(sums, sizes[:, None], out=np.zeros_like(sums), where=sizes[:, None] > 0)
    return out.astype(np.float32)


def resize_index(index: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an index map to ``size = (height, width)`` (labels stay exact)."""
    import cv2

    index = np.asarray(index, dtype=np.int32)
    h, w = size
    return cv2.resize(index, (int(w), int(h)), interpolation=cv2.INTER_NEAREST)
