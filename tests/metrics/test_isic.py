"""ISIC challenge scoring: 2017 Part 2 (superpixels), 2018 Task 1 (segmentation), Task 3 (classification)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    auc,
    average_precision_score,
    balanced_accuracy_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from dermkit.data.isic import ISIC2017_FEATURES
from dermkit.metrics.classification import (
    UNDECIDED,
    argmax_labels,
    average_precision_trapezoid,
    balanced_multiclass_accuracy,
    partial_auc_above_tpr,
    per_group_rates,
)
from dermkit.metrics.isic import (
    CLASSIFICATION_COLUMNS,
    PART2_COLUMNS,
    SEGMENTATION_COLUMNS,
    binarize_mask,
    isic2017_part2_scores,
    isic_classification_scores,
    isic_segmentation_scores,
)

# ------------------------------------------------------------------------------------------ 2017 Part 2


def _random_part2(seed=0, sizes=(40, 55, 30)):
    rng = np.random.default_rng(seed)
    truth = [(rng.random((n, 4)) < [0.3, 0.1, 0.15, 0.05]).astype(np.float32) for n in sizes]
    pred = [np.clip(t * 0.4 + rng.random(t.shape) * 0.7, 0, 1) for t in truth]
    return truth, pred


def test_part2_layout_and_sklearn_parity():
    truth, pred = _random_part2()
    table = isic2017_part2_scores(truth, pred)
    assert list(table.index) == [*ISIC2017_FEATURES, "average"]
    assert tuple(table.columns) == PART2_COLUMNS
    y, s = np.concatenate(truth).astype(bool), np.concatenate(pred)
    for k, feature in enumerate(ISIC2017_FEATURES):
        t, p = y[:, k], s[:, k]
        decided = p > 0.5
        precision, recall, _ = precision_recall_curve(t, p)
        expected = {
            "accuracy": np.mean(decided == t),
            "auc": roc_auc_score(t, p),
            "average_precision": average_precision_score(t, p),
            "average_precision_2017": auc(recall, precision),
            "sensitivity": np.mean(decided[t]),
            "specificity": np.mean(~decided[~t]),
        }
        for column, value in expected.items():
            assert table.loc[feature, column] == pytest.approx(value), (feature, column)
    np.testing.assert_allclose(table.loc["average"], table.loc[list(ISIC2017_FEATURES)].mean(axis=0))


def test_part2_takes_arrays_as_well_as_lists():
    truth, pred = _random_part2(sizes=(30, 30))
    from_lists = isic2017_part2_scores(truth, pred)
    # [n_images, N, 4] arrays, and one [N, 4] array of all superpixels pooled: the same table
    pd.testing.assert_frame_equal(isic2017_part2_scores(np.stack(truth), np.stack(pred)), from_lists)
    pd.testing.assert_frame_equal(isic2017_part2_scores(np.concatenate(truth), np.concatenate(pred)), from_lists)


def test_part2_constant_prediction_ap_is_one_plus_prevalence_over_two():
    # kawahara2018 Table II, Empty row: all-zero predictions.
    truth, _ = _random_part2(seed=3)
    pred = [np.zeros_like(t) for t in truth]
    table = isic2017_part2_scores(truth, pred)
    prevalence = np.concatenate(truth).mean(axis=0)
    np.testing.assert_allclose(table.loc[list(ISIC2017_FEATURES), "average_precision_2017"], (1 + prevalence) / 2)
    np.testing.assert_allclose(table.loc[list(ISIC2017_FEATURES), "average_precision"], prevalence)
    np.testing.assert_allclose(table.loc[list(ISIC2017_FEATURES), "auc"], 0.5)
    np.testing.assert_allclose(table.loc[list(ISIC2017_FEATURES), "accuracy"], 1 - prevalence)
    np.testing.assert_allclose(table.loc[list(ISIC2017_FEATURES), "sensitivity"], 0.0)
    np.testing.assert_allclose(table.loc[list(ISIC2017_FEATURES), "specificity"], 1.0)


def test_trapezoid_ap_hand_case():
    # PR points (recall, precision): (1, 2/3), (0.5, 0.5), (0.5, 1), (0, 1):
    # area = 0.5·(2/3 + 1/2)/2 + 0.5·(1 + 1)/2 = 7/24 + 1/2; step AP = 0.5·1 + 0.5·2/3
    truth, score = [1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1]
    assert average_precision_trapezoid(truth, score) == pytest.approx(19 / 24)
    assert average_precision_score(truth, score) == pytest.approx(5 / 6)


def test_part2_single_class_feature_gives_nan_with_warning():
    truth, pred = _random_part2(seed=4)
    for t in truth:
        t[:, 3] = 0.0  # no streaks anywhere
    with pytest.warns(RuntimeWarning, match="streaks: .* is undefined when the truth holds a single class"):
        table = isic2017_part2_scores(truth, pred)
    assert table.loc["streaks", ["auc", "average_precision", "average_precision_2017", "sensitivity"]].isna().all()
    assert not np.isnan(table.loc["streaks", "specificity"])
    expected = table.loc[list(ISIC2017_FEATURES[:3]), "auc"].mean()  # the average skips the NaN
    assert table.loc["average", "auc"] == pytest.approx(expected)


@pytest.mark.parametrize(
    "y_true, y_pred, error, message",
    [
        ([np.zeros((3, 4))], [np.zeros((3, 4))] * 2, ValueError, "y_true has 1 images but y_pred has 2"),
        ([np.zeros((3, 4))] * 2, [np.zeros((3, 4)), np.zeros((2, 4))], ValueError,
         r"image 1: y_pred has shape \(2, 4\) but y_true has \(3, 4\)"),
        ([np.zeros((3, 3))], [np.zeros((3, 3))], ValueError, r"image 0: y_true must be \[N_i, 4\]"),
        ([np.zeros((2, 4))], [np.full((2, 4), 1.5)], ValueError,
         r"image 0: y_pred must hold finite probabilities in \[0, 1\]"),
        ([np.zeros((2, 4))], [np.full((2, 4), np.nan)], ValueError, "finite probabilities"),
        ([np.full((2, 4), 0.5)], [np.full((2, 4), 0.5)], ValueError, "image 0: y_true labels must be 0 or 1$"),
        # probabilities first, labels second: the message says the arguments look swapped
        ([np.full((2, 4), 0.3)], [np.zeros((2, 4))], ValueError,
         r"image 0: y_true labels must be 0 or 1 \(y_pred is all 0/1: are y_true and y_pred swapped"),
        (np.zeros((1, 1, 2, 4)), np.zeros((1, 1, 2, 4)), ValueError, r"y_true must be \[N, 4\], \[n_images, N, 4\]"),
        ("abc", [np.zeros((2, 4))], TypeError, "y_true must be a list with one"),
        ([], [], ValueError, "no images to score"),
    ],
)  # fmt: skip
def test_part2_errors(y_true, y_pred, error, message):
    with pytest.raises(error, match=message):
        isic2017_part2_scores(y_true, y_pred)


# ------------------------------------------------------------------------------------------ 2018 Task 1

# (y_true [H, W], y_pred [H, W], expected per-image (accuracy, sensitivity, specificity, jaccard, threshold_j, dice))
SEGMENTATION_CASES = [
    # [2, 2] both empty: every score 1 by convention
    (np.zeros((2, 2), bool), np.zeros((2, 2), bool), (1, 1, 1, 1, 1, 1)),
    # [2, 2] tp 1, fn 1, tn 2: Jaccard 0.5 < 0.65 → threshold Jaccard 0
    (np.array([[1, 1], [0, 0]]).astype(bool), np.array([[1, 0], [0, 0]]).astype(bool), (0.75, 0.5, 1, 0.5, 0, 2 / 3)),
    # [2, 2] all lesion, all predicted: no negatives → specificity 1
    (np.ones((2, 2), bool), np.ones((2, 2), bool), (1, 1, 1, 1, 1, 1)),
    # [2, 2] no lesion, one false positive: no positives → sensitivity 1, Jaccard 0
    (np.zeros((2, 2), bool), np.array([[1, 0], [0, 0]]).astype(bool), (0.75, 1, 0.75, 0, 0, 0)),
    # [1, 4] an ISIC uint8 0/255 mask against float probabilities at > 0.5 (0.5 → 0, 0.51 → 1)
    (np.array([[255, 0, 255, 0]], np.uint8), np.array([[0.9, 0.51, 0.5, 0.2]]), (0.5, 0.5, 0.5, 1 / 3, 0, 0.5)),
    # [4, 5] tp 13, fp 7: Jaccard 0.65 exactly is kept by the threshold Jaccard
    (np.arange(20).reshape(4, 5) < 13, np.arange(20).reshape(4, 5) < 20, (0.65, 1, 0, 0.65, 0.65, 26 / 33)),
]


@pytest.mark.parametrize("y_true, y_pred, expected", SEGMENTATION_CASES)
def test_segmentation_cases(y_true, y_pred, expected):
    scores = isic_segmentation_scores([y_true], [y_pred])
    got = tuple(scores[c] for c in SEGMENTATION_COLUMNS)
    np.testing.assert_allclose(got, expected)
    assert list(scores["per_image"].columns) == list(SEGMENTATION_COLUMNS)


def test_segmentation_macro_mean_over_images_of_different_sizes():
    truths = [case[0] for case in SEGMENTATION_CASES]
    preds = [case[1] for case in SEGMENTATION_CASES]
    scores = isic_segmentation_scores(truths, preds)
    expected = np.mean([case[2] for case in SEGMENTATION_CASES], axis=0)
    np.testing.assert_allclose([scores[c] for c in SEGMENTATION_COLUMNS], expected)
    assert len(scores["per_image"]) == len(SEGMENTATION_CASES)


def test_segmentation_array_input_and_threshold():
    truth = np.array([[[0, 1], [1, 1]], [[0, 0], [0, 1]]], dtype=np.int64)  # 0/1 integers: ambiguous
    with pytest.raises(ValueError, match="y_true\\[0\\]: integer mask with maximum 1 is ambiguous.*threshold="):
        isic_segmentation_scores(truth, truth)
    scores = isic_segmentation_scores(truth, truth, threshold=0)
    assert scores["jaccard"] == 1.0 and scores["dice"] == 1.0


def test_segmentation_takes_trailing_channel_masks():
    # [2, 2, 2, 1] arrays (a Keras model's output layout) and a list of [2, 2, 1]: image 0 tp 2 fp 1 → J 2/3,
    # image 1 both empty → J 1
    truth = np.array([[[1, 1], [0, 0]], [[0, 0], [0, 0]]], dtype=bool)[..., None]
    pred = np.array([[[0.9, 0.8], [0.7, 0.1]], [[0.0, 0.2], [0.3, 0.4]]])[..., None]
    for y_true, y_pred in [(truth, pred), (list(truth), list(pred))]:
        scores = isic_segmentation_scores(y_true, y_pred)
        np.testing.assert_allclose(scores["per_image"]["jaccard"], [2 / 3, 1.0])


def test_segmentation_probability_truth_with_binary_prediction_is_refused_as_swapped():
    probs = np.array([[0.9, 0.2], [0.6, 0.1]])
    binary = np.array([[1, 0], [1, 1]], dtype=bool)
    assert isic_segmentation_scores([binary], [probs])["jaccard"] == pytest.approx(2 / 3)  # the usual order
    for prediction in (binary, binary.astype(np.uint8) * 255, binary.astype(np.float32)):
        with pytest.raises(ValueError, match=r"image 0: y_true holds values strictly between 0 and 1 .* look swapped"):
            isic_segmentation_scores([probs], [prediction])
    # both probability maps (e.g. a resized soft truth): allowed, both binarised at > 0.5
    assert isic_segmentation_scores([probs], [probs])["jaccard"] == 1.0


def test_all_zero_integer_mask_is_empty_not_ambiguous():
    empty = np.zeros((3, 3), np.uint8)
    np.testing.assert_array_equal(binarize_mask(empty), np.zeros((3, 3), bool))
    assert isic_segmentation_scores([empty], [empty])["jaccard"] == 1.0


@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        ([np.zeros((2, 2), bool)] * 2, [np.zeros((2, 2), bool), np.zeros((2, 3), bool)],
         r"image 1: y_true mask is \(2, 2\) but y_pred is \(2, 3\)"),
        ([np.zeros((2, 2), bool)], [np.zeros((2, 2), bool)] * 2, "y_true has 1 images but y_pred has 2"),
        ([np.zeros((2, 2), bool)], [np.full((2, 2), 1.2)], r"y_pred\[0\]: float mask must hold finite values"),
        ([np.zeros((2, 2, 3), bool)], [np.zeros((2, 2), bool)], r"y_true\[0\]: mask must be \[H, W\]"),
        (np.zeros((1, 2, 2, 3)), np.zeros((1, 2, 2, 3)), r"y_true must be \[N, H, W\], \[N, H, W, 1\] or a list"),
        ([], [], "no images to score"),
    ],
)  # fmt: skip
def test_segmentation_errors(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        isic_segmentation_scores(y_true, y_pred)


# ------------------------------------------------------------------------------------------ classification


def test_argmax_ties_are_undecided():
    np.testing.assert_array_equal(argmax_labels([[0.5, 0.5], [0.2, 0.8], [0.3, 0.3]]), [UNDECIDED, 1, UNDECIDED])


# (y_true, probs [N, 3], expected balanced accuracy)
BALANCED_CASES = [
    # 4 samples: class 0 recall 1/2 (one tie), class 1 recall 1, class 2 recall 1 → (1/2 + 1 + 1) / 3
    ([0, 0, 1, 2], [[0.6, 0.2, 0.2], [0.4, 0.4, 0.2], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]], 2.5 / 3),
    # class 2 absent from the truth: mean over the two present classes
    ([0, 1], [[0.6, 0.2, 0.2], [0.1, 0.1, 0.8]], 0.5),
]


@pytest.mark.filterwarnings("ignore:c. .* is undefined:RuntimeWarning")  # class c absent in case 2
@pytest.mark.parametrize("y_true, probs, expected", BALANCED_CASES)
def test_balanced_accuracy_cases(y_true, probs, expected):
    scores = isic_classification_scores(y_true, probs, class_names=["a", "b", "c"])
    assert scores["balanced_accuracy"] == pytest.approx(expected)


def test_balanced_accuracy_matches_sklearn_without_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    probs = rng.random((200, 4))
    pred = argmax_labels(probs)
    assert (pred != UNDECIDED).all()
    assert balanced_multiclass_accuracy(y, pred) == pytest.approx(balanced_accuracy_score(y, pred))


def test_classification_per_class_parity_and_one_hot():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 150)
    probs = np.clip(np.eye(3)[y] * 0.3 + rng.random((150, 3)) * 0.7, 0, 1)
    names = ["MEL", "NV", "BKL"]
    scores = isic_classification_scores(y, probs, class_names=names)
    one_hot = isic_classification_scores(np.eye(3, dtype=int)[y], probs, class_names=names)
    pd.testing.assert_frame_equal(scores["per_class"], one_hot["per_class"])
    table = scores["per_class"]
    assert list(table.index) == names and tuple(table.columns) == CLASSIFICATION_COLUMNS
    for k, name in enumerate(names):
        t, p = y == k, probs[:, k]
        assert table.loc[name, "auc"] == pytest.approx(roc_auc_score(t, p))
        assert table.loc[name, "average_precision"] == pytest.approx(average_precision_score(t, p))
        assert table.loc[name, "sensitivity"] == pytest.approx(np.mean(p[t] > 0.5))
        assert table.loc[name, "specificity"] == pytest.approx(np.mean(p[~t] <= 0.5))
        assert table.loc[name, "auc_sens_80"] == pytest.approx(_sampled_area_above_tpr(t, p, 0.8), abs=1e-3)


def _sampled_area_above_tpr(y_true, y_score, min_tpr):
    """Independent reference: sample every segment of scikit-learn's ROC polyline densely, keep the points
    with TPR ≥ min_tpr and integrate TPR over FPR with the trapezoid rule (accurate to ~1e-4 here)."""
    fpr, tpr, _ = roc_curve(y_true, y_score)
    s = np.linspace(0.0, 1.0, 2001)
    f = np.concatenate([f0 + s * (f1 - f0) for f0, f1 in zip(fpr[:-1], fpr[1:])])
    t = np.concatenate([t0 + s * (t1 - t0) for t0, t1 in zip(tpr[:-1], tpr[1:])])
    keep = t >= min_tpr
    return float(np.trapezoid(t[keep], f[keep]))


# (kwargs, y_true, y_score, expected): ISIC auc_sens_80, the area under the ROC curve (from TPR = 0) over the
# FPR range from where TPR first reaches min_tpr (interpolated on the crossing segment) to FPR = 1.
PARTIAL_AUC_CASES = [
    # 4 samples, perfect ranking: ROC (0,0) (0,1) (1,1) reaches TPR 0.8 at FPR 0 → 1 · 1
    ({}, [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0),
    # 4 samples, one tied score: the ROC is the diagonal TPR = FPR → ∫_0.8^1 f df = (1 − 0.64) / 2
    ({}, [0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], 0.18),
    # 7 samples, two tied groups: 0.9 holds 4 of 5 positives and 1 of 2 negatives, 0.1 the rest, so the ROC is
    # the polyline (0,0) (0.5,0.8) (1,1) → 0.5 · (0.8 + 1) / 2
    ({}, [1, 1, 1, 1, 0, 1, 0], [0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1], 0.45),
    # 10 samples, ties: 0.9 holds 2 of 5 positives, 0.5 the other 3 with all 5 negatives: ROC (0,0) (0,0.4)
    # (1,1); TPR 0.8 inside the tied segment at FPR (0.8 − 0.4) / 0.6 = 2/3 → (1/3) · (0.8 + 1) / 2
    ({}, [1, 1, 1, 1, 1, 0, 0, 0, 0, 0], [0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], 0.3),
    # 4 samples: ROC (0,0) (0,.5) (.5,.5) (.5,1) (1,1) crosses TPR 0.8 on the vertical at FPR 0.5 → 0.5 · 1
    ({}, [0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], 0.5),
    # 4 samples, reversed ranking: ROC (0,0) (1,0) (1,1) reaches TPR 0.8 only at FPR 1 → 0
    ({}, [0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1], 0.0),
    # the polyline case with other floors: min_tpr 0 is the whole AUC 0.5·0.8/2 + 0.45; min_tpr 1 starts at
    # FPR 1 → 0; min_tpr 0.4 crosses at FPR 0.25: 0.25 · (0.4 + 0.8) / 2 + 0.45
    ({"min_tpr": 0.0}, [1, 1, 1, 1, 0, 1, 0], [0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1], 0.65),
    ({"min_tpr": 1.0}, [1, 1, 1, 1, 0, 1, 0], [0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1], 0.0),
    ({"min_tpr": 0.4}, [1, 1, 1, 1, 0, 1, 0], [0.9, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1], 0.6),
]


@pytest.mark.parametrize("kwargs, y_true, y_score, expected", PARTIAL_AUC_CASES)
def test_partial_auc_above_tpr_cases(kwargs, y_true, y_score, expected):
    assert partial_auc_above_tpr(y_true, y_score, **kwargs) == pytest.approx(expected)


def test_partial_auc_random_scores_near_the_diagonal_value():
    # random scores: the ROC tends to the diagonal, whose area above TPR 0.8 is (1 − 0.8²) / 2 = 0.18
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 20000)
    score = rng.random(20000)
    assert partial_auc_above_tpr(y, score) == pytest.approx(0.18, abs=0.01)
    assert partial_auc_above_tpr(y, score) == pytest.approx(_sampled_area_above_tpr(y, score, 0.8), abs=1e-3)


def test_partial_auc_with_floor_zero_is_sklearn_roc_auc():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 300)
    score = np.round(y * 0.3 + rng.random(300), 1)  # rounded: many ties
    assert partial_auc_above_tpr(y, score, min_tpr=0.0) == pytest.approx(roc_auc_score(y, score))


@pytest.mark.parametrize("min_tpr", [1.5, -0.1])
def test_partial_auc_bad_floor(min_tpr):
    with pytest.raises(ValueError, match=rf"min_tpr must lie in \[0, 1\]; received min_tpr={min_tpr}"):
        partial_auc_above_tpr([0, 1], [0.1, 0.9], min_tpr=min_tpr)


def test_binary_task_with_positive_class():
    # 6 samples [benign, malignant]; sample 5 is a tie (undecided: wrong, and not a positive decision)
    y = [0, 0, 0, 1, 1, 1]
    probs = [[0.9, 0.1], [0.4, 0.6], [0.8, 0.2], [0.3, 0.7], [0.7, 0.3], [0.5, 0.5]]
    scores = isic_classification_scores(y, probs, class_names=["benign", "malignant"], positive_class="malignant")
    # benign recall 2/3, malignant recall 1/3
    assert scores["balanced_accuracy"] == pytest.approx(0.5)
    # tp 1, fp 1, fn 2
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx(2 / 5)
    expected = pd.DataFrame(
        [[2, 1, 0], [1, 1, 1]],
        index=pd.Index(["benign", "malignant"], name="true"),
        columns=pd.Index(["benign", "malignant", "undecided"], name="predicted"),
    )
    pd.testing.assert_frame_equal(scores["confusion_matrix"], expected)
    # the same task given as P(malignant) [6] or [6, 1], with bool or float labels: the same scores
    p_malignant = [row[1] for row in probs]
    for y_true, y_pred in [(y, p_malignant), (np.array(y, bool), np.array(p_malignant)[:, None]),
                           (np.array(y, float), p_malignant)]:
        same = isic_classification_scores(y_true, y_pred, class_names=["benign", "malignant"],
                                          positive_class="malignant")
        assert same["balanced_accuracy"] == pytest.approx(0.5)
        assert same["f1"] == pytest.approx(2 / 5)
        pd.testing.assert_frame_equal(same["confusion_matrix"], expected)
        pd.testing.assert_frame_equal(same["per_class"], scores["per_class"])


def test_binary_probabilities_with_default_class_names():
    # [4] P(class 1): class 0 recall 1 (0.2, 0.4), class 1 recall 1/2 (0.9 yes, 0.3 no) → 0.75
    scores = isic_classification_scores([0, 0, 1, 1], [0.2, 0.4, 0.9, 0.3])
    assert scores["balanced_accuracy"] == pytest.approx(0.75)
    assert list(scores["per_class"].index) == ["0", "1"]
    assert scores["per_class"].loc["1", "auc"] == pytest.approx(0.75)  # pairs (pos, neg) ordered: 3 of 4


def test_classification_single_class_gives_nan_with_warning():
    with pytest.warns(RuntimeWarning, match="c: .* is undefined when the truth holds a single class"):
        scores = isic_classification_scores(
            [0, 1, 0], [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1]], class_names=["a", "b", "c"]
        )
    assert scores["per_class"].loc["c", ["auc", "auc_sens_80", "average_precision", "sensitivity"]].isna().all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"class_names": ["a"]}, "class_names has 1 names but y_score has 2 columns"),
        ({"class_names": ["a", "a"]}, "class_names must be distinct"),
        ({"positive_class": "c"}, r"positive_class must be one of \['a', 'b'\]; received positive_class='c'"),
        ({"y_true": [0, 2]}, r"integer y_true labels must lie in \[0, 2\)"),
        ({"y_true": [[1, 1], [0, 1]]}, "one-hot y_true must hold 0/1 with exactly one 1 per row$"),
        ({"y_true": [0, 1, 1]}, "y_true has 3 labels but y_score has 2 rows"),
        ({"y_score": [[0.2, 1.3], [0.5, 0.5]]}, r"y_score must hold finite values in \[0, 1\]"),
        ({"y_score": [1.3, 0.5]}, r"y_score must hold finite values in \[0, 1\]"),
        ({"y_score": np.zeros((2, 2, 2))}, r"y_score must be \[N, C\] class probabilities, or \[N\] / \[N, 1\]"),
        ({"y_score": [0.2, 0.7], "class_names": ["a", "b", "c"]}, "class_names has 3 names but y_score has 2 columns"),
        # probabilities passed as the truth, labels as the prediction: the message says they look swapped
        ({"y_true": [[0.8, 0.2], [0.3, 0.7]], "y_score": [[1, 0], [0, 1]]},
         r"one-hot y_true must hold 0/1 .* are y_true and y_score swapped\?"),
        ({"y_true": [0.8, 0.3], "y_score": [0, 1]}, r"y_true must hold integer class labels.* swapped\?"),
    ],
)  # fmt: skip
def test_classification_errors(kwargs, message):
    args = {"y_true": [0, 1], "y_score": [[0.8, 0.2], [0.3, 0.7]], "class_names": ["a", "b"], **kwargs}
    with pytest.raises(ValueError, match=message):
        isic_classification_scores(**args)


def test_classification_options_are_keyword_only():
    with pytest.raises(TypeError, match="positional argument"):
        isic_classification_scores([0, 1], [[0.8, 0.2], [0.3, 0.7]], ["a", "b"])


def test_positive_class_needs_two_classes():
    with pytest.raises(ValueError, match="positive_class is for binary tasks"):
        isic_classification_scores([0, 1, 2], np.eye(3), class_names=["a", "b", "c"], positive_class="a")


def test_per_group_rates():
    y_true = [1, 1, 0, 1, 0, 0, 1]
    y_pred = [1, 0, 0, 1, 1, 0, 1]
    groups = ["B", "A", "A", "B", "C", "C", "A"]
    table = per_group_rates(y_true, y_pred, groups)
    assert list(table.index) == ["A", "B", "C"]
    assert table.loc["A", ["n", "positives", "true_positives", "false_negatives"]].tolist() == [3, 2, 1, 1]
    assert table.loc["A", "sensitivity"] == pytest.approx(0.5)
    assert table.loc["A", "false_negative_rate"] == pytest.approx(0.5)
    assert table.loc["B", "sensitivity"] == 1.0 and table.loc["B", "false_negative_rate"] == 0.0
    assert np.isnan(table.loc["C", "sensitivity"]) and np.isnan(table.loc["C", "false_negative_rate"])


@pytest.mark.parametrize(
    "y_true, y_pred, groups, message",
    [
        ([0, 2], [0, 1], ["a", "b"], "y_true must hold binary labels"),
        ([0, 1], [0, 1], ["a"], "must have equal length"),
    ],
)
def test_per_group_rates_errors(y_true, y_pred, groups, message):
    with pytest.raises(ValueError, match=message):
        per_group_rates(y_true, y_pred, groups)


# ------------------------------------------------------------------------------------------ macro averages
def test_macro_averages_match_sklearn_per_class_confusion_matrices():
    """isic-challenge-scoring's macro_average: per category the one-vs-rest confusion matrix of
    (truth == c, p_c > 0.5) — here scikit-learn's multilabel_confusion_matrix — then the mean over categories of
    accuracy, sensitivity and specificity; a category absent from the truth has no sensitivity (left out)."""
    from sklearn.metrics import multilabel_confusion_matrix

    from dermkit.metrics.isic import MACRO_COLUMNS, isic_macro_averages

    rng = np.random.default_rng(7)
    n, c = 300, 7
    y = rng.choice(6, n, p=[0.1, 0.5, 0.1, 0.1, 0.1, 0.1])  # class 6 absent from the truth
    logits = rng.normal(size=(n, c)) + 2.0 * np.eye(c)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.eye(c, dtype=int)[y]
    cm = multilabel_confusion_matrix(truth, (probs > 0.5).astype(int))  # [C, 2, 2]: [[tn, fp], [fn, tp]]
    tn, fp, fn, tp = cm[:, 0, 0], cm[:, 0, 1], cm[:, 1, 0], cm[:, 1, 1]
    acc = (tp + tn) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = tp / (tp + fn)
    spec = tn / (tn + fp)
    scores = isic_macro_averages(y, probs)
    assert tuple(scores) == MACRO_COLUMNS
    assert scores["accuracy"] == pytest.approx(acc.mean())
    assert scores["sensitivity"] == pytest.approx(np.nanmean(sens)) and np.isnan(sens[6])
    assert scores["specificity"] == pytest.approx(spec.mean())
    assert scores["overall_accuracy"] == pytest.approx(np.mean(probs.argmax(axis=1) == y))
    assert scores["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, probs.argmax(axis=1)))
    macro = isic_classification_scores(y, probs)["macro_average"]
    assert macro["specificity"] == pytest.approx(spec.mean())


def test_table6_rows_are_inconsistent_under_one_definition():
    """bisla2019 Table 6 (typed from the paper): raw (0.675, 0.561, 0.954), purified (0.717, 0.754, 0.837). With
    argmax decisions each sample is one FP for one class at most, so the mean one-vs-rest specificity is at least
    1 − (1 − overall accuracy)·max_c 1/(share of non-c) / C. ISIC 2018's class shares (Fig. 11 counts) make the
    purified row's 0.837 impossible if 0.717 were the overall accuracy; and the per-class accuracies' mean is
    1 − 2(1 − overall accuracy)/C ≥ 0.907 for 0.675 (argmax, one FN and one FP per error), not 0.675."""
    counts = np.array([452, 825, 1833, 187, 2285, 9786, 142], float)  # AK, BCC, BK, DF, MEL, NV, VASC
    shares = counts / counts.sum()
    c = len(counts)
    # mean specificity ≥ 1 − Σ_c FP_c / (N (1 − s_c)) / C ≥ 1 − (errors / N) / (C · min_c (1 − s_c))
    floor = 1 - (1 - 0.717) / (c * (1 - shares.max()))
    assert floor > 0.837
    # mean one-vs-rest accuracy with argmax decisions: 1 − 2 · error / C
    assert 1 - 2 * (1 - 0.675) / c > 0.9
