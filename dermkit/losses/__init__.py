"""Losses (need TensorFlow): kawahara2018's Dice-F1 loss and the weighted binary cross-entropy baseline.

- :class:`DiceF1Loss` / :func:`dice_f1_coefficient` — negative multi-label Sørensen-Dice-F1 over mini-batch
  partitions (kawahara2018 Eq. 3–7), exact over the global batch under ``tf.distribute``.
- :class:`WeightedBinaryCrossentropy` / :func:`weighted_binary_crossentropy` — BCE with per-channel pixel
  weights; :func:`median_frequency_weights` computes them (Eigen & Fergus 2015).
- :class:`WeightedCategoricalCrossentropy` — class-weighted cross-entropy normalised by the batch's total
  weight (goel2021 Section 3.2), exact under ``tf.distribute``.
- :class:`InpaintingLoss` — Liu et al. 2018's partial-convolution inpainting loss (bisla2019 supplement 6.1).
- :class:`SampleWeightingLoss` / :func:`weighted_selection` / :func:`class_weights` — barata2020's sample
  weighting of a Keras loss: class balance (CB Eq. 7, ES Eq. 8) and curriculum (SPL, OHEM), Eq. 3;
  :class:`HierarchicalLoss` — its hierarchical model's loss (Eq. 10).
- :class:`ChaiTripletLoss` — codella2018's triplet loss. Focal loss: Keras'
  ``keras.losses.CategoricalFocalCrossentropy``.

Every loss class is registered with Keras (package ``"dermkit"``), so compiled models reload without
``custom_objects``.
"""

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.losses")

from dermkit.losses.class_weighted import (  # noqa: E402
    WeightedCategoricalCrossentropy,
    weighted_categorical_crossentropy,
)
from dermkit.losses.dice import PARTITIONS, DiceF1Loss, dice_f1_coefficient  # noqa: E402
from dermkit.losses.inpainting import InpaintingLoss  # noqa: E402  (bisla2019 supplement 6.1, Liu et al.)
from dermkit.losses.sample_weighting import SampleWeightingLoss, class_weights, weighted_selection  # noqa: E402
from dermkit.losses.weighting import (  # noqa: E402
    MedianFrequencyWeights,
    WeightedBinaryCrossentropy,
    median_frequency_weights,
    weighted_binary_crossentropy,
)

__all__ = [
    "PARTITIONS",
    "DiceF1Loss",
    "MedianFrequencyWeights",
    "SampleWeightingLoss",
    "WeightedBinaryCrossentropy",
    "WeightedCategoricalCrossentropy",
    "class_weights",
    "dice_f1_coefficient",
    "median_frequency_weights",
    "weighted_binary_crossentropy",
    "weighted_categorical_crossentropy",
    "weighted_selection",
    "InpaintingLoss",
]


from dermkit.losses.triplet import ChaiTripletLoss, chai_triplet_loss  # noqa: E402

__all__ += ["ChaiTripletLoss", "chai_triplet_loss", "HierarchicalLoss"]

import dermkit._register  # noqa: E402, F401  (every dermkit serialisable registered with Keras)


def __getattr__(name: str):
    # barata2020's hierarchical loss lives beside its model (dermkit.models.attention, which imports this
    # package): resolved on access, so neither import waits for the other
    if name == "HierarchicalLoss":
        from dermkit.models.attention import HierarchicalLoss

        globals()[name] = HierarchicalLoss
        return HierarchicalLoss
    raise AttributeError(f"module 'dermkit.losses' has no attribute {name!r}")
