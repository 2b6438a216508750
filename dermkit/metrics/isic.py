"""ISIC challenge scoring definitions (../shared/reference/data-formats.md), NumPy + scikit-learn only.

* :func:`isic2017_part2_scores` — 2017 Part 2 (dermoscopic features, kawahara2018 Tables I–II): per feature,
  all superpixels of all images pooled.
* :func:`isic_segmentation_scores` — 2018 Task 1 lesion segmentation (goel2021): per image, macro-averaged.
* :func:`isic_classification_scores` — 2018 Task 3 onward (goel2021): balanced multiclass accuracy and
  per-category one-vs-rest metrics.

Argument order here is the challenge scorers': ground truth first, then predictions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from dermkit.data.isic import ISIC2017_FEATURES
from dermkit.data.masks import binarize_mask
from dermkit.metrics.classification import (
    UNDECIDED,
    argmax_labels,
    average_precision_or_nan,
    average_precision_trapezoid,
    balanced_multiclass_accuracy,
    binary_counts,
    partial_auc_above_tpr,
    per_group_rates,  # re-exported: goel2021's per-skin-tone rates sit beside the challenge definitions
    roc_auc_or_nan,
)
from dermkit.metrics.jaccard import mean_over_channels

__all__ = [
    "PART2_COLUMNS",
    "SEGMENTATION_COLUMNS",
    "CLASSIFICATION_COLUMNS",
    "THRESHOLD_JACCARD_FLOOR",
    "binarize_mask",
    "isic2017_part2_scores",
    "isic_segmentation_scores",
    "isic_classification_scores",
    "per_group_rates",
]

#: Columns of :func:`isic2017_part2_scores`.
PART2_COLUMNS: tuple[str, ...] = (
    "accuracy",
    "auroc",
    "average_precision",
    "sensitivity",
    "specificity",
    "average_precision_step",
)
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


def _superpixel_pairs(truth, pred) -> tuple[np.ndarray, np.ndarray]:
    for name, x in (("truth", truth), ("pred", pred)):
        if isinstance(x, np.ndarray) or not isinstance(x, Sequence):
            raise TypeError(f"{name} must be a list with one [N_i, 4] array per image; got {type(x).__name__}")
    if len(truth) != len(pred):
        raise ValueError(f"truth has {len(truth)} images but pred has {len(pred)}")
    if not truth:
        raise ValueError("no images to score")
    k = len(ISIC2017_FEATURES)
    truths, preds = [], []
    for i, (t, p) in enumerate(zip(truth, pred)):
        t = np.asarray(t, dtype=np.float64)
        p = np.asarray(p, dtype=np.float64)
        if t.ndim != 2 or t.shape[1] != k:
            raise ValueError(f"image {i}: truth must be [N_i, {k}]; got shape {t.shape}")
        if p.shape != t.shape:
            raise ValueError(f"image {i}: pred has shape {p.shape} but truth has {t.shape}")
        if not np.all(np.isfinite(p)) or (p.size and (p.min() < 0 or p.max() > 1)):
            raise ValueError(f"image {i}: predictions must be finite floats in [0, 1]")
        if not np.isin(t, (0.0, 1.0)).all():
            raise ValueError(f"image {i}: truth labels must be 0 or 1")
        truths.append(t)
        preds.append(p)
    return np.concatenate(truths).astype(bool), np.concatenate(preds)


def isic2017_part2_scores(truth, pred) -> pd.DataFrame:
    """ISIC 2017 Part 2 scores: per feature, all superpixels of all images pooled.

    Columns (all in [0, 1], higher is better):

    * ``accuracy``, ``sensitivity``, ``specificity`` — predictions thresholded at > 0.5 (NaN when the
      pooled truth has no positives, resp. no negatives);
    * ``auroc`` — ``roc_auc_score`` on the raw probabilities;
    * ``average_precision`` — the 2017 scorer's AP, the trapezoidal area under the precision–recall curve
      (:func:`~dermkit.metrics.classification.average_precision_trapezoid`); a constant prediction
      scores ``(1 + prevalence) / 2``, as in kawahara2018 Table II's Empty row;
    * ``average_precision_step`` — today's step-wise ``average_precision_score`` (constant → prevalence).

    AUROC and both APs are NaN, with a ``RuntimeWarning``, for a feature whose truth holds a single class.

    Args:
        truth: list (one per image) of ``[N_i, 4]`` 0/1 superpixel labels in
            :data:`~dermkit.data.isic.ISIC2017_FEATURES` order.
        pred: list of ``[N_i, 4]`` predicted probabilities, finite, in [0, 1].

    Returns:
        DataFrame with rows the four features plus ``average`` (the NaN-skipping mean over features) and
        the columns above.

    Raises:
        TypeError: ``truth`` or ``pred`` is not a list of arrays.
        ValueError: lists of different lengths; an image whose pred and truth shapes differ or are not
            ``[N_i, 4]`` (the message names the image index); predictions not finite or outside [0, 1];
            truth not 0/1.
    """
    y_true, y_score = _superpixel_pairs(truth, pred)
    rows = {}
    for k, feature in enumerate(ISIC2017_FEATURES):
        t, s = y_true[:, k], y_score[:, k]
        rates = _rates(binary_counts(t, s > _DECISION_THRESHOLD), if_empty=float("nan"))
        rows[feature] = {
            "accuracy": rates["accuracy"],
            "auroc": roc_auc_or_nan(t, s, where=feature),
            "average_precision": average_precision_trapezoid(t, s, where=feature),
            "sensitivity": rates["sensitivity"],
            "specificity": rates["specificity"],
            "average_precision_step": average_precision_or_nan(t, s, where=feature),
        }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(PART2_COLUMNS))
    table.loc["average"] = [mean_over_channels(table[c].to_numpy()) for c in PART2_COLUMNS]
    return table


# --------------------------------------------------------------------------------------------------------
# 2018 Task 1: lesion segmentation
# --------------------------------------------------------------------------------------------------------


def _mask_list(x, name: str) -> list:
    if isinstance(x, np.ndarray):
        if x.ndim != 3:
            raise ValueError(f"{name} must be [N, H, W] or a list of [H, W] arrays; got shape {x.shape}")
        return list(x)
    if not isinstance(x, Sequence):
        raise TypeError(f"{name} must be an array or a list of arrays; got {type(x).__name__}")
    return list(x)


def isic_segmentation_scores(truth_masks, pred_masks, *, threshold: float | None = None) -> dict:
    """ISIC 2018 Task 1 lesion-segmentation scores, per image then macro-averaged.

    Per image: accuracy, sensitivity, specificity, Jaccard, Dice and threshold Jaccard (Jaccard set to 0
    below 0.65, the challenge's ranking score). Empty cases follow the challenge: both masks empty →
    Jaccard = Dice = 1; no positive pixel → sensitivity 1; no negative pixel → specificity 1.

    Args:
        truth_masks: list of ``[H_i, W_i]`` masks (sizes may differ) or an ``[N, H, W]`` array.
        pred_masks: the predictions, same layout; each pair must have the same size.
        threshold: ``None`` (default) binarises by dtype — bool as is, integer 0/255 at > 128, float in
            [0, 1] at > 0.5 (see :func:`binarize_mask`); a number binarises every non-bool mask at
            ``> threshold`` and is required for integer masks whose maximum is 1.

    Returns:
        ``{"accuracy", "sensitivity", "specificity", "jaccard", "threshold_jaccard", "dice"}`` → macro
        means (floats in [0, 1], higher is better) and ``"per_image"`` → a DataFrame with those columns, one
        row per image.

    Raises:
        TypeError: inputs that are not arrays or lists of arrays.
        ValueError: different image counts; a pair of different sizes (the message names the index); an
            ambiguous integer mask without ``threshold``; float masks outside [0, 1].
    """
    truths = _mask_list(truth_masks, "truth_masks")
    preds = _mask_list(pred_masks, "pred_masks")
    if len(truths) != len(preds):
        raise ValueError(f"truth_masks has {len(truths)} images but pred_masks has {len(preds)}")
    if not truths:
        raise ValueError("no images to score")
    rows = []
    for i, (t, p) in enumerate(zip(truths, preds)):
        t = binarize_mask(t, threshold=threshold, where=f"truth_masks[{i}]")
        p = binarize_mask(p, threshold=threshold, where=f"pred_masks[{i}]")
        if t.shape != p.shape:
            raise ValueError(f"image {i}: truth mask is {t.shape} but prediction is {p.shape}")
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


def _class_labels(truth, num_classes: int, n: int) -> np.ndarray:
    truth = np.asarray(truth)
    if truth.ndim == 2:
        if truth.shape != (n, num_classes):
            raise ValueError(f"one-hot truth must be [N, C] = [{n}, {num_classes}]; got shape {truth.shape}")
        if not (np.isin(truth, (0, 1)).all() and (truth.sum(axis=1) == 1).all()):
            raise ValueError("one-hot truth must hold 0/1 with exactly one 1 per row")
        return truth.argmax(axis=1)
    if truth.ndim == 1:
        if truth.shape[0] != n:
            raise ValueError(f"truth has {truth.shape[0]} labels but probs has {n} rows")
        if not np.issubdtype(truth.dtype, np.integer) or (
            truth.size and (truth.min() < 0 or truth.max() >= num_classes)
        ):
            raise ValueError(f"integer truth labels must lie in [0, {num_classes}); found {np.unique(truth)[:10]}")
        return truth.astype(np.int64)
    raise ValueError(f"truth must be one-hot [N, C] or integer labels [N]; got shape {truth.shape}")


def isic_classification_scores(truth, probs, class_names, *, positive_class=None) -> dict:
    """ISIC classification scores (2018 Task 3 onward): balanced multiclass accuracy + per-category metrics.

    * ``balanced_accuracy``: labels are the row-wise argmax of ``probs``; a row with several classes at its
      maximum is undecided and counts as wrong; the mean over the classes present in the truth of their
      recall (= ``sklearn.metrics.balanced_accuracy_score`` when there are no ties).
    * ``per_class``: one-vs-rest per category — ``accuracy``, ``sensitivity``, ``specificity`` with the
      category's probability thresholded at > 0.5 (NaN when undefined: no positives / no negatives);
      ``auc`` (ROC AUC); ``auc_sens_80`` (the challenge's partial ROC area where sensitivity ≥ 80%: TPR
      integrated over FPR from where TPR first reaches 0.8 to FPR = 1, in [0, 1], perfect 1, random ≈ 0.18,
      see :func:`~dermkit.metrics.classification.partial_auc_above_tpr`); ``average_precision`` (step-wise
      ``average_precision_score``). AUC-type columns are NaN, with a warning, for a category absent from
      (or filling) the truth.

    Args:
        truth: one-hot ``[N, C]`` or integer labels ``[N]`` in ``0..C-1``.
        probs: ``[N, C]`` scores, finite, in [0, 1] (softmax or independent sigmoids).
        class_names: ``C`` distinct names, in column order.
        positive_class: a class name, for binary tasks (``C == 2``) only: adds ``precision``, ``f1`` (of the
            argmax decisions for that class, undecided rows counting as negative decisions) and
            ``confusion_matrix`` (DataFrame, rows true class, columns predicted class plus
            ``"undecided"``).

    Returns:
        ``{"balanced_accuracy": float, "per_class": DataFrame}`` plus the three keys above when asked.

    Raises:
        ValueError: shapes that disagree, non one-hot truth, labels out of range, probabilities outside
            [0, 1], duplicate class names, an unknown ``positive_class`` or one given with ``C != 2``.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must be [N, C]; got shape {probs.shape}")
    n, c = probs.shape
    if n == 0:
        raise ValueError("no samples to score")
    names = [str(name) for name in class_names]
    if len(names) != c:
        raise ValueError(f"class_names has {len(names)} names but probs has {c} columns")
    if len(set(names)) != c:
        raise ValueError(f"class_names must be distinct; received class_names={list(class_names)!r}")
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1:
        raise ValueError("probs must hold finite values in [0, 1]")
    if positive_class is not None:
        if str(positive_class) not in names:
            raise ValueError(f"positive_class must be one of {names}; received positive_class={positive_class!r}")
        if c != 2:
            raise ValueError(f"positive_class is for binary tasks (2 classes); received {c} classes")
    labels = _class_labels(truth, c, n)
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
