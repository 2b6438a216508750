"""kNN AUC, REL (codella2018 Table 1) and the activation-map Jaccard against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from dermkit.metrics import activation_map_jaccard, knn_auc, knn_scores, relevance_at_k
from dermkit.retrieval import EmbeddingIndex

# archive on a line: positions 0..5; labels 1 = melanoma
ARCHIVE = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])
LABELS = np.array([1, 1, 0, 0, 0, 1])
QUERIES = np.array([[0.4], [11.2]])


def test_knn_scores_hand():
    index = EmbeddingIndex(ARCHIVE, backend="sklearn")
    # query 0 neighbours: 0, 1, 2 → 2/3; query 1: 4, 3, 5 → 1/3
    np.testing.assert_allclose(knn_scores(index, LABELS, QUERIES, k=3), [2 / 3, 1 / 3])
    np.testing.assert_allclose(knn_scores(index, LABELS, QUERIES, k=1), [1.0, 0.0])


def test_knn_auc_matches_sklearn():
    rng = np.random.default_rng(1)
    x, q = rng.normal(size=(200, 5)), rng.normal(size=(60, 5))
    labels, truth = (x[:, 0] > 0.5).astype(int), (q[:, 0] > 0.5).astype(int)
    index = EmbeddingIndex(x, backend="sklearn")
    got = knn_auc(index, labels, q, truth, ks=(3, 10))
    for k in (3, 10):
        want = roc_auc_score(truth, knn_scores(index, labels, q, k=k))
        assert got[k] == pytest.approx(want)
    assert got[10] > 0.7  # the label is a direction of the space


def test_relevance_hand():
    index = EmbeddingIndex(ARCHIVE, backend="sklearn")
    groups = np.array(["a", "a", "b", "c", None, "c"], dtype=object)
    rel = relevance_at_k(index, groups, QUERIES, ["a", "c"], ks=(1, 3))
    # q0: results 0 (a), 1 (a), 2 (b) → k1: 1, k3: 2; q1: 4 (None), 3 (c), 5 (c) → k1: 0, k3: 2
    assert rel == {1: 0.5, 3: 2.0}


def test_activation_map_jaccard():
    mask = np.zeros((4, 4), np.uint8)
    mask[:2, :2] = 255
    amap = np.zeros((4, 4), np.float32)
    amap[0, :2] = 1.0
    amap[1, :3] = 0.8
    # map ≥ 0.5 after normalising: (0,0),(0,1),(1,0),(1,1),(1,2) → ∩ 4, ∪ 5
    assert activation_map_jaccard(mask, amap) == pytest.approx(4 / 5)
    assert activation_map_jaccard(mask, amap * 7 + 3) == pytest.approx(4 / 5)  # scale-free
    # a 2×2 map upsampled bilinearly to 4×4: the top-left quadrant only
    small = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
    assert activation_map_jaccard(mask, small) == pytest.approx(1.0)
    assert activation_map_jaccard(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
    with pytest.raises(ValueError, match="2-D"):
        activation_map_jaccard(mask, np.zeros(3))


def test_jaccard_at_three_thresholds_hand_case():
    from dermkit.metrics.retrieval import JA_THRESHOLDS, mean_activation_map_jaccard

    assert JA_THRESHOLDS == (0.2, 0.5, 0.8)
    # maps already at the mask's size (the resize is the identity): normalised values 0, 0.25, 0.5, 0.75, 1
    amap = np.array([[0.0, 1.0, 2.0, 3.0, 4.0]])
    mask = np.array([[0, 0, 1, 1, 1]])
    # t=0.2: {1,2,3,4} vs {2,3,4}: 3/4; t=0.5: {2,3,4}: 1; t=0.8: {4}: 1/3
    got = mean_activation_map_jaccard([mask, mask], [amap, amap[:, ::-1]])
    # the reversed map selects {0,1,2,3} / {0,1,2} / {0}: 2/5, 1/5, 0/4
    assert got == pytest.approx({0.2: (3 / 4 + 2 / 5) / 2, 0.5: (1 + 1 / 5) / 2, 0.8: (1 / 3 + 0) / 2})
    with pytest.raises(ValueError, match="threshold must be a number in"):
        mean_activation_map_jaccard([mask], [amap], thresholds=(1.5,))
    with pytest.raises(ValueError, match="pair one to one"):
        mean_activation_map_jaccard([mask], [amap, amap])


def test_string_labels_need_positive_and_an_absent_positive_is_refused():
    """Issue 18: string labels without positive= used to give {k: nan} silently."""
    from dermkit.metrics import knn_auc

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    labels = np.array(["nevus", "melanoma", "nevus", "melanoma"], dtype=object)
    index = EmbeddingIndex(x, backend="sklearn")
    q, truth = np.array([[0.9], [2.1]]), np.array(["melanoma", "nevus"])
    with pytest.raises(ValueError, match="positive="):
        knn_auc(index, labels, q, truth, ks=(1,))
    with pytest.raises(ValueError, match="'MEL' is not among"):
        knn_auc(index, labels, q, truth, ks=(1,), positive="MEL")
    # k=1: the query at 0.9 finds row 1 (melanoma), the one at 2.1 row 2 (nevus): a perfect ranking
    assert knn_auc(index, labels, q, truth, ks=(1,), positive="melanoma") == {1: 1.0}


def test_metrics_use_rows_when_the_index_has_ids():
    from dermkit.metrics import knn_scores

    x = np.array([[0.0], [1.0], [5.0]])
    index = EmbeddingIndex(x, ids=["a", "b", "c"], backend="sklearn")
    np.testing.assert_allclose(knn_scores(index, [0, 1, 1], np.array([[0.2], [4.0]]), k=2), [0.5, 1.0])
