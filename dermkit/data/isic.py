"""Readers for the real ISIC file formats (../shared/reference/data-formats.md, docs/data.md).

No TensorFlow needed: NumPy, pandas and PIL only. Every error names the file and says what is wrong
(:class:`DermkitDataError`; :class:`DermkitFileNotFoundError` for a missing file or folder).

Dataset loaders return one ``pandas.DataFrame`` row per image and take ``validate``:

* ``"header"`` (default): checks what is cheap — every file and folder exists, every image / PNG header is
  readable, sizes that must agree do (superpixel map and segmentation vs image), every CSV has its columns
  and NaN-free labels, every ``_features.json`` parses with four equal-length numeric lists.
* ``"full"``: also decodes every image and PNG (catches truncated files) and checks that each superpixel
  map's superpixel count equals the length of its ``_features.json`` lists.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from dermkit._io import atomic_write_text
from dermkit.data.imageio import image_info, read_image, read_mask, read_rgb_png
from dermkit.data.masks import MASK_VALUES, check_mask_values
from dermkit.data.superpixels import decode_superpixels
from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

__all__ = [
    "ISIC2017_FEATURES",
    "ISIC2017_SPLITS",
    "ISIC2018_TASK3_CLASSES",
    "HAM10000_CLASSES",
    "ISIC2020_CLASSES",
    "VALIDATE_LEVELS",
    "read_superpixels",
    "read_image_and_superpixels",
    "read_superpixel_labels",
    "write_superpixel_labels",
    "load_isic2017",
    "load_isic2018_task3",
    "load_ham10000",
    "load_isic2020",
]

#: ISIC 2017 Part 2 dermoscopic features, in dermkit's channel order everywhere (PN, NN, MC, ST).
ISIC2017_FEATURES: tuple[str, ...] = ("pigment_network", "negative_network", "milia_like_cyst", "streaks")


def read_superpixels(path: str | os.PathLike) -> np.ndarray:
    """Read an ISIC ``_superpixels.png`` into an ``int32 [H, W]`` index map (``R + 256·G + 65536·B``)."""
    return decode_superpixels(read_rgb_png(path))


def read_image_and_superpixels(
    image_path: str | os.PathLike, superpixels_path: str | os.PathLike
) -> tuple[np.ndarray, np.ndarray]:
    """Decode an ISIC 2017 image and its superpixel map: ``(uint8 [H, W, 3], int32 [H, W])``.

    Raises:
        DermkitDataError: the two differ in size (both files named), or a file is corrupt.
        DermkitFileNotFoundError: a file is missing.
    """
    image = read_image(image_path)
    index = read_superpixels(superpixels_path)
    if index.shape != image.shape[:2]:
        raise DermkitDataError(
            f"{superpixels_path}: superpixel map is {index.shape[1]}×{index.shape[0]} but its image "
            f"{image_path} is {image.shape[1]}×{image.shape[0]}"
        )
    return image, index


def _short(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _label_column(path: Path, key: str, values: list, binary: bool) -> np.ndarray:
    """One feature's list → ``float32 [N]``; refuse non-numbers, non-finite, out-of-range (or non-0/1) values."""
    bad = next((i for i, v in enumerate(values) if isinstance(v, bool) or not isinstance(v, (int, float))), None)
    if bad is not None:
        raise DermkitDataError(f"{path}: {key!r} holds a non-numeric value {_short(values[bad])} at superpixel {bad}")
    try:
        col = np.asarray(values, dtype=np.float64)
    except OverflowError:  # an integer too large for a float (e.g. 10**400)
        for i, v in enumerate(values):
            try:
                float(v)
            except OverflowError:
                raise DermkitDataError(
                    f"{path}: {key!r} value at superpixel {i} is too large ({_short(v)}); labels lie in [0, 1]"
                ) from None
        raise  # pragma: no cover - np.asarray overflowed but no single value does
    finite = np.isfinite(col)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise DermkitDataError(f"{path}: {key!r} holds NaN or infinite values (first at superpixel {i})")
    outside = (col < 0) | (col > 1)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise DermkitDataError(
            f"{path}: {key!r} value at superpixel {i} is {_short(values[i])}, outside [0, 1] "
            f"({int(outside.sum())} such value(s))"
        )
    if binary:
        fractional = (col != 0) & (col != 1)
        if fractional.any():
            i = int(np.flatnonzero(fractional)[0])
            raise DermkitDataError(
                f"{path}: {key!r} value at superpixel {i} is {_short(values[i])}; ground-truth labels must be "
                f"0 or 1 ({int(fractional.sum())} other value(s))"
            )
    return col.astype(np.float32)


def read_superpixel_labels(
    json_path: str | os.PathLike, num_superpixels: int | None = None, *, binary: bool = False
) -> np.ndarray:
    """Read an ISIC 2017 ``_features.json`` into ``float32 [N, 4]`` in :data:`ISIC2017_FEATURES` order.

    Args:
        json_path: the ``_features.json`` file (one object with the four feature keys, each a list of N
            numbers indexed by superpixel).
        num_superpixels: when given, N must equal it (the superpixel count of the matching index map).
        binary: the file is ground truth: every value must be 0 or 1 (data-formats.md). Otherwise (a
            prediction, or soft training targets) values must lie in [0, 1].

    Raises:
        DermkitFileNotFoundError: the file does not exist.
        DermkitDataError: not JSON, not an object, a key missing, a value not a finite number in [0, 1] (not
            0/1 with ``binary``; the message names the key and the superpixel index), lists of unequal
            length, or N different from ``num_superpixels``.
    """
    path = Path(json_path)
    if not path.is_file():
        if path.exists():
            raise DermkitDataError(f"{path}: is a folder, not a _features.json file")
        raise DermkitFileNotFoundError(f"{path}: file not found")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DermkitDataError(f"{path}: not valid JSON ({exc})") from exc
    except ValueError as exc:  # e.g. Python's limit on the digits of an integer
        raise DermkitDataError(f"{path}: unreadable JSON number ({exc})") from exc
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
        columns.append(_label_column(path, key, values, binary))
    lengths = {k: len(c) for k, c in zip(ISIC2017_FEATURES, columns)}
    if len(set(lengths.values())) != 1:
        raise DermkitDataError(f"{path}: feature lists have unequal lengths {lengths}")
    n = len(columns[0])
    if num_superpixels is not None and n != int(num_superpixels):
        raise DermkitDataError(
            f"{path}: label lists have length {n} but the superpixel map has {num_superpixels} superpixels"
        )
    return np.stack(columns, axis=1) if n else np.zeros((0, len(ISIC2017_FEATURES)), np.float32)


def write_superpixel_labels(json_path: str | os.PathLike, labels: np.ndarray, overwrite: bool = False) -> Path:
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


# --------------------------------------------------------------------------------------------------------
# Dataset loaders: shared helpers
# --------------------------------------------------------------------------------------------------------

#: Allowed values of every loader's ``validate`` argument.
VALIDATE_LEVELS: tuple[str, ...] = ("header", "full")

#: ``load_isic2017`` split name → the word used in the official archive names.
ISIC2017_SPLITS: dict[str, str] = {"training": "Training", "validation": "Validation", "test": "Test_v2"}

#: ISIC 2018 Task 3 classes, in the ground-truth CSV's column order (label = index in this tuple).
ISIC2018_TASK3_CLASSES: tuple[str, ...] = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")

#: HAM10000 ``dx`` values, alphabetical (label = index in this tuple).
HAM10000_CLASSES: tuple[str, ...] = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")

#: ISIC 2020 classes (label = ``target``).
ISIC2020_CLASSES: tuple[str, ...] = ("benign", "malignant")

_IMAGE_SUFFIXES = (".jpg", ".jpeg")
_SCHEMA = ["image_id", "image_path", "mask_path", "label", "group"]
#: Below this many rows the checks run in the calling thread (a pool costs more than it saves).
_POOL_MIN_ROWS = 64


def _check_validate(validate: str) -> None:
    if validate not in VALIDATE_LEVELS:
        raise ValueError(f"validate must be one of {VALIDATE_LEVELS}; received validate={validate!r}")


def _require_dir(path: Path, what: str) -> Path:
    if not _dir_present(path, what):
        raise DermkitFileNotFoundError(f"{path}: folder not found ({what})")
    return path


def _dir_present(path: Path, what: str) -> bool:
    """True for a folder, False when nothing is there; a file where the folder should be is an error."""
    if path.is_dir():
        return True
    if path.exists():
        raise DermkitDataError(f"{path}: is a file, but the {what} should be a folder here")
    return False


def _file_present(path: Path, what: str) -> bool:
    """True for a file, False when nothing is there; a folder where the file should be is an error."""
    if path.is_file():
        return True
    if path.exists():
        raise DermkitDataError(f"{path}: is a folder, but the {what} should be a file here")
    return False


def _check_mask_values_arg(mask_values: str) -> None:
    if mask_values not in MASK_VALUES:
        raise ValueError(f"mask_values must be one of {tuple(MASK_VALUES)}; received mask_values={mask_values!r}")


def _read_checked_mask(path: str, mask_values: str) -> None:
    """Decode a mask and refuse values outside its convention (dermkit.data.masks, the package's one rule)."""
    check_mask_values(read_mask(path), mask_values=mask_values, where=str(path))


def _list_files(folder: Path) -> list[str]:
    """Names of the plain files in ``folder`` (hidden files such as macOS ``._*`` skipped), sorted."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_file() and not e.name.startswith("."))


def _images_in(folder: Path) -> dict[str, Path]:
    """``{image_id: path}`` for every ``<image_id>.jpg`` / ``.jpeg`` in ``folder`` (case-insensitive)."""
    out: dict[str, Path] = {}
    for name in _list_files(folder):
        stem, suffix = os.path.splitext(name)
        if suffix.lower() in _IMAGE_SUFFIXES:
            if stem in out:
                raise DermkitDataError(f"{folder}: image id {stem!r} appears twice ({out[stem].name}, {name})")
            out[stem] = folder / name
    return out


def _files_with_suffix(folder: Path, suffix: str) -> dict[str, Path]:
    """``{image_id: path}`` for every ``<image_id><suffix>`` in ``folder``."""
    return {name[: -len(suffix)]: folder / name for name in _list_files(folder) if name.endswith(suffix)}


def _read_csv(path: Path, required: Iterable[str], id_columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read a CSV; id columns as strings; fail naming the file when it is absent, unreadable or lacks columns."""
    if not _file_present(path, "CSV"):
        raise DermkitFileNotFoundError(f"{path}: file not found")
    try:
        df = pd.read_csv(path, dtype={c: str for c in id_columns}, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DermkitDataError(f"{path}: not a readable CSV ({exc})") from exc
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DermkitDataError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")
    for col in id_columns:
        values = df[col]
        empty = values.isna() | (values.astype(str).str.strip() == "")
        if empty.any():
            raise DermkitDataError(f"{path}: column {col!r} is empty on line(s) {_lines(empty)}")
        df[col] = values.astype(str).str.strip()
    return df


def _lines(flags: pd.Series | np.ndarray, limit: int = 5) -> str:
    """CSV line numbers (header = line 1) of the True rows, at most ``limit`` of them."""
    rows = np.flatnonzero(np.asarray(flags)) + 2
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return ", ".join(str(r) for r in rows[:limit]) + more


def _unique_ids(df: pd.DataFrame, col: str, path: Path) -> None:
    dup = df[col].duplicated(keep=False)
    if dup.any():
        names = sorted(set(df.loc[dup, col]))[:5]
        raise DermkitDataError(f"{path}: {col} value(s) {names} appear more than once (lines {_lines(dup)})")


def _binary_column(df: pd.DataFrame, col: str, path: Path, id_col: str) -> np.ndarray:
    """Column of 0/1 labels (``0``, ``1``, ``0.0``, ``1.0``) as ``int64``; anything else names the rows."""
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        examples = [f"{i}={v!r}" for i, v in zip(df.loc[bad, id_col][:3], df.loc[bad, col][:3])]
        raise DermkitDataError(
            f"{path}: column {col!r} must hold 0 or 1; bad or missing on line(s) {_lines(bad)} ({examples})"
        )
    return values.astype(np.int64)


def _missing_files(ids: Iterable[str], found: dict[str, Path], expected: Callable[[str], Path]) -> list[Path]:
    return [expected(i) for i in ids if i not in found]


def _raise_missing(missing: list[Path], what: str, source: Path | None = None) -> None:
    if not missing:
        return
    src = f" (listed in {source})" if source is not None else ""
    more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
    if missing[0].exists():
        raise DermkitDataError(f"{missing[0]}: is a folder, not a file{more}; expected {what}{src}")
    raise DermkitFileNotFoundError(f"{missing[0]}: file not found{more}; expected {what}{src}")


def _run_checks(check: Callable[[dict], None], rows: list[dict]) -> None:
    """Run ``check(row)`` on every row (threads for I/O); the first failure in row order is raised."""
    if len(rows) < _POOL_MIN_ROWS:
        for row in rows:
            check(row)
        return
    pool = ThreadPoolExecutor(max_workers=min(16, 2 * (os.cpu_count() or 1)))
    try:
        for _ in pool.map(check, rows):
            pass
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # after a failure, skip the checks not yet started


def _check_same_size(path: Path | str, hw: tuple[int, int], image_path: Path | str, what: str) -> None:
    info = image_info(path)
    if (info.height, info.width) != hw:
        raise DermkitDataError(
            f"{path}: {what} is {info.height}x{info.width} (HxW) but its image {image_path} is {hw[0]}x{hw[1]}"
        )


def _check_image_and_mask(row: dict, validate: str, mask_values: str = "0/255") -> None:
    """Shared check of the classification loaders: image header (and pixels), mask size (and pixels, values)."""
    info = image_info(row["image_path"])
    hw = (info.height, info.width)
    if row.get("mask_path") is not None:
        _check_same_size(row["mask_path"], hw, row["image_path"], "segmentation mask")
    if validate == "full":
        read_image(row["image_path"])
        if row.get("mask_path") is not None:
            _read_checked_mask(row["mask_path"], mask_values)


def _finish(df: pd.DataFrame, own_columns: list[str], class_names: tuple[str, ...], **attrs) -> pd.DataFrame:
    """Shared schema first, the dataset's own columns after; class names and provenance in ``df.attrs``."""
    df = df[_SCHEMA + [c for c in own_columns if c not in _SCHEMA]].reset_index(drop=True)
    df["label"] = df["label"].astype(np.int64)
    df.attrs["class_names"] = tuple(class_names)
    df.attrs.update(attrs)
    return df


# --------------------------------------------------------------------------------------------------------
# ISIC 2017 (Parts 1, 2, 3)
# --------------------------------------------------------------------------------------------------------


def _isic2017_paths(root: Path, split: str) -> dict[str, Path]:
    word = ISIC2017_SPLITS[split]
    return {
        "data": root / f"ISIC-2017_{word}_Data",
        "part1": root / f"ISIC-2017_{word}_Part1_GroundTruth",
        "part2": root / f"ISIC-2017_{word}_Part2_GroundTruth",
        "part3": root / f"ISIC-2017_{word}_Part3_GroundTruth.csv",
    }


def _check_isic2017_row(row: dict, validate: str, mask_values: str = "0/255") -> None:
    image = row["image_path"]
    info = image_info(image)
    hw = (info.height, info.width)
    if row["segmentation_path"] is not None:
        _check_same_size(row["segmentation_path"], hw, image, "segmentation mask")
    if row["superpixels_path"] is not None:
        sp = image_info(row["superpixels_path"])
        if sp.format != "PNG" or sp.mode not in ("RGB", "RGBA"):
            raise DermkitDataError(
                f"{row['superpixels_path']}: expected an RGB PNG superpixel index map, found "
                f"{sp.format} mode {sp.mode!r}"
            )
        _check_same_size(row["superpixels_path"], hw, image, "superpixel map")
    n_labels = None
    if row["features_path"] is not None:
        n_labels = read_superpixel_labels(row["features_path"], binary=True).shape[0]
    if validate != "full":
        return
    read_image(image)
    if row["segmentation_path"] is not None:
        _read_checked_mask(row["segmentation_path"], mask_values)
    if row["superpixels_path"] is not None:
        index = decode_superpixels(read_rgb_png(row["superpixels_path"]))
        n_map = int(index.max()) + 1 if index.size else 0
        if n_labels is not None and n_labels != n_map:
            raise DermkitDataError(
                f"{row['features_path']}: label lists have length {n_labels} but the superpixel map "
                f"{row['superpixels_path']} has {n_map} superpixels (max index {n_map - 1})"
            )


def load_isic2017(
    root: str | os.PathLike, split: str = "training", *, validate: str = "header", mask_values: str = "0/255"
) -> pd.DataFrame:
    """Index one split of ISIC 2017 (Parts 1–3) as unpacked from the official archives.

    Layout under ``root`` (``Split`` is ``Training``, ``Validation`` or ``Test_v2``)::

        ISIC-2017_{Split}_Data/                 ISIC_XXXXXXX.jpg, ISIC_XXXXXXX_superpixels.png
        ISIC-2017_{Split}_Part1_GroundTruth/    ISIC_XXXXXXX_segmentation.png
        ISIC-2017_{Split}_Part2_GroundTruth/    ISIC_XXXXXXX_features.json
        ISIC-2017_{Split}_Part3_GroundTruth.csv image_id,melanoma,seborrheic_keratosis

    Only the ``_Data`` folder is required. A part that is absent (no Part 1 / Part 2 folder, no
    ``_superpixels.png`` at all in the data folder) gives ``None`` in its path column; a part that is present
    must cover every image.

    Args:
        root: folder holding the unpacked archives.
        split: ``"training"``, ``"validation"`` or ``"test"``.
        validate: ``"header"`` (default) or ``"full"``; see the module docstring.
        mask_values: the Part 1 masks' values, checked with ``validate="full"``: ``"0/255"`` (the ISIC files,
            default) or ``"0/1"`` (:mod:`dermkit.data.masks`).

    Returns:
        One row per image, sorted by ``image_id``, columns ``image_id, image_path, segmentation_path,
        superpixels_path, features_path`` (``str`` or ``None``) and ``melanoma, seborrheic_keratosis``:
        ``int64`` 0/1 from the Part 3 CSV, or ``None`` (object column) in every row when the CSV is absent.
        ``df.attrs`` holds ``dataset``, ``split``, ``root``.

    Raises:
        ValueError: unknown ``split`` or ``validate``.
        DermkitFileNotFoundError: ``root`` or the data folder is missing; a present part lacks an image's
            file; a CSV image id has no image file.
        DermkitDataError: a file where a folder should be (data, Part 1, Part 2) or a folder where the Part 3
            CSV should be — never read as "absent".
        DermkitDataError: an unreadable image or PNG header; a superpixel map or segmentation whose size
            differs from its image; a bad ``_features.json`` (including a label other than 0/1, named with its
            superpixel index); a CSV that is unreadable, lacks a column,
            repeats an id, holds labels other than 0/1 (or both 1), or lacks a row for an image; with
            ``validate="full"``, a corrupt or truncated file, a mask holding values outside ``mask_values``
            (the values are listed) or a superpixel count that differs from the JSON list length.
    """
    _check_validate(validate)
    _check_mask_values_arg(mask_values)
    if split not in ISIC2017_SPLITS:
        raise ValueError(f"split must be one of {tuple(ISIC2017_SPLITS)}; received split={split!r}")
    root = _require_dir(Path(root), "ISIC 2017 root")
    paths = _isic2017_paths(root, split)
    data = _require_dir(paths["data"], f"ISIC 2017 {split} images, as unpacked from {paths['data'].name}.zip")
    images = _images_in(data)
    if not images:
        raise DermkitDataError(f"{data}: no ISIC_XXXXXXX.jpg images found")
    ids = sorted(images)

    superpixels = _files_with_suffix(data, "_superpixels.png")
    if superpixels:
        orphans = sorted(set(superpixels) - set(images))
        if orphans:
            raise DermkitFileNotFoundError(
                f"{data / (orphans[0] + '.jpg')}: file not found; {superpixels[orphans[0]].name} has no image"
            )
        _raise_missing(
            _missing_files(ids, superpixels, lambda i: data / f"{i}_superpixels.png"),
            "one superpixel map per image",
        )
    segmentations = features = None
    if _dir_present(paths["part1"], "Part 1 ground-truth folder"):
        segmentations = _files_with_suffix(paths["part1"], "_segmentation.png")
        _raise_missing(
            _missing_files(ids, segmentations, lambda i: paths["part1"] / f"{i}_segmentation.png"),
            "one Part 1 segmentation per image",
        )
    if _dir_present(paths["part2"], "Part 2 ground-truth folder"):
        features = _files_with_suffix(paths["part2"], "_features.json")
        _raise_missing(
            _missing_files(ids, features, lambda i: paths["part2"] / f"{i}_features.json"),
            "one Part 2 _features.json per image",
        )

    melanoma: list | np.ndarray = [None] * len(ids)
    keratosis: list | np.ndarray = [None] * len(ids)
    csv_path = paths["part3"]
    has_csv = _file_present(csv_path, "Part 3 ground-truth CSV")
    if has_csv:
        cols = ["image_id", "melanoma", "seborrheic_keratosis"]
        gt = _read_csv(csv_path, cols, id_columns=["image_id"])
        _unique_ids(gt, "image_id", csv_path)
        _raise_missing(
            [data / f"{i}.jpg" for i in gt["image_id"] if i not in images], "an image for every CSV row", csv_path
        )
        no_row = sorted(set(ids) - set(gt["image_id"]))
        if no_row:
            raise DermkitDataError(f"{csv_path}: no row for {len(no_row)} image(s) of {data} (e.g. {no_row[:3]})")
        gt["melanoma"] = _binary_column(gt, "melanoma", csv_path, "image_id")
        gt["seborrheic_keratosis"] = _binary_column(gt, "seborrheic_keratosis", csv_path, "image_id")
        both = (gt["melanoma"] == 1) & (gt["seborrheic_keratosis"] == 1)
        if both.any():
            raise DermkitDataError(
                f"{csv_path}: melanoma and seborrheic_keratosis are both 1 on line(s) {_lines(both)}"
            )
        gt = gt.set_index("image_id").loc[ids]
        melanoma = gt["melanoma"].to_numpy(np.int64)
        keratosis = gt["seborrheic_keratosis"].to_numpy(np.int64)

    def _col(found: dict[str, Path] | None) -> list[str | None]:
        return [str(found[i]) if found else None for i in ids]

    df = pd.DataFrame(
        {
            "image_id": ids,
            "image_path": [str(images[i]) for i in ids],
            "segmentation_path": _col(segmentations),
            "superpixels_path": _col(superpixels),
            "features_path": _col(features),
            "melanoma": pd.Series(melanoma, dtype=np.int64 if has_csv else object),
            "seborrheic_keratosis": pd.Series(keratosis, dtype=np.int64 if has_csv else object),
        }
    )
    for col in ("segmentation_path", "superpixels_path", "features_path"):
        df[col] = df[col].astype(object)
    _run_checks(lambda row: _check_isic2017_row(row, validate, mask_values), df.to_dict("records"))
    df.attrs.update(dataset="isic2017", split=split, root=str(root))
    return df


# --------------------------------------------------------------------------------------------------------
# HAM10000 masks, shared by load_ham10000 and load_isic2018_task3
# --------------------------------------------------------------------------------------------------------

_HAM_IMAGE_DIRS = ("HAM10000_images", "HAM10000_images_part_1", "HAM10000_images_part_2")
_HAM_MASK_DIRS = ("HAM10000_segmentations", "HAM10000_segmentations_lesion_tschandl")


def _ham_masks(root: Path, ids: list[str]) -> list[str | None]:
    """Mask paths from the first HAM10000 segmentation folder present (every image needs one), else None."""
    folder = next((root / d for d in _HAM_MASK_DIRS if _dir_present(root / d, "HAM10000 segmentation folder")), None)
    if folder is None:
        return [None] * len(ids)
    masks = _files_with_suffix(folder, "_segmentation.png")
    _raise_missing(_missing_files(ids, masks, lambda i: folder / f"{i}_segmentation.png"), "one segmentation per image")
    return [str(masks[i]) for i in ids]


# --------------------------------------------------------------------------------------------------------
# ISIC 2018 Task 3
# --------------------------------------------------------------------------------------------------------

_ISIC2018_SPLITS = {"training": "Training", "validation": "Validation", "test": "Test"}


def _first_file(candidates: list[Path], what: str = "ground-truth CSV") -> Path | None:
    return next((p for p in candidates if _file_present(p, what)), None)


def load_isic2018_task3(
    root: str | os.PathLike, split: str = "training", *, validate: str = "header", mask_values: str = "0/255"
) -> pd.DataFrame:
    """Index ISIC 2018 Task 3 (lesion diagnosis, 7 classes) as unpacked from the official archives.

    Layout under ``root`` (``Split`` is ``Training``, ``Validation`` or ``Test``)::

        ISIC2018_Task3_{Split}_Input/               ISIC_XXXXXXX.jpg
        ISIC2018_Task3_{Split}_GroundTruth.csv      image,MEL,NV,BCC,AKIEC,BKL,DF,VASC (one-hot)
            (or ISIC2018_Task3_{Split}_GroundTruth/ISIC2018_Task3_{Split}_GroundTruth.csv, as the zip unpacks)
        HAM10000_metadata.csv                        optional: lesion_id per image_id → group
        ISIC2018_Task3_{Split}_LesionGroupings.csv  optional (beside the ground truth): image,lesion_id
        HAM10000_segmentations/                      optional: <image>_segmentation.png → mask_path

    Rows are the ground-truth CSV's rows (image files not listed there are ignored). ``label`` is the
    index of the row's 1 in :data:`ISIC2018_TASK3_CLASSES`. ``group`` is the lesion id from
    ``HAM10000_metadata.csv`` when present, else from the lesion-groupings CSV when present, else the image
    id (``df.attrs["group_source"]`` says which); a present grouping file must list every image.

    Returns:
        Columns ``image_id, image_path, mask_path, label, group`` then ``MEL .. VASC`` (int64 0/1) and
        ``lesion_id`` when known. ``df.attrs``: ``class_names``, ``dataset``, ``split``, ``root``,
        ``group_source``.

    Raises:
        ValueError: unknown ``split`` or ``validate``.
        DermkitFileNotFoundError: input folder, ground-truth CSV, an image or a mask missing.
        DermkitDataError: a CSV unreadable, lacking a column, repeating an image, a row not one-hot, an image
            missing from a present grouping file; bad image headers or mask sizes; a file where a folder
            should be or a folder where a CSV should be; with ``"full"``, a corrupt or truncated image or mask,
            or a mask holding values other than ``mask_values`` (``"0/255"``, the ISIC files, by default;
            ``"0/1"`` for 0/1 masks).
    """
    _check_validate(validate)
    _check_mask_values_arg(mask_values)
    if split not in _ISIC2018_SPLITS:
        raise ValueError(f"split must be one of {tuple(_ISIC2018_SPLITS)}; received split={split!r}")
    root = _require_dir(Path(root), "ISIC 2018 Task 3 root")
    word = _ISIC2018_SPLITS[split]
    input_dir = _require_dir(root / f"ISIC2018_Task3_{word}_Input", f"ISIC 2018 Task 3 {split} images")
    gt_name = f"ISIC2018_Task3_{word}_GroundTruth"
    csv_path = _first_file([root / f"{gt_name}.csv", root / gt_name / f"{gt_name}.csv"])
    if csv_path is None:
        raise DermkitFileNotFoundError(
            f"{root / (gt_name + '.csv')}: file not found (nor {root / gt_name / (gt_name + '.csv')})"
        )
    classes = list(ISIC2018_TASK3_CLASSES)
    gt = _read_csv(csv_path, ["image", *classes], id_columns=["image"])
    _unique_ids(gt, "image", csv_path)
    onehot = np.stack([_binary_column(gt, c, csv_path, "image") for c in classes], axis=1)
    not_onehot = onehot.sum(axis=1) != 1
    if not_onehot.any():
        raise DermkitDataError(
            f"{csv_path}: each row must hold exactly one 1 among {classes}; not so on line(s) {_lines(not_onehot)}"
        )
    ids = gt["image"].tolist()
    images = _images_in(input_dir)
    _raise_missing([input_dir / f"{i}.jpg" for i in ids if i not in images], "an image for every CSV row", csv_path)
    df = pd.DataFrame({"image_id": ids, "image_path": [str(images[i]) for i in ids]})
    df["mask_path"] = pd.Series(_ham_masks(root, ids), dtype=object)
    df["label"] = onehot.argmax(axis=1)
    for j, c in enumerate(classes):
        df[c] = onehot[:, j]

    group_source = "image_id"
    own = list(classes)
    grouping = [
        (root / "HAM10000_metadata.csv", "image_id"),
        (csv_path.parent / f"ISIC2018_Task3_{word}_LesionGroupings.csv", "image"),
    ]
    for path, id_col in grouping:
        if not _file_present(path, "lesion grouping CSV"):
            continue
        meta = _read_csv(path, [id_col, "lesion_id"], id_columns=[id_col, "lesion_id"])
        _unique_ids(meta, id_col, path)
        lesion = dict(zip(meta[id_col], meta["lesion_id"]))
        absent = [i for i in ids if i not in lesion]
        if absent:
            raise DermkitDataError(f"{path}: no lesion_id for {len(absent)} image(s) of {csv_path} (e.g. {absent[:3]})")
        df["lesion_id"] = [lesion[i] for i in ids]
        group_source = path.name
        own.append("lesion_id")
        break
    df["group"] = df["lesion_id"] if "lesion_id" in df else df["image_id"]
    _run_checks(lambda row: _check_image_and_mask(row, validate, mask_values), df.to_dict("records"))
    return _finish(
        df,
        own,
        ISIC2018_TASK3_CLASSES,
        dataset="isic2018_task3",
        split=split,
        root=str(root),
        group_source=group_source,
    )


# --------------------------------------------------------------------------------------------------------
# HAM10000
# --------------------------------------------------------------------------------------------------------


def load_ham10000(root: str | os.PathLike, *, validate: str = "header", mask_values: str = "0/255") -> pd.DataFrame:
    """Index HAM10000 as unpacked from its official download (Harvard Dataverse / the ISIC archive).

    Layout under ``root``::

        HAM10000_metadata.csv        lesion_id,image_id,dx,dx_type,age,sex,localization[,dataset]
        HAM10000_images/             <image_id>.jpg
            or HAM10000_images_part_1/ and HAM10000_images_part_2/ (as the two zips unpack; all used)
        HAM10000_segmentations/      optional: <image_id>_segmentation.png → mask_path
            (or HAM10000_segmentations_lesion_tschandl/, the name of the published mask archive)

    Rows are the metadata rows, in file order. ``label`` is the index of ``dx`` in
    :data:`HAM10000_CLASSES`; ``group`` is ``lesion_id`` (several images share a lesion: split by it).

    Returns:
        Columns ``image_id, image_path, mask_path, label, group`` then the metadata's own columns
        (``lesion_id, dx, dx_type, age, sex, localization`` and any others, e.g. ``dataset``; ``age`` may be
        NaN as in the original). ``df.attrs``: ``class_names``, ``dataset``, ``root``.

    Raises:
        ValueError: unknown ``validate``.
        DermkitFileNotFoundError: metadata CSV, every image folder, an image or a mask missing.
        DermkitDataError: CSV unreadable, lacking a column, repeating an image id, an empty lesion id, an
            unknown ``dx``; an image id present in two image folders; bad headers or mask sizes; a file where
            a folder should be; with ``"full"``, a corrupt or truncated image or mask, or a mask holding
            values other than ``mask_values`` (``"0/255"`` by default; ``"0/1"`` for 0/1 masks).
    """
    _check_validate(validate)
    _check_mask_values_arg(mask_values)
    root = _require_dir(Path(root), "HAM10000 root")
    csv_path = root / "HAM10000_metadata.csv"
    meta = _read_csv(csv_path, ["lesion_id", "image_id", "dx"], id_columns=["lesion_id", "image_id", "dx"])
    _unique_ids(meta, "image_id", csv_path)
    unknown = ~meta["dx"].isin(HAM10000_CLASSES)
    if unknown.any():
        raise DermkitDataError(
            f"{csv_path}: dx must be one of {HAM10000_CLASSES}; found {sorted(set(meta.loc[unknown, 'dx']))} "
            f"on line(s) {_lines(unknown)}"
        )
    folders = [root / d for d in _HAM_IMAGE_DIRS if _dir_present(root / d, "HAM10000 image folder")]
    if not folders:
        raise DermkitFileNotFoundError(
            f"{root / _HAM_IMAGE_DIRS[0]}: folder not found (nor {_HAM_IMAGE_DIRS[1]}/, {_HAM_IMAGE_DIRS[2]}/)"
        )
    images: dict[str, Path] = {}
    for folder in folders:
        found = _images_in(folder)
        twice = sorted(set(found) & set(images))
        if twice:
            raise DermkitDataError(f"{found[twice[0]]}: image {twice[0]!r} is also in {images[twice[0]].parent}")
        images.update(found)
    ids = meta["image_id"].tolist()
    _raise_missing(
        [folders[0] / f"{i}.jpg" for i in ids if i not in images],
        f"an image for every CSV row in {', '.join(f.name for f in folders)}",
        csv_path,
    )
    meta.insert(0, "image_path", [str(images[i]) for i in ids])
    meta["mask_path"] = pd.Series(_ham_masks(root, ids), dtype=object)
    meta["label"] = [HAM10000_CLASSES.index(d) for d in meta["dx"]]
    meta["group"] = meta["lesion_id"]
    own = [c for c in meta.columns if c not in ("image_path", "mask_path", "label", "group")]
    _run_checks(lambda row: _check_image_and_mask(row, validate, mask_values), meta.to_dict("records"))
    return _finish(meta, own, HAM10000_CLASSES, dataset="ham10000", root=str(root))


# --------------------------------------------------------------------------------------------------------
# ISIC 2020
# --------------------------------------------------------------------------------------------------------

_ISIC2020_CSVS = ("train.csv", "ISIC_2020_Training_GroundTruth_v2.csv", "ISIC_2020_Training_GroundTruth.csv")
_ISIC2020_IMAGE_DIRS = ("train", os.path.join("jpeg", "train"))
_ISIC2020_DUPLICATES = "ISIC_2020_Training_Duplicates.csv"


def load_isic2020(root: str | os.PathLike, *, validate: str = "header") -> pd.DataFrame:
    """Index the ISIC 2020 training set (melanoma vs benign) as unpacked from the official downloads.

    Layout under ``root``::

        train.csv                           image_name,patient_id,sex,age_approx,
                                            anatom_site_general_challenge,diagnosis,benign_malignant,target
            (or ISIC_2020_Training_GroundTruth_v2.csv / ISIC_2020_Training_GroundTruth.csv, the official names;
            the first present of these three is used)
        train/                              <image_name>.jpg  (or jpeg/train/, as on Kaggle)
        ISIC_2020_Training_Duplicates.csv   optional: image_name_1,image_name_2

    When the duplicates file is present, the row of every ``image_name_2`` is dropped (the pair's first image
    stays) and ``df.attrs["duplicates_dropped"]`` counts the rows dropped (0 without the file). ``label`` is
    ``target`` (1 = malignant); ``group`` is ``patient_id`` (split by it).

    Returns:
        Columns ``image_id, image_path, mask_path (None), label, group`` then the CSV's own columns
        (``image_name``, ``patient_id``, ``target``, ...). ``df.attrs``: ``class_names``, ``dataset``,
        ``root``, ``duplicates_dropped``, ``csv``.

    Raises:
        ValueError: unknown ``validate``.
        DermkitFileNotFoundError: no ground-truth CSV, no image folder, an image missing.
        DermkitDataError: a CSV unreadable or lacking a column (``image_name``, ``patient_id``, ``target``;
            ``image_name_1``, ``image_name_2`` in the duplicates file); a repeated image name; an empty
            patient id; ``target`` not 0/1 or contradicting ``benign_malignant``; bad image headers; with
            ``"full"``, a corrupt or truncated image.
    """
    _check_validate(validate)
    root = _require_dir(Path(root), "ISIC 2020 root")
    csv_path = _first_file([root / name for name in _ISIC2020_CSVS])
    if csv_path is None:
        raise DermkitFileNotFoundError(f"{root / _ISIC2020_CSVS[0]}: file not found (nor {_ISIC2020_CSVS[1:]})")
    gt = _read_csv(csv_path, ["image_name", "patient_id", "target"], id_columns=["image_name", "patient_id"])
    _unique_ids(gt, "image_name", csv_path)
    gt["target"] = _binary_column(gt, "target", csv_path, "image_name")
    if "benign_malignant" in gt.columns:
        named = gt["benign_malignant"].astype(str).str.strip().str.lower()
        wrong = named != np.where(gt["target"] == 1, "malignant", "benign")
        if wrong.any():
            raise DermkitDataError(f"{csv_path}: benign_malignant contradicts target on line(s) {_lines(wrong)}")

    dropped = 0
    dup_path = root / _ISIC2020_DUPLICATES
    if _file_present(dup_path, "duplicates CSV"):
        dups = _read_csv(dup_path, ["image_name_1", "image_name_2"], id_columns=["image_name_1", "image_name_2"])
        drop = gt["image_name"].isin(set(dups["image_name_2"]))
        dropped = int(drop.sum())
        gt = gt.loc[~drop].reset_index(drop=True)

    image_dir = next((root / d for d in _ISIC2020_IMAGE_DIRS if _dir_present(root / d, "ISIC 2020 image folder")), None)
    if image_dir is None:
        raise DermkitFileNotFoundError(f"{root / 'train'}: folder not found (nor {root / 'jpeg' / 'train'})")
    images = _images_in(image_dir)
    ids = gt["image_name"].tolist()
    _raise_missing([image_dir / f"{i}.jpg" for i in ids if i not in images], "an image for every CSV row", csv_path)
    own = list(gt.columns)
    gt["image_id"] = gt["image_name"]
    gt["image_path"] = [str(images[i]) for i in ids]
    gt["mask_path"] = pd.Series([None] * len(gt), dtype=object)
    gt["label"] = gt["target"]
    gt["group"] = gt["patient_id"]
    _run_checks(lambda row: _check_image_and_mask(row, validate), gt.to_dict("records"))
    return _finish(
        gt,
        own,
        ISIC2020_CLASSES,
        dataset="isic2020",
        root=str(root),
        duplicates_dropped=dropped,
        csv=str(csv_path),
    )
