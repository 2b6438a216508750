"""codella2018's triplet loss (Eq. 1).

``L = max(0, l + D(f(x_a), f(x_b)) − ½ (D(f(x_a), f(x_c)) + D(f(x_b), f(x_c))))`` with ``D`` the squared
Euclidean distance and margin ``l = 1``; ``x_a, x_b`` similar, ``x_c`` dissimilar. Unlike the usual
anchor-positive-negative form (Schroff et al. 2015), the dissimilar image is pushed away from *both* similar
images (the mean of the two distances). The batch loss is the mean over triplets.
"""

from __future__ import annotations

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.losses.triplet")

import keras  # noqa: E402
from keras import ops  # noqa: E402

__all__ = ["ChaiTripletLoss", "chai_triplet_loss", "squared_distance"]


def squared_distance(x, y):
    """``D(x, y) = Σ_z (x_z − y_z)²`` over the last axis: ``[..., d], [..., d] → [...]``."""
    return ops.sum(ops.square(ops.convert_to_tensor(x) - ops.convert_to_tensor(y)), axis=-1)


def chai_triplet_loss(anchor, similar, dissimilar, *, margin: float = 1.0):
    """Eq. 1 per triplet: ``[B, d] × 3 → [B]`` (no reduction)."""
    d_ab = squared_distance(anchor, similar)
    d_ac = squared_distance(anchor, dissimilar)
    d_bc = squared_distance(similar, dissimilar)
    return ops.maximum(0.0, margin + d_ab - 0.5 * (d_ac + d_bc))


@keras.saving.register_keras_serializable(package="dermkit")
class ChaiTripletLoss(keras.losses.Loss):
    """Eq. 1 of codella2018, averaged over the batch (Keras' default ``"sum_over_batch_size"``).

    ``y_pred`` holds the three embeddings stacked on axis 1, ``[B, 3, d]`` = (f(x_a), f(x_b), f(x_c));
    ``y_true`` is ignored (triplets carry no targets; pass anything of batch length, e.g. zeros ``[B]``).

    Args:
        margin: ``l`` (the paper: 1), ≥ 0.
    """

    def __init__(self, *, margin: float = 1.0, reduction: str = "sum_over_batch_size",
                 name: str = "chai_triplet_loss", **kwargs):
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin >= 0:
            raise ValueError(f"margin must be a number ≥ 0. Received: margin={margin!r}")
        super().__init__(reduction=reduction, name=name, **kwargs)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_pred.shape) != 3 or (y_pred.shape[1] is not None and y_pred.shape[1] != 3):
            raise ValueError("ChaiTripletLoss expects y_pred of shape [batch, 3, dim] (anchor, similar, "
                             f"dissimilar). Received shape {tuple(y_pred.shape)}")
        return chai_triplet_loss(y_pred[:, 0], y_pred[:, 1], y_pred[:, 2], margin=self.margin)

    def get_config(self):
        config = super().get_config()
        config.update({"margin": self.margin})
        return config
