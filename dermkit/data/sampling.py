"""Class over-sampling, random up-sampling and class-balanced batches (NumPy only, no TensorFlow).

* :class:`MultiLabelBatchSampler` — kawahara2018 Section II-E: each mini-batch of 12 holds at least two
  samples containing each of the 4 dermoscopic features (8 drawn that way), the remaining 4 drawn at random.
* :func:`random_upsample` — goel2021 Section 3.3: minority classes of the *training* split are randomly
  up-sampled (drawn with replacement) until every class matches the largest.
* :class:`ClassBalancedBatchSampler` — bisla2019 Section 6.3: balanced mini-batches, the same number of
  samples of every class in each batch.

The two samplers yield ``int64 [batch_size]`` arrays of row positions (0-based, into the frame or label
array they were built from). Iterating a sampler again gives the next epoch's batches; ``batches(epoch)``
gives any epoch's batches directly, the same for the same seed. The tf.data builders in
:mod:`dermkit.data.pipelines` accept either sampler (``sampler=``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

__all__ = [
    "MultiLabelBatchSampler",
    "ClassBalancedBatchSampler",
    "random_upsample",
    "labels_present_from_features",
]


class _BatchSampler:
    """Shared epoch bookkeeping: ``batches(epoch)`` is implemented by subclasses."""

    batch_size: int
    num_batches: int
    seed: int

    def __init__(self) -> None:
        self._epoch = 0

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[np.ndarray]:
        epoch = self._epoch
        self._epoch += 1
        yield from self.batches(epoch)

    def _rng(self, epoch: int) -> np.random.Generator:
        return np.random.default_rng([int(self.seed), int(epoch)])

    def batches(self, epoch: int = 0) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _draw(rng: np.random.Generator, pool: np.ndarray, k: int, taken: np.ndarray) -> np.ndarray:
    """``k`` items of ``pool``, preferring ones not yet ``taken`` in this batch (repeats only if needed)."""
    fresh = pool[~taken[pool]]
    if len(fresh) >= k:
        return rng.choice(fresh, size=k, replace=False)
    extra = rng.choice(pool, size=k - len(fresh), replace=True)
    return np.concatenate([fresh, extra])


class MultiLabelBatchSampler(_BatchSampler):
    """Mini-batches with at least ``per_label`` samples containing each label (kawahara2018 Section II-E).

    For every batch and every label k, ``per_label`` images whose mask contains label k are drawn (images
    already in the batch are avoided while others remain); the remaining ``batch_size - K·per_label``
    slots are drawn at random from all images. With the paper's setting (batch 12, 4 features, 2 per label)
    8 samples are drawn per label and 4 at random.

    Args:
        labels_present: ``bool [n_images, K]``, True where image i contains label k (e.g. any superpixel of
            the feature is positive).
        batch_size: samples per batch (default 12); at least ``K · per_label``.
        per_label: guaranteed samples per label per batch (default 2).
        seed: seed; batches of epoch e depend only on (seed, e).
        num_batches: batches per epoch; default ``ceil(n_images / batch_size)`` (one pass's worth).

    Raises:
        ValueError: ``labels_present`` not 2-D, a label present in no image, ``batch_size < K·per_label``,
            or a non-positive size.
    """

    def __init__(
        self,
        labels_present,
        batch_size: int = 12,
        per_label: int = 2,
        seed: int = 0,
        num_batches: int | None = None,
    ) -> None:
        super().__init__()
        present = np.asarray(labels_present)
        if present.ndim != 2 or present.shape[0] == 0:
            raise ValueError(
                f"labels_present must be [n_images, K] booleans. Received: shape {present.shape}"
            )
        present = present.astype(bool)
        self.batch_size = _check_positive_int("batch_size", batch_size)
        self.per_label = _check_positive_int("per_label", per_label)
        n, k = present.shape
        if self.batch_size < k * self.per_label:
            raise ValueError(
                f"batch_size must be at least K·per_label = {k}·{self.per_label} = {k * self.per_label}. "
                f"Received: batch_size={batch_size}"
            )
        empty = np.flatnonzero(~present.any(axis=0))
        if len(empty):
            raise ValueError(
                f"label(s) {empty.tolist()} occur in no image: cannot put {self.per_label} of them in every "
                "batch (drop those labels from labels_present, or use plain shuffling)"
            )
        self.labels_present = present
        self.seed = int(seed)
        self.num_batches = (
            -(-n // self.batch_size) if num_batches is None else _check_positive_int("num_batches", num_batches)
        )
        self._pools = [np.flatnonzero(present[:, j]) for j in range(k)]

    def batches(self, epoch: int = 0) -> np.ndarray:
        """``int64 [num_batches, batch_size]`` row positions for ``epoch`` (deterministic)."""
        rng = self._rng(epoch)
        n = self.labels_present.shape[0]
        everyone = np.arange(n)
        out = np.empty((self.num_batches, self.batch_size), dtype=np.int64)
        for b in range(self.num_batches):
            taken = np.zeros(n, dtype=bool)
            parts = []
            for pool in self._pools:
                pick = _draw(rng, pool, self.per_label, taken)
                taken[pick] = True
                parts.append(pick)
            rest = self.batch_size - len(self._pools) * self.per_label
            if rest:
                parts.append(_draw(rng, everyone, rest, taken))
            batch = np.concatenate(parts)
            out[b] = rng.permutation(batch)
        return out


class ClassBalancedBatchSampler(_BatchSampler):
    """Class-balanced mini-batches (bisla2019 Section 6.3): every class equally represented in each batch.

    Each batch holds ``batch_size // C`` samples of each of the C classes; the ``batch_size % C`` remaining
    slots go to classes chosen at random (a different choice per batch), so counts differ by at most one.
    Within a class, samples are drawn from a reshuffled cycle over its images, so every image is used
    before any repeats.

    Args:
        labels: ``int [n_images]`` class indices (or any hashable labels; classes are the sorted unique
            values, or ``range(num_classes)`` when given).
        batch_size: samples per batch; at least the number of classes.
        seed: seed; batches of epoch e depend only on (seed, e).
        num_classes: when given, labels must be integers in ``[0, num_classes)`` and every class must occur.
        num_batches: batches per epoch; default ``ceil(n_images / batch_size)``.

    Raises:
        ValueError: empty or non-1-D labels, ``batch_size`` below the number of classes, a label outside
            ``[0, num_classes)`` or a class with no sample.
    """

    def __init__(
        self,
        labels,
        batch_size: int,
        seed: int = 0,
        num_classes: int | None = None,
        num_batches: int | None = None,
    ) -> None:
        super().__init__()
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError(f"labels must be a non-empty 1-D array. Received: shape {labels.shape}")
        self.batch_size = _check_positive_int("batch_size", batch_size)
        if num_classes is None:
            classes, codes = np.unique(labels, return_inverse=True)
        else:
            num_classes = _check_positive_int("num_classes", num_classes)
            codes = labels.astype(np.int64)
            if np.any(codes != labels) or codes.min() < 0 or codes.max() >= num_classes:
                raise ValueError(f"labels must be integers in [0, {num_classes}); found {np.unique(labels)}")
            classes = np.arange(num_classes)
            absent = np.setdiff1d(classes, codes)
            if len(absent):
                raise ValueError(f"class(es) {absent.tolist()} have no sample: cannot balance batches")
        if self.batch_size < len(classes):
            raise ValueError(
                f"batch_size must be at least the number of classes ({len(classes)}). "
                f"Received: batch_size={batch_size}"
            )
        self.classes = classes
        self.labels = labels
        self.seed = int(seed)
        self.num_batches = (
            -(-len(labels) // self.batch_size)
            if num_batches is None
            else _check_positive_int("num_batches", num_batches)
        )
        self._pools = [np.flatnonzero(codes == c) for c in range(len(classes))]

    def batches(self, epoch: int = 0) -> np.ndarray:
        """``int64 [num_batches, batch_size]`` row positions for ``epoch`` (deterministic)."""
        rng = self._rng(epoch)
        c = len(self._pools)
        base, extra = divmod(self.batch_size, c)
        per_class = np.full((self.num_batches, c), base, dtype=np.int64)
        for b in range(self.num_batches):
            per_class[b, rng.choice(c, size=extra, replace=False)] += 1
        # One reshuffled cycle per class, long enough for the whole epoch.
        streams = []
        for j, pool in enumerate(self._pools):
            need = int(per_class[:, j].sum())
            reps = -(-need // len(pool))
            streams.append(np.concatenate([rng.permutation(pool) for _ in range(reps)])[:need])
        out = np.empty((self.num_batches, self.batch_size), dtype=np.int64)
        cursor = np.zeros(c, dtype=np.int64)
        for b in range(self.num_batches):
            parts = []
            for j in range(c):
                k = per_class[b, j]
                parts.append(streams[j][cursor[j]:cursor[j] + k])
                cursor[j] += k
            out[b] = rng.permutation(np.concatenate(parts))
        return out


def random_upsample(
    df: pd.DataFrame, label_column: str = "label", seed: int = 0, *, split_column: str = "split"
) -> pd.DataFrame:
    """Randomly up-sample minority classes until every class has as many rows as the largest (goel2021 3.3).

    All original rows are kept; each smaller class gets ``max_count - count`` extra rows drawn with
    replacement from its own rows. The result is shuffled (seeded) and re-indexed; ``df.attrs`` are kept.
    Apply it to the **training split only**: validation and test sets must keep their real class balance.

    Args:
        df: one row per image with ``label_column``.
        label_column: class column (default "label").
        seed: seed for the draws and the shuffle.
        split_column: if the frame has this column, every value must be "train" (guards against
            up-sampling a frame that still holds validation/test rows).

    Returns:
        A new DataFrame with ``C · max_count`` rows.

    Raises:
        ValueError: missing label column, empty frame, NaN labels, or rows of a split other than "train".
    """
    if label_column not in df.columns:
        raise ValueError(
            f"random_upsample: label column {label_column!r} not found; columns are {list(df.columns)}"
        )
    if len(df) == 0:
        raise ValueError("random_upsample: the frame is empty")
    if df[label_column].isna().any():
        raise ValueError(f"random_upsample: column {label_column!r} holds missing labels")
    if split_column in df.columns:
        others = sorted(set(df[split_column].astype(str)) - {"train"})
        if others:
            raise ValueError(
                f"random_upsample must only be applied to the training split; the frame holds "
                f"{split_column}={others}. Select df[df.{split_column} == 'train'] first."
            )
    rng = np.random.default_rng(seed)
    labels = df[label_column].to_numpy()
    classes, codes, counts = np.unique(labels, return_inverse=True, return_counts=True)
    target = counts.max()
    positions = [np.arange(len(df))]
    for j, count in enumerate(counts):
        if count < target:
            pool = np.flatnonzero(codes == j)
            positions.append(rng.choice(pool, size=target - count, replace=True))
    take = rng.permutation(np.concatenate(positions))
    out = df.iloc[take].reset_index(drop=True)
    out.attrs = dict(df.attrs)
    return out


def labels_present_from_features(
    df: pd.DataFrame, *, features_column: str = "features_path", threshold: float = 0.5
) -> np.ndarray:
    """``bool [n_images, 4]``: which ISIC 2017 features each image contains (any superpixel > threshold).

    The input of :class:`MultiLabelBatchSampler` for the feature task; reads each ``_features.json`` with
    :func:`dermkit.data.isic.read_superpixel_labels` (errors name the file).

    Raises:
        ValueError: ``features_column`` missing. DermkitDataError: a malformed JSON file.
    """
    from dermkit.data.isic import ISIC2017_FEATURES, read_superpixel_labels

    if features_column not in df.columns:
        raise ValueError(
            f"labels_present_from_features: column {features_column!r} not found; columns are {list(df.columns)}"
        )
    out = np.zeros((len(df), len(ISIC2017_FEATURES)), dtype=bool)
    for i, path in enumerate(df[features_column]):
        labels = read_superpixel_labels(path)
        if len(labels):
            out[i] = (labels > threshold).any(axis=0)
    return out
