"""Fuzzy Jaccard index — kawahara2018 Eq. 8–10 and the three evaluations of Table V.

Argument order: ``y_true, y_pred`` (the scikit-learn / Keras order used by every dermkit metric; Eq. 8 is
symmetric in the two, but the checks and messages name them), options keyword-only.

* Eq. 8, per image and channel: ``J = Σ_x min(p(x), y(x)) / Σ_x max(p(x), y(x))``, NaN when the
  denominator is 0 (prediction and truth both empty): :func:`per_image_jaccard`.
* Eq. 9, ``J̄1``: the mean over images with NaN counted as 1 (``empty="one"``).
* Eq. 10, ``J̄nan``: the mean over images with NaN images left out (``empty="ignore"``); a channel with no
  countable image is NaN, never 0.
* ``Jc``: one fuzzy Jaccard per channel over all pixels of all images (:func:`channel_jaccard`).

Scores lie in [0, 1], 1 is best. Inputs are ``[N, H, W, K]`` arrays or lists of ``[H, W, K]`` arrays whose
H, W may differ between images (ISIC images are not all one size); values must be finite and in [0, 1].

The superpixel forms (:func:`fuzzy_jaccard_superpixels`) take per-superpixel values ``[N_i, K]``
(``y_true_sp, y_pred_sp``) and pixel counts ``sizes`` (``|s_i|``) and weight each superpixel by its count:
exactly the score of the full-size masks painted by Eq. 1, without allocating them
(:func:`channel_jaccard_superpixels` likewise for ``Jc``).

No TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dermkit.data.superpixels import mask_to_superpixels, superpixel_sizes, superpixels_to_mask

__all__ = [
    "EMPTY_OPTIONS",
    "per_image_jaccard",
    "per_image_jaccard_superpixels",
    "fuzzy_jaccard",
    "fuzzy_jaccard_superpixels",
    "channel_jaccard",
    "channel_jaccard_superpixels",
    "reduce_over_images",
    "mean_over_channels",
    "threshold_below",
    "table5_evaluations",
]

#: Allowed values of ``empty``: ``"one"`` is J̄1 (Eq. 9), ``"ignore"`` is J̄nan (Eq. 10).
EMPTY_OPTIONS: tuple[str, ...] = ("one", "ignore")


def _check_empty(empty: str) -> None:
    if empty not in EMPTY_OPTIONS:
        raise ValueError(f"empty must be one of {EMPTY_OPTIONS}; received empty={empty!r}")


def _as_image_list(x, name: str) -> list[np.ndarray]:
    """``[N, H, W, K]`` array or a sequence of ``[H, W, K]`` arrays → list of ``[H, W, K]`` arrays.

    Dtypes are kept (full-size ISIC masks are large); the sums are accumulated in float64.
    """
    if isinstance(x, np.ndarray):
        if x.ndim != 4:
            raise ValueError(f"{name} must be [N, H, W, K] or a list of [H, W, K] arrays; got shape {x.shape}")
        return list(x)
    if not isinstance(x, Sequence) or isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an array or a list of arrays; got {type(x).__name__}")
    images = [np.asarray(img) for img in x]
    for i, img in enumerate(images):
        if img.ndim != 3:
            raise ValueError(f"{name}[{i}] must be [H, W, K]; got shape {img.shape}")
    return images


def _check_values(arr: np.ndarray, name: str) -> None:
    if arr.size and not (np.all(np.isfinite(arr)) and arr.min() >= 0.0 and arr.max() <= 1.0):
        raise ValueError(f"{name} must hold finite values in [0, 1]; found values in [{arr.min()}, {arr.max()}]")


def _check_pairs(truths: list[np.ndarray], preds: list[np.ndarray], what: str, names=("y_true", "y_pred")) -> None:
    true_name, pred_name = names
    if len(truths) != len(preds):
        raise ValueError(f"{true_name} has {len(truths)} images but {pred_name} has {len(preds)}")
    if not preds:
        raise ValueError("no images to score")
    channels = {t.shape[-1] for t in truths} | {p.shape[-1] for p in preds}
    if len(channels) > 1:
        raise ValueError(f"all images must have the same number of channels K; found K in {sorted(channels)}")
    for i, (t, p) in enumerate(zip(truths, preds)):
        if p.shape != t.shape:
            raise ValueError(f"image {i}: {pred_name} {what} shape {p.shape} differs from {true_name} shape {t.shape}")
        _check_values(t, f"{true_name}[{i}]")
        _check_values(p, f"{pred_name}[{i}]")


def _weighted_sums(truth: np.ndarray, pred: np.ndarray, weights: np.ndarray | None):
    """Σ w·min(y, p) and Σ w·max(y, p) per channel of one image (``[..., K]`` → two ``[K]``)."""
    k = pred.shape[-1]
    y = truth.reshape(-1, k)
    p = pred.reshape(-1, k)
    if weights is None:
        return np.minimum(p, y).sum(axis=0, dtype=np.float64), np.maximum(p, y).sum(axis=0, dtype=np.float64)
    w = weights.reshape(-1).astype(np.float64)
    return w @ np.minimum(p, y).astype(np.float64), w @ np.maximum(p, y).astype(np.float64)


def _ratio_or_nan(intersection: np.ndarray, union: np.ndarray) -> np.ndarray:
    """Eq. 8's ``f_nan``: ``intersection / union``, NaN where ``union == 0``."""
    out = np.full(np.shape(union), np.nan)
    np.divide(intersection, union, out=out, where=union > 0)
    return out


def per_image_jaccard(y_true, y_pred) -> np.ndarray:
    """Eq. 8 for every image and channel: ``float64 [N, K]``, NaN where both truth and prediction are empty.

    Args:
        y_true: ground truth, ``[N, H, W, K]`` or a list of ``[H, W, K]``, values in [0, 1].
        y_pred: predictions, same shapes as ``y_true``, values in [0, 1].

    Raises:
        ValueError: different image counts, a pair with different shapes (the message names the image),
            differing K, values outside [0, 1] or not finite.
        TypeError: an input that is neither an array nor a list of arrays.
    """
    truths = _as_image_list(y_true, "y_true")
    preds = _as_image_list(y_pred, "y_pred")
    _check_pairs(truths, preds, "mask")
    return _per_image(truths, preds, [None] * len(preds))


def _per_image(truths, preds, weights) -> np.ndarray:
    sums = [_weighted_sums(t, p, w) for t, p, w in zip(truths, preds, weights)]
    intersection = np.stack([s[0] for s in sums])
    union = np.stack([s[1] for s in sums])
    return _ratio_or_nan(intersection, union)


def _as_superpixel_lists(y_true_sp, y_pred_sp, sizes):
    def to_list(x, name, ndim):
        if isinstance(x, np.ndarray) and x.dtype != object:
            if x.ndim != ndim + 1:
                raise ValueError(f"{name} as an array must have {ndim + 1} dimensions (images first); got {x.shape}")
        elif not isinstance(x, (Sequence, np.ndarray)) or isinstance(x, (str, bytes)):
            raise TypeError(f"{name} must be a list with one array per image; got {type(x).__name__}")
        arrays = [np.asarray(a, dtype=np.float64) for a in x]
        for i, a in enumerate(arrays):
            if a.ndim != ndim:
                raise ValueError(f"{name}[{i}] must have {ndim} dimension(s); got shape {a.shape}")
        return arrays

    truths = to_list(y_true_sp, "y_true_sp", 2)
    preds = to_list(y_pred_sp, "y_pred_sp", 2)
    counts = to_list(sizes, "sizes", 1)
    _check_pairs(truths, preds, "superpixel", names=("y_true_sp", "y_pred_sp"))
    if len(counts) != len(truths):
        raise ValueError(f"sizes has {len(counts)} images but y_true_sp has {len(truths)}")
    for i, (c, t) in enumerate(zip(counts, truths)):
        if c.shape[0] != t.shape[0]:
            raise ValueError(f"image {i}: sizes has {c.shape[0]} superpixels but y_true_sp has {t.shape[0]}")
        if c.size and (c.min() < 0 or not np.all(np.isfinite(c))):
            raise ValueError(f"sizes[{i}] must hold finite non-negative pixel counts")
    return truths, preds, counts


def per_image_jaccard_superpixels(y_true_sp, y_pred_sp, sizes) -> np.ndarray:
    """Eq. 8 per image and channel from per-superpixel values: ``float64 [N, K]`` (NaN: both empty).

    Each superpixel counts with its pixel count ``|s_i|``, so the result equals :func:`per_image_jaccard`
    on the masks painted by Eq. 1 at full size.

    Args:
        y_true_sp: list (one entry per image) of ``[N_i, K]`` ground-truth superpixel labels in [0, 1].
        y_pred_sp: list of ``[N_i, K]`` predicted superpixel values in [0, 1].
        sizes: list of ``[N_i]`` pixel counts (:func:`dermkit.data.superpixels.superpixel_sizes`).

    Raises:
        TypeError: an input that is not a list of arrays.
        ValueError: list lengths differ, a pair's shapes or superpixel counts differ (the message names
            the image), values outside [0, 1], negative sizes.
    """
    truths, preds, counts = _as_superpixel_lists(y_true_sp, y_pred_sp, sizes)
    return _per_image(truths, preds, counts)


def reduce_over_images(per_image: np.ndarray, *, empty: str = "ignore") -> np.ndarray:
    """Average a ``[N, K]`` table of Eq. 8 values over images: Eq. 9 (``"one"``) or Eq. 10 (``"ignore"``).

    Args:
        per_image: ``[N, K]`` per-image Jaccard values with NaN for images where both masks are empty.
        empty: ``"one"`` counts such an image as 1 (J̄1, Eq. 9); ``"ignore"`` leaves it out (J̄nan,
            Eq. 10) and a channel with no countable image is NaN. Default ``"ignore"``.

    Returns:
        ``float64 [K]`` in [0, 1] (1 best), NaN as described.

    Raises:
        ValueError: ``empty`` is not one of :data:`EMPTY_OPTIONS`.
    """
    _check_empty(empty)
    per_image = np.asarray(per_image, dtype=np.float64)
    if empty == "one":
        return np.where(np.isnan(per_image), 1.0, per_image).mean(axis=0)
    counted = ~np.isnan(per_image)
    return _ratio_or_nan(np.where(counted, per_image, 0.0).sum(axis=0), counted.sum(axis=0).astype(np.float64))


def fuzzy_jaccard(y_true, y_pred, *, empty: str = "ignore") -> np.ndarray:
    """Mean fuzzy Jaccard over images per channel: J̄nan (Eq. 10, default) or J̄1 (Eq. 9).

    Args:
        y_true: ground truth ``[N, H, W, K]`` or a list of ``[H, W, K]`` (sizes may differ), in [0, 1].
        y_pred: predictions, same shapes as ``y_true``, in [0, 1].
        empty: ``"ignore"`` (J̄nan: images where both are empty are left out; a channel with none left is
            NaN) or ``"one"`` (J̄1: such images score 1). Default ``"ignore"``.

    Returns:
        ``float64 [K]`` in [0, 1], 1 is best.

    Raises:
        ValueError: bad ``empty``, mismatched shapes (the message names the image), values outside [0, 1].
    """
    _check_empty(empty)
    return reduce_over_images(per_image_jaccard(y_true, y_pred), empty=empty)


def fuzzy_jaccard_superpixels(y_true_sp, y_pred_sp, sizes, *, empty: str = "ignore") -> np.ndarray:
    """:func:`fuzzy_jaccard` on superpixel values weighted by pixel counts (= Eq. 1 painting at full size).

    Args:
        y_true_sp: list of ``[N_i, K]`` ground-truth superpixel labels in [0, 1].
        y_pred_sp: list of ``[N_i, K]`` predicted superpixel values in [0, 1].
        sizes: list of ``[N_i]`` superpixel pixel counts ``|s_i|``.
        empty: ``"ignore"`` (J̄nan, default) or ``"one"`` (J̄1), as in :func:`fuzzy_jaccard`.

    Returns:
        ``float64 [K]`` in [0, 1], 1 is best.

    Raises:
        ValueError / TypeError: as :func:`per_image_jaccard_superpixels`, or a bad ``empty``.
    """
    _check_empty(empty)
    return reduce_over_images(per_image_jaccard_superpixels(y_true_sp, y_pred_sp, sizes), empty=empty)


def channel_jaccard(y_true, y_pred) -> np.ndarray:
    """``Jc``: one fuzzy Jaccard per channel over all pixels of all images, ``float64 [K]``.

    Large images and images with large features weigh more than in J̄ (the reason kawahara2018 prefers
    Eq. 10). NaN for a channel that is empty in every prediction and every truth.

    Args:
        y_true: ``[N, H, W, K]`` or a list of ``[H, W, K]``, values in [0, 1].
        y_pred: same shapes as ``y_true``.
    """
    truths = _as_image_list(y_true, "y_true")
    preds = _as_image_list(y_pred, "y_pred")
    _check_pairs(truths, preds, "mask")
    return _pooled(truths, preds, [None] * len(preds))


def channel_jaccard_superpixels(y_true_sp, y_pred_sp, sizes) -> np.ndarray:
    """``Jc`` from per-superpixel values weighted by pixel counts (= :func:`channel_jaccard` of the Eq. 1
    paintings), ``float64 [K]``. Arguments as :func:`per_image_jaccard_superpixels`."""
    truths, preds, counts = _as_superpixel_lists(y_true_sp, y_pred_sp, sizes)
    return _pooled(truths, preds, counts)


def _pooled(truths, preds, weights) -> np.ndarray:
    sums = [_weighted_sums(t, p, w) for t, p, w in zip(truths, preds, weights)]
    return _ratio_or_nan(sum(s[0] for s in sums), sum(s[1] for s in sums))


def mean_over_channels(values) -> float:
    """``np.nanmean`` over channels (the papers' "avg" row): NaN channels are skipped; all NaN gives NaN.

    Unlike ``np.nanmean`` it returns NaN for an all-NaN input without a RuntimeWarning.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = ~np.isnan(values)
    return float(values[finite].mean()) if finite.any() else float("nan")


def threshold_below(x, *, threshold: float = 0.5) -> np.ndarray:
    """Copy of ``x`` with values ``< threshold`` set to 0 (larger values kept as they are).

    kawahara2018 Section III-B: ``l̂ = 0 if l̂ < 0.5 else l̂``, to remove weak false positives.
    """
    x = np.asarray(x)
    return np.where(x < threshold, np.zeros((), dtype=x.dtype), x)


def table5_evaluations(
    y_true_sp, y_pred, index_maps, *, threshold: float = 0.5, empty: str = "ignore"
) -> dict[str, np.ndarray]:
    """The three evaluations of kawahara2018 Table V, each a ``[K]`` array of J̄ per channel.

    The ground truth is the per-superpixel labels; pixel-level truth is their Eq. 1 painting, one image at
    a time. Average the channels with :func:`mean_over_channels` for the table's single number.

    * ``"direct"``: the predicted pixel masks as they are.
    * ``"thresholded"``: the pixel masks with values ``< threshold`` set to 0.
    * ``"superpixel"``: Eq. 2 superpixel averages of the raw masks, then values ``< threshold`` set to 0,
      scored per superpixel weighted by pixel count (the paper's reported J̄).

    Args:
        y_true_sp: list of ``[N_i, K]`` ground-truth superpixel labels.
        y_pred: list of ``[H_i, W_i, K]`` predicted probabilities at each image's original size (or an
            ``[N, H, W, K]`` array).
        index_maps: list of ``int [H_i, W_i]`` superpixel index maps.
        threshold: values below it are set to 0; default 0.5.
        empty: ``"ignore"`` (J̄nan, the table's metric; default) or ``"one"`` (J̄1).

    Returns:
        ``{"direct": [K], "thresholded": [K], "superpixel": [K]}``.

    Raises:
        ValueError: bad ``empty``; list lengths differ; an image whose mask, index map or labels disagree
            in size (the message names it).
    """
    _check_empty(empty)
    preds = _as_image_list(y_pred, "y_pred")
    if not (len(y_true_sp) == len(preds) == len(index_maps)):
        raise ValueError(
            f"y_true_sp, y_pred and index_maps must have one entry per image; got lengths "
            f"{len(y_true_sp)}, {len(preds)}, {len(index_maps)}"
        )
    if not preds:
        raise ValueError("no images to score")
    direct, thresholded, pred_sp, sizes, truths = [], [], [], [], []
    for i, (labels, pred, index) in enumerate(zip(y_true_sp, preds, index_maps)):
        index = np.asarray(index)
        labels = np.asarray(labels, dtype=np.float64)
        if pred.shape[:2] != index.shape:
            raise ValueError(f"image {i}: y_pred mask is {pred.shape[:2]} but its index map is {index.shape}")
        # Eq. 1 checks that the labels have index.max() + 1 rows and names the image when not.
        truth_mask = superpixels_to_mask(index, labels, where=f"image {i}")
        direct.append(per_image_jaccard([truth_mask], [pred])[0])
        thresholded.append(per_image_jaccard([truth_mask], [threshold_below(pred, threshold=threshold)])[0])
        pred_sp.append(threshold_below(mask_to_superpixels(pred, index), threshold=threshold))
        sizes.append(superpixel_sizes(index, labels.shape[0]))
        truths.append(labels)
    return {
        "direct": reduce_over_images(np.stack(direct), empty=empty),
        "thresholded": reduce_over_images(np.stack(thresholded), empty=empty),
        "superpixel": fuzzy_jaccard_superpixels(truths, pred_sp, sizes, empty=empty),
    }
