"""kNN classification and relevance of evidence search, and the activation-map Jaccard (codella2018 Table 1).

* :func:`knn_scores`: the melanoma score of a query = the fraction of its k nearest archive images that are
  melanoma ("average vote among returned nearest neighbors", Section 2.3).
* :func:`knn_auc`: ROC AUC of those scores for several k (Table 1, AUC k3 … k40).
* :func:`relevance_at_k`: REL, the mean number of the k results in the query's similarity group.
* :func:`activation_map_jaccard`: JA, the Jaccard index of a query activation map (Eq. 2) against the lesion
  segmentation. The paper does not say how the map is binarised: dermkit min–max normalises the map to
  [0, 1], resizes it bilinearly to the mask's size and keeps pixels ≥ ``threshold`` (:data:`JA_THRESHOLD`,
  0.5, the value Table 1's JA column is reported at; :func:`mean_activation_map_jaccard` gives the mean at
  several thresholds, :data:`JA_THRESHOLDS` = 0.2, 0.5, 0.8, for the threshold table).

Searches are vectorised: one index search at the largest k serves every smaller k.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["knn_scores", "knn_auc", "relevance_at_k", "activation_map_jaccard", "mean_activation_map_jaccard",
           "TABLE1_KS", "JA_THRESHOLD", "JA_THRESHOLDS"]

#: Table 1's neighbour counts.
TABLE1_KS = (3, 5, 10, 20, 40)
#: The binarisation threshold of Table 1's JA (dermkit's choice; the paper gives none) and the thresholds of
#: the activation-map Jaccard table.
JA_THRESHOLD = 0.5
JA_THRESHOLDS = (0.2, 0.5, 0.8)


def _neighbours(index, query_embeddings, k: int) -> np.ndarray:
    """Archive rows of each query's ``k`` neighbours (rows, not ids: the labels are per row)."""
    search = getattr(index, "search_rows", index.search)
    _, idx = search(query_embeddings, k)
    return idx


def _positive(labels: np.ndarray, positive, name: str):
    """The label counted as positive: ``positive``, or 1 for numeric / boolean labels when it is None.

    String labels need ``positive=`` (there is no default class name), and a ``positive`` absent from the
    archive labels is refused (every score would be 0 and every AUC NaN).
    """
    if positive is None:
        if labels.dtype.kind in "biuf":
            positive = True if labels.dtype.kind == "b" else 1
        else:
            kind = "strings" if labels.dtype.kind in "OSU" else f"of dtype {labels.dtype}"
            raise ValueError(f"{name} are {kind}: pass "
                             f"positive= (the label counted, e.g. positive='melanoma'); labels seen: "
                             f"{sorted(map(str, np.unique(labels.astype(str))))[:10]}")
    if not (labels == positive).any():
        raise ValueError(f"positive={positive!r} is not among the {name} "
                         f"({sorted(map(str, np.unique(labels.astype(str))))[:10]})")
    return positive


def _labels(labels, n: int, name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"{name} must be 1-D with one entry per archive item ({n}). Received shape {labels.shape}")
    return labels


def knn_scores(index, train_labels, query_embeddings, *, k: int, positive=None) -> np.ndarray:
    """Fraction of each query's ``k`` nearest archive items whose label is ``positive``: ``float [Q]``.

    Args:
        index: an :class:`dermkit.retrieval.EmbeddingIndex` over the archive.
        train_labels: ``[N]`` archive labels (any dtype comparable with ``positive``).
        query_embeddings: ``[Q, d]``.
        k: neighbours per query. positive: the label counted (melanoma); required for string labels,
            1 (True) by default for numeric (boolean) labels; refused when no archive label equals it.
    """
    labels = _labels(train_labels, len(index), "train_labels")
    positive = _positive(labels, positive, "train_labels")
    idx = _neighbours(index, query_embeddings, k)
    return (labels[idx] == positive).mean(axis=1)


def knn_auc(index, train_labels, query_embeddings, query_labels, *, ks: Sequence[int] = TABLE1_KS,
            positive=None) -> dict[int, float]:
    """ROC AUC of the kNN melanoma score for each ``k`` in ``ks``: ``{k: auc}`` (scikit-learn's
    ``roc_auc_score``; NaN when the queries hold one class only).

    ``positive``: as in :func:`knn_scores` (string labels need it, e.g. ``positive="melanoma"``).
    """
    from sklearn.metrics import roc_auc_score

    labels = _labels(train_labels, len(index), "train_labels")
    positive = _positive(labels, positive, "train_labels")
    truth = np.asarray(query_labels) == positive
    ks = sorted({int(k) for k in ks})
    idx = _neighbours(index, query_embeddings, max(ks))
    hits = labels[idx] == positive
    out = {}
    for k in ks:
        score = hits[:, :k].mean(axis=1)
        out[k] = float(roc_auc_score(truth, score)) if 0 < truth.sum() < len(truth) else float("nan")
    return out


def relevance_at_k(index, train_groups, query_embeddings, query_groups, *, ks: Sequence[int] = TABLE1_KS
                   ) -> dict[int, float]:
    """REL: the mean number of the ``k`` results in the query's similarity group, ``{k: mean count}``.

    Archive items or queries without a group (None / NaN / "") never match.
    """
    groups = _labels(train_groups, len(index), "train_groups").astype(object)
    qg = np.asarray(query_groups, dtype=object)
    ks = sorted({int(k) for k in ks})
    idx = _neighbours(index, query_embeddings, max(ks))

    def missing(a):
        return np.array([v is None or v == "" or (isinstance(v, float) and np.isnan(v)) for v in a], bool)

    match = (groups[idx] == qg[:, None]) & ~missing(groups)[idx] & ~missing(qg)[:, None]
    return {k: float(match[:, :k].sum(axis=1).mean()) for k in ks}


def activation_map_jaccard(lesion_mask, activation_map, *, threshold: float = JA_THRESHOLD) -> float:
    """JA of Table 1: Jaccard of the binarised activation map against the lesion mask (module docstring).

    Args:
        lesion_mask: ``[H, W]`` truth (nonzero = lesion).
        activation_map: ``[h, w]`` map (any scale; e.g. Eq. 2's QAM).
        threshold: on the map normalised to [0, 1].

    Returns:
        |A ∩ M| / |A ∪ M|; 1.0 when both are empty. A constant map normalises to 0 (nothing selected).
    """
    return _jaccards(lesion_mask, activation_map, (threshold,))[0]


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a number in [0, 1]. Received: threshold={threshold!r}")
    return float(threshold)


def _jaccards(lesion_mask, activation_map, thresholds) -> list[float]:
    """Jaccard of one map against one mask at each threshold (the map normalised and resized once)."""
    import cv2

    thresholds = [_check_threshold(t) for t in thresholds]
    mask = np.asarray(lesion_mask) > 0
    amap = np.asarray(activation_map, np.float32)
    if mask.ndim != 2 or amap.ndim != 2:
        raise ValueError(f"lesion_mask and activation_map must be 2-D. Received {mask.shape} and {amap.shape}")
    if not np.isfinite(amap).all():
        raise ValueError("activation_map holds NaN or infinite values")
    lo, hi = float(amap.min()), float(amap.max())
    norm = (amap - lo) / (hi - lo) if hi > lo else np.zeros_like(amap)
    resized = cv2.resize(norm, (mask.shape[1], mask.shape[0]), interpolation=cv2.INTER_LINEAR)
    out = []
    for threshold in thresholds:
        pred = resized >= threshold
        union = np.logical_or(pred, mask).sum()
        out.append(float(np.logical_and(pred, mask).sum() / union) if union else 1.0)
    return out


def mean_activation_map_jaccard(lesion_masks, activation_maps, *,
                                thresholds: Sequence[float] = JA_THRESHOLDS) -> dict[float, float]:
    """The mean over images of :func:`activation_map_jaccard` at each threshold: ``{threshold: mean JA}``.

    Args:
        lesion_masks: ``[N, H, W]`` truths. activation_maps: ``[N, h, w]`` maps, paired row by row.
        thresholds: each in [0, 1], on the min–max normalised map. Default :data:`JA_THRESHOLDS`.

    Raises:
        ValueError: different numbers of masks and maps, no images, or a threshold outside [0, 1].
    """
    if len(lesion_masks) != len(activation_maps) or not len(lesion_masks):
        raise ValueError(f"lesion_masks and activation_maps must pair one to one (N ≥ 1). Received "
                         f"{len(lesion_masks)} and {len(activation_maps)}")
    thresholds = tuple(_check_threshold(t) for t in thresholds)
    per_image = np.array([_jaccards(m, a, thresholds) for m, a in zip(lesion_masks, activation_maps)])
    return {t: float(v) for t, v in zip(thresholds, per_image.mean(axis=0))}
