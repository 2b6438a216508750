"""Binary lesion masks from the many forms they arrive in — one rule for the whole package.

The rule (readers with ``validate="full"``, the tf.data pipelines, the ISIC scorers and the crops all apply
it; the pipelines' TensorFlow check takes its values from here):

* ISIC masks are 0/255 PNGs (data-formats.md; the challenge scorer binarises at > 128). An integer mask must
  hold only the values of its declared convention, ``mask_values="0/255"`` (default) or ``"0/1"``; any other
  value (a 0/1 mask read as 0/255, a 0/100 mask, soft resized values) is refused with a message naming the
  file and the values found, so a mask is never silently emptied. A caller that wants another rule passes an
  explicit ``threshold`` (``mask > threshold``, no value check).
* Floats are probabilities: finite, in [0, 1], lesion at > 0.5.
* Bool masks are taken as they are.

NumPy only.
"""

from __future__ import annotations

import numpy as np

from dermkit.errors import DermkitDataError

__all__ = [
    "binarize_mask",
    "check_mask_values",
    "mask_values_error",
    "MASK_VALUES",
    "INTEGER_MAX_ONE",
    "PROBABILITY_THRESHOLD",
]

#: The integer mask conventions: name → (background, lesion) values. ISIC files are "0/255".
MASK_VALUES: dict[str, tuple[int, int]] = {"0/255": (0, 255), "0/1": (0, 1)}

#: Allowed values of the older ``integer_max_one`` argument (kept for callers written before ``mask_values``).
INTEGER_MAX_ONE = ("refuse", "binary")

#: Float masks (probabilities) are lesion above this value.
PROBABILITY_THRESHOLD = 0.5


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _check_convention(mask_values: str) -> tuple[int, int]:
    if mask_values not in MASK_VALUES:
        raise ValueError(f"mask_values must be one of {tuple(MASK_VALUES)}. Received: mask_values={mask_values!r}")
    return MASK_VALUES[mask_values]


#: How many distinct values an error message lists.
SHOWN_VALUES = 10


def _describe(values: np.ndarray) -> str:
    shown = ", ".join(str(int(v)) for v in values[:SHOWN_VALUES])
    more = f", … ({len(values)} distinct values)" if len(values) > SHOWN_VALUES else ""
    return f"[{shown}{more}]"


def mask_values_error(
    mask_values: str, *, zero_one: bool, where: str = "{where}", values: str = "{values}"
) -> str:
    """The message for a mask whose values break ``mask_values`` (also built inside the tf.data graphs).

    Args:
        mask_values: the convention the mask was declared to follow.
        zero_one: the values found all lie in {0, 1} (a 0/1 mask read as 0/255).
        where: the file (or name) of the mask; the default leaves a ``{where}`` placeholder.
        values: the values found, e.g. ``"[0, 1, 7]"``; the default leaves a ``{values}`` placeholder.
    """
    other = "0/1" if mask_values == "0/255" else "0/255"
    if mask_values == "0/255" and zero_one:
        return (
            f"{where}: integer mask with maximum 1 is ambiguous (values {values}; ISIC masks are 0/255): "
            "pass mask_values='0/1' for a 0/1 mask, or threshold= to binarise at > threshold"
        )
    return (
        f"{where}: mask holds values {values}, not only the {mask_values} of a binary mask: pass "
        f"mask_values='{other}' if that is its convention, or threshold= to binarise at > threshold"
    )


def check_mask_values(mask, *, mask_values: str = "0/255", where: str = "") -> np.ndarray:
    """Refuse an integer mask holding values other than those of ``mask_values``; return it unchanged.

    Args:
        mask: integer array of any shape (other dtypes are returned without a check).
        mask_values: ``"0/255"`` (ISIC files, default) or ``"0/1"``.
        where: a name for error messages (a file, ``"truth_masks[3]"``).

    Raises:
        DermkitDataError: a value outside the convention; the message names ``where`` and the values found.
        ValueError: ``mask_values`` unknown.
    """
    allowed = _check_convention(mask_values)
    mask = np.asarray(mask)
    if not np.issubdtype(mask.dtype, np.integer) or not mask.size:
        return mask
    if np.all((mask == allowed[0]) | (mask == allowed[1])):
        return mask
    found = np.unique(mask)
    zero_one = bool(found.min() >= 0 and found.max() <= 1)
    message = mask_values_error(mask_values, zero_one=zero_one, where=where, values=_describe(found))
    raise DermkitDataError(message if where else message[2:])


def binarize_mask(
    mask,
    *,
    threshold: float | None = None,
    mask_values: str = "0/255",
    integer_max_one: str | None = None,
    where: str = "",
) -> np.ndarray:
    """A lesion mask → ``bool [H, W]``, by the package's one rule (module docstring).

    By dtype (a trailing channel axis of size 1 is dropped first):

    * bool: as it is;
    * with ``threshold``: ``mask > threshold`` for every non-bool dtype (no value check);
    * integers: must hold only the values of ``mask_values`` (:func:`check_mask_values`); lesion = the
      higher value (``== 255`` for ``"0/255"``, ``== 1`` for ``"0/1"``). An all-zero mask is empty;
    * floats: probabilities, finite and in [0, 1], lesion at ``> 0.5``.

    Args:
        mask: ``[H, W]`` or ``[H, W, 1]`` array.
        threshold: binarise every non-bool mask at ``> threshold`` instead of the rules above.
        mask_values: ``"0/255"`` (ISIC masks, default) or ``"0/1"``: the values an integer mask may hold.
        integer_max_one: older spelling, kept for existing callers: ``"refuse"`` is the default rule,
            ``"binary"`` accepts both conventions (values within {0, 1} are read as 0/1, within {0, 255} as
            0/255; anything else is refused). Leave it None in new code.
        where: a name for error messages (a file, ``"truth_masks[3]"``).

    Raises:
        DermkitDataError: not 2-D; NaN, infinite or out-of-range floats; an integer value outside the
            convention (values listed); an unsupported dtype. (A ``ValueError``.)
        ValueError: unknown ``mask_values`` or ``integer_max_one``.
    """
    _check_convention(mask_values)
    if integer_max_one is not None and integer_max_one not in INTEGER_MAX_ONE:
        raise ValueError(f"integer_max_one must be one of {INTEGER_MAX_ONE}. Received: {integer_max_one!r}")
    mask = np.asarray(mask)
    src = _prefix(where)
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
        if integer_max_one == "binary" and mask.size and int(mask.max()) <= 1 and int(mask.min()) >= 0:
            mask_values = "0/1"
        check_mask_values(mask, mask_values=mask_values, where=where)
        return mask == MASK_VALUES[mask_values][1]
    if floating:
        if mask.size and (mask.min() < 0 or mask.max() > 1):
            raise DermkitDataError(f"{src}float mask must hold finite values in [0, 1]; pass threshold= otherwise")
        return mask > PROBABILITY_THRESHOLD
    raise DermkitDataError(f"{src}mask dtype {mask.dtype} is not bool, integer or float")


# --- bisla2019: segmentation post-processing (Section 3.2.3) -----------------------------------------------

__all__ += ["binarize_and_fill", "BISLA_THRESHOLD"]

#: bisla2019's probability threshold for the segmentation network's output (reference notes: "sigmoid ≥ 0.4").
BISLA_THRESHOLD = 0.4


def binarize_and_fill(prob, *, threshold: float = BISLA_THRESHOLD) -> np.ndarray:
    """bisla2019's post-processing of the segmentation network: ``prob ≥ threshold``, then
    ``scipy.ndimage.binary_fill_holes`` per image ("the output of the segmentation model was passed through a
    binary hole filling procedure to fill empty holes in the segmentation mask", Section 3.2.3).

    Holes are background regions not connected to the image border (SciPy's rule, 4-connected background).

    Args:
        prob: probabilities, ``[H, W]``, ``[H, W, 1]``, ``[N, H, W]`` or ``[N, H, W, 1]``, finite, in [0, 1].
        threshold: in (0, 1); a pixel is lesion at ``prob ≥ threshold``. Default 0.4.

    Returns:
        ``bool`` masks, ``[H, W]`` or ``[N, H, W]`` (a trailing channel axis of size 1 is dropped).

    Raises:
        ValueError: a bad shape, values outside [0, 1] or NaN, or a threshold outside (0, 1).
    """
    from scipy.ndimage import binary_fill_holes

    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or not 0 < threshold < 1:
        raise ValueError(f"threshold must be a number in (0, 1). Received: threshold={threshold!r}")
    p = np.asarray(prob)
    if p.ndim in (3, 4) and p.shape[-1] == 1:
        p = p[..., 0]
    if p.ndim not in (2, 3):
        raise ValueError(f"prob must be [H, W], [N, H, W] (or with a trailing axis of 1). Received: shape {p.shape}")
    p = p.astype(np.float64)
    if not np.all(np.isfinite(p)) or (p.size and (p.min() < 0 or p.max() > 1)):
        raise ValueError("prob must hold finite probabilities in [0, 1]")
    binary = p >= threshold
    if binary.ndim == 2:
        return binary_fill_holes(binary)
    return np.stack([binary_fill_holes(m) for m in binary]) if len(binary) else binary
