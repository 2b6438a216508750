"""GAN training batches and generated-image manifests (bisla2019 Sections 3.3.2 and 6.3).

* :class:`ClassBlockSampler` — row positions for GAN batches: ``per_class`` images of every class in every
  batch ("we balanced the data online i.e the data was augmented at each mini-batch", Section 6.3),
  interleaved class by class (``c0, c1, …, c0, c1, …``) so that a ``tf.distribute`` strategy splitting the
  global batch into equal replica slices gives every replica ``per_class / replicas`` images of each class.
  A class with fewer than ``per_class`` images is drawn with replacement (its reshuffled cycle repeats
  within the batch). With one class it is a plain reshuffled stream of ``per_class``-image batches.
* :func:`gan_dataset` — the ``tf.data`` batches ``(image float32 [B, s, s, 3] in [0, 1], class_id int32 [B])``
  built on :func:`dermkit.data.pipelines.classification_dataset` (dermkit's one resize rule, named file
  errors, an in-memory cache).
* :func:`read_generated_manifest` — the manifest :meth:`dermkit.training.gan.GANTrainer.save_generated` writes,
  as a frame with the readers' columns (``image_id, image_path, mask_path, label, group``) to concatenate to
  a training frame as an extra source.

Only :func:`gan_dataset` needs TensorFlow (imported when called).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from dermkit.data.sampling import _BatchSampler, _check_positive_int
from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

__all__ = [
    "AUTHORS_CROP",
    "MANIFEST_COLUMNS",
    "ClassBlockSampler",
    "gan_dataset",
    "read_generated_manifest",
]

#: The authors' GAN preprocessing (reference notes): resize to 300, centre crop 256 — the central 256/300.
AUTHORS_CROP = 256 / 300
#: Columns of a generated-image manifest, in order.
MANIFEST_COLUMNS = ("image_id", "image_path", "label", "seed")


class ClassBlockSampler(_BatchSampler):
    """Batches of ``per_class`` images of every class, interleaved class by class (module docstring).

    Args:
        labels: ``int [n_images]`` class indices in ``[0, num_classes)``; every class must occur.
        per_class: images of each class per batch (b); the batch holds ``num_classes · b``.
        num_classes: number of classes (default ``max(labels) + 1``).
        seed: seed; the batches of epoch e depend only on (seed, e).
        num_batches: batches per epoch; default ``ceil(n_images / batch_size)`` (one pass's worth of images).

    Raises:
        ValueError: empty or non-integer labels, a label outside ``[0, num_classes)``, a class without images,
            a non-positive size.
    """

    def __init__(self, labels, per_class: int, *, num_classes: int | None = None, seed: int = 0,
                 num_batches: int | None = None) -> None:
        super().__init__()
        raw = np.asarray(labels)
        if raw.ndim != 1 or raw.size == 0:
            raise ValueError(f"labels must be a non-empty 1-D array. Received: shape {raw.shape}")
        codes = raw.astype(np.int64)
        if np.any(codes != raw):
            raise ValueError("labels must hold integer class indices")
        self.per_class = _check_positive_int("per_class", per_class)
        c = int(codes.max()) + 1 if num_classes is None else _check_positive_int("num_classes", num_classes)
        if codes.min() < 0 or codes.max() >= c:
            raise ValueError(f"labels must lie in [0, {c}); found {sorted(set(codes.tolist()))}")
        absent = np.setdiff1d(np.arange(c), codes)
        if len(absent):
            raise ValueError(f"class(es) {absent.tolist()} have no image: cannot put {self.per_class} of each "
                             "class in every batch")
        self.num_classes = c
        self.labels = codes
        self.batch_size = c * self.per_class
        self.seed = int(seed)
        self.num_batches = (-(-len(codes) // self.batch_size) if num_batches is None
                            else _check_positive_int("num_batches", num_batches))
        self._pools = [np.flatnonzero(codes == k) for k in range(c)]

    def batches(self, epoch: int = 0) -> np.ndarray:
        """``int64 [num_batches, num_classes · per_class]`` row positions; position ``j`` of a batch holds an
        image of class ``j % num_classes``."""
        rng = self._rng(epoch)
        need = self.num_batches * self.per_class
        streams = []
        for pool in self._pools:  # one reshuffled cycle per class, long enough for the epoch
            reps = -(-need // len(pool))
            streams.append(np.concatenate([rng.permutation(pool) for _ in range(reps)])[:need])
        # [C, num_batches, b] → [num_batches, b, C] → interleaved c0, c1, ..., c0, c1, ...
        blocks = np.stack(streams).reshape(self.num_classes, self.num_batches, self.per_class)
        return np.ascontiguousarray(blocks.transpose(1, 2, 0).reshape(self.num_batches, self.batch_size))


def gan_dataset(df: pd.DataFrame, *, image_size: int, per_class: int, num_classes: int | None = None,
                label_column: str = "label", image_column: str = "image_path", seed: int = 0,
                num_batches: int | None = None, crop: float | None = AUTHORS_CROP, cache="memory",
                image_resize: str = "auto", validate: str = "header", return_sampler: bool = False):
    """GAN training batches from a frame of images: ``(image float32 [B, s, s, 3] in [0, 1], class_id int32
    [B])`` with ``B = num_classes · per_class``, class ids interleaved (:class:`ClassBlockSampler`).

    A de-coupled GAN (one class, Section 3.3.2) passes the class's rows with ``label`` all equal — or any
    frame with ``num_classes=1`` after setting its labels to 0 — and ``per_class`` = the batch size (50).

    Args:
        df: one row per image, ``image_column`` paths and integer ``label_column`` classes.
        image_size: output height = width.
        per_class: images of each class per batch.
        num_classes: number of classes (default ``max(label) + 1``).
        seed: the sampler's seed.
        num_batches: batches per epoch (default one pass's worth).
        crop: central fraction of each side kept before resizing; default :data:`AUTHORS_CROP` (the authors'
            resize-300 / centre-crop-256). dermkit crops that fraction of *each* side and resizes to a square
            (the pipelines' rule), where the authors crop a square of the resized shorter side: identical on
            square images, a slight aspect change on others. ``None`` keeps the whole image.
        cache, image_resize, validate: as for :func:`dermkit.data.pipelines.classification_dataset`.
        return_sampler: also return the :class:`ClassBlockSampler` (for
            :class:`dermkit.training.gan.SamplerEpoch`, which keeps a resumed run on the same batches).

    Returns:
        A ``tf.data.Dataset`` of one epoch (``len(sampler)`` batches); every iteration draws the next epoch's
        batches. ``(dataset, sampler)`` with ``return_sampler``.
    """
    from dermkit.data.pipelines import classification_dataset

    if label_column not in df.columns:
        raise ValueError(f"gan_dataset: label column {label_column!r} not found; columns are {list(df.columns)}")
    sampler = ClassBlockSampler(df[label_column].to_numpy(), per_class, num_classes=num_classes, seed=seed,
                                num_batches=num_batches)
    ds = classification_dataset(
        df, image_size=image_size, batch_size=None, label_column=label_column, num_classes=sampler.num_classes,
        one_hot=False, image_column=image_column, cache=cache, sampler=sampler, image_resize=image_resize,
        validate=validate, central_crop=crop)
    return (ds, sampler) if return_sampler else ds


def read_generated_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a generated-image manifest (``image_id, image_path, label, seed``; image paths relative to the
    manifest's folder) as a frame with the dataset readers' columns: ``image_id, image_path`` (absolute),
    ``mask_path`` (None), ``label`` (int64), ``group`` (= image_id: each generated image its own "lesion"),
    ``seed`` and ``source = "generated"``.

    Raises:
        DermkitFileNotFoundError: no manifest, or an image it lists is missing (named).
        DermkitDataError: an unreadable CSV, a missing column, an empty ``image_id`` or ``image_path``, an
            ``image_id`` or ``image_path`` listed twice (the lines named), a non-integer label.
    """
    path = Path(path)
    if not path.is_file():
        raise DermkitFileNotFoundError(f"{path}: no generated-image manifest there")
    try:
        frame = pd.read_csv(path, dtype={"image_id": str, "image_path": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DermkitDataError(f"{path}: not a readable manifest CSV ({exc})") from None
    missing = [c for c in MANIFEST_COLUMNS if c not in frame.columns]
    if missing:
        raise DermkitDataError(f"{path}: manifest lacks column(s) {missing}; it has {list(frame.columns)}")
    for column in ("image_id", "image_path"):
        values = frame[column]
        empty = values.isna() | (values.fillna("").str.strip() == "")
        if empty.any():
            lines = (np.flatnonzero(empty.to_numpy())[:5] + 2).tolist()
            raise DermkitDataError(f"{path}: empty {column} on line(s) {lines} ({int(empty.sum())} row(s))")
        resolved = values if column == "image_id" else values.map(lambda v: str((path.parent / v).resolve()))
        twice = resolved.duplicated(keep=False)
        if twice.any():
            first = resolved[twice].iloc[0]
            lines = (np.flatnonzero((resolved == first).to_numpy()) + 2).tolist()
            raise DermkitDataError(f"{path}: {column} {values[twice].iloc[0]!r} is listed more than once (lines "
                                   f"{lines}; {int(twice.sum())} rows share a value with another): a generated "
                                   "set lists each image once")
    labels = pd.to_numeric(frame["label"], errors="coerce")
    bad = labels.isna() | (labels != labels.round())
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())[:5] + 2
        raise DermkitDataError(f"{path}: label must be an integer class index (line(s) {rows.tolist()})")
    images = [str((path.parent / p).resolve()) for p in frame["image_path"]]
    absent = [p for p in images if not os.path.isfile(p)]
    if absent:
        raise DermkitFileNotFoundError(f"{absent[0]}: file not found (listed in {path}; {len(absent)} missing)")
    out = pd.DataFrame({"image_id": frame["image_id"], "image_path": images, "mask_path": None,
                        "label": labels.astype(np.int64), "group": frame["image_id"],
                        "seed": frame["seed"], "source": "generated"})
    out.attrs.update(dataset="generated", manifest=str(path))
    return out
