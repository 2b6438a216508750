"""Prediction and scoring tools for ISIC 2017 Part 2 (kawahara2018 Section II-B, Eq. 2).

``predict_isic2017_features`` resizes an image to the model's input, predicts the K feature maps, resizes them
back to the original image size (bilinear) and averages them inside each superpixel (Eq. 2). The folder tools
write/read ISIC ``_features.json`` files, resume where they stopped, and score with the official 2017 metrics.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from dermkit.data.imageio import read_image
from dermkit.data.isic import read_image_and_superpixels, read_superpixel_labels, write_superpixel_labels
from dermkit.data.superpixels import mask_to_superpixels
from dermkit.errors import DermkitDataError, DermkitFileNotFoundError

__all__ = [
    "model_input_size",
    "predict_mask",
    "predict_isic2017_features",
    "predict_isic2017_folder",
    "score_isic2017_folder",
]

_SUPERPIXELS_SUFFIX = "_superpixels.png"
_FEATURES_SUFFIX = "_features.json"


def model_input_size(model, default: tuple[int, int] | None = None) -> tuple[int, int] | None:
    """``(height, width)`` of a model's input, or ``default`` for size-agnostic models (``None`` dims)."""
    shape = tuple(model.input_shape)
    h, w = shape[1], shape[2]
    if h is None or w is None:
        return default
    return int(h), int(w)


def predict_mask(model, image: np.ndarray, *, input_size: tuple[int, int] | None = None) -> np.ndarray:
    """Predict a model's sigmoid maps for one image at the image's original size.

    Args:
        model: a Keras model taking RGB float32 in [0, 1] (``preprocess=True`` builders) ``[1, h, w, 3]``.
        image: ``uint8 [H, W, 3]`` or float in [0, 1].
        input_size: ``(h, w)`` the image is resized to; default the model's input size, or the image's own
            size for a size-agnostic model.

    Returns:
        ``float32 [H, W, K]`` at the original size (bilinear resize back).
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    height, width = image.shape[:2]
    size = input_size or model_input_size(model, default=(height, width))
    x = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR) if size != (height, width) else image
    pred = np.asarray(model(x[None].astype(np.float32), training=False))[0].astype(np.float32)
    if pred.shape[:2] != (height, width):
        pred = cv2.resize(pred, (width, height), interpolation=cv2.INTER_LINEAR)
        if pred.ndim == 2:
            pred = pred[..., None]
    return np.clip(pred, 0.0, 1.0)


def predict_isic2017_features(
    model, image_path: str | os.PathLike, superpixels_path: str | os.PathLike, *, input_size=None
) -> np.ndarray:
    """Per-superpixel feature probabilities ``float32 [N, 4]`` for one ISIC 2017 image (Eq. 2).

    Raises:
        DermkitDataError: the superpixel map and the image differ in size, or a file is corrupt.
        DermkitFileNotFoundError: a file is missing.
    """
    image, index = read_image_and_superpixels(image_path, superpixels_path)
    return mask_to_superpixels(predict_mask(model, image, input_size=input_size), index)


def _image_ids(images_dir: Path) -> list[str]:
    ids = sorted(
        p.stem for p in images_dir.glob("ISIC_*.jpg") if not p.stem.endswith(("_superpixels", "_segmentation"))
    )
    if not ids:
        raise DermkitFileNotFoundError(f"{images_dir}: no ISIC_*.jpg images found")
    return ids


def predict_isic2017_folder(
    model,
    images_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    input_size: tuple[int, int] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Write ``<id>_features.json`` predictions for every ``ISIC_*.jpg`` (+ ``_superpixels.png``) in a folder.

    Resumable: existing prediction files are kept (skipped) unless ``overwrite=True``; each file is written
    atomically, so a killed run leaves no partial JSON.

    Returns:
        Paths of all prediction files (written now or earlier).
    """
    from tqdm.auto import tqdm

    images_dir, out_dir = Path(images_dir), Path(out_dir)
    ids = _image_ids(images_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for image_id in tqdm(ids, desc="predict isic2017-part2", unit="img", disable=not progress):
        target = out_dir / f"{image_id}{_FEATURES_SUFFIX}"
        paths.append(target)
        if target.exists() and not overwrite:
            continue
        superpixels = images_dir / f"{image_id}{_SUPERPIXELS_SUFFIX}"
        probs = predict_isic2017_features(model, images_dir / f"{image_id}.jpg", superpixels, input_size=input_size)
        write_superpixel_labels(target, probs.astype(np.float64), overwrite=True)
    return paths


def score_isic2017_folder(truth_dir: str | os.PathLike, pred_dir: str | os.PathLike, *, ids: Sequence[str] = ()):
    """Score a folder of predicted ``_features.json`` against the truth folder (official 2017 Part 2 metrics).

    Every truth file needs a prediction of the same length; a missing prediction is an error naming it.

    Returns:
        The ``pandas.DataFrame`` of :func:`dermkit.metrics.isic2017_part2_scores`.
    """
    from dermkit.metrics.isic import isic2017_part2_scores

    truth_dir, pred_dir = Path(truth_dir), Path(pred_dir)
    truth_files = sorted(truth_dir.glob(f"*{_FEATURES_SUFFIX}"))
    if ids:
        truth_files = [truth_dir / f"{i}{_FEATURES_SUFFIX}" for i in ids]
    if not truth_files:
        raise DermkitFileNotFoundError(f"{truth_dir}: no *{_FEATURES_SUFFIX} ground-truth files found")
    truths, preds = [], []
    for truth_file in truth_files:
        truth = read_superpixel_labels(truth_file)
        pred_file = pred_dir / truth_file.name
        if not pred_file.exists():
            raise DermkitFileNotFoundError(f"{pred_file}: no prediction for ground truth {truth_file}")
        preds.append(read_superpixel_labels(pred_file, num_superpixels=len(truth)))
        truths.append(truth)
    return isic2017_part2_scores(truths, preds)


# --------------------------------------------------------------------------------------------------------
# Lesion masks in the ISIC naming (goel2021 Section 5.1: "we run the whole dataset ... through the
# segmentation model and save the resulting masks")
# --------------------------------------------------------------------------------------------------------
MASK_SUFFIX = "_segmentation.png"


def write_isic_masks(
    model,
    df,
    out_dir: str | os.PathLike,
    *,
    input_size: tuple[int, int] | None = None,
    threshold: float = 0.5,
    batch_size: int = 8,
    id_column: str = "image_id",
    path_column: str = "image_path",
    overwrite: bool = False,
    progress: bool = True,
):
    """Predict a lesion mask per image and write it as a 0/255 PNG ``out_dir/<image_id>_segmentation.png``.

    Each image (RGB, :func:`dermkit.data.imageio.read_image`) is resized to ``input_size`` (bilinear), scaled
    to float32 [0, 1] and predicted in batches; the lesion probability (channel 0 of a sigmoid output, or
    channel 1 of a 2-channel softmax) is resized back to the image's own size (bilinear) and thresholded
    (``> threshold`` → 255). The ISIC mask naming and 0/255 values match the HAM10000 / ISIC 2018 Task 1
    ground-truth files, so :func:`dermkit.data.imageio.read_mask` and the ISIC scorers read them back.

    Resumable: an existing mask file is kept (not predicted again) unless ``overwrite=True``; every file is
    written atomically, so a killed run leaves no partial PNG.

    Args:
        model: Keras model taking ``[B, h, w, 3]`` RGB in [0, 1] and returning ``[B, h, w, 1]`` (sigmoid) or
            ``[B, h, w, 2]`` (softmax).
        df: frame with ``id_column`` and ``path_column`` (e.g. from :func:`dermkit.data.isic.load_isic2020`).
        out_dir: output folder (created).
        input_size: ``(h, w)`` of the model input; default the model's input size (required for models with
            ``None`` spatial dimensions).
        threshold: lesion probability threshold in [0, 1). Default 0.5.
        batch_size: images per ``predict`` call. Default 8.
        id_column, path_column: columns of the image id and path.
        overwrite: recompute existing masks. Default False.
        progress: show a progress bar. Default True.

    Returns:
        A copy of ``df`` with ``mask_path`` set to the written masks.

    Raises:
        ValueError: bad ``threshold`` / ``batch_size``, no input size, a missing column or repeated ids.
        DermkitDataError: an unreadable image or an unexpected model output shape.
    """
    from tqdm.auto import tqdm

    from dermkit.data.imageio import write_png

    if not 0.0 <= float(threshold) < 1.0:
        raise ValueError(f"threshold must be in [0, 1). Received: threshold={threshold!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    size = input_size or model_input_size(model)
    if size is None:
        raise ValueError("the model accepts any size; pass input_size=(height, width). Received: input_size=None")
    for column in (id_column, path_column):
        if column not in df.columns:
            raise ValueError(f"df has no column {column!r}; columns are {list(df.columns)}")
    ids = df[id_column].astype(str).tolist()
    if len(set(ids)) != len(ids):
        raise ValueError(f"df[{id_column!r}] repeats image ids. Received: {len(ids) - len(set(ids))} repeats")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = [out_dir / f"{image_id}{MASK_SUFFIX}" for image_id in ids]
    todo = [(t, p) for t, p in zip(targets, df[path_column].tolist()) if overwrite or not t.exists()]
    height, width = int(size[0]), int(size[1])
    with tqdm(total=len(todo), desc="write_isic_masks", unit="img", disable=not progress) as bar:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            images = [read_image(path) for _, path in chunk]
            batch = np.stack([cv2.resize(im, (width, height), interpolation=cv2.INTER_LINEAR) for im in images])
            pred = np.asarray(model.predict(batch.astype(np.float32) / 255.0, verbose=0), dtype=np.float32)
            if pred.ndim != 4 or pred.shape[0] != len(chunk) or pred.shape[-1] not in (1, 2):
                raise DermkitDataError(
                    f"model output must be [B, h, w, 1] or [B, h, w, 2] for a batch of {len(chunk)}; got {pred.shape}"
                )
            probs = pred[..., 0] if pred.shape[-1] == 1 else pred[..., 1]
            for (target, _), image, prob in zip(chunk, images, probs):
                full = cv2.resize(prob, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
                write_png(target, np.where(full > threshold, 255, 0).astype(np.uint8), overwrite=True)
            bar.update(len(chunk))
    result = df.copy()
    result["mask_path"] = [str(t) for t in targets]
    return result


__all__ += ["write_isic_masks", "MASK_SUFFIX"]
