"""Binary lesion masks from the many forms they arrive in — one rule for the whole package.

ISIC masks are 0/255 PNGs (binarised at > 128 by the challenge scorer, data-formats.md); models give
probabilities (> 0.5); code gives bool or 0/1 masks. An integer mask whose maximum is exactly 1 is ambiguous
(a 0/1 mask, or a nearly black 0/255 PNG): the ISIC scorers refuse it unless told, code that makes its own 0/1
masks says ``integer_max_one="binary"``. NumPy only.
"""

from __future__ import annotations

import numpy as np

from dermkit.errors import DermkitDataError

__all__ = ["binarize_mask", "INTEGER_MAX_ONE"]

#: Allowed values of ``integer_max_one``.
INTEGER_MAX_ONE = ("refuse", "binary")

_PROBABILITY_THRESHOLD = 0.5
_PNG_THRESHOLD = 128


def binarize_mask(
    mask, *, threshold: float | None = None, integer_max_one: str = "refuse", where: str = ""
) -> np.ndarray:
    """A lesion mask → ``bool [H, W]``.

    Rules, by dtype (a trailing channel axis of size 1 is dropped first):

    * bool: as it is;
    * with ``threshold``: ``mask > threshold`` for every non-bool dtype;
    * integers: ``> 128`` (the ISIC rule for 0/255 PNG masks, also for resized masks with values between);
      a mask whose maximum is exactly 1 is ambiguous: ``integer_max_one="refuse"`` (default, the ISIC
      scorers) raises, ``"binary"`` reads it as 0/1 (nonzero = lesion); an all-zero mask is empty either way;
    * floats: probabilities, finite and in [0, 1], ``> 0.5``.

    Args:
        mask: ``[H, W]`` or ``[H, W, 1]`` array.
        threshold: binarise every non-bool mask at ``> threshold`` instead of the rules above.
        integer_max_one: ``"refuse"`` or ``"binary"``, see above.
        where: a name for error messages (a file, ``"truth_masks[3]"``).

    Raises:
        DermkitDataError: not 2-D; NaN, infinite or out-of-range floats; an ambiguous integer mask under
            ``"refuse"``; an unsupported dtype. (A ``ValueError``.)
        ValueError: ``integer_max_one`` not one of :data:`INTEGER_MAX_ONE`.
    """
    if integer_max_one not in INTEGER_MAX_ONE:
        raise ValueError(f"integer_max_one must be one of {INTEGER_MAX_ONE}. Received: {integer_max_one!r}")
    mask = np.asarray(mask)
    src = f"{where}: " if where else ""
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise DermkitDataError(f"{src}mask must be [H, W] (or [H, W, 1]); got shape {mask.shape}")
    if mask.dtype == bool:
        return mask
    floating = np.issubdtype(mask.dtype, np.floating)
    if floating and not np.all(np.isfinite(mask)):
        raise DermkitDataError(f"{src}float mask holds NaN or infinite values")
    if threshold is not None:
        return mask > threshold
    if np.issubdtype(mask.dtype, np.integer):
        top = int(mask.max()) if mask.size else 0
        if top == 1:
            if integer_max_one == "binary":
                return mask != 0
            raise DermkitDataError(
                f"{src}integer mask with maximum 1 is ambiguous (a 0/1 mask, or a 0/255 mask that is nearly "
                "black): pass threshold= (e.g. threshold=0 for 0/1 masks) or give bool masks"
            )
        return mask > _PNG_THRESHOLD
    if floating:
        if mask.size and (mask.min() < 0 or mask.max() > 1):
            raise DermkitDataError(f"{src}float mask must hold finite values in [0, 1]; pass threshold= otherwise")
        return mask > _PROBABILITY_THRESHOLD
    raise DermkitDataError(f"{src}mask dtype {mask.dtype} is not bool, integer or float")
