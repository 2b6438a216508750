"""Sample weighting of a per-sample loss: class balance (CB, ES) and curriculum (SPL, OHEM) (barata2020 §3).

barata2020 replaces the mini-batch update of Eq. 2 by a weighted one::

    θ_{t+1} = θ_t − η · 1/M · Σ_{j=1..M} w_j ∇ℓ(ψ(x_j|θ), y_j)                                   (Eq. 3)

i.e. the loss of a mini-batch of size ``M`` is ``Σ_j w_j ℓ_j / M`` — divided by the batch size, not by
``Σ_j w_j``. ``ℓ`` is the softmax cross-entropy (Eq. 5) or the focal loss (Eq. 6); both come from Keras
(``keras.losses.CategoricalCrossentropy()``, ``keras.losses.CategoricalFocalCrossentropy(alpha=1.0,
gamma=γ)`` — Keras' default ``alpha=0.25`` is not Eq. 6). The weights ``w_j`` are

- class-balanced, CB (Eq. 7): ``w_j = N / N_{y_j}``; effective number of samples, ES (Eq. 8):
  ``w_j = (1 − β) / (1 − β^{N_{y_j}})`` with ``β = (N − 1)/N`` — :func:`class_weights`;
- curriculum (Section 3.3): 1 for the ``m`` samples of the batch with the lowest loss (self-paced learning,
  SPL) or the highest loss (online hard example mining, OHEM), 0 for the others; ``m`` grows with the
  epoch by Eq. 9 (:class:`dermkit.training.curriculum.CurriculumSchedule`).

The selection ranks the *unweighted* per-sample losses ``ℓ_j`` — the ``ℓ`` that SPL's regulariser
``G(w; λ) = −λ‖w‖₁`` thresholds in Eq. 4. The paper never combines the two families (Section 6 leaves
"OHEM with class balancing" to future work); dermkit allows it, with ``w_j`` the product of the class
weight and the 0/1 curriculum weight.

The equations live in :func:`per_sample_weights` (the ``w_j``) and :func:`weighted_selection` (Eq. 3's
reduction, exact over the global batch under ``tf.distribute``); :class:`SampleWeightingLoss` wraps a Keras
loss with them.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np

from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.losses.sample_weighting")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from dermkit.losses._distribute import all_reduce_sum, replica_context, replica_share  # noqa: E402
from dermkit.losses.class_weighted import _validate_class_weights as validate_class_weights  # noqa: E402

__all__ = [
    "CLASS_WEIGHT_METHODS",
    "CURRICULA",
    "SampleWeightingLoss",
    "class_weights",
    "curriculum_keep_count",
    "per_sample_weights",
    "weighted_selection",
]

#: ``method`` values of :func:`class_weights`: Eq. 7 and Eq. 8.
CLASS_WEIGHT_METHODS = ("cb", "es")
#: ``curriculum`` values of :class:`SampleWeightingLoss` (None: no curriculum).
CURRICULA = ("spl", "ohem")
_NORMALIZE = (None, "num_classes")


def class_weights(counts, *, method: str = "cb", normalize: str | None = None) -> np.ndarray:
    """Per-class sample weights from the training set's class counts: CB (Eq. 7) or ES (Eq. 8).

    With ``N = Σ_c N_c`` the training-set size and ``N_c`` the count of class ``c``::

        method="cb":  w_c = N / N_c                                           (barata2020 Eq. 7)
        method="es":  w_c = (1 − β) / (1 − β^{N_c}),   β = (N − 1) / N        (barata2020 Eq. 8)

    ES is Cui et al.'s inverse effective number ``(1 − β^n)/(1 − β)``. With barata2020's β the raw ES
    weights are ≈ ``1/N_c`` (``(1 − β^n) ≈ 1 − e^{−n/N}``; within 1 % for a class under 2 % of the set,
    37 % above it for ISIC 2018's nevi): on an 80 % split of Table 1 2.5e-4 … 1.1e-2. The mean weight of a
    training sample, ``Σ_c N_c w_c / N``, sets the scale of the loss and so SGD's effective learning rate: it
    is ``C`` (7) for raw CB and ≈ ``C/N`` (9e-4) for raw ES, a factor ~7,500 apart — yet barata2020 Table 4
    has ES ≈ CB under SGD. ``normalize="num_classes"`` rescales either set to sum to the number of classes
    ``C`` (``w_c · C / Σ_c' w_c'``), as Cui et al. (barata2020's ref. [9]) do: then CB and ES are within a
    few per cent of each other on ISIC 2018 (ES gives nevi 1.35× CB's weight) and the mean sample weight is
    ≈ 0.22 for both. dermkit's barata2020 grid uses ``normalize="num_classes"`` for its CB and ES rows alike
    (one loss scale for both; the row's ``params["normalize"]``). The default,
    None, is the paper's printed form. Weights come from each split's own training counts (the paper's
    Table 1 sums to 10,068 although its text says 10,015 images).

    Args:
        counts: ``[C]`` number of training samples of each class (``np.bincount(labels, minlength=C)``),
            integers ≥ 1, at least 2 classes.
        method: ``"cb"`` (Eq. 7) or ``"es"`` (Eq. 8). Default ``"cb"``.
        normalize: None (the paper's form, default) or ``"num_classes"`` (weights sum to ``C``).

    Returns:
        float64 ``[C]``, the weight of a sample of each class (all > 0).

    Raises:
        ValueError: unknown ``method`` or ``normalize``; ``counts`` not 1-D, fewer than 2 classes, not
            integers, or a class with no sample (its weight would be infinite).
    """
    if method not in CLASS_WEIGHT_METHODS:
        raise ValueError(f"method must be one of {CLASS_WEIGHT_METHODS}; received method={method!r}")
    if normalize not in _NORMALIZE:
        raise ValueError(f"normalize must be one of {_NORMALIZE}; received normalize={normalize!r}")
    array = np.asarray(counts)
    if array.ndim != 1 or array.size < 2:
        raise ValueError(
            f"counts must be a 1-D array of at least 2 class counts; received shape {array.shape}"
        )
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array)) or \
            not np.all(np.mod(array, 1) == 0):
        raise ValueError(f"counts must hold integer sample counts; received counts={array.tolist()!r}")
    if np.any(array < 1):
        empty = np.flatnonzero(array < 1).tolist()
        raise ValueError(
            f"every class needs at least one training sample (its weight would be infinite); classes {empty} "
            f"have none. Received: counts={array.tolist()!r}"
        )
    n_c = array.astype(np.float64)
    total = float(n_c.sum())
    if method == "cb":
        weights = total / n_c
    else:
        # 1 − β^n with β = 1 − 1/N, computed as −expm1(n·log1p(−1/N)) (no cancellation for n ≪ N).
        weights = (1.0 / total) / -np.expm1(n_c * np.log1p(-1.0 / total))
    if normalize == "num_classes":
        weights = weights * (len(weights) / weights.sum())
    return weights


def _validate_class_weights(values) -> tuple[float, ...] | None:
    return None if values is None else validate_class_weights(values)


def _validate_curriculum(curriculum) -> str | None:
    if curriculum is not None and curriculum not in CURRICULA:
        raise ValueError(f"curriculum must be None or one of {CURRICULA}; received curriculum={curriculum!r}")
    return curriculum


def _validate_fraction(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0.0 <= value <= 1.0):
        raise ValueError(f"keep_fraction must be a number in [0, 1]; received keep_fraction={value!r}")
    return float(value)


def curriculum_keep_count(keep_fraction, batch_size):
    """The number of samples SPL/OHEM keeps: ``min(M, ⌊fraction · M + ½⌋)`` (barata2020 Eq. 9 rounded).

    ``keep_fraction`` is ``m / M`` as set by the schedule; ``batch_size`` is the actual (global) batch size
    ``M``, so a smaller last batch keeps proportionally fewer samples. Computed in float64 (the same value as
    the Python expression ``min(M, math.floor(fraction * M + 0.5))``). Python numbers or tensors; returns an
    int32 tensor.
    """
    fraction = tf.clip_by_value(tf.cast(keep_fraction, tf.float64), 0.0, 1.0)
    size = tf.cast(batch_size, tf.float64)
    return tf.cast(tf.minimum(size, tf.floor(fraction * size + 0.5)), tf.int32)


def _checked_sparse_labels(labels, num_weights: int):
    """``labels`` (int32 ``[B]``) after checking each lies in ``[0, num_weights)``: a label outside would
    gather nothing on a GPU (a silent weight of 0) and an opaque error on a CPU. Eager: ValueError naming
    the label and the number of weights; in a graph, a ``tf.debugging`` assertion with the same message."""
    if tf.executing_eagerly():
        values = labels.numpy()
        bad = values[(values < 0) | (values >= num_weights)]
        if bad.size:
            raise ValueError(
                f"label {int(bad[0])} has no class weight: class_weights has {num_weights} entries (labels "
                f"0..{num_weights - 1}). Received labels={values.tolist()!r}"
            )
        return labels
    message = (f"a label has no class weight: class_weights has {num_weights} entries (labels "
               f"0..{num_weights - 1})")
    checks = [tf.debugging.assert_non_negative(labels, message=message),
              tf.debugging.assert_less(labels, tf.constant(num_weights, tf.int32), message=message)]
    with tf.control_dependencies(checks):
        return tf.identity(labels)


def _class_weight_of_samples(y_true_class, weights: tuple[float, ...]):
    """``[B]`` weight of each sample's true class: integer labels ``[B]`` gather, one-hot ``[B, K]`` Σ y·w."""
    table = tf.constant(weights, dtype=tf.float32)
    labels = tf.convert_to_tensor(y_true_class)
    if labels.shape.rank == 2 and labels.shape[-1] == 1:
        labels = tf.reshape(labels, (-1,))
    if labels.shape.rank == 1:
        labels = tf.cast(labels, tf.int32)
        return tf.gather(table, _checked_sparse_labels(labels, len(weights)))
    if labels.shape.rank != 2:
        raise ValueError(
            "y_true_class must be integer labels [B] or one-hot labels [B, K]; "
            f"received shape {tuple(labels.shape)}"
        )
    if labels.shape[-1] is not None and labels.shape[-1] != len(weights):
        raise ValueError(
            f"class_weights has {len(weights)} entries but the labels have {labels.shape[-1]} classes. "
            f"Received: class_weights={list(weights)!r}"
        )
    return tf.reduce_sum(tf.cast(labels, tf.float32) * table, axis=-1)


def _curriculum_mask(per_sample_loss, curriculum: str, keep_fraction):
    """``[B]`` float32, 1 for this replica's samples among the ``m`` lowest (SPL) / highest (OHEM) losses of
    the global batch, else 0. Ties go to the earlier sample (stable sort), the same on any replica split."""
    losses = tf.stop_gradient(per_sample_loss)
    local_size = tf.shape(losses)[0]
    context = replica_context()
    if context is None:
        global_losses, offset, global_size = losses, 0, local_size
    else:
        # The batch is split into contiguous shards in replica order: gathering restores the global order.
        global_losses = context.all_gather(losses, axis=0)
        sizes = context.all_gather(tf.reshape(local_size, (1,)), axis=0)
        replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
        offset = tf.reduce_sum(tf.where(tf.range(tf.shape(sizes)[0]) < replica, sizes, 0))
        global_size = tf.reduce_sum(sizes)
    count = curriculum_keep_count(keep_fraction, global_size)
    direction = "ASCENDING" if curriculum == "spl" else "DESCENDING"
    order = tf.argsort(global_losses, direction=direction, stable=True)
    ranks = tf.math.invert_permutation(order)  # rank of each sample in the selection order
    keep = tf.cast(ranks < count, tf.float32)
    return tf.slice(keep, tf.reshape(offset, (1,)), tf.reshape(local_size, (1,)))


def per_sample_weights(
    per_sample_loss,
    y_true_class=None,
    *,
    class_weights=None,
    curriculum: str | None = None,
    keep_fraction=1.0,
    sample_weight=None,
):
    """The weights ``w_j`` of barata2020 Eq. 3 for this replica's samples, ``[B]`` float32 (no gradient).

    ``w_j = c_{y_j} · s_j · sample_weight_j`` where ``c`` are the class weights (Eq. 7/8; 1 when None) and
    ``s_j`` the curriculum weight (Section 3.3; 1 when ``curriculum`` is None): with ``M`` the global batch
    size and ``k = min(M, ⌊keep_fraction · M + ½⌋)`` (:func:`curriculum_keep_count`), ``s_j = 1`` for the
    ``k`` samples with the lowest (``"spl"``) or highest (``"ohem"``) *unweighted* loss ``ℓ_j`` of the global
    batch and 0 for the others; equal losses are ranked by position in the batch.

    Under ``tf.distribute`` with ``R > 1`` replicas (inside ``strategy.run``) the per-sample losses are
    all-gathered, so the ``k`` samples are chosen over the global batch and each replica gets the weights of
    its own shard — the same weights one device computes on the whole batch.

    Args:
        per_sample_loss: ``[B]`` the loss of each sample (any float dtype; cast to float32).
        y_true_class: integer labels ``[B]`` or one-hot (soft) labels ``[B, K]`` (``c_{y_j} = Σ_k y_jk c_k``);
            needed only with ``class_weights``.
        class_weights: None or ``[K]`` weights > 0 (sequence, array or ``{k: w}``), e.g.
            :func:`class_weights`.
        curriculum: None, ``"spl"`` or ``"ohem"``.
        keep_fraction: ``m / M`` (Python number, tensor or variable) for the curriculum; default 1 (all).
        sample_weight: optional ``[B]`` extra factor (Keras' ``sample_weight``).

    Raises:
        ValueError: bad ``curriculum``/``class_weights``; ``per_sample_loss`` not 1-D; ``class_weights``
            without ``y_true_class`` or of the wrong length.
    """
    curriculum = _validate_curriculum(curriculum)
    weights_table = _validate_class_weights(class_weights)
    losses = tf.cast(per_sample_loss, tf.float32)
    if losses.shape.rank != 1:
        raise ValueError(
            "per_sample_loss must be 1-D [B] (one loss per sample; sum a sequence's per-step losses first, "
            f"barata2020 Eq. 10); received shape {tuple(losses.shape)}"
        )
    weights = tf.ones_like(losses)
    if weights_table is not None:
        if y_true_class is None:
            raise ValueError("class_weights needs y_true_class (the true class of each sample)")
        weights = weights * _class_weight_of_samples(y_true_class, weights_table)
    if curriculum is not None:
        weights = weights * _curriculum_mask(losses, curriculum, keep_fraction)
    if sample_weight is not None:
        weights = weights * tf.reshape(tf.cast(sample_weight, tf.float32), (-1,))
    return tf.stop_gradient(weights)


def weighted_selection(
    per_sample_loss,
    y_true_class=None,
    *,
    class_weights=None,
    curriculum: str | None = None,
    keep_fraction=1.0,
    sample_weight=None,
):
    """barata2020 Eq. 3's mini-batch loss ``Σ_j w_j ℓ_j / M`` from per-sample losses, a float32 scalar.

    ``w_j`` are :func:`per_sample_weights` (class weights × curriculum selection × ``sample_weight``) and
    ``M`` the number of samples in the (global) batch — not ``Σ_j w_j``: with OHEM keeping ``M/2`` samples
    the loss is half the mean of the kept samples' losses, as Eq. 3 is written.

    This is the entry point for a loss that computes its own per-sample values, e.g. the hierarchical
    model's Eq. 10 (the sum over the levels of a path of the per-level cross-entropies, levels past the
    path's end masked out), with ``y_true_class`` the sample's diagnosis::

        class HierarchicalLoss(keras.losses.Loss):
            def call(self, y_true, y_pred):                    # y: [B, L, K] per-level one-hot / probs
                per_level = keras.losses.categorical_crossentropy(y_true, y_pred)     # [B, L]
                present = ops.cast(ops.sum(y_true, axis=-1) > 0, "float32")           # path's levels
                per_sample = ops.sum(per_level * present, axis=-1)                    # Eq. 10, [B]
                return weighted_selection(per_sample, diagnosis_of(y_true), curriculum="ohem",
                                          keep_fraction=self.keep_fraction)

    Distribution: under ``tf.distribute`` with ``R > 1`` replicas (inside ``strategy.run``, as in
    ``Model.fit``) the selection runs over the global batch (see :func:`per_sample_weights`), the sum and
    ``M`` are all-reduced, and the value returned is the global loss divided by ``R`` — what a Keras loss must
    return per replica (Keras sums the replicas' gradients and multiplies the logged loss back by ``R``), so a
    ``Loss.call`` can return it as it is. Outside a multi-replica context it is the loss itself.

    Args: as :func:`per_sample_weights`.

    Returns:
        A float32 scalar (0 for an empty batch).
    """
    losses = tf.cast(per_sample_loss, tf.float32)
    weights = per_sample_weights(
        losses,
        y_true_class,
        class_weights=class_weights,
        curriculum=curriculum,
        keep_fraction=keep_fraction,
        sample_weight=sample_weight,
    )
    numerator = tf.reduce_sum(weights * losses)
    batch_size = tf.cast(tf.shape(losses)[0], tf.float32)
    numerator, batch_size = all_reduce_sum([numerator, batch_size])
    return replica_share(tf.math.divide_no_nan(numerator, batch_size))


@keras.saving.register_keras_serializable(package="dermkit")
class SampleWeightingLoss(keras.losses.Loss):
    """A Keras classification loss with barata2020's sample weighting: ``Σ_j w_j ℓ_j / M`` (Eq. 3).

    Shapes: ``y_true`` one-hot ``[B, K]`` (or integer labels ``[B]`` for a sparse base loss), ``y_pred``
    as the base loss expects (``[B, K]`` probabilities, or logits with ``from_logits=True`` on the base; the
    hierarchical model's ``[B, L, N]`` with :class:`~dermkit.models.attention.HierarchicalLoss`). One
    float32 scalar per mini-batch, ≥ 0, lower is better::

        ℓ_j = base(y_true_j, y_pred_j)           per sample (the base's own `call`, no reduction)
        w_j = c_{y_j} · s_j                      class weight (Eq. 7/8) × curriculum weight (§3.3)
        loss = Σ_j w_j ℓ_j / M                   M = the (global) batch size              (Eq. 3)

    ``s_j`` is 1 for the ``k = min(M, ⌊f · M + ½⌋)`` samples of the batch with the lowest (SPL) or highest
    (OHEM) unweighted loss ``ℓ_j`` and 0 otherwise; ``f = m/M`` is :attr:`keep_fraction`, a non-trainable
    float64 variable that :class:`dermkit.training.curriculum.CurriculumSchedule` sets each epoch by Eq. 9
    (without the schedule it stays at its initial value). See :func:`per_sample_weights`.

    Base losses (barata2020): Eq. 5 is ``keras.losses.CategoricalCrossentropy()``, Eq. 6 is
    ``keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=γ)`` (the paper's best γ is 1; Keras'
    default ``alpha=0.25`` is not Eq. 6). The base's ``reduction`` is ignored. Do not also pass
    ``class_weight`` to ``fit``: Keras would turn it into ``sample_weight``, which multiplies ``w_j`` again.

    A sequence (the hierarchical model's per-level outputs, Eq. 10) must be reduced to one loss per sample
    before the selection — selecting per level would pick different samples at each level: use a base whose
    ``call`` gives that per-sample sum, :class:`dermkit.models.attention.HierarchicalLoss` (``y_true`` the
    diagnosis ``[B, K]``, ``y_pred`` ``[B, L, N]``), or compute it and call :func:`weighted_selection`.
    Giving one ``SampleWeightingLoss`` per output of a multi-output model weights (and selects) each output
    separately.

    Reductions run in float32 whatever the inputs' dtype (mixed precision: a float16 ``y_pred`` is cast to
    float32 before the base loss).

    Distribution: under a ``tf.distribute`` strategy with ``R > 1`` replicas the ``k`` samples are chosen over
    the global batch (per-sample losses all-gathered), ``M`` is the global batch size and each replica returns
    ``1/R`` of the global loss; Keras sums the replicas' gradients (and multiplies the logged loss back by
    ``R``), so update and logged loss equal one device's on the global batch (as :class:`DiceF1Loss`).

    Citation: C. Barata, C. Santiago, "How Important Is Each Dermoscopy Image?", CVPR Workshops (ISIC) 2020,
    Section 3 (Eq. 3, 5–9).
    """

    def __init__(
        self,
        base,
        *,
        class_weights=None,
        curriculum: str | None = None,
        keep_fraction: float = 0.5,
        reduction: str | None = "sum_over_batch_size",
        name: str = "sample_weighting_loss",
    ):
        """Create the loss.

        Args:
            base: a ``keras.losses.Loss`` whose ``call`` gives one loss per sample ``[B]`` (Eq. 5:
                ``CategoricalCrossentropy()``, Eq. 6: ``CategoricalFocalCrossentropy(alpha=1.0, gamma=γ)``),
                or its serialised form (``keras.saving.serialize_keras_object``).
            class_weights: None (all 1) or one weight > 0 per class: a sequence or array (index = class) or
                a dict ``{k: w}`` with keys ``0..K-1`` — e.g. :func:`class_weights` (Eq. 7/8).
            curriculum: None (no selection), ``"spl"`` (keep the lowest-loss samples) or ``"ohem"`` (keep the
                highest-loss samples).
            keep_fraction: initial ``m / M`` in [0, 1]. Default 0.5, Eq. 9 at epoch 0 (``m = M/2``).
            reduction: Keras' ``reduction``, accepted and kept in the config. Eq. 3 is one value per
                mini-batch (normalised by the selected samples' total weight), which every reduction leaves
                as it is.
            name: the loss name. Default ``"sample_weighting_loss"``.

        Raises:
            TypeError: ``base`` is not a Keras loss object; ``class_weights`` is not a sequence or dict of
                real numbers.
            ValueError: unknown ``curriculum``; fewer than 2 class weights, one ≤ 0 or not finite;
                ``keep_fraction`` outside [0, 1].
        """
        if isinstance(base, Mapping):
            base = keras.saving.deserialize_keras_object(dict(base))
        if not isinstance(base, keras.losses.Loss):
            raise TypeError(
                "base must be a keras.losses.Loss instance such as keras.losses.CategoricalCrossentropy() "
                f"(a per-sample loss through its call). Received: base={base!r}"
            )
        self.base = base
        self.class_weights = _validate_class_weights(class_weights)
        self.curriculum = _validate_curriculum(curriculum)
        initial = _validate_fraction(keep_fraction)
        super().__init__(name=name, reduction=reduction, dtype="float32")
        self._warned_twice = False
        self.keep_fraction = keras.Variable(
            initial, dtype="float64", trainable=False, autocast=False, name="keep_fraction"
        )

    def _per_sample(self, y_true, y_pred):
        y_pred = tf.cast(y_pred, tf.float32)  # the base checks its own shapes ([B, K]; [B, L, N] for Eq. 10)
        y_true = tf.convert_to_tensor(y_true)
        if y_true.dtype.is_floating or y_true.dtype == tf.bool:
            y_true = tf.cast(y_true, tf.float32)
        per_sample = self.base.call(y_true, y_pred)
        if per_sample.shape.rank != 1:
            raise ValueError(
                f"the base loss {type(self.base).__name__} must give one loss per sample [B]; its call gave "
                f"shape {tuple(per_sample.shape)} for y_pred.shape={tuple(y_pred.shape)}. For a sequence "
                "(barata2020 Eq. 10) use HierarchicalLoss as the base, or sum the per-level losses of each "
                "sample and call dermkit.losses.weighted_selection."
            )
        return y_true, per_sample

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None and self.class_weights is not None and not self._warned_twice:
            import warnings

            self._warned_twice = True  # once per loss (traced once per function anyway)
            warnings.warn(
                f"{self.name}: this SampleWeightingLoss has class_weights and also received sample_weight — "
                "fit(class_weight=...) arrives as sample_weight, so class weights would apply twice. Pass "
                "class weights to the loss or to fit, not both.", UserWarning, stacklevel=2)
        with tf.name_scope(self.name):
            return self._weighted_loss(y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred):
        return self._weighted_loss(y_true, y_pred, None)

    def _weighted_loss(self, y_true, y_pred, sample_weight):
        y_true, per_sample = self._per_sample(y_true, y_pred)
        return weighted_selection(
            per_sample,
            y_true if self.class_weights is not None else None,
            class_weights=self.class_weights,
            curriculum=self.curriculum,
            keep_fraction=self.keep_fraction,
            sample_weight=sample_weight,
        )

    def get_config(self):
        return {
            "base": keras.saving.serialize_keras_object(self.base),
            "class_weights": None if self.class_weights is None else list(self.class_weights),
            "curriculum": self.curriculum,
            "keep_fraction": float(keras.ops.convert_to_numpy(self.keep_fraction)),
            "reduction": self.reduction,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["base"] = keras.saving.deserialize_keras_object(config["base"])
        return cls(**config)
