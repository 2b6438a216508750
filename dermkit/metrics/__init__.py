"""Metrics: NumPy / scikit-learn scoring (no TensorFlow) and, lazily, Keras metric objects for training logs.

* :mod:`dermkit.metrics.jaccard` — fuzzy Jaccard, J̄1, J̄nan, Jc (kawahara2018 Eq. 8–10, Table V).
* :mod:`dermkit.metrics.isic` — the ISIC challenges' scoring definitions (2017 Part 2, 2018 Task 1 / 3).
* :mod:`dermkit.metrics.classification` — class labels, balanced accuracy (the one
  definition), partial AUC, per-group rates (goel2021).
* :mod:`dermkit.metrics.novelty` — nearest-training-image MSE of generated images, per-channel image
  statistics (bisla2019 Figs. 5–6).
* :mod:`dermkit.metrics.keras_metrics` — :class:`ChannelDice` for ``model.compile``; importing it needs
  TensorFlow. ``import dermkit.metrics`` itself never imports TensorFlow: the Keras names below are
  resolved on first access (module ``__getattr__``).
"""

from __future__ import annotations

import importlib

from dermkit._lazy import register_if_keras_loaded
from dermkit.metrics.classification import (
    accuracy_sensitivity_specificity,
    argmax_labels,
    balanced_multiclass_accuracy,
    class_labels,
    mean_roc_auc,
    multiclass_scores,
    partial_auc_above_tpr,
    per_class_roc_auc,
    per_group_rates,
    specificity_at_sensitivity,
)
from dermkit.metrics.examples import count_wrong, select_examples
from dermkit.metrics.isic import (
    binary_classification_scores,
    isic2017_part2_scores,
    isic_classification_scores,
    isic_macro_averages,
    isic_segmentation_scores,
)
from dermkit.metrics.jaccard import (
    channel_jaccard,
    channel_jaccard_superpixels,
    fuzzy_jaccard,
    fuzzy_jaccard_superpixels,
    mean_over_channels,
    per_image_jaccard,
    per_image_jaccard_superpixels,
    table5_evaluations,
    threshold_below,
)
from dermkit.metrics.novelty import channel_stats, channel_stats_distance, minmax_stretch, nearest_training_mse
from dermkit.metrics.retrieval import (
    activation_map_jaccard,
    knn_auc,
    knn_scores,
    mean_activation_map_jaccard,
    relevance_at_k,
)

_KERAS_NAMES = {"ChannelDice": "dermkit.metrics.keras_metrics", "channel_dice_metrics": "dermkit.metrics.keras_metrics"}

__all__ = [
    "argmax_labels",
    "balanced_multiclass_accuracy",
    "channel_jaccard",
    "channel_jaccard_superpixels",
    "class_labels",
    "fuzzy_jaccard",
    "fuzzy_jaccard_superpixels",
    "isic2017_part2_scores",
    "isic_classification_scores",
    "isic_segmentation_scores",
    "mean_over_channels",
    "multiclass_scores",
    "partial_auc_above_tpr",
    "per_group_rates",
    "per_image_jaccard",
    "per_image_jaccard_superpixels",
    "table5_evaluations",
    "threshold_below",
    "activation_map_jaccard",
    "knn_auc",
    "knn_scores",
    "relevance_at_k",
    "accuracy_sensitivity_specificity",
    "mean_roc_auc",
    "per_class_roc_auc",
    "specificity_at_sensitivity",
    "nearest_training_mse",
    "channel_stats",
    "channel_stats_distance",
    "minmax_stretch",
    "binary_classification_scores",
    "isic_macro_averages",
    "count_wrong",
    "select_examples",
    "mean_activation_map_jaccard",
    *_KERAS_NAMES,
]


def __getattr__(name: str):
    if name in _KERAS_NAMES:
        value = getattr(importlib.import_module(_KERAS_NAMES[name]), name)
        register_if_keras_loaded()  # the first TensorFlow export registers every dermkit serialisable
        return value
    raise AttributeError(f"module 'dermkit.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_KERAS_NAMES))


register_if_keras_loaded()  # Keras already imported: register every dermkit serialisable now (no extra cost)
