"""Readers for the real ISIC file formats (../shared/reference/data-formats.md).

No TensorFlow needed. Every error names the file and says what is wrong (:class:`DermkitDataError`,
:class:`DermkitFileNotFoundError`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from dermkit._io import atomic_write_text
from dermkit.data.imageio import read_rgb_png
from dermkit.data.superpixels import decode_superpixels
from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

__all__ = [
    "ISIC2017_FEATURES",
    "read_superpixels",
    "read_superpixel_labels",
    "write_superpixel_labels",
]

#: ISIC 2017 Part 2 dermoscopic features, in dermkit's channel order everywhere (PN, NN, MC, ST).
ISIC2017_FEATURES: tuple[str, ...] = ("pigment_network", "negative_network", "milia_like_cyst", "streaks")


def read_superpixels(path: str | os.PathLike) -> np.ndarray:
    """Read an ISIC ``_superpixels.png`` into an ``int32 [H, W]`` index map (``R + 256·G + 65536·B``)."""
    return decode_superpixels(read_rgb_png(path))


def read_superpixel_labels(json_path: str | os.PathLike, num_superpixels: int | None = None) -> np.ndarray:
    """Read an ISIC 2017 ``_features.json`` into ``float32 [N, 4]`` in :data:`ISIC2017_FEATURES` order.

    Args:
        json_path: the ``_features.json`` file (one object with the four feature keys, each a list of N
            numbers indexed by superpixel).
        num_superpixels: when given, N must equal it (the superpixel count of the matching index map).

    Raises:
        DermkitFileNotFoundError: the file does not exist.
        DermkitDataError: not JSON, not an object, a key missing, a value not a list of finite numbers,
            lists of unequal length, or N different from ``num_superpixels``.
    """
    path = Path(json_path)
    if not path.is_file():
        raise DermkitFileNotFoundError(f"{path}: file not found")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DermkitDataError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise DermkitDataError(f"{path}: expected a JSON object with keys {ISIC2017_FEATURES}")
    missing = [k for k in ISIC2017_FEATURES if k not in obj]
    if missing:
        raise DermkitDataError(f"{path}: missing key(s) {missing}; found {sorted(obj)}")
    columns = []
    for key in ISIC2017_FEATURES:
        values = obj[key]
        if not isinstance(values, list):
            raise DermkitDataError(f"{path}: {key!r} must be a list, got {type(values).__name__}")
        bad = next((v for v in values if isinstance(v, bool) or not isinstance(v, (int, float))), None)
        if bad is not None:
            raise DermkitDataError(f"{path}: {key!r} holds a non-numeric value {bad!r}")
        col = np.asarray(values, dtype=np.float32)
        if not np.all(np.isfinite(col)):
            raise DermkitDataError(f"{path}: {key!r} holds NaN or infinite values")
        columns.append(col)
    lengths = {k: len(c) for k, c in zip(ISIC2017_FEATURES, columns)}
    if len(set(lengths.values())) != 1:
        raise DermkitDataError(f"{path}: feature lists have unequal lengths {lengths}")
    n = len(columns[0])
    if num_superpixels is not None and n != int(num_superpixels):
        raise DermkitDataError(
            f"{path}: label lists have length {n} but the superpixel map has {num_superpixels} superpixels"
        )
    return np.stack(columns, axis=1) if n else np.zeros((0, len(ISIC2017_FEATURES)), np.float32)


def write_superpixel_labels(
    json_path: str | os.PathLike, labels: np.ndarray, overwrite: bool = False
) -> Path:
    """Write ``[N, 4]`` per-superpixel values as an ISIC 2017 ``_features.json`` (atomically).

    Integral values are written as ints (ground truth 0/1), others as floats in [0, 1] (predictions).

    Raises:
        DermkitDataError: shape is not ``[N, 4]``, or values are NaN / outside [0, 1].
        FileExistsError: the file exists and ``overwrite`` is False.
    """
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[1] != len(ISIC2017_FEATURES):
        raise DermkitDataError(f"{json_path}: labels must be [N, 4], got shape {labels.shape}")
    if not np.all(np.isfinite(labels)) or labels.min(initial=0) < 0 or labels.max(initial=0) > 1:
        raise DermkitDataError(f"{json_path}: labels must be finite values in [0, 1]")
    integral = bool(np.all(labels == np.round(labels)))
    obj = {
        key: [int(v) for v in labels[:, i]] if integral else [float(v) for v in labels[:, i]]
        for i, key in enumerate(ISIC2017_FEATURES)
    }
    return atomic_write_text(json_path, json.dumps(obj), overwrite=overwrite)


