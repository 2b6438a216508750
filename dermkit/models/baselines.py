"""The two simple baselines of kawahara2018 Table II, as per-superpixel predictions (NumPy only).

* Empty: every superpixel background for all four features (AUROC 0.5, J̄1 high, J̄nan 0).
* Lesion: every pixel inside a lesion mask is a positive for all four dermoscopic features; Eq. 2 turns that
  into superpixel values (a superpixel on the lesion border gets the fraction of its pixels inside).

The paper's Lesion row uses a *trained* lesion-segmentation model's predicted mask (its ISIC 2017 Part 1
entry, Section III-C); the reproduction does the same, also in ``--quick`` runs (with a lesion model
trained at the quick settings).

Neither function imports TensorFlow (``dermkit.models`` checks only that it is installed).
"""

from __future__ import annotations

import numpy as np

from dermkit.data.isic import ISIC2017_FEATURES
from dermkit.data.superpixels import mask_to_superpixels
from dermkit.metrics.isic import binarize_mask

__all__ = ["empty_baseline", "lesion_baseline"]

_NUM_FEATURES = len(ISIC2017_FEATURES)


def empty_baseline(index_map_or_count) -> np.ndarray:
    """Table II "Empty": ``float32 [N, 4]`` zeros (only background predicted).

    Args:
        index_map_or_count: the image's ``int [H, W]`` superpixel index map (N = max index + 1) or the
            number of superpixels N as an int.

    Raises:
        ValueError: a negative count, or an array that is not a 2-D integer index map.
    """
    if isinstance(index_map_or_count, (int, np.integer)) and not isinstance(index_map_or_count, bool):
        n = int(index_map_or_count)
        if n < 0:
            raise ValueError(f"the number of superpixels must be >= 0. Received: {n}")
    else:
        index = np.asarray(index_map_or_count)
        if index.ndim != 2 or not np.issubdtype(index.dtype, np.integer):
            raise ValueError(
                "expected an int [H, W] superpixel index map or a superpixel count. "
                f"Received: array of shape {index.shape} and dtype {index.dtype}"
            )
        n = int(index.max()) + 1 if index.size else 0
    return np.zeros((n, _NUM_FEATURES), dtype=np.float32)


def lesion_baseline(lesion_mask, index_map, *, threshold: float | None = None) -> np.ndarray:
    """Table II "Lesion": all four features positive inside the lesion, then Eq. 2 → ``float32 [N, 4]``.

    Args:
        lesion_mask: ``[H, W]`` lesion mask (bool; 0/255 integers; floats in [0, 1]) — binarised by the ISIC
            rules of :func:`dermkit.metrics.isic.binarize_mask`.
        index_map: ``int [H, W]`` superpixel index map of the same size.
        threshold: passed to :func:`~dermkit.metrics.isic.binarize_mask` (needed for 0/1 integer masks).

    Returns:
        Per superpixel, the fraction of its pixels inside the lesion, repeated over the four features.

    Raises:
        ValueError: a mask that cannot be binarised, or a mask and index map of different sizes.
    """
    mask = binarize_mask(lesion_mask, threshold=threshold, where="lesion_mask")
    fraction = mask_to_superpixels(mask.astype(np.float32), np.asarray(index_map))
    return np.repeat(fraction, _NUM_FEATURES, axis=1)
