"""Classification metrics shared by the ISIC definitions and the papers (NumPy + scikit-learn, no TensorFlow).

Argument order: ``y_true`` first, then ``y_pred`` / ``y_score`` (the scikit-learn order). Scores named
``*_score`` or rates: higher is better, except :func:`per_group_rates`' ``false_negative_rate``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import (
    auc,
    average_precision_score,
    balanced_accuracy_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

__all__ = [
    "UNDECIDED",
    "binary_counts",
    "argmax_labels",
    "class_labels",
    "balanced_multiclass_accuracy",
    "decisions",
    "per_class_recall",
    "roc_auc_or_nan",
    "average_precision_or_nan",
    "average_precision_trapezoid",
    "partial_auc_above_tpr",
    "per_group_rates",
]

#: Label given by :func:`argmax_labels` to a row where several classes share the maximum.
UNDECIDED = -1


def _binary(y, name: str) -> np.ndarray:
    """0/1 or bool labels → bool ``[N]``; anything else is refused."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {y.shape}")
    if y.dtype != bool and not np.isin(y, (0, 1)).all():
        raise ValueError(f"{name} must hold binary labels (0/1 or bool); found values {np.unique(y)[:10]}")
    return y.astype(bool)


def binary_counts(y_true, y_pred) -> dict[str, int]:
    """Confusion counts of binary labels: ``{"tp", "fp", "fn", "tn"}`` (ints)."""
    t = _binary(y_true, "y_true")
    p = _binary(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has {p.shape}")
    return {
        "tp": int(np.sum(t & p)),
        "fp": int(np.sum(~t & p)),
        "fn": int(np.sum(t & ~p)),
        "tn": int(np.sum(~t & ~p)),
    }


def argmax_labels(probs) -> np.ndarray:
    """Row-wise argmax of ``[N, C]`` scores; a row with more than one class at its maximum gets
    :data:`UNDECIDED` (-1), which matches no class and so always counts as wrong (the ISIC rule)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"scores must be [N, C]; got shape {probs.shape}")
    labels = probs.argmax(axis=1)
    ties = (probs == probs.max(axis=1, keepdims=True)).sum(axis=1) > 1
    return np.where(ties, UNDECIDED, labels)


def class_labels(y, *, name: str = "y") -> np.ndarray:
    """Class labels ``[N]`` from any of the forms labels and predictions arrive in (one rule for dermkit).

    * ``[N, C]`` (C > 1) one-hot or scores (softmax, independent sigmoids): :func:`argmax_labels`, a row
      with several classes at its maximum is :data:`UNDECIDED`;
    * ``[N]`` or ``[N, 1]`` integers, bools or integer-valued floats: the labels themselves (``int64``);
    * ``[N]`` or ``[N, 1]`` other floats in [0, 1]: P(class 1) of a binary task (a sigmoid output), 1 when
      ``> 0.5``, 0 when ``< 0.5`` and :data:`UNDECIDED` at exactly 0.5 (the tie of ``[0.5, 0.5]``);
    * ``[N]`` strings or other objects: returned as they are.

    Args:
        y: the array (or nested list).
        name: the argument's name in error messages.

    Raises:
        ValueError: more than 2 dimensions; non-finite scores; 1-D floats that are neither integers nor
            probabilities in [0, 1].
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)):
            raise ValueError(f"{name} [N, C] must hold finite numbers (one-hot or class scores)")
        return argmax_labels(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be labels [N], [N, 1] or class scores [N, C]; got shape {y.shape}")
    if y.dtype == bool or np.issubdtype(y.dtype, np.integer):
        return y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.floating):
        return y
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name} holds NaN or infinite values")
    if np.all(np.mod(y, 1) == 0):
        return y.astype(np.int64)
    if y.min() < 0 or y.max() > 1:
        raise ValueError(
            f"{name}: 1-D floats must be integer labels or probabilities in [0, 1]; found values in "
            f"[{y.min()}, {y.max()}]"
        )
    return np.where(y == 0.5, UNDECIDED, (y > 0.5).astype(np.int64))


def decisions(y_pred=None, y_score=None, *, where: str = "") -> np.ndarray:
    """The argument a decision metric scores, by scikit-learn's words (issue 18): exactly one of ``y_pred``
    (predicted labels ``[N]`` / ``[N, 1]``: integers, bools, integer-valued floats or names) and ``y_score``
    (class scores ``[N, C]``, or ``[N]`` / ``[N, 1]`` probabilities of class 1). Returns the array for
    :func:`class_labels` (scores are decided there: row-wise argmax, ties :data:`UNDECIDED`).

    Raises:
        ValueError: both or neither given; ``y_pred`` holding scores (pass them as ``y_score=``).
    """
    prefix = f"{where}: " if where else ""
    if (y_pred is None) == (y_score is None):
        raise ValueError(f"{prefix}pass exactly one of y_pred (predicted labels [N]) and y_score (class scores "
                         f"[N, C] or probabilities [N]); received {'both' if y_pred is not None else 'neither'}")
    if y_score is not None:
        return np.asarray(y_score)
    array = np.asarray(y_pred)
    flat = array[:, 0] if array.ndim == 2 and array.shape[1] == 1 else array
    scores = flat.ndim == 2 or (flat.ndim == 1 and np.issubdtype(flat.dtype, np.floating) and flat.size
                                and np.all(np.isfinite(flat)) and not np.all(np.mod(flat, 1) == 0))
    if scores:
        raise ValueError(f"{prefix}y_pred holds scores (shape {array.shape}, dtype {array.dtype}); y_pred is for "
                         "predicted labels — pass class scores or probabilities as y_score= (scikit-learn's words)")
    return array


def balanced_multiclass_accuracy(y_true, y_pred=None, *, y_score=None) -> float:
    """Balanced (multiclass) accuracy: the mean over the classes present in ``y_true`` of per-class recall.

    The one definition in dermkit (ISIC 2018 Task 3's ranking score; goel2021's mean of benign and
    malignant accuracy; :class:`~dermkit.training.callbacks.BestBalancedAccuracy`): both arguments go through
    :func:`class_labels`, then ``sklearn.metrics.balanced_accuracy_score``. A prediction row with several
    classes at its maximum is :data:`UNDECIDED` and counts as wrong (the ISIC rule); a class predicted but
    absent from ``y_true`` adds no term. In [0, 1], 1 is best, chance is ``1/K``.

    Args:
        y_true: labels ``[N]`` (ints, bools, integer-valued floats, strings) or one-hot ``[N, C]``.
        y_pred: predicted labels ``[N]`` (possibly :data:`UNDECIDED`); or, instead,
        y_score: class scores ``[N, C]`` (softmax), or ``[N]`` / ``[N, 1]`` probabilities of class 1 for a
            binary task (:func:`decisions`: exactly one of the two).

    Raises:
        ValueError: different sample counts or column counts; no samples; a ``y_true`` row that names no
            single class; bad values (see :func:`class_labels`).
    """
    raw_true, raw_pred = np.asarray(y_true), decisions(y_pred, y_score, where="balanced_multiclass_accuracy")
    if raw_true.ndim == raw_pred.ndim == 2 and raw_true.shape[1] > 1 and raw_true.shape[1] != raw_pred.shape[1]:
        raise ValueError(f"y_true has {raw_true.shape[1]} columns but y_pred has {raw_pred.shape[1]}")
    flat_true = raw_true.reshape(-1) if raw_true.ndim == 2 and raw_true.shape[1] == 1 else raw_true
    if flat_true.ndim == 1 and np.issubdtype(flat_true.dtype, np.floating) and not np.all(np.mod(flat_true, 1) == 0):
        raise ValueError(
            "y_true must hold class labels, not probabilities (y_true comes first, then y_pred); found "
            f"non-integer values such as {flat_true[np.mod(flat_true, 1) != 0][:3].tolist()}"
        )
    t = class_labels(raw_true, name="y_true")
    p = class_labels(raw_pred, name="y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} samples but y_pred has {p.shape[0]}")
    if t.size == 0:
        raise ValueError("no samples to score")
    if np.issubdtype(t.dtype, np.integer) and (t == UNDECIDED).any():
        rows = np.flatnonzero(t == UNDECIDED)[:10].tolist()
        raise ValueError(f"y_true must name one class per sample; rows {rows} have several classes at their maximum")
    with warnings.catch_warnings():  # a class predicted but absent from the truth is not an error here
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true", category=UserWarning)
        return float(balanced_accuracy_score(t, p))


def per_class_recall(y_true, y_pred=None, *, y_score=None, num_classes: int) -> np.ndarray:
    """Recall of each class ``0..num_classes-1``: the share of its samples predicted as it (goel2021's "benign
    acc." and "malignant acc.", Table 2; the terms :func:`balanced_multiclass_accuracy` averages).

    Both arguments go through :func:`class_labels` (a prediction row tied between classes is
    :data:`UNDECIDED` and counts as wrong). A class absent from ``y_true`` gets NaN.

    Args:
        y_true: integer labels ``[N]`` or one-hot ``[N, C]``.
        y_pred: predicted labels ``[N]``; or y_score: class scores ``[N, C]`` or ``[N]`` probabilities of
            class 1 (binary task) — exactly one (:func:`decisions`).
        num_classes: ``C``.

    Returns:
        ``float64 [num_classes]``.

    Raises:
        ValueError: different sample counts; labels outside ``0..num_classes-1``.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer. Received: num_classes={num_classes!r}")
    t = class_labels(y_true, name="y_true")
    p = class_labels(decisions(y_pred, y_score, where="per_class_recall"), name="y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} samples but y_pred has {p.shape[0]}")
    if not np.issubdtype(t.dtype, np.integer) or (t.size and (t.min() < 0 or t.max() >= num_classes)):
        raise ValueError(f"y_true labels must lie in [0, {num_classes}); found {np.unique(t)[:10]}")
    out = np.full(int(num_classes), np.nan)
    for k in range(int(num_classes)):
        members = t == k
        if members.any():
            out[k] = float(np.mean(p[members] == k))
    return out


def _single_class_nan(y_true: np.ndarray, metric: str, where: str) -> bool:
    if np.unique(y_true).size < 2:
        src = f"{where}: " if where else ""
        warnings.warn(
            f"{src}{metric} is undefined when the truth holds a single class; returning NaN",
            RuntimeWarning,
            stacklevel=3,
        )
        return True
    return False


def roc_auc_or_nan(y_true, y_score, *, where: str = "") -> float:
    """``sklearn.metrics.roc_auc_score``, or NaN with a ``RuntimeWarning`` when ``y_true`` has one class."""
    y_true = _binary(y_true, "y_true")
    if _single_class_nan(y_true, "ROC AUC", where):
        return float("nan")
    return float(roc_auc_score(y_true, y_score))


def average_precision_or_nan(y_true, y_score, *, where: str = "") -> float:
    """``sklearn.metrics.average_precision_score`` (step-wise AP), NaN with a warning for a single class."""
    y_true = _binary(y_true, "y_true")
    if _single_class_nan(y_true, "average precision", where):
        return float("nan")
    return float(average_precision_score(y_true, y_score))


def average_precision_trapezoid(y_true, y_score, *, where: str = "") -> float:
    """Average precision as the ISIC 2017 scorer computed it: trapezoidal area under the PR curve.

    ``sklearn.metrics.auc(recall, precision)`` on ``precision_recall_curve`` (scikit-learn's
    ``average_precision_score`` before 0.19). Linear interpolation between PR points is optimistic: a
    constant prediction scores ``(1 + prevalence) / 2`` (why kawahara2018 Table II's Empty row shows
    AP ≈ 0.50) where the step-wise AP gives the prevalence. NaN with a warning for a single class.
    """
    y_true = _binary(y_true, "y_true")
    if _single_class_nan(y_true, "average precision", where):
        return float("nan")
    precision, recall, _ = precision_recall_curve(y_true, y_score)
    return float(auc(recall, precision))


def partial_auc_above_tpr(y_true, y_score, *, min_tpr: float = 0.8, where: str = "") -> float:
    """Partial area under the ROC curve where sensitivity is at least ``min_tpr`` (ISIC ``auc_sens_80``).

    The ISIC challenge scorer's definition (isic-challenge-scoring ``auc_above_sensitivity``, 2018 Task 3
    onward, ../shared/reference/data-formats.md): take ``sklearn.metrics.roc_curve``; cut the curve at the
    point where TPR first reaches ``min_tpr`` — a point inserted at exactly ``TPR = min_tpr`` on the
    segment that crosses it, at ``FPR = f*`` — and integrate TPR over FPR from there to ``FPR = 1`` with
    ``sklearn.metrics.auc`` (trapezoids on the ROC polyline):

        ``auc_sens_80 = ∫_{f*}^{1} TPR(FPR) dFPR``

    It is the area *under* the curve over that FPR range, measured from ``TPR = 0``, not McClish-corrected;
    in [0, 1], 1 is best. With ``min_tpr = 0.8``: a perfect classifier scores 1 (``f* = 0``), a random one
    (the diagonal) ``∫_0.8^1 f df = 0.18``, the ROC polyline (0,0)–(0.5,0.8)–(1,1) ``0.5·(0.8+1)/2 = 0.45``.
    ``min_tpr = 0`` gives the whole ROC AUC. Tied scores are one ROC segment (scikit-learn's convention).

    Args:
        y_true: binary labels ``[N]`` (0/1 or bool).
        y_score: scores ``[N]``, higher means positive.
        min_tpr: the sensitivity floor in [0, 1]; default 0.8.
        where: prefix for the warning message.

    Returns:
        The area, or NaN with a ``RuntimeWarning`` when ``y_true`` holds a single class.

    Raises:
        ValueError: ``min_tpr`` outside [0, 1]; non-binary ``y_true``.
    """
    if not 0.0 <= min_tpr <= 1.0:
        raise ValueError(f"min_tpr must lie in [0, 1]; received min_tpr={min_tpr!r}")
    y_true = _binary(y_true, "y_true")
    if _single_class_nan(y_true, "partial AUC", where):
        return float("nan")
    fpr, tpr, _ = roc_curve(y_true, y_score, drop_intermediate=False)
    # TPR is non-decreasing along the curve and starts at 0: j is the first point with TPR >= min_tpr.
    j = int(np.searchsorted(tpr, min_tpr, side="left"))
    if j == 0:  # min_tpr == 0: the whole curve
        f_cross = fpr[0]
    else:  # tpr[j - 1] < min_tpr <= tpr[j]: interpolate FPR on that segment
        f_cross = fpr[j - 1] + (min_tpr - tpr[j - 1]) * (fpr[j] - fpr[j - 1]) / (tpr[j] - tpr[j - 1])
    return float(auc(np.concatenate([[f_cross], fpr[j:]]), np.concatenate([[min_tpr], tpr[j:]])))


def per_group_rates(y_true, y_pred, groups) -> pd.DataFrame:
    """Sensitivity and false-negative rate per group (goel2021's per-skin-tone analysis).

    Args:
        y_true: binary labels ``[N]`` (0/1 or bool), 1 = positive (e.g. malignant).
        y_pred: binary predictions ``[N]``.
        groups: ``[N]`` group of each sample (e.g. a skin-tone label); any hashable, sortable values.

    Returns:
        DataFrame indexed by group (sorted) with columns ``n, positives, true_positives,
        false_negatives, sensitivity, false_negative_rate``; the two rates are NaN for a group with no
        positives (undefined, not 0).

    Raises:
        ValueError: non-binary labels or predictions, or lengths that differ.
    """
    t = _binary(y_true, "y_true")
    p = _binary(y_pred, "y_pred")
    g = np.asarray(groups)
    if not (t.shape == p.shape == g.shape):
        raise ValueError(f"y_true, y_pred and groups must have equal length; got {t.shape}, {p.shape}, {g.shape}")
    frame = pd.DataFrame({"group": g, "pos": t, "tp": t & p})
    table = frame.groupby("group", sort=True).agg(
        n=("pos", "size"), positives=("pos", "sum"), true_positives=("tp", "sum")
    )
    table = table.astype(int)
    table["false_negatives"] = table["positives"] - table["true_positives"]
    positives = table["positives"].to_numpy(dtype=np.float64)
    sensitivity = np.full(len(table), np.nan)
    np.divide(table["true_positives"].to_numpy(dtype=np.float64), positives, out=sensitivity, where=positives > 0)
    table["sensitivity"] = sensitivity
    table["false_negative_rate"] = 1.0 - sensitivity
    table.index.name = "group"
    return table


# --- barata2020: multiclass scores (Acc, BAcc, mPR, mF1, per-class RE / PR / F1) ---------------------------

__all__ += ["multiclass_scores"]


def multiclass_scores(y_true, y_pred=None, *, y_score=None, class_names, zero_division: float = 0.0) -> dict:
    """barata2020's evaluation (Section 4.4): Acc, BAcc, mPR, mF1 and per-class RE, PR, F1 of a C-class task.

    Both arguments go through :func:`class_labels` (a prediction row with several classes at its maximum is
    :data:`UNDECIDED` and counts as wrong for its true class, predicted for none). With per-class recall
    ``RE_c``, precision ``PR_c`` and ``F1_c = 2·PR_c·RE_c / (PR_c + RE_c)``
    (``sklearn.metrics.precision_recall_fscore_support`` over ``labels = 0..C-1``):

    - ``accuracy``: the fraction of samples whose predicted class is the true one (``accuracy_score``);
    - ``balanced_accuracy``: the mean ``RE_c`` over the classes present in ``y_true``
      (:func:`balanced_multiclass_accuracy`, dermkit's one definition);
    - ``mean_precision``, ``mean_f1``: the unweighted means of ``PR_c`` and ``F1_c`` over all ``C`` classes
      (``F1`` macro-averaged as ``f1_score(average="macro")``, not the F1 of the mean PR and RE).

    All in [0, 1], 1 is best. A class never predicted has ``PR_c = zero_division`` (and ``F1_c`` too when its
    recall is 0); a class absent from ``y_true`` has support 0, ``RE_c = zero_division``, no term in
    ``balanced_accuracy``, and a ``RuntimeWarning`` naming it.

    Args:
        y_true: labels ``[N]`` (integers ``0..C-1``, or names from ``class_names``) or one-hot ``[N, C]``.
        y_pred: predicted labels ``[N]`` (as ``y_true``); or y_score: class scores ``[N, C]`` (softmax
            probabilities) — exactly one (:func:`decisions`).
        class_names: the ``C`` class names, in label order (index ``c`` names label ``c``).
        zero_division: the value of an undefined precision / recall / F1. Default 0.0 (scikit-learn's).

    Returns:
        ``{"accuracy", "balanced_accuracy", "mean_precision", "mean_f1"}`` (floats) and ``"per_class"``: a
        DataFrame indexed by class name (index name ``"class"``) with columns ``recall, precision, f1``
        (floats) and ``support`` (int, samples of the class in ``y_true``).

    Raises:
        ValueError: fewer than 2 or repeated class names; scores or one-hot with a column count other than
            ``C``; labels outside ``0..C-1`` or not in ``class_names``; different sample counts; no samples.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    names = [str(name) for name in class_names] if not isinstance(class_names, str) else []
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(f"class_names must list at least 2 distinct class names; received class_names={class_names!r}")
    num_classes = len(names)

    def labels_of(values, arg: str) -> np.ndarray:
        array = np.asarray(values)
        if array.ndim == 2 and array.shape[1] > 1 and array.shape[1] != num_classes:
            raise ValueError(f"{arg} has {array.shape[1]} columns but class_names lists {num_classes} classes")
        labels = class_labels(array, name=arg)
        if not np.issubdtype(labels.dtype, np.number):
            unknown = sorted({str(v) for v in labels} - set(names))
            if unknown:
                raise ValueError(f"{arg} holds labels not in class_names: {unknown[:10]}")
            index = {name: i for i, name in enumerate(names)}
            return np.asarray([index[str(v)] for v in labels], dtype=np.int64)
        bad = ((labels < 0) & (labels != UNDECIDED)) | (labels >= num_classes)
        if arg == "y_true":
            bad |= labels == UNDECIDED
        if bad.any():
            raise ValueError(
                f"{arg} labels must lie in 0..{num_classes - 1} (one per class name); found "
                f"{np.unique(labels[bad])[:10].tolist()}"
                + (" (rows naming no single class)" if arg == "y_true" and (labels == UNDECIDED).any() else "")
            )
        return labels.astype(np.int64)

    t = labels_of(y_true, "y_true")
    p = labels_of(decisions(y_pred, y_score, where="multiclass_scores"), "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} samples but y_pred has {p.shape[0]}")
    if t.size == 0:
        raise ValueError("no samples to score")
    labels = list(range(num_classes))
    with warnings.catch_warnings():  # undefined PR / RE take zero_division; absent classes warned below
        warnings.simplefilter("ignore")
        precision, recall, f1, support = precision_recall_fscore_support(
            t, p, labels=labels, zero_division=zero_division
        )
    absent = [names[c] for c in labels if support[c] == 0]
    if absent:
        warnings.warn(
            f"classes {absent} have no sample in y_true: their recall is undefined (set to {zero_division}) and "
            "balanced_accuracy averages over the other classes",
            RuntimeWarning,
            stacklevel=2,
        )
    per_class = pd.DataFrame(
        {
            "recall": recall.astype(np.float64),
            "precision": precision.astype(np.float64),
            "f1": f1.astype(np.float64),
            "support": support.astype(np.int64),
        },
        index=pd.Index(names, name="class"),
    )
    return {
        "accuracy": float(accuracy_score(t, p)),
        "balanced_accuracy": balanced_multiclass_accuracy(t, y_pred=p),
        "mean_precision": float(np.mean(precision)),
        "mean_f1": float(np.mean(f1)),
        "per_class": per_class,
    }


# --- bisla2019: Tables 3, 4 and 6 --------------------------------------------------------------------------

__all__ += [
    "SENSITIVITY_LEVELS",
    "specificity_at_sensitivity",
    "per_class_roc_auc",
    "mean_roc_auc",
    "accuracy_sensitivity_specificity",
]

#: bisla2019 Table 4's sensitivity levels (the ISIC 2017 challenge's melanoma operating points).
SENSITIVITY_LEVELS = (0.82, 0.89, 0.95)


def specificity_at_sensitivity(y_true, y_score, *, levels=SENSITIVITY_LEVELS, where: str = "") -> dict:
    """The best specificity among thresholds whose sensitivity reaches each level (bisla2019 Table 4).

    From ``sklearn.metrics.roc_curve(y_true, y_score, drop_intermediate=False)``: for a level ``s``,
    ``max(1 − FPR)`` over the ROC points with ``TPR ≥ s`` (the threshold ``+inf`` point has TPR 0, the lowest
    threshold TPR 1, so every level in [0, 1] has a point). In [0, 1], higher is better.

    Args:
        y_true: binary labels ``[N]`` (0/1 or bool), 1 = positive (melanoma in Table 4).
        y_score: ``[N]`` scores, higher means positive.
        levels: sensitivities in [0, 1]. Default (0.82, 0.89, 0.95).
        where: prefix for the warning message.

    Returns:
        ``{level: specificity}`` (floats, in the order given); NaN values with a ``RuntimeWarning`` when
        ``y_true`` holds one class.

    Raises:
        ValueError: non-binary labels, lengths that differ, or a level outside [0, 1].
    """
    levels = [float(v) for v in np.atleast_1d(levels)]
    if not levels or any(not 0.0 <= v <= 1.0 for v in levels):
        raise ValueError(f"levels must be sensitivities in [0, 1]; received levels={levels!r}")
    t = _binary(y_true, "y_true")
    s = np.asarray(y_score, dtype=np.float64)
    if s.shape != t.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_score has {s.shape}")
    if _single_class_nan(t, "specificity at sensitivity", where):
        return {v: float("nan") for v in levels}
    fpr, tpr, _ = roc_curve(t, s, drop_intermediate=False)
    return {v: float(np.max(1.0 - fpr[tpr >= v - 1e-12])) for v in levels}


def _score_matrix(y_score, class_names) -> tuple[np.ndarray, list[str]]:
    scores = np.asarray(y_score, dtype=np.float64)
    names = [str(name) for name in class_names]
    if scores.ndim != 2 or scores.shape[1] != len(names):
        raise ValueError(f"y_score must be [N, {len(names)}] (one column per class name); got shape {scores.shape}")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names must be distinct; received class_names={list(class_names)!r}")
    return scores, names


def per_class_roc_auc(y_true, y_score, *, class_names) -> dict[str, float]:
    """One-vs-rest ROC AUC of each class (bisla2019 Table 3, the ISIC 2017 Part 3 metric).

    Args:
        y_true: integer labels ``[N]`` in ``0..C-1`` or one-hot ``[N, C]``.
        y_score: ``[N, C]`` scores (softmax probabilities), column ``c`` for class ``c``.
        class_names: the ``C`` names, in column order.

    Returns:
        ``{name: auc}``; NaN with a warning for a class absent from (or filling) ``y_true``.

    Raises:
        ValueError: shapes that disagree, labels out of range.
    """
    scores, names = _score_matrix(y_score, class_names)
    labels = class_labels(y_true, name="y_true")
    if labels.shape[0] != scores.shape[0]:
        raise ValueError(f"y_true has {labels.shape[0]} samples but y_score has {scores.shape[0]}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= len(names):
        raise ValueError(f"y_true labels must lie in 0..{len(names) - 1}; found {np.unique(labels)[:10]}")
    return {name: roc_auc_or_nan(labels == k, scores[:, k], where=name) for k, name in enumerate(names)}


def mean_roc_auc(y_true, y_score, *, class_names, labels=("melanoma", "seborrheic_keratosis")) -> float:
    """The mean of :func:`per_class_roc_auc` over ``labels`` (names from ``class_names``, scikit-learn's word
    for a subset of the classes) — the ISIC 2017 challenge's ranking score, the mean of the melanoma and
    seborrhoeic-keratosis AUCs (bisla2019 Table 3 "Avg": 0.915).

    Raises:
        ValueError: a name of ``labels`` not in ``class_names``; see :func:`per_class_roc_auc`.
    """
    aucs = per_class_roc_auc(y_true, y_score, class_names=class_names)
    missing = [c for c in labels if str(c) not in aucs]
    if missing or not labels:
        raise ValueError(f"labels must be names from class_names {list(aucs)}; received labels={labels!r}")
    return float(np.mean([aucs[str(c)] for c in labels]))


def accuracy_sensitivity_specificity(y_true, y_pred=None, *, y_score=None, num_classes: int) -> dict[str, float]:
    """Overall accuracy, mean per-class recall and mean one-vs-rest specificity of a C-class classifier (argmax
    decisions). bisla2019 Table 6 uses :func:`dermkit.metrics.isic.isic_macro_averages` (the ISIC scorer's
    macro averages) instead; no single definition fits both of its printed rows.

    * ``accuracy``: the share of samples whose predicted class is the true one;
    * ``sensitivity``: the mean per-class recall over the classes present in ``y_true`` — the balanced
      multiclass accuracy (:func:`balanced_multiclass_accuracy`, dermkit's one definition);
    * ``specificity``: the mean over the same classes of the one-vs-rest specificity
      ``TN_c / (TN_c + FP_c)`` (samples of other classes not predicted as ``c``).

    Predictions go through
    :func:`class_labels`: a tied row is :data:`UNDECIDED`, wrong for its class and predicted as none.

    Args:
        y_true: integer labels ``[N]`` or one-hot ``[N, C]``.
        y_pred: predicted labels ``[N]``; or y_score: class scores ``[N, C]`` — exactly one (:func:`decisions`).
        num_classes: ``C``.

    Returns:
        ``{"accuracy", "sensitivity", "specificity"}``, floats in [0, 1].

    Raises:
        ValueError: see :func:`per_class_recall`; no samples.
    """
    given = decisions(y_pred, y_score, where="accuracy_sensitivity_specificity")
    per_class_recall(y_true, y_score=given, num_classes=num_classes)  # validates shapes and label ranges
    t = class_labels(y_true, name="y_true")
    p = class_labels(given, name="y_pred")
    if t.size == 0:
        raise ValueError("no samples to score")
    present = [k for k in range(int(num_classes)) if np.any(t == k)]
    specificity = []
    for k in present:
        negatives = t != k
        specificity.append(float(np.mean(p[negatives] != k)) if negatives.any() else float("nan"))
    return {
        "accuracy": float(np.mean(t == p)),
        "sensitivity": balanced_multiclass_accuracy(t, y_pred=p),
        "specificity": float(np.nanmean(specificity)) if not np.all(np.isnan(specificity)) else float("nan"),
    }
