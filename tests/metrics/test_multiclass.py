"""multiclass_scores (barata2020 Section 4.4: Acc, BAcc, mPR, mF1, per-class RE/PR/F1): a hand-worked 3-class
case, parity with scikit-learn, label forms, tied predictions and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    precision_recall_fscore_support,
    precision_score,
)

from dermkit.metrics import multiclass_scores

NAMES = ["MEL", "NV", "BCC"]
# Supports 3, 4, 3. Confusion (rows true, columns predicted):  MEL [2 1 0]   NV [1 3 0]   BCC [0 1 2]
Y_TRUE = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
Y_PRED = [0, 0, 1, 1, 1, 1, 0, 2, 1, 2]
# RE = 2/3, 3/4, 2/3;  PR = 2/3 (2 of 3 predicted MEL), 3/5, 2/2;  F1 = 2PR·RE/(PR + RE) = 2/3, 2/3, 4/5.
HAND = {
    "accuracy": 7 / 10,
    "balanced_accuracy": (2 / 3 + 3 / 4 + 2 / 3) / 3,  # 25/36
    "mean_precision": (2 / 3 + 3 / 5 + 1) / 3,  # 34/45
    "mean_f1": (2 / 3 + 2 / 3 + 4 / 5) / 3,  # 32/45
    "recall": [2 / 3, 3 / 4, 2 / 3],
    "precision": [2 / 3, 3 / 5, 1.0],
    "f1": [2 / 3, 2 / 3, 4 / 5],
    "support": [3, 4, 3],
}


def _probabilities(labels, classes=3):
    """Softmax-like rows whose argmax is each label."""
    probs = np.full((len(labels), classes), 0.1)
    probs[np.arange(len(labels)), labels] = 0.8
    return probs


def _check(scores, expected):
    for key in ("accuracy", "balanced_accuracy", "mean_precision", "mean_f1"):
        assert isinstance(scores[key], float)
        np.testing.assert_allclose(scores[key], expected[key], rtol=1e-12, err_msg=key)
    table = scores["per_class"]
    assert list(table.columns) == ["recall", "precision", "f1", "support"]
    assert list(table.index) == NAMES and table.index.name == "class"
    for column in ("recall", "precision", "f1"):
        np.testing.assert_allclose(table[column].to_numpy(), expected[column], rtol=1e-12, err_msg=column)
    assert table["support"].tolist() == expected["support"] and table["support"].dtype == np.int64


def as_prediction(y) -> dict:
    """The keyword a prediction goes under (scikit-learn's words, issue 18): y_score for class scores or
    probabilities, y_pred for labels."""
    a = np.asarray(y)
    return {"y_score": y} if a.ndim == 2 else {"y_pred": y}


@pytest.mark.parametrize(
    "y_true, y_pred",
    [
        (Y_TRUE, Y_PRED),  # labels
        (Y_TRUE, _probabilities(Y_PRED)),  # probabilities [N, C]
        (np.eye(3)[Y_TRUE], _probabilities(Y_PRED)),  # one-hot truth
        ([NAMES[i] for i in Y_TRUE], [NAMES[i] for i in Y_PRED]),  # class names
    ],
)
def test_hand_worked_three_classes(y_true, y_pred):
    _check(multiclass_scores(y_true, **as_prediction(y_pred), class_names=NAMES), HAND)


def test_tied_prediction_counts_as_wrong():
    """Sample 9 (BCC, predicted BCC) becomes a tie [0.5, 0, 0.5]: wrong for BCC, predicted as no class."""
    probs = _probabilities(Y_PRED)
    probs[9] = [0.5, 0.0, 0.5]
    # BCC: RE = 1/3, PR = 1/1 (only sample 7 predicted BCC), F1 = 2·1·(1/3)/(4/3) = 1/2. MEL and NV unchanged.
    expected = dict(HAND, accuracy=6 / 10, balanced_accuracy=(2 / 3 + 3 / 4 + 1 / 3) / 3,
                    mean_f1=(2 / 3 + 2 / 3 + 1 / 2) / 3, recall=[2 / 3, 3 / 4, 1 / 3], f1=[2 / 3, 2 / 3, 1 / 2])
    _check(multiclass_scores(Y_TRUE, y_score=probs, class_names=NAMES), expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    names = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    y_true = rng.choice(7, size=300, p=[0.11, 0.67, 0.05, 0.03, 0.11, 0.01, 0.02])
    y_true[:7] = np.arange(7)  # every class present
    probs = rng.dirichlet(np.ones(7), size=300)
    probs[np.arange(300), y_true] += rng.random(300)  # better than chance
    y_pred = probs.argmax(axis=1)
    scores = multiclass_scores(y_true, y_score=probs, class_names=names)
    labels = list(range(7))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    assert scores["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-15)
    assert scores["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred), abs=1e-15)
    assert scores["mean_precision"] == pytest.approx(
        precision_score(y_true, y_pred, labels=labels, average="macro", zero_division=0), abs=1e-15)
    assert scores["mean_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=labels, average="macro"), abs=1e-15)
    expected = pd.DataFrame({"recall": recall, "precision": precision, "f1": f1, "support": support},
                            index=pd.Index(names, name="class"))
    pd.testing.assert_frame_equal(scores["per_class"], expected, check_dtype=False)
    # balanced accuracy is the mean per-class recall (barata2020's BAcc) when every class is present.
    assert scores["balanced_accuracy"] == pytest.approx(scores["per_class"]["recall"].mean(), abs=1e-12)


def test_never_predicted_and_absent_classes():
    # Class 3 "VASC" is never true and never predicted; class 2 "BCC" is true once but never predicted.
    names = ["MEL", "NV", "BCC", "VASC"]
    with pytest.warns(RuntimeWarning, match=r"classes \['VASC'\] have no sample in y_true"):
        scores = multiclass_scores([0, 1, 1, 2], [0, 1, 0, 1], class_names=names)
    table = scores["per_class"]
    # MEL: RE 1, PR 1/2; NV: RE 1/2, PR 1/2; BCC: RE 0, PR 0 (zero_division); VASC: all 0, support 0.
    np.testing.assert_allclose(table["recall"], [1.0, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(table["precision"], [0.5, 0.5, 0.0, 0.0])
    assert scores["balanced_accuracy"] == pytest.approx((1 + 0.5 + 0) / 3)  # VASC adds no term
    assert scores["mean_precision"] == pytest.approx(1 / 4)  # the mean over all 4 classes
    with pytest.warns(RuntimeWarning):
        nan_scores = multiclass_scores([0, 1, 1, 2], [0, 1, 0, 1], class_names=names, zero_division=np.nan)
    assert np.isnan(nan_scores["per_class"].loc["VASC", "precision"])


@pytest.mark.parametrize(
    "y_true, y_pred, names, message",
    [
        ([0, 1], [0, 1], ["MEL"], r"at least 2 distinct class names"),
        ([0, 1], [0, 1], ["MEL", "MEL"], r"at least 2 distinct class names"),
        ([0, 1], [0, 1], "MN", r"at least 2 distinct class names"),
        ([0, 1], np.full((2, 4), 0.25), NAMES, r"y_pred has 4 columns but class_names lists 3 classes"),
        ([0, 1], [0.2, 0.7], NAMES, r"y_pred holds scores .*pass class scores or probabilities as y_score="),
        ([0, 3], [0, 1], NAMES, r"y_true labels must lie in 0..2 .*found \[3\]"),
        ([0, 1], [0, -2], NAMES, r"y_pred labels must lie in 0..2 .*found \[-2\]"),
        ([[0.5, 0.5, 0.0], [0, 1, 0]], [0, 1], NAMES, r"y_true labels must lie in 0..2.*rows naming no single class"),
        (["MEL", "SCC"], ["MEL", "NV"], NAMES, r"y_true holds labels not in class_names: \['SCC'\]"),
        ([0, 1, 2], [0, 1], NAMES, r"y_true has 3 samples but y_pred has 2"),
        (np.zeros(0, int), np.zeros(0, int), NAMES, r"no samples to score"),
    ],
)
def test_bad_input(y_true, y_pred, names, message):
    with pytest.raises(ValueError, match=message):
        multiclass_scores(y_true, **as_prediction(y_pred), class_names=names)
