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
from dermkit.data.isic import read_superpixel_labels, read_superpixels, write_superpixel_labels
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
    image = read_image(image_path)
    index = read_superpixels(superpixels_path)
    if index.shape != image.shape[:2]:
        raise DermkitDataError(
            f"{superpixels_path}: superpixel map is {index.shape[1]}×{index.shape[0]} but the image "
            f"{image_path} is {image.shape[1]}×{image.shape[0]}"
        )
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
