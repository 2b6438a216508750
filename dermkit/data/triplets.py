"""Similarity groups and triplet selection (codella2018 Sections 2.2–2.3) and the tf.data triplet pipeline.

* :func:`load_similarity_groups` reads a group CSV ``image_id,disease,group`` and validates it against the
  image table.
* :class:`TripletSampler` draws ``(anchor, similar, dissimilar)`` index triplets by one of the paper's logics:

  ``"hierarchical"`` (Section 2.2): similar = a sibling (same group, same disease parent); dissimilar = an
  image of *another disease*; cousins (same disease, other group) are never dissimilar.
  ``"non_hierarchical"``: similar = same group; dissimilar = an image of *any other group*, cousins included.
  ``"disease"``: the groups are the disease labels (similar = same disease, dissimilar = another disease).
  ``"joint"``: disease-label triplets over the rows with a disease, and group triplets (non-hierarchical,
  groups may mix diseases) over the rows with a group, in the ratio of those rows' counts.

  Anchors are drawn uniformly among the images that have a possible similar and dissimilar partner; the
  partners uniformly among the allowed images. Sampling is vectorised (150,000 triplets in milliseconds).
* :func:`validation_split` holds a seeded, stratified share of the images out of triplet training, so that
  the validation triplets that pick the best epoch come from images the training triplets never use.
* :func:`triplet_dataset` serves triplets as ``({"anchor", "similar", "dissimilar"}: float32 [B, H, W, 3] in
  [0, 1], zeros [B])`` batches from images held in memory as uint8.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

__all__ = ["LOGICS", "load_similarity_groups", "TripletSampler", "triplet_dataset", "load_images",
           "validation_split"]

LOGICS = ("disease", "joint", "non_hierarchical", "hierarchical")
COLUMNS = ("image_id", "disease", "group")


def load_similarity_groups(path: str | os.PathLike, images: pd.DataFrame | None = None, *,
                           hierarchical: bool = True) -> pd.DataFrame:
    """Read and validate a similarity-group CSV (columns ``image_id, disease, group``).

    Args:
        path: the CSV.
        images: the image table (``image_id`` and, optionally, ``disease``): every id must be in it and, when it
            has a ``disease`` column, the CSV's disease must agree.
        hierarchical: the groups are nested under the diseases (the Hierarchical annotation): a group spanning
            two diseases is an error. False for disease-agnostic (Joint) groups.

    Returns:
        The rows (one per image, sorted by image id), ``disease`` and ``group`` as strings.

    Raises:
        DermkitFileNotFoundError: no file. DermkitDataError (naming the file): missing columns, empty cells,
            an image listed twice (in two groups), an id not in ``images``, a disease that disagrees with
            ``images``, or (``hierarchical``) a group under two diseases.
    """
    path = Path(path)
    if not path.is_file():
        raise DermkitFileNotFoundError(f"{path}: similarity-group CSV not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DermkitDataError(f"{path}: not a readable CSV ({exc})") from exc
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DermkitDataError(f"{path}: missing column(s) {missing}; expected {list(COLUMNS)}, found "
                               f"{list(df.columns)}")
    df = df[list(COLUMNS)].copy()
    for col in COLUMNS:
        df[col] = df[col].str.strip()
        empty = df.index[df[col] == ""]
        if len(empty):
            raise DermkitDataError(f"{path}: empty {col!r} in row(s) {[int(i) + 2 for i in empty[:5]]} (line numbers)")
    dup = df["image_id"][df["image_id"].duplicated(keep=False)]
    if len(dup):
        ids = sorted(set(dup))
        groups = df[df["image_id"].isin(ids[:3])].groupby("image_id")["group"].apply(list).to_dict()
        raise DermkitDataError(f"{path}: {len(ids)} image(s) listed more than once (an image belongs to one group): "
                               f"{groups}")
    if images is not None:
        known = set(images["image_id"].astype(str))
        unknown = sorted(set(df["image_id"]) - known)
        if unknown:
            raise DermkitDataError(f"{path}: {len(unknown)} image id(s) not in the image table, e.g. {unknown[:5]}")
        if "disease" in images.columns:
            truth = images.set_index(images["image_id"].astype(str))["disease"].astype(str)
            bad = df[df["disease"].to_numpy() != truth.reindex(df["image_id"]).to_numpy()]
            if len(bad):
                first = bad.iloc[0]
                raise DermkitDataError(f"{path}: {len(bad)} image(s) whose disease disagrees with the image table, "
                                       f"e.g. {first['image_id']}: {first['disease']!r} here, "
                                       f"{truth[first['image_id']]!r} in the table")
    if hierarchical:
        spans = df.groupby("group")["disease"].nunique()
        mixed = sorted(spans.index[spans > 1])
        if mixed:
            which = df[df["group"] == mixed[0]]["disease"].unique().tolist()
            raise DermkitDataError(f"{path}: group(s) {mixed[:5]} span several diseases (e.g. {mixed[0]!r}: "
                                   f"{which}); hierarchical groups are nested under one disease (pass "
                                   "hierarchical=False for disease-agnostic groups)")
    df = df.sort_values("image_id").reset_index(drop=True)
    df.attrs["path"] = str(path)
    return df


def _codes(values: pd.Series) -> np.ndarray:
    return pd.factorize(values, sort=True)[0].astype(np.int64)


def _sorted_blocks(codes: np.ndarray):
    """Indices sorted by code, each code's start in that order and its size."""
    order = np.argsort(codes, kind="stable")
    n = int(codes.max()) + 1 if len(codes) else 0
    size = np.bincount(codes, minlength=n)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    position = np.empty(len(codes), np.int64)
    position[order] = np.arange(len(codes)) - start[codes[order]]
    return order, start, size, position


def _same(rng, anchors, codes, blocks):
    """A uniform other member of each anchor's block."""
    order, start, size, position = blocks
    c = codes[anchors]
    r = rng.integers(0, size[c] - 1)  # size ≥ 2 for every eligible anchor
    return order[start[c] + (position[anchors] + 1 + r) % size[c]]


def _other(rng, anchors, codes, blocks, pool_size):
    """A uniform member outside each anchor's block (``pool_size`` = all images)."""
    order, start, size, _ = blocks
    c = codes[anchors]
    r = rng.integers(0, pool_size - size[c])
    return order[np.where(r < start[c], r, r + size[c])]


class TripletSampler:
    """Triplet selection of codella2018 (module docstring), over the rows of ``df``.

    Args:
        df: one row per image, with ``disease`` and (all logics but ``"disease"``) ``group``. For ``"joint"``
            either column may be missing (NaN / empty) in a row: rows with a disease feed disease triplets,
            rows with a group feed group triplets.
        logic: ``"disease"``, ``"joint"``, ``"non_hierarchical"`` or ``"hierarchical"``.
        seed: the random stream (the same seed gives the same triplets).

    ``sample(n)`` returns ``int64 [n, 3]`` row positions (anchor, similar, dissimilar).

    Raises:
        ValueError: unknown logic, missing columns, or no triplet possible (e.g. one disease only).
    """

    def __init__(self, df: pd.DataFrame, *, logic: str = "hierarchical", seed: int = 0):
        if logic not in LOGICS:
            raise ValueError(f"logic must be one of {LOGICS}. Received: logic={logic!r}")
        need = ["disease"] if logic == "disease" else ["group"] if logic == "joint" else ["disease", "group"]
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise ValueError(f"TripletSampler(logic={logic!r}) needs column(s) {missing}; df has {list(df.columns)}")
        self.logic = logic
        self.n = len(df)
        self.rng = np.random.default_rng(seed)
        self._parts = []  # (rows, same codes, other codes, weight)

        def valid(col):
            if col not in df.columns:
                return np.zeros(self.n, bool)
            s = df[col]
            return (s.notna() & (s.astype(str).str.strip() != "")).to_numpy()

        if logic in ("disease", "joint"):
            rows = np.flatnonzero(valid("disease"))
            if len(rows):
                codes = _codes(df["disease"].iloc[rows])
                self._parts.append((rows, codes, codes))
        if logic in ("joint", "non_hierarchical"):
            rows = np.flatnonzero(valid("group"))
            codes = _codes(df["group"].iloc[rows])
            self._parts.append((rows, codes, codes))
        if logic == "hierarchical":
            rows = np.flatnonzero(valid("group") & valid("disease"))
            self._parts.append((rows, _codes(df["group"].iloc[rows]), _codes(df["disease"].iloc[rows])))
        self._prepared = []
        for rows, same, other in self._parts:
            if logic == "hierarchical":
                mixed = pd.Series(other).groupby(same).nunique()
                if (mixed > 1).any():
                    raise ValueError("hierarchical triplets need groups nested under one disease each; group codes "
                                     f"{mixed.index[mixed > 1].tolist()[:5]} span several diseases")
            sb, ob = _sorted_blocks(same), _sorted_blocks(other)
            eligible = np.flatnonzero((sb[2][same] >= 2) & (ob[2][other] < len(rows)))
            if len(eligible):
                self._prepared.append((rows, same, other, sb, ob, eligible))
        if not self._prepared:
            raise ValueError(f"no {logic} triplet is possible: every group needs ≥ 2 images and some image outside "
                             "the anchor's group / disease")
        counts = np.array([len(p[5]) for p in self._prepared], float)
        self.weights = counts / counts.sum()

    def sample(self, n: int) -> np.ndarray:
        """``n`` triplets of row positions, ``int64 [n, 3]``."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be an integer ≥ 0. Received: n={n!r}")
        which = self.rng.choice(len(self._prepared), size=n, p=self.weights)
        out = np.empty((n, 3), np.int64)
        for k, (rows, same, other, sb, ob, eligible) in enumerate(self._prepared):
            sel = np.flatnonzero(which == k)
            if not len(sel):
                continue
            anchors = eligible[self.rng.integers(0, len(eligible), len(sel))]
            similar = _same(self.rng, anchors, same, sb)
            dissimilar = _other(self.rng, anchors, other, ob, len(rows))
            out[sel] = rows[np.stack([anchors, similar, dissimilar], axis=1)]
        return out


def load_images(paths, size: tuple[int, int]) -> np.ndarray:
    """Read and resize images (dermkit's one resize rule) into ``uint8 [N, h, w, 3]``."""
    from dermkit.data.imageio import read_image
    from dermkit.data.resize import resize_image

    out = np.empty((len(paths), int(size[0]), int(size[1]), 3), np.uint8)
    for i, path in enumerate(paths):
        out[i] = np.asarray(resize_image(read_image(path), size))
    return out


def validation_split(labels, fraction: float, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split ``N`` items into (training, validation) positions, stratified by ``labels``, seeded.

    Each label keeps ``round(fraction · count)`` items for validation (at least 1 and at most ``count − 1``
    when it has 2 or more; a label with one item stays in training). dermkit's choice for codella2018's
    Disease and Joint rows (the paper only says 50,000 validation triplets were drawn).

    Args:
        labels: ``[N]`` labels (any hashable values; None / NaN count as one more label).
        fraction: in (0, 1).
        seed: the random stream.

    Returns:
        ``(train, val)``: sorted ``int64`` positions, disjoint, covering ``range(N)``.

    Raises:
        ValueError: ``fraction`` outside (0, 1).
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be a number in (0, 1). Received: fraction={fraction!r}")
    codes = pd.factorize(pd.Series(np.asarray(labels, dtype=object)).fillna("<none>"), sort=True)[0]
    rng = np.random.default_rng(seed)
    val = []
    for code in range(int(codes.max()) + 1 if len(codes) else 0):
        members = np.flatnonzero(codes == code)
        if len(members) < 2:
            continue
        n_val = min(max(int(round(fraction * len(members))), 1), len(members) - 1)
        val.append(rng.permutation(members)[:n_val])
    val = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    train = np.setdiff1d(np.arange(len(codes)), val)
    return train.astype(np.int64), val.astype(np.int64)


def _check_images(images) -> np.ndarray:
    """uint8 in [0, 255] or floating point in [0, 1]; anything else is an error naming dtype and range."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be [N, H, W, 3]. Received shape {images.shape}")
    if images.dtype == np.uint8:
        return images
    if np.issubdtype(images.dtype, np.floating):
        lo, hi = (float(images.min()), float(images.max())) if images.size else (0.0, 0.0)
        if np.isfinite(lo) and np.isfinite(hi) and lo >= 0.0 and hi <= 1.0:
            return images
        raise ValueError(f"triplet_dataset: images of dtype {images.dtype} must lie in [0, 1]; received values in "
                         f"[{lo:g}, {hi:g}] (0–255 floats? divide by 255, or pass uint8)")
    lo, hi = (images.min(), images.max()) if images.size else (0, 0)
    raise ValueError(f"triplet_dataset: images must be uint8 in [0, 255] or float in [0, 1]; received dtype "
                     f"{images.dtype} with values in [{lo}, {hi}] (convert, e.g. uint16 → float / 65535)")


def triplet_dataset(images: np.ndarray, triplets: np.ndarray, *, batch_size: int = 128, shuffle: bool = False,
                    seed: int = 0, drop_remainder: bool = False):
    """A ``tf.data.Dataset`` of ``({"anchor", "similar", "dissimilar"}, zeros)`` batches.

    Args:
        images: ``uint8 [N, H, W, 3]`` (held in memory; gathered per batch) or float in [0, 1].
        triplets: ``int [T, 3]`` row positions into ``images`` (:meth:`TripletSampler.sample`).
        batch_size: triplets per batch (the paper: 128). shuffle / seed: reshuffle the triplets each epoch.

    Raises:
        ValueError: images neither uint8 nor float in [0, 1] (e.g. floats in 0–255, uint16), with the dtype
            and the value range in the message; triplets not ``[T, 3]`` or indexing outside the images.
    """
    import tensorflow as tf

    images = _check_images(images)
    triplets = np.asarray(triplets, np.int64)
    if triplets.ndim != 2 or triplets.shape[1] != 3:
        raise ValueError(f"triplets must be [T, 3]. Received shape {triplets.shape}")
    if len(triplets) and (triplets.min() < 0 or triplets.max() >= len(images)):
        raise ValueError(f"triplets index images outside [0, {len(images)})")
    table = tf.constant(images)
    scale = 1.0 / 255.0 if images.dtype == np.uint8 else 1.0

    def gather(batch):
        x = tf.cast(tf.gather(table, batch), tf.float32) * scale  # [B, 3, H, W, C]
        return ({"anchor": x[:, 0], "similar": x[:, 1], "dissimilar": x[:, 2]},
                tf.zeros(tf.shape(batch)[:1], tf.float32))

    ds = tf.data.Dataset.from_tensor_slices(triplets)
    if shuffle:
        ds = ds.shuffle(len(triplets), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).map(gather).prefetch(tf.data.AUTOTUNE)
