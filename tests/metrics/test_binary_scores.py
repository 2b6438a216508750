"""per_class_recall and binary_classification_scores (goel2021 Table 2): hand cases and scikit-learn parity."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from dermkit.metrics.classification import UNDECIDED, per_class_recall
from dermkit.metrics.isic import binary_classification_scores


def test_per_class_recall_hand_case():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 1, 0, 1, 0, 2]
    np.testing.assert_allclose(per_class_recall(y_true, y_pred, num_classes=4), [2 / 3, 1 / 2, 1.0, np.nan])


def test_per_class_recall_ties_count_as_wrong():
    y_true = [0, 1]
    scores = np.array([[0.5, 0.5], [0.2, 0.8]])
    np.testing.assert_allclose(per_class_recall(y_true, y_score=scores, num_classes=2), [0.0, 1.0])
    np.testing.assert_allclose(per_class_recall([1, 1], [UNDECIDED, 1], num_classes=2), [np.nan, 0.5])
    with pytest.raises(ValueError, match="labels must lie"):
        per_class_recall([0, 3], [0, 0], num_classes=2)


def test_binary_scores_hand_case():
    # 2 malignant (1 found), 3 benign (2 right): typed by hand
    y = np.array([1, 1, 0, 0, 0])
    prob = np.array([[0.2, 0.8], [0.6, 0.4], [0.9, 0.1], [0.3, 0.7], [0.8, 0.2]])
    m = binary_classification_scores(y, prob, class_names=("benign", "malignant"))
    assert m["sensitivity"] == 0.5 and m["specificity"] == pytest.approx(2 / 3)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(0.5) and m["f1"] == pytest.approx(0.5)
    # ROC AUC by counting: malignant scores 0.8, 0.4 vs benign 0.1, 0.7, 0.2 → pairs won 3 + 2 = 5 of 6
    assert m["auc"] == pytest.approx(5 / 6)
    cm = m["confusion_matrix"]
    assert cm.loc["malignant", "malignant"] == 1 and cm.loc["malignant", "benign"] == 1
    assert cm.loc["benign", "malignant"] == 1 and cm.loc["benign", "benign"] == 2
    one_d = binary_classification_scores(y, prob[:, 1], class_names=("benign", "malignant"))
    assert {k: v for k, v in one_d.items() if k != "confusion_matrix"} == {
        k: v for k, v in m.items() if k != "confusion_matrix"}


def test_binary_scores_match_sklearn():
    rng = np.random.default_rng(3)
    y = (rng.random(200) < 0.2).astype(int)
    p1 = np.clip(0.3 * y + 0.7 * rng.random(200), 0, 1)
    prob = np.stack([1 - p1, p1], axis=1)
    pred = (p1 > 0.5).astype(int)  # no ties in continuous scores
    m = binary_classification_scores(y, prob)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["sensitivity"] == pytest.approx(recall_score(y, pred))
    assert m["specificity"] == pytest.approx(recall_score(y, pred, pos_label=0))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(precision_score(y, pred))
    assert m["f1"] == pytest.approx(f1_score(y, pred))
    assert m["auc"] == pytest.approx(roc_auc_score(y, p1))
    assert m["average_precision"] == pytest.approx(average_precision_score(y, p1))


def test_binary_scores_positive_class_first_and_errors():
    y = np.array([0, 0, 1])  # class 0 is the positive one here
    prob = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
    m = binary_classification_scores(y, prob, class_names=("mel", "other"), positive_class="mel")
    assert m["sensitivity"] == 0.5 and m["specificity"] == 1.0
    with pytest.raises(ValueError, match="two classes"):
        binary_classification_scores(y, prob, class_names=("a", "b", "c"))
