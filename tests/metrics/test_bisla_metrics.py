"""bisla2019's Table 3, 4 and 6 metrics on hand-computed cases and against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, roc_auc_score

from dermkit.metrics.classification import (
    accuracy_sensitivity_specificity,
    mean_roc_auc,
    per_class_roc_auc,
    specificity_at_sensitivity,
)


def test_specificity_at_sensitivity_by_hand():
    # 4 positives, 6 negatives; sorted by score: P P N P N P N N N N
    y = np.array([1, 1, 0, 1, 0, 1, 0, 0, 0, 0])
    s = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    out = specificity_at_sensitivity(y, s, levels=(0.5, 0.75, 0.82, 1.0))
    # sensitivity 0.5 at threshold 0.9: no false positive → 1.0; 0.75 at 0.7: one FP → 5/6;
    # 0.82 needs all 4 positives (threshold 0.5): two FPs → 4/6; 1.0 the same
    assert out == pytest.approx({0.5: 1.0, 0.75: 5 / 6, 0.82: 4 / 6, 1.0: 4 / 6})
    assert list(specificity_at_sensitivity(y, s)) == [0.82, 0.89, 0.95]


def test_specificity_at_sensitivity_brute_force():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(y * 0.3 + rng.random(200), 2)  # ties included
    got = specificity_at_sensitivity(y, s)
    for level, value in got.items():
        best = 0.0
        for threshold in np.unique(np.concatenate([s, [np.inf]])):
            pred = s >= threshold
            sens = (pred & (y == 1)).sum() / (y == 1).sum()
            if sens >= level:
                best = max(best, (~pred & (y == 0)).sum() / (y == 0).sum())
        assert value == pytest.approx(best)


def test_specificity_at_sensitivity_single_class_and_bad_levels():
    with pytest.warns(RuntimeWarning, match="single class"):
        out = specificity_at_sensitivity([1, 1], [0.2, 0.3])
    assert all(np.isnan(v) for v in out.values())
    with pytest.raises(ValueError, match="levels must be"):
        specificity_at_sensitivity([0, 1], [0.1, 0.9], levels=(1.2,))


NAMES = ("melanoma", "nevus", "seborrheic_keratosis")


def test_per_class_and_mean_auc_match_sklearn():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 90)
    scores = rng.random((90, 3)) + np.eye(3)[labels] * 0.5
    scores /= scores.sum(axis=1, keepdims=True)
    aucs = per_class_roc_auc(labels, scores, class_names=NAMES)
    for k, name in enumerate(NAMES):
        assert aucs[name] == pytest.approx(roc_auc_score(labels == k, scores[:, k]))
    expected = (roc_auc_score(labels == 0, scores[:, 0]) + roc_auc_score(labels == 2, scores[:, 2])) / 2
    assert mean_roc_auc(labels, scores, class_names=NAMES) == pytest.approx(expected)
    assert mean_roc_auc(np.eye(3)[labels], scores, class_names=NAMES) == pytest.approx(expected)
    with pytest.raises(ValueError, match="labels must be names"):
        mean_roc_auc(labels, scores, class_names=NAMES, labels=("mel",))
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        per_class_roc_auc(labels, scores[:, :2], class_names=NAMES)


def test_table6_reading_by_hand():
    # 3 classes; truth 0 0 0 0 1 1 2 2 ; predictions 0 0 0 1 1 2 2 0
    t = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    p = np.array([0, 0, 0, 1, 1, 2, 2, 0])
    out = accuracy_sensitivity_specificity(t, p, num_classes=3)
    assert out["accuracy"] == pytest.approx(5 / 8)
    assert out["sensitivity"] == pytest.approx((3 / 4 + 1 / 2 + 1 / 2) / 3)
    # specificity: class 0: negatives 4, one predicted 0 → 3/4; class 1: negatives 6, one predicted 1 → 5/6;
    # class 2: negatives 6, one predicted 2 → 5/6
    assert out["specificity"] == pytest.approx((3 / 4 + 5 / 6 + 5 / 6) / 3)


def test_table6_against_the_confusion_matrix():
    rng = np.random.default_rng(2)
    t = rng.integers(0, 7, 300)
    p = np.where(rng.random(300) < 0.6, t, rng.integers(0, 7, 300))
    cm = confusion_matrix(t, p, labels=range(7))
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    tn = cm.sum() - cm.sum(axis=1) - fp
    out = accuracy_sensitivity_specificity(t, p, num_classes=7)
    assert out["sensitivity"] == pytest.approx(np.mean(tp / cm.sum(axis=1)))
    assert out["specificity"] == pytest.approx(np.mean(tn / (tn + fp)))
    assert out["accuracy"] == pytest.approx(tp.sum() / cm.sum())
