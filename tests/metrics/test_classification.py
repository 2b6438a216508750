"""dermkit.metrics.classification: the one label rule (class_labels) and the one balanced accuracy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from dermkit.metrics.classification import UNDECIDED, balanced_multiclass_accuracy, class_labels


def as_prediction(y) -> dict:
    """The keyword a prediction goes under (scikit-learn's words, issue 18): y_score for class scores or
    probabilities, y_pred for labels."""
    a = np.asarray(y)
    flat = a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a
    scores = flat.ndim == 2 or (flat.ndim == 1 and flat.dtype.kind == "f" and flat.size > 0
                                and not np.all(np.mod(flat, 1) == 0))
    return {"y_score": y} if scores else {"y_pred": y}


# (y, expected labels)
LABEL_CASES = [
    # [2, 2] scores → argmax
    ([[0.9, 0.1], [0.4, 0.6]], [0, 1]),
    # [3, 3] one-hot with a tied row → undecided
    ([[0, 0, 1], [0.4, 0.4, 0.2], [1, 0, 0]], [2, UNDECIDED, 0]),
    # [3] integer labels, [2] bools, [3] integer-valued floats, [2, 1] float labels
    ([0, 2, 1], [0, 2, 1]),
    ([True, False], [1, 0]),
    ([0.0, 2.0, 1.0], [0, 2, 1]),
    ([[1.0], [0.0]], [1, 0]),
    # [3] and [3, 1] sigmoid probabilities: > 0.5 → 1, < 0.5 → 0, exactly 0.5 is the tie of [0.5, 0.5]
    ([0.7, 0.2, 0.5], [1, 0, UNDECIDED]),
    ([[0.7], [0.2], [0.5]], [1, 0, UNDECIDED]),
    # [2] strings stay as they are
    (["mel", "nv"], ["mel", "nv"]),
]


@pytest.mark.parametrize("y, expected", LABEL_CASES)
def test_class_labels(y, expected):
    np.testing.assert_array_equal(class_labels(y), expected)


@pytest.mark.parametrize(
    "y, message",
    [
        (np.zeros((2, 2, 2)), r"y must be labels \[N\], \[N, 1\] or class scores \[N, C\]; got shape \(2, 2, 2\)"),
        (
            [1.5, 0.2],
            r"y: 1-D floats must be integer labels or probabilities in \[0, 1\]; found values in "
            r"\[0.2, 1.5\]",
        ),
        ([0.2, np.nan], "y holds NaN or infinite values"),
        ([[0.2, np.inf], [0.1, 0.3]], r"y \[N, C\] must hold finite numbers"),
    ],
)
def test_class_labels_errors(y, message):
    with pytest.raises(ValueError, match=message):
        class_labels(y)


# (y_true, y_pred, expected balanced accuracy), worked by hand
BALANCED_CASES = [
    # [4] labels: recalls 1/2, 1, 1
    ([0, 0, 1, 2], [0, 1, 1, 2], 2.5 / 3),
    # [3, 2] one-hot truth, [3, 2] softmax: class 0 recall 1/2, class 1 recall 1
    ([[1, 0], [1, 0], [0, 1]], [[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]], 0.75),
    # [2] labels, [2, 2] scores with a tie: the tied row is wrong → recalls 0, 1
    ([0, 1], [[0.5, 0.5], [0.2, 0.8]], 0.5),
    # [4] labels, [4, 1] sigmoid probabilities: recalls 1/2 (0.7 wrong), 1/2 (0.4 wrong)
    ([0, 0, 1, 1], [[0.2], [0.7], [0.9], [0.4]], 0.5),
    # [2] labels, [2] probabilities, 0.5 undecided: recalls 0, 1
    ([0, 1], [0.5, 0.9], 0.5),
    # [3] integer-valued float truth: recalls 1, 1, 0
    ([0.0, 1.0, 2.0], [0, 1, 1], 2 / 3),
    # [2] bools: recalls 1 (True), 0 (False)
    ([True, False], [True, True], 0.5),
    # class 2 predicted but absent from the truth: mean over the two present classes, recalls 1, 0
    ([0, 1], [0, 2], 0.5),
    # [2] strings
    (["mel", "nv"], ["mel", "mel"], 0.5),
]


@pytest.mark.parametrize("y_true, y_pred, expected", BALANCED_CASES)
def test_balanced_multiclass_accuracy_cases(y_true, y_pred, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no sklearn warning for a class absent from the truth
        assert balanced_multiclass_accuracy(y_true, **as_prediction(y_pred)) == pytest.approx(expected)


def test_balanced_multiclass_accuracy_is_sklearn_on_argmax_without_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    probs = rng.random((200, 4))
    expected = balanced_accuracy_score(y, probs.argmax(axis=1))
    assert balanced_multiclass_accuracy(y, y_score=probs) == pytest.approx(expected)
    assert balanced_multiclass_accuracy(np.eye(4)[y], y_score=probs) == pytest.approx(expected)
    with pytest.raises(ValueError, match="pass class scores or probabilities as y_score="):
        balanced_multiclass_accuracy(y, probs)  # scores are y_score, labels y_pred (scikit-learn's words)
    with pytest.raises(ValueError, match="exactly one of y_pred"):
        balanced_multiclass_accuracy(y, y, y_score=probs)


@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        ([0, 1], [0, 1, 1], "y_true has 2 samples but y_pred has 3"),
        ([], [], "no samples to score"),
        ([[0.5, 0.5], [1, 0]], [0, 1], r"y_true must name one class per sample; rows \[0\] have several classes"),
        (np.eye(3), np.eye(2), "y_true has 3 columns but y_pred has 2"),
        ([0.2, 0.9], [0, 1], r"y_true must hold class labels, not probabilities \(y_true comes first"),
        ([0, 1], [1.5, 0.2], "y_pred: 1-D floats must be integer labels or probabilities"),
    ],
)
def test_balanced_multiclass_accuracy_errors(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        balanced_multiclass_accuracy(y_true, **as_prediction(y_pred))
