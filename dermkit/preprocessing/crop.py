"""Crop an image to its lesion: goel2021's segment-then-classify step (report Section 5.1).

The report's recipe: the predicted mask (lesion white, background black) is normalised to {0, 1} and
multiplied with the image, so the background turns black; OpenCV finds the contours of the mask and the
upright bounding rectangle of the lesion is cut out ("rectangles of different shapes with minimal background
areas in black colour", later resized to 224×224 for the classifier).

:func:`crop_to_mask` and :func:`lesion_bbox` work on NumPy arrays (no TensorFlow) and read masks by the
package's one mask rule (:mod:`dermkit.data.masks`: integer masks are 0/255 unless ``mask_values="0/1"`` or a
``threshold`` is given). :func:`segment_and_crop` runs a trained segmentation model over a whole dataset,
resizing its inputs by the training pipelines' rule (:func:`dermkit.data.resize.resize_image`, TensorFlow).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from dermkit._io import atomic_path
from dermkit.data.imageio import check_image_end, image_info, read_image, write_png
from dermkit.data.masks import binarize_mask
from dermkit.errors import DermkitDataError

__all__ = ["lesion_bbox", "crop_to_mask", "segment_and_crop", "MANIFEST_NAME"]

#: File name of the manifest :func:`segment_and_crop` writes next to the crops.
MANIFEST_NAME = "manifest.csv"
_MANIFEST_COLUMNS = ["image_id", "crop_path", "fallback", "bbox"]


def _largest_contour_rect(binary: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x, y, w, h)`` of the upright bounding rectangle of the largest external contour, or None."""
    contours, _ = cv2.findContours(binary.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    # Largest by enclosed area; ties (e.g. single-pixel or one-pixel-wide blobs have area 0) go to the
    # contour with more boundary points, then to the first found.
    best = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    return tuple(int(v) for v in cv2.boundingRect(best))


def lesion_bbox(
    mask: np.ndarray, *, pad: int = 0, threshold: float | None = None, mask_values: str = "0/255"
) -> tuple[int, int, int, int]:
    """Bounding box of the largest lesion blob: ``(y0, x0, y1, x1)``, half-open (``mask[y0:y1, x0:x1]``).

    The blob is the largest external contour of the binarised mask (``cv2.findContours`` with
    ``RETR_EXTERNAL``, largest by ``cv2.contourArea``); the box is its upright bounding rectangle
    (``cv2.boundingRect``), grown by ``pad`` pixels on each side and clipped to the image.

    Args:
        mask: ``[H, W]`` bool, integer (0/255, or 0/1 with ``mask_values="0/1"``) or probability mask
            (see :func:`binarize_mask`).
        pad: pixels added on every side (≥ 0), clipped to the image. Default 0.
        threshold: binarise a non-bool mask at ``> threshold`` instead (no value check).
        mask_values: the values of an integer mask: "0/255" (default, ISIC files) or "0/1".

    Raises:
        DermkitDataError: the mask is empty (no lesion pixel) or malformed, or an integer mask holds other
            values than ``mask_values`` (listed in the message).
        ValueError: ``pad`` is negative or not an integer.
    """
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ValueError(f"pad must be a non-negative integer. Received: pad={pad!r}")
    binary = binarize_mask(mask, threshold=threshold, mask_values=mask_values)
    rect = _largest_contour_rect(binary)
    if rect is None:
        raise DermkitDataError("mask is empty: no lesion pixel to crop to")
    x, y, w, h = rect
    height, width = binary.shape
    return max(0, y - pad), max(0, x - pad), min(height, y + h + pad), min(width, x + w + pad)


def crop_to_mask(
    image: np.ndarray, mask: np.ndarray, pad: int = 0, *, threshold: float | None = None, mask_values: str = "0/255"
) -> np.ndarray:
    """Black out the background and crop to the lesion's bounding rectangle (goel2021 Section 5.1).

    The image is multiplied by the binarised mask (every non-lesion pixel becomes 0, including small blobs
    other than the largest one, as in the report), then cropped to :func:`lesion_bbox` of the largest blob.
    Padding pixels come from the masked image, so they are black unless they lie on the lesion.

    Args:
        image: ``[H, W]`` or ``[H, W, C]`` array of any dtype (kept in the output).
        mask: ``[H, W]`` bool, integer (0/255, or 0/1 with ``mask_values="0/1"``) or probability mask; see
            :func:`binarize_mask` for the rule.
        pad: pixels added around the bounding rectangle on every side, clipped to the image. Default 0.
        threshold: binarise a non-bool mask at ``> threshold`` instead (no value check).
        mask_values: the values of an integer mask: "0/255" (default, ISIC files) or "0/1".

    Returns:
        The cropped masked image, ``[y1 - y0, x1 - x0(, C)]``, same dtype as ``image``.

    Raises:
        DermkitDataError: the mask is empty, holds values outside ``mask_values``, or its ``[H, W]`` differs
            from the image's.
        ValueError: ``pad`` is negative.
    """
    image = np.asarray(image)
    binary = binarize_mask(mask, threshold=threshold, mask_values=mask_values)
    if image.ndim not in (2, 3) or image.shape[:2] != binary.shape:
        raise DermkitDataError(
            f"image and mask sizes differ: image {image.shape}, mask {np.shape(mask)} (need the same [H, W])"
        )
    y0, x0, y1, x1 = lesion_bbox(binary, pad=pad)
    keep = binary[y0:y1, x0:x1]
    if image.ndim == 3:
        keep = keep[..., None]
    return np.where(keep, image[y0:y1, x0:x1], np.zeros((), dtype=image.dtype)).astype(image.dtype)


def _foreground_probability(pred: np.ndarray) -> np.ndarray:
    """``[B, h, w]`` foreground probabilities from a segmenter's output."""
    pred = np.asarray(pred, dtype=np.float32)
    if pred.ndim == 3:
        return pred
    if pred.ndim == 4 and pred.shape[-1] == 1:
        return pred[..., 0]
    if pred.ndim == 4 and pred.shape[-1] == 2:
        return pred[..., 1]
    raise DermkitDataError(
        "segmentation model output must be [B, H, W], [B, H, W, 1] (sigmoid) or [B, H, W, 2] (softmax, "
        f"channel 1 = lesion); got shape {pred.shape}"
    )


def _read_manifest(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    table = pd.read_csv(path, dtype={"image_id": str, "crop_path": str, "bbox": str})
    missing = [c for c in _MANIFEST_COLUMNS if c not in table.columns]
    if missing:
        raise DermkitDataError(f"{path}: not a segment_and_crop manifest (missing column(s) {missing})")
    return {row["image_id"]: dict(row) for row in table.to_dict("records")}


def _write_manifest(path: Path, rows: dict[str, dict]) -> None:
    table = pd.DataFrame(list(rows.values()), columns=_MANIFEST_COLUMNS)
    with atomic_path(path, overwrite=True) as tmp:
        table.to_csv(tmp, index=False)


def segment_and_crop(
    model,
    df: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    image_size: tuple[int, int],
    batch_size: int = 8,
    pad: int = 0,
    overwrite: bool = False,
    threshold: float = 0.5,
    id_column: str = "image_id",
    path_column: str = "image_path",
    progress: bool = True,
) -> pd.DataFrame:
    """Segment every image of a dataset with a trained model and write the lesion crops (goel2021 §5.1).

    Each image is read (RGB, :func:`dermkit.data.imageio.read_image`), resized to ``image_size`` by the
    training pipelines' rule (:func:`dermkit.inference.model_input`: area averaging when shrinking, bilinear
    when enlarging, float32 [0, 1]) and predicted in batches of ``batch_size``. The foreground probability
    map is resized back to the image's own size (bilinear), thresholded at ``threshold`` and passed to
    :func:`crop_to_mask`. Crops are written as lossless PNG ``out_dir/<image_id>.png`` at the image's
    resolution (resize to 224×224 downstream).

    An image whose predicted mask is empty falls back to the whole, unmasked image; it is flagged
    ``fallback=True`` in ``out_dir/manifest.csv``, which lists every image with columns ``image_id``,
    ``crop_path`` (absolute), ``fallback`` and ``bbox`` (``"y0 x0 y1 x1"``, half-open, in the original
    image's pixels; the whole image for a fallback).

    Resumable: an image whose crop exists, is a complete PNG and is listed in the manifest is skipped (not
    predicted again); a listed crop that is empty or cut short is recomputed, with a warning naming it.
    The manifest is rewritten atomically after every batch, so an interrupted run loses at most one batch
    of manifest rows; a crop left without its row is recomputed and rewritten (``out_dir`` belongs to this
    step). With ``overwrite=True`` every crop is recomputed.

    Args:
        model: any object with ``predict(x)`` taking float32 ``[B, H, W, 3]`` RGB in [0, 1] and returning
            ``[B, H, W]``, ``[B, H, W, 1]`` (sigmoid) or ``[B, H, W, 2]`` (softmax; channel 1 is the lesion).
            Keras models are called as ``model.predict(x, verbose=0)``.
        df: one row per image, with ``id_column`` and ``path_column``. Image ids must be unique.
        out_dir: folder for the crops and the manifest (created).
        image_size: ``(height, width)`` the model expects, e.g. ``(448, 576)`` for goel2021's DenseNet U-Net.
        batch_size: images per ``predict`` call. Default 8.
        pad: pixels added around each bounding rectangle (see :func:`crop_to_mask`). Default 0.
        overwrite: recompute and replace existing crops. Default False.
        threshold: probability above which a pixel is lesion. Default 0.5.
        id_column: column holding the image id (crop file stem). Default ``"image_id"``.
        path_column: column holding the image path. Default ``"image_path"``.
        progress: show a tqdm progress bar. Default True.

    Returns:
        A copy of ``df`` with columns ``crop_path``, ``fallback`` (bool) and ``bbox`` (tuple of 4 ints) added.

    Raises:
        ValueError: bad ``image_size``, ``batch_size`` or ``threshold``.
        DermkitDataError: a column is missing, ids repeat, an image is unreadable, the model output has
            an unexpected shape, or ``out_dir`` is a file.
    """
    from tqdm.auto import tqdm

    from dermkit.inference import _output_dir, model_input

    if (
        not isinstance(image_size, (tuple, list))
        or len(image_size) != 2
        or not all(isinstance(s, (int, np.integer)) and s > 0 for s in image_size)
    ):
        raise ValueError(f"image_size must be (height, width), two positive integers. Received: {image_size!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    if not 0.0 <= float(threshold) < 1.0:
        raise ValueError(f"threshold must be in [0, 1). Received: threshold={threshold!r}")
    if not hasattr(model, "predict"):
        raise TypeError(f"model must have a predict method. Received: {type(model).__name__}")
    for column in (id_column, path_column):
        if column not in df.columns:
            raise DermkitDataError(f"df has no column {column!r}; columns are {list(df.columns)}")
    ids = df[id_column].astype(str).tolist()
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise DermkitDataError(f"df[{id_column!r}] has repeated image ids, e.g. {dupes}")

    out_dir = _output_dir(out_dir)
    manifest_path = out_dir / MANIFEST_NAME
    rows = {} if overwrite else _read_manifest(manifest_path)
    height, width = int(image_size[0]), int(image_size[1])

    def crop_path_of(image_id: str) -> Path:
        return (out_dir / f"{image_id}.png").resolve()

    todo = [
        (image_id, path)
        for image_id, path in zip(ids, df[path_column].tolist())
        if overwrite or image_id not in rows or not _valid_crop(crop_path_of(image_id))
    ]
    # Keras models print a progress bar per predict call unless told not to.
    predict_kwargs = {"verbose": 0} if _is_keras_model(model) else {}

    with tqdm(total=len(todo), desc="segment_and_crop", unit="img", disable=not progress) as bar:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            images = [read_image(path) for _, path in chunk]
            batch = np.stack([model_input(img, (height, width)) for img in images])
            probs = _foreground_probability(model.predict(batch, **predict_kwargs))
            if probs.shape[0] != len(chunk):
                raise DermkitDataError(
                    f"model.predict returned {probs.shape[0]} masks for a batch of {len(chunk)} images"
                )
            for (image_id, _), image, prob in zip(chunk, images, probs):
                full = cv2.resize(prob, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
                binary = full > threshold
                if binary.any():
                    bbox = lesion_bbox(binary, pad=pad)
                    crop, fallback = crop_to_mask(image, binary, pad=pad), False
                else:
                    bbox = (0, 0, image.shape[0], image.shape[1])
                    crop, fallback = image, True
                target = crop_path_of(image_id)
                write_png(target, np.ascontiguousarray(crop), overwrite=True)
                rows[image_id] = {
                    "image_id": image_id,
                    "crop_path": str(target),
                    "fallback": fallback,
                    "bbox": " ".join(str(v) for v in bbox),
                }
            _write_manifest(manifest_path, rows)
            bar.update(len(chunk))
    if not todo and not manifest_path.is_file():
        _write_manifest(manifest_path, rows)

    result = df.copy()
    result["crop_path"] = [rows[i]["crop_path"] for i in ids]
    result["fallback"] = [_as_bool(rows[i]["fallback"]) for i in ids]
    result["bbox"] = [tuple(int(v) for v in str(rows[i]["bbox"]).split()) for i in ids]
    return result


def _valid_crop(path: Path) -> bool:
    """True for a complete crop PNG; warns (naming it) when an earlier crop exists but is broken."""
    if not path.is_file():
        return False
    try:
        image_info(path)
        check_image_end(path)
    except DermkitDataError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        warnings.warn(f"{path}: earlier crop is not valid ({reason}); computing it again", stacklevel=3)
        return False
    return True


def _as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _is_keras_model(model) -> bool:
    return any(cls.__module__.startswith("keras") for cls in type(model).__mro__)
