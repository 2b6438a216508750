"""Prediction and scoring tools for ISIC 2017 Part 2 (kawahara2018 Section II-B, Eq. 2).

``predict_isic2017_features`` resizes an image to the model's input, predicts the K feature maps, resizes them
back to the original image size (bilinear) and averages them inside each superpixel (Eq. 2). The folder tools
write/read ISIC ``_features.json`` files, resume where they stopped, and score with the official 2017 metrics.

Model inputs are resized by dermkit's one rule, :func:`dermkit.data.resize.resize_image` (area averaging
along axes that shrink, bilinear along axes that grow, rounded to 8-bit levels) — the same TensorFlow ops the
training pipelines (:mod:`dermkit.data.pipelines`) run, so a model is evaluated on the inputs it was trained on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
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
    "model_fingerprint",
    "PREDICTIONS_MANIFEST",
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


def _output_dir(out_dir: str | os.PathLike, *, create: bool = True) -> Path:
    """Create ``out_dir`` (and parents) unless ``create`` is False; an existing file there is refused with its
    name."""
    out_dir = Path(out_dir)
    for folder in (out_dir, *out_dir.parents):
        if folder.exists() and not folder.is_dir():
            raise DermkitDataError(f"{folder}: is a file, but the output folder {out_dir} must be a folder")
        if folder.is_dir():
            break
    if create:
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


#: The file in a predictions folder that says which model wrote it (:func:`predict_isic2017_folder`).
PREDICTIONS_MANIFEST = "dermkit_predictions.json"
_STAGING_SUFFIX, _ASIDE_SUFFIX = ".dermkit-predict-new", ".dermkit-predict-old"


def model_fingerprint(model) -> str:
    """SHA-256 over a model's input shape and every weight array (names in order, shapes, dtypes, bytes):
    equal for the same weights loaded twice, different for any other weights."""
    import hashlib

    digest = hashlib.sha256(repr(tuple(model.input_shape)).encode())
    for array in model.get_weights():
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _identity(model, input_size, image_resize: str, weights: str | None) -> dict:
    size = input_size or model_input_size(model)
    return {
        "task": "isic2017-part2",
        "model_sha256": model_fingerprint(model),
        "input_size": None if size is None else [int(size[0]), int(size[1])],
        "image_resize": image_resize,
        "weights": None if weights is None else os.fspath(weights),
    }


_SAME_KEYS = ("task", "model_sha256", "input_size", "image_resize")


def _describe(identity: dict) -> str:
    size = identity.get("input_size")
    weights = identity.get("weights") or "weights sha256 " + str(identity.get("model_sha256", "?"))[:12] + "…"
    return f"{weights}, input {'the image size' if size is None else f'{size[0]}×{size[1]}'}"


def _is_ours(entry: Path) -> bool:
    """A file :func:`predict_isic2017_folder` writes: a prediction, the manifest, or an atomic writer's
    temporary file of either (``.NAME.XXXX.json``) that a killed run left."""
    name = entry.name
    return entry.is_file() and (name.endswith(_FEATURES_SUFFIX) or name == PREDICTIONS_MANIFEST
                                or (name.startswith(".") and name.endswith(".json")))


def _folder_state(folder: Path, identity: dict) -> tuple[str, str]:
    """``("empty" | "same" | "other" | "unknown", why)`` of an output folder for a model ``identity``."""
    if not folder.is_dir():
        return "empty", ""
    manifest = folder / PREDICTIONS_MANIFEST
    predictions = sorted(folder.glob(f"*{_FEATURES_SUFFIX}"))
    if manifest.is_file():
        try:
            written = json.loads(manifest.read_text(encoding="utf-8"))
            if not isinstance(written, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as exc:
            return "unknown", f"its {PREDICTIONS_MANIFEST} is damaged ({exc}), so which model wrote them is unknown"
        if all(written.get(k) == identity[k] for k in _SAME_KEYS):
            return "same", ""
        return "other", f"they were written by another model ({_describe(written)}; this one: {_describe(identity)})"
    if predictions:
        return "unknown", (f"it holds {len(predictions)} *{_FEATURES_SUFFIX} files but no {PREDICTIONS_MANIFEST} "
                           "saying which model wrote them")
    return "empty", ""


def _write_manifest(folder: Path, identity: dict, *, complete: bool, n_images: int) -> None:
    from dermkit._io import atomic_write_text

    record = {**identity, "complete": complete, "n_images": n_images}
    atomic_write_text(folder / PREDICTIONS_MANIFEST, json.dumps(record, indent=1) + "\n", overwrite=True)


def _finish_interrupted_swap(out_dir: Path, staging: Path, aside: Path) -> None:
    """Complete (or undo) a replacement that a kill interrupted between its two renames."""
    if aside.is_dir() and not out_dir.exists():
        try:
            complete = json.loads((staging / PREDICTIONS_MANIFEST).read_text(encoding="utf-8"))["complete"] is True
        except (OSError, ValueError, KeyError, TypeError):
            complete = False
        os.rename(staging if complete else aside, out_dir)
    if aside.is_dir():
        shutil.rmtree(aside)


def predict_isic2017_folder(
    model,
    images_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    input_size: tuple[int, int] | None = None,
    image_resize: str = "auto",
    overwrite: bool = False,
    progress: bool = True,
    weights: str | os.PathLike | None = None,
) -> list[Path]:
    """Write ``<id>_features.json`` predictions for every ``ISIC_*.jpg`` (+ ``_superpixels.png``) in a folder.

    ``out_dir/dermkit_predictions.json`` (:data:`PREDICTIONS_MANIFEST`) records which model wrote the folder:
    :func:`model_fingerprint` of its weights, the input size, ``image_resize`` (and ``weights``, a label for
    messages, e.g. the registry name or file the CLI loaded).

    * Same model (or an empty folder): resumable — an existing prediction file is kept unless
      ``overwrite=True``, if it is valid for its image (parses, four lists of values in [0, 1], one per
      superpixel of the image's map); an earlier file that is not (empty, cut short, wrong length) is
      predicted again, with a warning naming it.
    * Another model, or predictions with no manifest (who wrote them is unknown): refused
      (``FileExistsError``) unless ``overwrite=True``, which replaces the folder as a whole: the new
      predictions are written into a hidden sibling folder (itself resumable) that then takes the old
      folder's place by two renames — ``out_dir`` never holds a mix of old and new predictions, and a run
      killed before the end leaves the old predictions in place (a kill between the renames is completed by
      the next run). A folder that also holds other files is not replaced (they would be lost).

    Each file is written atomically, so a killed run leaves no partial JSON.

    Returns:
        Paths of all prediction files (written now or earlier).

    Raises:
        FileExistsError: ``out_dir`` holds another model's (or unknown) predictions and ``overwrite`` is
            False; or it holds files other than predictions and would have to be replaced.
        DermkitDataError: ``out_dir`` (or a parent) is a file; a corrupt input file (named).
        DermkitFileNotFoundError: ``images_dir`` or an image's superpixel map is missing.
    """
    images_dir = Path(images_dir)
    ids = _image_ids(images_dir)
    out_dir = _output_dir(out_dir, create=False).absolute()
    staging = out_dir.parent / f".{out_dir.name}{_STAGING_SUFFIX}"
    aside = out_dir.parent / f".{out_dir.name}{_ASIDE_SUFFIX}"
    _finish_interrupted_swap(out_dir, staging, aside)
    out_dir.mkdir(parents=True, exist_ok=True)
    identity = _identity(model, input_size, image_resize, weights)
    state, why = _folder_state(out_dir, identity)
    if state in ("empty", "same"):
        if staging.exists():  # an abandoned replacement: this folder is kept, so its leftovers go
            shutil.rmtree(staging)
        return _predict_into(model, images_dir, out_dir, ids, identity, redo=overwrite, progress=progress,
                             input_size=input_size, image_resize=image_resize)
    if not overwrite:
        raise FileExistsError(
            f"{out_dir}: already holds predictions, and {why}; refusing to mix predictions of two models. Pass "
            "overwrite=True (dermkit predict --overwrite) to replace them all, or choose another output folder."
        )
    foreign = sorted(p.name for p in out_dir.iterdir() if not _is_ours(p))
    if foreign:
        raise FileExistsError(
            f"{out_dir}: holds files that are not predictions ({', '.join(foreign[:5])}"
            f"{', …' if len(foreign) > 5 else ''}); replacing the predictions replaces the whole folder, so move "
            "them elsewhere first, or choose another output folder."
        )
    if _folder_state(staging, identity)[0] != "same" and staging.exists():
        shutil.rmtree(staging)  # a replacement by yet another model was interrupted: start it afresh
    _predict_into(model, images_dir, staging, ids, identity, redo=False, progress=progress, input_size=input_size,
                  image_resize=image_resize)
    os.rename(out_dir, aside)
    os.rename(staging, out_dir)
    shutil.rmtree(aside)
    return [out_dir / f"{image_id}{_FEATURES_SUFFIX}" for image_id in ids]


def _predict_into(model, images_dir: Path, folder: Path, ids: list[str], identity: dict, *, redo: bool,
                  progress: bool, input_size, image_resize: str) -> list[Path]:
    """Predict every image into ``folder`` (resumable unless ``redo``), its manifest written first and marked
    complete last."""
    from tqdm.auto import tqdm

    folder.mkdir(parents=True, exist_ok=True)
    _write_manifest(folder, identity, complete=False, n_images=len(ids))
    paths = []
    for image_id in tqdm(ids, desc="predict isic2017-part2", unit="img", disable=not progress):
        target = folder / f"{image_id}{_FEATURES_SUFFIX}"
        paths.append(target)
        superpixels = images_dir / f"{image_id}{_SUPERPIXELS_SUFFIX}"
        if target.exists() and not redo:
            try:
                read_superpixel_labels(target, num_superpixels=int(read_superpixels(superpixels).max()) + 1)
                continue
            except DermkitFileNotFoundError:
                raise
            except DermkitDataError as exc:
                reason = str(exc).removeprefix(f"{target}: ")
                warnings.warn(
                    f"{target}: earlier prediction is not valid ({reason}); predicting it again", stacklevel=3
                )
        probs = predict_isic2017_features(
            model, images_dir / f"{image_id}.jpg", superpixels, input_size=input_size, image_resize=image_resize
        )
        write_superpixel_labels(target, probs.astype(np.float64), overwrite=True)
    _write_manifest(folder, identity, complete=True, n_images=len(ids))
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
