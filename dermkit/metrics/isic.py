"""ISIC challenge scoring definitions (../shared/reference/data-formats.md), NumPy + scikit-learn only.

* :func:`isic2017_part2_scores` — 2017 Part 2 (dermoscopic features, kawahara2018 Tables I–II): per feature,
  all superpixels of all images pooled.
* :class:`Part2Evaluation` / :func:`isic2017_part2_evaluation` — those scores plus kawahara2018's fuzzy
  Jaccard evaluations (Eq. 8–10, Table V), accumulated one image at a time (full-size test images are large).
* :func:`isic_segmentation_scores` — 2018 Task 1 lesion segmentation (goel2021): per image, macro-averaged.
* :func:`isic_classification_scores` — 2018 Task 3 onward (goel2021): balanced multiclass accuracy and
  per-category one-vs-rest metrics.

Argument order: ``y_true`` first, then ``y_pred`` (the order of every dermkit metric); options keyword-only.
Column names are shared across the three: ``auc`` is the ROC AUC, ``average_precision`` scikit-learn's
step-wise AP, ``average_precision_2017`` the 2017 scorer's trapezoidal PR area.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from dermkit.data.isic import ISIC2017_FEATURES
from dermkit.data.masks import binarize_mask
from dermkit.data.superpixels import mask_to_superpixels, superpixel_sizes
from dermkit.metrics.classification import (
    UNDECIDED,
    argmax_labels,
    average_precision_or_nan,
    average_precision_trapezoid,
    balanced_multiclass_accuracy,
    binary_counts,
    partial_auc_above_tpr,
    per_class_recall,
    per_group_rates,  # re-exported: goel2021's per-skin-tone rates sit beside the challenge definitions
    roc_auc_or_nan,
)
from dermkit.metrics.jaccard import (
    channel_jaccard_superpixels,
    mean_over_channels,
    per_image_jaccard_superpixels,
    reduce_over_images,
    table5_evaluations,
    threshold_below,
)

__all__ = [
    "PART2_COLUMNS",
    "PART2_JACCARD_COLUMNS",
    "Part2Evaluation",
    "SEGMENTATION_COLUMNS",
    "CLASSIFICATION_COLUMNS",
    "THRESHOLD_JACCARD_FLOOR",
    "binarize_mask",
    "isic2017_part2_scores",
    "isic2017_part2_evaluation",
    "isic_segmentation_scores",
    "isic_classification_scores",
    "isic_macro_averages",
    "MACRO_COLUMNS",
    "binary_classification_scores",
    "per_group_rates",
]

#: Columns of :func:`isic2017_part2_scores`.
PART2_COLUMNS: tuple[str, ...] = (
    "accuracy",
    "auc",
    "average_precision",
    "average_precision_2017",
    "sensitivity",
    "specificity",
)
#: Columns :class:`Part2Evaluation` adds to :data:`PART2_COLUMNS` (kawahara2018 Eq. 8–10 and Table V); the
#: last two only when every prediction was a pixel map.
PART2_JACCARD_COLUMNS: tuple[str, ...] = ("j1", "jnan", "jc", "direct_jnan", "thresholded_jnan")
#: Per-image columns (and macro-mean keys) of :func:`isic_segmentation_scores`.
SEGMENTATION_COLUMNS: tuple[str, ...] = (
    "accuracy",
    "sensitivity",
    "specificity",
    "jaccard",
    "threshold_jaccard",
    "dice",
)
#: Per-class columns of :func:`isic_classification_scores`.
CLASSIFICATION_COLUMNS: tuple[str, ...] = (
    "accuracy",
    "sensitivity",
    "specificity",
    "auc",
    "auc_sens_80",
    "average_precision",
)
#: ISIC 2018 Task 1: a Jaccard below this counts as 0 in the threshold Jaccard.
THRESHOLD_JACCARD_FLOOR = 0.65

_DECISION_THRESHOLD = 0.5  # probabilities are binarised at > 0.5 throughout the ISIC scorers


def _rate(numerator: int, denominator: int, if_empty: float) -> float:
    return numerator / denominator if denominator else if_empty


def _rates(counts: dict[str, int], *, if_empty: float) -> dict[str, float]:
    tp, fp, fn, tn = counts["tp"], counts["fp"], counts["fn"], counts["tn"]
    return {
        "accuracy": _rate(tp + tn, tp + fp + fn + tn, if_empty),
        "sensitivity": _rate(tp, tp + fn, if_empty),
        "specificity": _rate(tn, tn + fp, if_empty),
    }


# --------------------------------------------------------------------------------------------------------
# 2017 Part 2: dermoscopic features on superpixels
# --------------------------------------------------------------------------------------------------------


def _image_list(x, name: str) -> list:
    """A list of per-image arrays, a ``[n_images, N, 4]`` array or one pooled ``[N, 4]`` array → a list."""
    if isinstance(x, np.ndarray) and x.dtype != object:
        if x.ndim == 2:
            return [x]  # every superpixel of every image, already pooled
        if x.ndim == 3:
            return list(x)
        raise ValueError(f"{name} must be [N, 4], [n_images, N, 4] or a list of [N_i, 4] arrays; got shape {x.shape}")
    if not isinstance(x, (Sequence, np.ndarray)) or isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be a list with one [N_i, 4] array per image, or an array; got {type(x).__name__}")
    return list(x)


def _superpixel_pairs(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    truth = _image_list(y_true, "y_true")
    pred = _image_list(y_pred, "y_pred")
    if len(truth) != len(pred):
        raise ValueError(f"y_true has {len(truth)} images but y_pred has {len(pred)}")
    if not truth:
        raise ValueError("no images to score")
    k = len(ISIC2017_FEATURES)
    truths, preds = [], []
    for i, (t, p) in enumerate(zip(truth, pred)):
        t = np.asarray(t, dtype=np.float64)
        p = np.asarray(p, dtype=np.float64)
        if t.ndim != 2 or t.shape[1] != k:
            raise ValueError(f"image {i}: y_true must be [N_i, {k}]; got shape {t.shape}")
        if p.shape != t.shape:
            raise ValueError(f"image {i}: y_pred has shape {p.shape} but y_true has {t.shape}")
        if not np.all(np.isfinite(p)) or (p.size and (p.min() < 0 or p.max() > 1)):
            raise ValueError(f"image {i}: y_pred must hold finite probabilities in [0, 1]")
        if not np.isin(t, (0.0, 1.0)).all():
            hint = (
                " (y_pred is all 0/1: are y_true and y_pred swapped? y_true comes first)"
                if np.isin(p, (0, 1)).all()
                else ""
            )
            raise ValueError(f"image {i}: y_true labels must be 0 or 1{hint}")
        truths.append(t)
        preds.append(p)
    return np.concatenate(truths).astype(bool), np.concatenate(preds)


def isic2017_part2_scores(y_true, y_score) -> pd.DataFrame:
    """ISIC 2017 Part 2 scores: per feature, all superpixels of all images pooled.

    Columns (all in [0, 1], higher is better):

    * ``accuracy``, ``sensitivity``, ``specificity`` — predictions thresholded at > 0.5 (NaN when the
      pooled truth has no positives, resp. no negatives);
    * ``auc`` — ROC AUC, ``roc_auc_score`` on the raw probabilities;
    * ``average_precision`` — scikit-learn's step-wise ``average_precision_score`` (constant → prevalence),
      as everywhere in dermkit;
    * ``average_precision_2017`` — the 2017 scorer's AP, the trapezoidal area under the precision–recall
      curve (:func:`~dermkit.metrics.classification.average_precision_trapezoid`, the number kawahara2018
      Tables I–II report); a constant prediction scores ``(1 + prevalence) / 2``, as in Table II's Empty row.

    ``auc`` and both APs are NaN, with a ``RuntimeWarning``, for a feature whose truth holds a single class.

    Args:
        y_true: ``[N_i, 4]`` 0/1 superpixel labels per image in :data:`~dermkit.data.isic.ISIC2017_FEATURES`
            order: a list (one array per image), an ``[n_images, N, 4]`` array, or one ``[N, 4]`` array of
            all superpixels pooled (the scores pool them anyway).
        y_score: predicted probabilities, finite, in [0, 1], in the same layout as ``y_true``.

    Returns:
        DataFrame with rows the four features plus ``average`` (the NaN-skipping mean over features) and
        the columns :data:`PART2_COLUMNS`.

    Raises:
        TypeError: ``y_true`` or ``y_score`` is neither an array nor a list of arrays.
        ValueError: different image counts; an image whose shapes differ or are not ``[N_i, 4]`` (the
            message names the image index); predictions not finite or outside [0, 1]; truth not 0/1.
    """
    truth, score = _superpixel_pairs(y_true, y_score)
    rows = {}
    for k, feature in enumerate(ISIC2017_FEATURES):
        t, s = truth[:, k], score[:, k]
        rates = _rates(binary_counts(t, s > _DECISION_THRESHOLD), if_empty=float("nan"))
        rows[feature] = {
            "accuracy": rates["accuracy"],
            "auc": roc_auc_or_nan(t, s, where=feature),
            "average_precision": average_precision_or_nan(t, s, where=feature),
            "average_precision_2017": average_precision_trapezoid(t, s, where=feature),
            "sensitivity": rates["sensitivity"],
            "specificity": rates["specificity"],
        }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(PART2_COLUMNS))
    table.loc["average"] = [mean_over_channels(table[c].to_numpy()) for c in PART2_COLUMNS]
    return table


class Part2Evaluation:
    """ISIC 2017 Part 2 scores and kawahara2018's Jaccard evaluations, accumulated one image at a time.

    Feed every test image with :meth:`update`, then read :meth:`result`. Only per-superpixel arrays are
    kept between images, so full-size pixel predictions (ISIC 2017 test images reach 6688 × 4439) are never
    held together.

    Per image, ``y_pred`` is either

    * a pixel map ``[H, W, 4]`` of probabilities at the image's original size: it is averaged per superpixel
      (Eq. 2) for the official scores and J̄, and also scored at pixel level for Table V (``direct_jnan``:
      as predicted; ``thresholded_jnan``: values < ``threshold`` set to 0), through
      :func:`~dermkit.metrics.jaccard.table5_evaluations` on that one image; or
    * superpixel probabilities ``[N, 4]`` (e.g. the Table II baselines): no Table V columns then.

    :meth:`result` columns (per feature, all in [0, 1], higher is better): :data:`PART2_COLUMNS` from
    :func:`isic2017_part2_scores` on the raw superpixel probabilities (Tables I–II; ``average_precision_2017``
    is the tables' AP), then — on superpixel probabilities with values < ``threshold`` set to 0 (Section
    III-B), each superpixel weighted by its pixel count — ``j1`` (J̄1, Eq. 9), ``jnan`` (J̄nan, Eq. 10) and
    ``jc`` (one Jaccard over all pixels of all images), and, when every ``y_pred`` was a pixel map,
    ``direct_jnan`` and ``thresholded_jnan`` (Table V). Row ``average`` is the NaN-skipping mean over
    features.

    Args:
        threshold: Section III-B's cut (``l̂ = 0 if l̂ < threshold``); default 0.5.
    """

    def __init__(self, *, threshold: float = 0.5) -> None:
        self.threshold = float(threshold)
        self._truths: list[np.ndarray] = []
        self._preds: list[np.ndarray] = []
        self._thresholded: list[np.ndarray] = []
        self._sizes: list[np.ndarray] = []
        self._jaccard: list[np.ndarray] = []
        self._direct: list[np.ndarray] = []
        self._pixel_thresholded: list[np.ndarray] = []
        self._pixel_inputs: bool | None = None

    @property
    def n_images(self) -> int:
        """Images seen so far."""
        return len(self._truths)

    def update(self, y_true_sp, y_pred, index_map, *, where: str | None = None) -> None:
        """Add one image.

        Args:
            y_true_sp: ``[N, 4]`` 0/1 ground-truth superpixel labels (:data:`~dermkit.data.isic.ISIC2017_FEATURES`
                order), ``N = index_map.max() + 1``.
            y_pred: ``[H, W, 4]`` pixel probabilities at the image's size, or ``[N, 4]`` superpixel
                probabilities; finite, in [0, 1]. Every image must use the same kind.
            index_map: ``int [H, W]`` superpixel index map.
            where: how error messages name the image (its file or id); default ``"image <i>"``.

        Raises:
            ValueError: shapes that disagree, values not finite or outside [0, 1], labels not 0/1, or pixel
                and superpixel predictions mixed — each message naming the image.
        """
        name = where or f"image {self.n_images}"
        labels = np.asarray(y_true_sp, dtype=np.float64)
        index = np.asarray(index_map)
        pred = np.asarray(y_pred)
        k = len(ISIC2017_FEATURES)
        if index.ndim != 2 or not np.issubdtype(index.dtype, np.integer):
            raise ValueError(f"{name}: index_map must be an int [H, W] array; got {index.dtype} {index.shape}")
        n = int(index.max()) + 1 if index.size else 0
        if labels.shape != (n, k):
            raise ValueError(f"{name}: y_true_sp must be [{n}, {k}] (the index map holds {n} superpixels); "
                             f"got shape {labels.shape}")
        if not np.isin(labels, (0.0, 1.0)).all():
            raise ValueError(f"{name}: y_true_sp labels must be 0 or 1")
        if pred.ndim == 3:
            if pred.shape != index.shape + (k,):
                raise ValueError(f"{name}: y_pred pixel map is {pred.shape} but the index map is {index.shape} "
                                 f"(expected {index.shape + (k,)}): resize the prediction to the image's size")
        elif pred.ndim == 2:
            if pred.shape != (n, k):
                raise ValueError(f"{name}: y_pred superpixel probabilities must be [{n}, {k}]; got {pred.shape}")
        else:
            raise ValueError(f"{name}: y_pred must be a [H, W, {k}] pixel map or [N, {k}] superpixel "
                             f"probabilities; got shape {pred.shape}")
        if pred.size and not (np.all(np.isfinite(pred)) and pred.min() >= 0.0 and pred.max() <= 1.0):
            raise ValueError(f"{name}: y_pred must hold finite probabilities in [0, 1]; found values in "
                             f"[{pred.min()}, {pred.max()}]")
        pixels = pred.ndim == 3
        if self._pixel_inputs is not None and pixels != self._pixel_inputs:
            kinds = ("superpixel probabilities", "pixel maps")
            raise ValueError(f"{name}: y_pred is a {'pixel map' if pixels else 'superpixel array'} but earlier "
                             f"images gave {kinds[self._pixel_inputs]}; use one kind for every image")
        self._pixel_inputs = pixels
        if pixels:
            # table5_evaluations on one image: each value is that image's J (NaN where both are empty).
            table5 = table5_evaluations([labels], [pred], [index], threshold=self.threshold, empty="ignore")
            self._direct.append(table5["direct"])
            self._pixel_thresholded.append(table5["thresholded"])
            superpixel = mask_to_superpixels(pred, index, num_superpixels=n)
        else:
            superpixel = pred
        superpixel = np.clip(np.asarray(superpixel, dtype=np.float64), 0.0, 1.0)  # Eq. 2 rounding only
        sizes = superpixel_sizes(index, n)
        thresholded = threshold_below(superpixel, threshold=self.threshold)
        self._jaccard.append(per_image_jaccard_superpixels([labels], [thresholded], [sizes])[0])
        self._truths.append(labels)
        self._preds.append(superpixel)
        self._thresholded.append(thresholded)
        self._sizes.append(sizes)

    def result(self) -> pd.DataFrame:
        """The scores of the images seen: rows the four features and ``average``; columns
        :data:`PART2_COLUMNS` + :data:`PART2_JACCARD_COLUMNS` (the Table V pair only for pixel maps).

        Raises:
            ValueError: no image was added.
        """
        if not self._truths:
            raise ValueError("no images to score: call update() for each image first")
        table = isic2017_part2_scores(self._truths, self._preds).drop(index="average")
        per_image = np.stack(self._jaccard)
        table["j1"] = reduce_over_images(per_image, empty="one")
        table["jnan"] = reduce_over_images(per_image, empty="ignore")
        table["jc"] = channel_jaccard_superpixels(self._truths, self._thresholded, self._sizes)
        if self._pixel_inputs:
            table["direct_jnan"] = reduce_over_images(np.stack(self._direct), empty="ignore")
            table["thresholded_jnan"] = reduce_over_images(np.stack(self._pixel_thresholded), empty="ignore")
        table.loc["average"] = [mean_over_channels(table[c].to_numpy()) for c in table.columns]
        return table


def isic2017_part2_evaluation(y_true_sp, y_pred, index_maps, *, threshold: float = 0.5) -> pd.DataFrame:
    """:class:`Part2Evaluation` over whole sequences (or lazy iterables, consumed together one image at a
    time): ``y_true_sp`` ``[N_i, 4]`` labels, ``y_pred`` ``[H_i, W_i, 4]`` pixel maps or ``[N_i, 4]``
    superpixel probabilities, ``index_maps`` ``int [H_i, W_i]``.

    Returns:
        The :meth:`Part2Evaluation.result` table.

    Raises:
        ValueError: the three do not hold the same number of images, or as :meth:`Part2Evaluation.update`.
    """
    evaluation = Part2Evaluation(threshold=threshold)
    try:
        for labels, pred, index in zip(y_true_sp, y_pred, index_maps, strict=True):
            evaluation.update(labels, pred, index)
    except ValueError as exc:
        if str(exc).startswith("zip()"):
            raise ValueError("y_true_sp, y_pred and index_maps must hold the same number of images "
                             f"({exc})") from None
        raise
    return evaluation.result()


# --------------------------------------------------------------------------------------------------------
# 2018 Task 1: lesion segmentation
# --------------------------------------------------------------------------------------------------------


def _mask_list(x, name: str) -> list:
    if isinstance(x, np.ndarray):
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]  # [N, H, W, 1] → [N, H, W]
        if x.ndim != 3:
            raise ValueError(f"{name} must be [N, H, W], [N, H, W, 1] or a list of [H, W] arrays; got shape {x.shape}")
        return list(x)
    if not isinstance(x, Sequence) or isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an array or a list of arrays; got {type(x).__name__}")
    return list(x)


def _is_soft(mask: np.ndarray) -> bool:
    """A float mask with values strictly between 0 and 1: a probability map, not a ground truth."""
    return np.issubdtype(mask.dtype, np.floating) and bool(np.any((mask > 0) & (mask < 1)))


def _is_hard(mask: np.ndarray) -> bool:
    """A bool mask, or one whose values all lie in {0, 1} or in {0, 255}."""
    if mask.dtype == bool:
        return True
    return bool(np.isin(mask, (0, 1)).all() or np.isin(mask, (0, 255)).all())


def isic_segmentation_scores(y_true, y_pred, *, threshold: float | None = None) -> dict:
    """ISIC 2018 Task 1 lesion-segmentation scores, per image then macro-averaged.

    Per image: accuracy, sensitivity, specificity, Jaccard, Dice and threshold Jaccard (Jaccard set to 0
    below 0.65, the challenge's ranking score). Empty cases follow the challenge: both masks empty →
    Jaccard = Dice = 1; no positive pixel → sensitivity 1; no negative pixel → specificity 1.

    A probability-map ``y_pred`` against a binary ``y_true`` is the normal case; the reverse (a ``y_true``
    with values strictly between 0 and 1 and a binary ``y_pred``) is refused, as the arguments were most
    likely swapped (binarise such a truth first if it is meant).

    Args:
        y_true: ground-truth masks: a list of ``[H_i, W_i]`` / ``[H_i, W_i, 1]`` masks (sizes may differ), or
            an ``[N, H, W]`` / ``[N, H, W, 1]`` array.
        y_pred: the predictions, same layout; each pair must have the same size.
        threshold: ``None`` (default) binarises by dtype — bool as is, integer masks must be ISIC 0/255
            (any other value is refused, naming the values found), float in [0, 1] at > 0.5 (see
            :func:`binarize_mask`); a number binarises every non-bool mask at ``> threshold`` (e.g. 0 for
            integer 0/1 masks).

    Returns:
        ``{"accuracy", "sensitivity", "specificity", "jaccard", "threshold_jaccard", "dice"}`` → macro
        means (floats in [0, 1], higher is better) and ``"per_image"`` → a DataFrame with those columns, one
        row per image.

    Raises:
        TypeError: inputs that are not arrays or lists of arrays.
        ValueError: different image counts; a pair of different sizes (the message names the index); a
            non-binary float ``y_true`` with a binary ``y_pred`` (swapped arguments); an ambiguous integer
            mask without ``threshold``; float masks outside [0, 1].
    """
    truths = _mask_list(y_true, "y_true")
    preds = _mask_list(y_pred, "y_pred")
    if len(truths) != len(preds):
        raise ValueError(f"y_true has {len(truths)} images but y_pred has {len(preds)}")
    if not truths:
        raise ValueError("no images to score")
    rows = []
    for i, (t_raw, p_raw) in enumerate(zip(truths, preds)):
        t_raw, p_raw = np.asarray(t_raw), np.asarray(p_raw)
        if _is_soft(t_raw) and _is_hard(p_raw):
            raise ValueError(
                f"image {i}: y_true holds values strictly between 0 and 1 (a probability map) while y_pred is "
                "binary: the arguments look swapped (y_true comes first, then y_pred); binarise y_true first if "
                "a soft ground truth is meant"
            )
        t = binarize_mask(t_raw, threshold=threshold, where=f"y_true[{i}]")
        p = binarize_mask(p_raw, threshold=threshold, where=f"y_pred[{i}]")
        if t.shape != p.shape:
            raise ValueError(f"image {i}: y_true mask is {t.shape} but y_pred is {p.shape}")
        counts = binary_counts(t.ravel(), p.ravel())
        tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
        row = _rates(counts, if_empty=1.0)
        row["jaccard"] = _rate(tp, tp + fp + fn, 1.0)
        row["threshold_jaccard"] = row["jaccard"] if row["jaccard"] >= THRESHOLD_JACCARD_FLOOR else 0.0
        row["dice"] = _rate(2 * tp, 2 * tp + fp + fn, 1.0)
        rows.append(row)
    per_image = pd.DataFrame(rows, columns=list(SEGMENTATION_COLUMNS))
    per_image.index.name = "image"
    scores: dict = {c: float(per_image[c].mean()) for c in SEGMENTATION_COLUMNS}
    scores["per_image"] = per_image
    return scores


# --------------------------------------------------------------------------------------------------------
# 2018 Task 3 onward: classification
# --------------------------------------------------------------------------------------------------------


def _truth_labels(y_true, num_classes: int, n: int) -> np.ndarray:
    """The truth as integer labels ``[N]`` in ``0..C-1``: from one-hot ``[N, C]`` or labels ``[N]`` / ``[N, 1]``."""
    truth = np.asarray(y_true)
    if truth.ndim == 2 and truth.shape[1] == 1:
        truth = truth[:, 0]
    swapped = " (it looks like probabilities: are y_true and y_score swapped? y_true comes first)"
    if truth.ndim == 2:
        if truth.shape != (n, num_classes):
            raise ValueError(f"one-hot y_true must be [N, C] = [{n}, {num_classes}]; got shape {truth.shape}")
        if not (np.isin(truth, (0, 1)).all() and (truth.sum(axis=1) == 1).all()):
            soft = np.issubdtype(truth.dtype, np.floating) and np.any((truth > 0) & (truth < 1))
            raise ValueError(f"one-hot y_true must hold 0/1 with exactly one 1 per row{swapped if soft else ''}")
        return truth.argmax(axis=1)
    if truth.ndim == 1:
        if truth.shape[0] != n:
            raise ValueError(f"y_true has {truth.shape[0]} labels but y_score has {n} rows")
        if truth.dtype == bool:
            truth = truth.astype(np.int64)
        if np.issubdtype(truth.dtype, np.floating):
            if not np.all(np.isfinite(truth)) or not np.all(np.mod(truth, 1) == 0):
                raise ValueError(f"y_true must hold integer class labels; found non-integer values{swapped}")
            truth = truth.astype(np.int64)
        if not np.issubdtype(truth.dtype, np.integer) or (
            truth.size and (truth.min() < 0 or truth.max() >= num_classes)
        ):
            raise ValueError(f"integer y_true labels must lie in [0, {num_classes}); found {np.unique(truth)[:10]}")
        return truth.astype(np.int64)
    raise ValueError(f"y_true must be one-hot [N, C] or integer labels [N]; got shape {truth.shape}")


def isic_classification_scores(y_true, y_score, *, class_names=None, positive_class=None) -> dict:
    """ISIC classification scores (2018 Task 3 onward): balanced multiclass accuracy + per-category metrics.

    * ``balanced_accuracy``: labels are the row-wise argmax of ``y_score``; a row with several classes at its
      maximum is undecided and counts as wrong; the mean over the classes present in the truth of their
      recall (:func:`~dermkit.metrics.classification.balanced_multiclass_accuracy`).
    * ``per_class``: one-vs-rest per category — ``accuracy``, ``sensitivity``, ``specificity`` with the
      category's probability thresholded at > 0.5 (NaN when undefined: no positives / no negatives);
      ``auc`` (ROC AUC); ``auc_sens_80`` (the challenge's partial ROC area where sensitivity ≥ 80%: TPR
      integrated over FPR from where TPR first reaches 0.8 to FPR = 1, in [0, 1], perfect 1, random ≈ 0.18,
      see :func:`~dermkit.metrics.classification.partial_auc_above_tpr`); ``average_precision`` (step-wise
      ``average_precision_score``). AUC-type columns are NaN, with a warning, for a category absent from
      (or filling) the truth.

    Args:
        y_true: one-hot ``[N, C]`` or integer labels ``[N]`` in ``0..C-1`` (bools and integer-valued floats
            are accepted as labels).
        y_score: ``[N, C]`` scores, finite, in [0, 1] (softmax or independent sigmoids); for a binary task
            also ``[N]`` or ``[N, 1]``: the probability of class 1 (the positive class), read as the two
            columns ``[1 - p, p]`` (so ``p = 0.5`` is an undecided tie).
        class_names: ``C`` distinct names, in column order; default ``"0"``, ``"1"``, ….
        positive_class: a class name, for binary tasks (``C == 2``) only: adds ``precision``, ``f1`` (of the
            argmax decisions for that class, undecided rows counting as negative decisions) and
            ``confusion_matrix`` (DataFrame, rows true class, columns predicted class plus
            ``"undecided"``).

    * ``macro_average``: the scorer's ``macro_average`` row — the mean over categories of each ``per_class``
      column (categories where a value is NaN left out of that column's mean), a ``pandas.Series`` indexed
      by :data:`CLASSIFICATION_COLUMNS` (:func:`isic_macro_averages` gives its accuracy / sensitivity /
      specificity with the overall and balanced accuracy).

    Returns:
        ``{"balanced_accuracy": float, "per_class": DataFrame, "macro_average": Series}`` plus the three keys
        above when asked.

    Raises:
        ValueError: shapes that disagree, non one-hot truth, labels out of range, probabilities as
            ``y_true`` (swapped arguments), predictions outside [0, 1], duplicate class names, an unknown
            ``positive_class`` or one given with ``C != 2``.
    """
    probs = np.asarray(y_score, dtype=np.float64)
    if probs.ndim == 2 and probs.shape[1] == 1:
        probs = probs[:, 0]
    if probs.ndim == 1:  # binary task: P(class 1)
        probs = np.stack([1.0 - probs, probs], axis=1)
    if probs.ndim != 2:
        raise ValueError(
            f"y_score must be [N, C] class probabilities, or [N] / [N, 1] probabilities of the positive class of a "
            f"binary task; got shape {probs.shape}"
        )
    n, c = probs.shape
    if n == 0:
        raise ValueError("no samples to score")
    names = [str(k) for k in range(c)] if class_names is None else [str(name) for name in class_names]
    if len(names) != c:
        raise ValueError(f"class_names has {len(names)} names but y_score has {c} columns")
    if len(set(names)) != c:
        raise ValueError(f"class_names must be distinct; received class_names={list(class_names)!r}")
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1:
        raise ValueError("y_score must hold finite values in [0, 1]")
    if positive_class is not None:
        if str(positive_class) not in names:
            raise ValueError(f"positive_class must be one of {names}; received positive_class={positive_class!r}")
        if c != 2:
            raise ValueError(f"positive_class is for binary tasks (2 classes); received {c} classes")
    labels = _truth_labels(y_true, c, n)
    decisions = argmax_labels(probs)

    rows = {}
    for k, name in enumerate(names):
        t = labels == k
        s = probs[:, k]
        rates = _rates(binary_counts(t, s > _DECISION_THRESHOLD), if_empty=float("nan"))
        rows[name] = {
            **rates,
            "auc": roc_auc_or_nan(t, s, where=name),
            "auc_sens_80": partial_auc_above_tpr(t, s, min_tpr=0.8, where=name),
            "average_precision": average_precision_or_nan(t, s, where=name),
        }
    per_class = pd.DataFrame.from_dict(rows, orient="index", columns=list(CLASSIFICATION_COLUMNS))
    per_class.index.name = "class"
    scores: dict = {
        "balanced_accuracy": balanced_multiclass_accuracy(labels, decisions),
        "per_class": per_class,
        "macro_average": per_class.mean(axis=0, skipna=True),
    }
    if positive_class is not None:
        pos = names.index(str(positive_class))
        counts = binary_counts(labels == pos, decisions == pos)
        tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
        scores["precision"] = _rate(tp, tp + fp, float("nan"))
        scores["f1"] = _rate(2 * tp, 2 * tp + fp + fn, float("nan"))
        matrix = confusion_matrix(labels, decisions, labels=[*range(c), UNDECIDED])[:c]
        scores["confusion_matrix"] = pd.DataFrame(
            matrix,
            index=pd.Index(names, name="true"),
            columns=pd.Index([*names, "undecided"], name="predicted"),
        )
    return scores


#: Keys of :func:`isic_macro_averages`.
MACRO_COLUMNS: tuple[str, ...] = ("accuracy", "sensitivity", "specificity", "overall_accuracy", "balanced_accuracy")


def isic_macro_averages(y_true, y_score, *, class_names=None) -> dict[str, float]:
    """The ISIC 2018 Task 3 scorer's macro averages, with the overall and balanced accuracy beside.

    ``accuracy``, ``sensitivity``, ``specificity``: the mean over categories of the one-vs-rest values of
    :func:`isic_classification_scores` (each category's probability binarised at > 0.5; a category with no
    positives has no sensitivity and drops out of that mean) — isic-challenge-scoring's ``macro_average``
    row, which is what the challenge's server reported for bisla2019 Table 6. ``overall_accuracy``: the
    share of samples whose argmax is their class (ties wrong); ``balanced_accuracy``: the mean per-class
    recall of the argmax decisions (the challenge's ranking score).

    Args:
        y_true, y_score, class_names: as for :func:`isic_classification_scores`.

    Returns:
        ``{name: float}`` for the names of :data:`MACRO_COLUMNS`.

    Raises:
        ValueError: as :func:`isic_classification_scores`.
    """
    scores = isic_classification_scores(y_true, y_score, class_names=class_names)
    probs = np.asarray(y_score, dtype=np.float64)
    if probs.ndim == 2 and probs.shape[1] == 1:
        probs = probs[:, 0]
    if probs.ndim == 1:
        probs = np.stack([1.0 - probs, probs], axis=1)
    labels = _truth_labels(y_true, probs.shape[1], probs.shape[0])
    macro = scores["macro_average"]
    return {
        "accuracy": float(macro["accuracy"]),
        "sensitivity": float(macro["sensitivity"]),
        "specificity": float(macro["specificity"]),
        "overall_accuracy": float(np.mean(argmax_labels(probs) == labels)),
        "balanced_accuracy": float(scores["balanced_accuracy"]),
    }


def binary_classification_scores(y_true, y_score, *, class_names=("negative", "positive"), positive_class=None) -> dict:
    """The usual scores of a two-class classifier in one call (goel2021 Table 2 and Table 3's matrices).

    Decisions are the row-wise argmax of ``y_score`` (a tied row is undecided and counts as wrong, the ISIC
    rule of :func:`isic_classification_scores`, which this calls for precision, F1, AUC and the matrix).

    * ``accuracy``: share of samples whose decision is their class.
    * ``sensitivity`` (recall of the positive class; goel2021 "malignant acc."), ``specificity`` (recall of
      the negative class; "benign acc."): :func:`~dermkit.metrics.classification.per_class_recall`, NaN for
      a class absent from ``y_true``.
    * ``balanced_accuracy``: :func:`~dermkit.metrics.classification.balanced_multiclass_accuracy` (the mean of
      the two recalls when both classes are present).
    * ``precision``, ``f1`` of the positive decisions (``2·precision·recall / (precision + recall)``, report
      §5.2); ``auc``, ``auc_sens_80``, ``average_precision`` of the positive class's score (NaN with a warning
      for a single-class truth).
    * ``confusion_matrix``: DataFrame, rows true class, columns predicted class plus ``"undecided"``.

    Args:
        y_true: labels ``[N]`` in {0, 1} or one-hot ``[N, 2]``.
        y_score: ``[N, 2]`` scores in [0, 1] (softmax), or ``[N]`` probabilities of class 1.
        class_names: the two names, in column order. Default ``("negative", "positive")``.
        positive_class: the positive class's name; default the second name.

    Returns:
        dict with the keys above (floats, and the DataFrame).

    Raises:
        ValueError: as :func:`isic_classification_scores`; more or fewer than two classes.
    """
    names = [str(name) for name in class_names]
    if len(names) != 2:
        raise ValueError(f"class_names must name two classes. Received: class_names={list(class_names)!r}")
    positive = names[1] if positive_class is None else str(positive_class)
    scores = isic_classification_scores(y_true, y_score, class_names=names, positive_class=positive)
    probs = np.asarray(y_score, dtype=np.float64)
    if probs.ndim == 2 and probs.shape[1] == 1:
        probs = probs[:, 0]
    if probs.ndim == 1:
        probs = np.stack([1.0 - probs, probs], axis=1)
    labels = _truth_labels(y_true, 2, probs.shape[0])
    decisions = argmax_labels(probs)
    pos = names.index(positive)
    recall = per_class_recall(labels, decisions, num_classes=2)
    per_class = scores["per_class"]
    return {
        "accuracy": float(np.mean(decisions == labels)),
        "sensitivity": float(recall[pos]),
        "specificity": float(recall[1 - pos]),
        "balanced_accuracy": float(scores["balanced_accuracy"]),
        "precision": float(scores["precision"]),
        "f1": float(scores["f1"]),
        "auc": float(per_class.loc[positive, "auc"]),
        "auc_sens_80": float(per_class.loc[positive, "auc_sens_80"]),
        "average_precision": float(per_class.loc[positive, "average_precision"]),
        "confusion_matrix": scores["confusion_matrix"],
    }
