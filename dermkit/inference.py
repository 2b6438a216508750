"""Prediction and scoring tools for ISIC 2017 Part 2 (kawahara2018 Section II-B, Eq. 2).

``predict_isic2017_features`` resizes an image to the model's input, predicts the K feature maps, resizes them
back to the original image size (bilinear) and averages them inside each superpixel (Eq. 2). The folder tools
write/read ISIC ``_features.json`` files, resume where they stopped, and score with the official 2017 metrics.

Model inputs are resized by dermkit's one rule, :func:`dermkit.data.resize.resize_image` (area averaging
along axes that shrink, bilinear along axes that grow, rounded to 8-bit levels) — the same TensorFlow ops the
training pipelines (:mod:`dermkit.data.pipelines`) run, so a model is evaluated on the inputs it was trained on.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from dermkit.data.imageio import image_size, read_image, read_mask
from dermkit.data.isic import (
    read_image_and_superpixels,
    read_superpixel_labels,
    read_superpixels,
    write_superpixel_labels,
)
from dermkit.data.masks import check_mask_values
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


def model_input(image: np.ndarray, size: tuple[int, int], *, image_resize: str = "auto") -> np.ndarray:
    """The array a model is fed for ``image`` at ``size``: ``float32 [h, w, 3]`` in [0, 1].

    Exactly what the tf.data pipelines produce for the same file (:func:`dermkit.data.resize.resize_image`:
    resized, rounded to 8-bit levels, divided by 255).

    Args:
        image: ``uint8 [H, W, 3]``, or float in [0, 1] (e.g. from :func:`~dermkit.data.pipelines.iter_isic2017_eval`).
        size: ``(h, w)``.
        image_resize: the pipelines' ``image_resize`` the model was trained with; default "auto".
    """
    from dermkit.data.resize import resize_image_array

    return resize_image_array(np.asarray(image), size, method=image_resize)


def predict_mask(
    model, image: np.ndarray, *, input_size: tuple[int, int] | None = None, image_resize: str = "auto"
) -> np.ndarray:
    """Predict a model's sigmoid maps for one image at the image's original size.

    Args:
        model: a Keras model taking RGB float32 in [0, 1] (``preprocess=True`` builders) ``[1, h, w, 3]``.
        image: ``uint8 [H, W, 3]`` or float in [0, 1].
        input_size: ``(h, w)`` the image is resized to (:func:`model_input`, the training pipelines' rule);
            default the model's input size, or the image's own size for a size-agnostic model.
        image_resize: as the pipelines' ``image_resize``; default "auto".

    Returns:
        ``float32 [H, W, K]`` at the original size (bilinear resize back).
    """
    image = np.asarray(image)
    height, width = image.shape[:2]
    size = tuple(input_size or model_input_size(model, default=(height, width)))
    x = model_input(image, size, image_resize=image_resize)
    pred = np.asarray(model(x[None], training=False))[0].astype(np.float32)
    if pred.shape[:2] != (height, width):
        pred = cv2.resize(pred, (width, height), interpolation=cv2.INTER_LINEAR)
        if pred.ndim == 2:
            pred = pred[..., None]
    return np.clip(pred, 0.0, 1.0)


def predict_isic2017_features(
    model,
    image_path: str | os.PathLike,
    superpixels_path: str | os.PathLike,
    *,
    input_size=None,
    image_resize: str = "auto",
) -> np.ndarray:
    """Per-superpixel feature probabilities ``float32 [N, 4]`` for one ISIC 2017 image (Eq. 2).

    Raises:
        DermkitDataError: the superpixel map and the image differ in size, or a file is corrupt.
        DermkitFileNotFoundError: a file is missing.
    """
    image, index = read_image_and_superpixels(image_path, superpixels_path)
    return mask_to_superpixels(predict_mask(model, image, input_size=input_size, image_resize=image_resize), index)


def _output_dir(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` (and parents); an existing file there is refused with its name."""
    out_dir = Path(out_dir)
    for folder in (out_dir, *out_dir.parents):
        if folder.exists() and not folder.is_dir():
            raise DermkitDataError(f"{folder}: is a file, but the output folder {out_dir} must be a folder")
        if folder.is_dir():
            break
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def _input_dir(folder: Path, what: str) -> Path:
    if not folder.is_dir():
        if folder.exists():
            raise DermkitDataError(f"{folder}: is a file, but the {what} must be a folder")
        raise DermkitFileNotFoundError(f"{folder}: folder not found ({what})")
    return folder


def _image_ids(images_dir: Path) -> list[str]:
    _input_dir(images_dir, "images folder")
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
    image_resize: str = "auto",
    overwrite: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Write ``<id>_features.json`` predictions for every ``ISIC_*.jpg`` (+ ``_superpixels.png``) in a folder.

    Resumable: an existing prediction file is kept (skipped) unless ``overwrite=True`` — if it is a valid
    prediction for its image (parses, four lists of values in [0, 1], one per superpixel of the image's map).
    An earlier file that is not (empty, cut short, wrong length) is predicted again, with a warning naming it.
    Each file is written atomically, so a killed run leaves no partial JSON.

    Returns:
        Paths of all prediction files (written now or earlier).

    Raises:
        DermkitDataError: ``out_dir`` (or a parent) is a file; a corrupt input file.
        DermkitFileNotFoundError: ``images_dir`` or an image's superpixel map is missing.
    """
    from tqdm.auto import tqdm

    images_dir = Path(images_dir)
    ids = _image_ids(images_dir)
    out_dir = _output_dir(out_dir)
    paths = []
    for image_id in tqdm(ids, desc="predict isic2017-part2", unit="img", disable=not progress):
        target = out_dir / f"{image_id}{_FEATURES_SUFFIX}"
        paths.append(target)
        superpixels = images_dir / f"{image_id}{_SUPERPIXELS_SUFFIX}"
        if target.exists() and not overwrite:
            try:
                read_superpixel_labels(target, num_superpixels=int(read_superpixels(superpixels).max()) + 1)
                continue
            except DermkitFileNotFoundError:
                raise
            except DermkitDataError as exc:
                reason = str(exc).removeprefix(f"{target}: ")
                warnings.warn(
                    f"{target}: earlier prediction is not valid ({reason}); predicting it again", stacklevel=2
                )
        probs = predict_isic2017_features(
            model, images_dir / f"{image_id}.jpg", superpixels, input_size=input_size, image_resize=image_resize
        )
        write_superpixel_labels(target, probs.astype(np.float64), overwrite=True)
    return paths


def score_isic2017_folder(truth_dir: str | os.PathLike, pred_dir: str | os.PathLike, *, ids: Sequence[str] = ()):
    """Score a folder of predicted ``_features.json`` against the truth folder (official 2017 Part 2 metrics).

    Every truth file needs a prediction of the same length; a missing prediction is an error naming it. Every
    file is checked as it is read (truth values 0/1, predictions in [0, 1]), so a bad value is reported with
    its file and superpixel index.

    Returns:
        The ``pandas.DataFrame`` of :func:`dermkit.metrics.isic2017_part2_scores`.

    Raises:
        DermkitFileNotFoundError: a folder, a ground-truth file or a prediction missing.
        DermkitDataError: a file that is not a valid ``_features.json`` (named, with the superpixel index of a
            bad value); a folder that is a file.
    """
    from dermkit.metrics.isic import isic2017_part2_scores

    truth_dir = _input_dir(Path(truth_dir), "ground-truth folder")
    pred_dir = _input_dir(Path(pred_dir), "predictions folder")
    truth_files = sorted(truth_dir.glob(f"*{_FEATURES_SUFFIX}"))
    if ids:
        truth_files = [truth_dir / f"{i}{_FEATURES_SUFFIX}" for i in ids]
    if not truth_files:
        raise DermkitFileNotFoundError(f"{truth_dir}: no *{_FEATURES_SUFFIX} ground-truth files found")
    truths, preds, pred_files = [], [], []
    for truth_file in truth_files:
        truth = read_superpixel_labels(truth_file, binary=True)
        pred_file = pred_dir / truth_file.name
        if not pred_file.exists():
            raise DermkitFileNotFoundError(f"{pred_file}: no prediction for ground truth {truth_file}")
        preds.append(read_superpixel_labels(pred_file, num_superpixels=len(truth)))
        truths.append(truth)
        pred_files.append(pred_file)
    try:
        return isic2017_part2_scores(truths, preds)
    except ValueError as exc:  # the scorer counts images; name the files instead
        found = re.match(r"image (\d+): (.*)", str(exc), re.DOTALL)
        if found is None or int(found.group(1)) >= len(truth_files):
            raise
        i = int(found.group(1))
        raise DermkitDataError(f"{pred_files[i]} (truth {truth_files[i]}): {found.group(2)}") from exc


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

    Each image (RGB, :func:`dermkit.data.imageio.read_image`) is resized to ``input_size`` by the training
    pipelines' rule (:func:`model_input`), and predicted in batches; the lesion probability (channel 0 of a
    sigmoid output, or channel 1 of a 2-channel softmax) is resized back to the image's own size (bilinear)
    and thresholded (``> threshold`` → 255). The ISIC mask naming and 0/255 values match the HAM10000 / ISIC 2018 Task 1
    ground-truth files, so :func:`dermkit.data.imageio.read_mask` and the ISIC scorers read them back.

    Resumable: an existing mask file is kept (not predicted again) unless ``overwrite=True`` — if it is a
    valid mask for its image (decodes, the image's size, values 0/255); an earlier file that is not is
    predicted again with a warning naming it. Every file is written atomically, so a killed run leaves no
    partial PNG.

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
        DermkitDataError: an unreadable image, an unexpected model output shape, or ``out_dir`` is a file.
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
    out_dir = _output_dir(out_dir)
    targets = [out_dir / f"{image_id}{MASK_SUFFIX}" for image_id in ids]
    todo = [(t, p) for t, p in zip(targets, df[path_column].tolist()) if overwrite or not _valid_mask(t, p)]
    height, width = int(size[0]), int(size[1])
    with tqdm(total=len(todo), desc="write_isic_masks", unit="img", disable=not progress) as bar:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            images = [read_image(path) for _, path in chunk]
            batch = np.stack([model_input(im, (height, width)) for im in images])
            pred = np.asarray(model.predict(batch, verbose=0), dtype=np.float32)
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


def _valid_mask(target: Path, image_path) -> bool:
    """True when an earlier ``write_isic_masks`` output can be kept; warns (naming it) when it exists but cannot."""
    if not target.exists():
        return False
    try:
        mask = check_mask_values(read_mask(target), where=str(target))
        if mask.shape != image_size(image_path):
            raise DermkitDataError(f"{target}: mask is {mask.shape} (H, W) but its image {image_path} is not")
    except DermkitDataError as exc:
        reason = str(exc).removeprefix(f"{target}: ")
        warnings.warn(f"{target}: earlier mask is not valid ({reason}); predicting it again", stacklevel=3)
        return False
    return True


__all__ += ["write_isic_masks", "MASK_SUFFIX", "model_input"]
