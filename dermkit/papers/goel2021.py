"""goel2021 — Goel, Ko & Mishra, "Improving Melanoma Classification With Semantic Segmentation", Stanford
CS231n report, 2021. The experiment grid of Tables 1–3 and the skin-tone study (Section 7) as data, and the
four functions the shared runner (:mod:`dermkit.training.runner`) calls.

Component → code:

* Section 3.1 / Table 3 top, segmentation: plain U-Net (BN, 'same' padding, up-convolutions) and the
  DenseNet121-encoder U-Net: :func:`dermkit.models.unet.unet`; Dice loss (segmentation-models' ``DiceLoss``):
  :class:`dermkit.losses.DiceF1Loss` (channel-batch, smoothing 1e-5); "dice coeff." = 1 − that loss on the
  test set; pixel accuracy = share of pixels right at 0.5. HAM10000 loaded by
  :func:`dermkit.data.isic.load_ham10000`, batched by :func:`dermkit.data.pipelines.segmentation_dataset`.
* Section 4.1 ISIC 2020 preprocessing (resize 640×480 → centre crop 480×480 → 224×224): :func:`preprocess_isic2020`;
  duplicates removed by :func:`dermkit.data.isic.load_isic2020`; 70/15/15 patient-grouped splits
  (:func:`dermkit.data.splits.grouped_split`, HAM10000 grouped by lesion); random up-sampling of malignant
  images in the training split only (:func:`dermkit.data.sampling.random_upsample`, Section 3.3).
* Section 5.1, two-stage pipeline: masks × image → contour → upright bounding rectangle → crop:
  :func:`dermkit.preprocessing.crop.segment_and_crop`, then resized to the classifier input.
* Section 3.2 / Tables 1–2, classifier: :func:`dermkit.models.classifiers.densenet_classifier` and
  :func:`~dermkit.models.classifiers.set_train_mode` ("base froz." → ``frozen``, "finetun." → ``finetune``,
  "fc layers" → ``fc``, "dense-bl." → ``last_block``); loss: :class:`dermkit.losses.WeightedCategoricalCrossentropy`
  (2-unit softmax, equal to the report's binary cross-entropy with weights 1:1; row 11 weighs malignant 2:1,
  the report's Σ wᵢ lossᵢ / Σ wᵢ); augmentation (Section 4.2) :class:`dermkit.data.pipelines.Augment` with
  rotations ≤ 90°, flips, scale [0.8, 1.2], shear ≤ 20°; model selection by validation balanced accuracy
  (:class:`dermkit.training.callbacks.BestBalancedAccuracy`).
* Table 2 metrics and Table 3's confusion matrices: :func:`classification_metrics`
  (precision, F1 and the confusion matrix from :func:`dermkit.metrics.isic.isic_classification_scores`).
* Section 7 / Figures 3–6: palette, tone and ITA estimation, background replacement:
  :mod:`dermkit.preprocessing.skin_tone`; masks for the tone estimate written by
  :func:`dermkit.inference.write_isic_masks`; per-tone sensitivity and FNR:
  :func:`~dermkit.preprocessing.skin_tone.per_tone_rates`.
* Figures: 1 (masks) :func:`dermkit.plots.plot_mask_comparison`; 2 (activation maps, Grad-CAM on the last
  DenseNet features) :func:`dermkit.explain.cam.grad_cam` + :func:`dermkit.plots.plot_activation_maps`;
  4 and 6 :func:`dermkit.plots.plot_per_tone_rates`; precision–recall and ROC :func:`dermkit.plots.plot_pr_roc_curves`.

Model reuse. Rows that share an architecture (the ``fc`` head and the L2 factor) share one compiled model: each
row restores the initial weights, zeroes Adam's state and sets its learning rate; the model is compiled again
only when its trainable layers change. Class weights enter as per-sample weights of a 1:1 weighted
cross-entropy, which gives exactly the 2:1 loss (Σ wᵢ CEᵢ / Σ wᵢ) without compiling a second loss.

``--quick`` (any data, 2 CPU cores, minutes): plain U-Net 32×32, DenseNet U-Net and classifier 64×64 (from a
"640×480" stage of 128×96), no ImageNet weights (random encoders; no network), batch-norm momentum 0.9,
segmentation 5 epochs at batch 8, classifier 3 epochs at batch 16,
80 HAM10000 images, ISIC 2020 reduced to every malignant image (at most 16) plus benign images up to 128 in all;
rows: Table 3's two models, Table 2 rows 1, 3, 4 and 11, and the skin-tone study (the balanced-tone dataset is
built and row 4's model is evaluated on its test split; the full run trains row 4's settings on it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermkit.training.report import Table, TableRow
from dermkit.training.runner import Experiment

NAME = "goel2021"
#: Table ids: "1" (settings), "2" (results), "3" (segmentation), "3cm" (Table 3's confusion matrices),
#: "skin_tone" (Section 7, Figures 4 and 6 as numbers).
TABLES = ("1", "2", "3", "3cm", "skin_tone")

#: Full-scale settings (Sections 3.1, 3.2, 4.1).
FULL: dict[str, Any] = {
    "unet_size": (448, 592),
    "densenet_unet_size": (448, 576),
    "seg_batch": 4,
    "seg_epochs": 10,
    "seg_lr": 1e-3,
    "base_size": (480, 640),  # (H, W) of the first resize, 640×480
    "cls_size": 224,
    "cls_batch": 32,  # not given in the report
    "cls_epochs": 15,
    "encoder_weights": "imagenet",
    "ham_images": None,
    "isic_images": None,
    "isic_malignant": None,
    "bn_momentum": None,  # Keras' default (0.99), as segmentation-models and keras.applications use
}

#: ``--quick`` settings.
QUICK: dict[str, Any] = {
    "unet_size": (32, 32),  # the 31-million-parameter plain U-Net costs ~15 GFLOP per 64×64 training image
    "densenet_unet_size": (64, 64),
    "seg_batch": 8,
    "seg_epochs": 5,
    "seg_lr": 1e-3,
    "base_size": (96, 128),
    "cls_size": 64,
    "cls_batch": 16,
    "cls_epochs": 3,
    "encoder_weights": None,
    "ham_images": 80,
    "isic_images": 128,
    "isic_malignant": 16,
    "bn_momentum": 0.9,  # moving statistics must settle within the quick run's few dozen steps
}

#: Synthetic data for ``--data synthetic``: ISIC 2020 is generated at 4:3 (like 640×480) and large enough to
#: hold ~2 % malignant images ≥ 20 times.
SYNTHETIC = {"ham_images": 96, "ham_size": (64, 64), "isic_images": 1000, "isic_size": (96, 128)}

CLASS_NAMES = ("benign", "malignant")
T2_METRICS = ("loss", "accuracy", "benign_acc", "malignant_acc", "balanced_acc", "precision", "f1")
T1_METRICS = ("lr", "l2", "class_w_malignant", "augmentation", "frozen_encoder", "extra_fc", "last_block_only")
T3_METRICS = ("dice_loss", "dice_coeff", "pixel_acc", "jaccard")
CM_METRICS = ("pred_malignant", "pred_benign")
TONE_METRICS = ("n", "positives", "sensitivity", "false_negative_rate")
AUGMENT = {"rot90": False, "rotation": 90.0, "scale": (0.8, 1.2), "shear": 20.0}

_WEIGHTS = {"frozen": "base froz.", "finetune": "finetun.", "fc": "fc layers", "last_block": "dense-bl."}

#: Table 1 rows: (train_mode, data, augmentation, lr, l2, malignant class weight).
TABLE1 = {
    1: ("frozen", "original", False, 1e-3, 0.0, 1.0),
    2: ("frozen", "segmented", False, 1e-3, 0.0, 1.0),
    3: ("finetune", "original", False, 1e-3, 0.0, 1.0),
    4: ("finetune", "segmented", False, 1e-3, 0.0, 1.0),
    5: ("fc", "segmented", False, 1e-3, 0.0, 1.0),
    6: ("last_block", "segmented", False, 1e-3, 0.0, 1.0),
    7: ("finetune", "segmented", True, 1e-3, 0.0, 1.0),
    8: ("finetune", "segmented", False, 1e-2, 0.0, 1.0),
    9: ("frozen", "segmented", False, 1e-2, 0.0, 1.0),
    10: ("finetune", "segmented", False, 1e-3, 1e-3, 1.0),
    11: ("finetune", "segmented", False, 1e-3, 0.0, 2.0),
}

#: Table 2 (test set): loss, accuracy, benign acc., malignant acc., balanced acc., precision, F1.
TABLE2 = {
    1: (0.51, 0.71, 0.708, 0.816, 0.762, 0.048, 0.091),
    2: (0.66, 0.642, 0.639, 0.782, 0.71, 0.038, 0.073),
    3: (0.49, 0.775, 0.776, 0.759, 0.767, 0.058, 0.107),
    4: (0.49, 0.749, 0.748, 0.793, 0.771, 0.055, 0.102),
    5: (0.18, 0.925, 0.937, 0.264, 0.60, 0.071, 0.112),
    6: (0.59, 0.602, 0.596, 0.92, 0.758, 0.04, 0.077),
    7: (0.45, 0.782, 0.783, 0.701, 0.742, 0.056, 0.104),
    8: (0.67, 0.671, 0.668, 0.805, 0.737, 0.043, 0.081),
    9: (0.57, 0.719, 0.72, 0.701, 0.71, 0.044, 0.083),
    10: (0.77, 0.535, 0.528, 0.931, 0.73, 0.035, 0.067),
    11: (0.60, 0.697, 0.695, 0.782, 0.738, 0.045, 0.085),
}

#: Table 3 bottom: confusion matrices (rows truth, columns predicted), best segmented model (row 4) and the
#: second best, trained on original data (row 3).
CONFUSION = {4: {"malignant": (69, 18), "benign": (1193, 3541)}, 3: {"malignant": (66, 21), "benign": (1081, 3737)}}

QUICK_ROWS = (1, 3, 4, 11)


def _t1_reported(row: int) -> dict[str, float]:
    mode, data, aug, lr, l2, w = TABLE1[row]
    return {"lr": lr, "l2": l2, "class_w_malignant": w, "augmentation": float(aug),
            "frozen_encoder": float(mode in ("frozen", "last_block")), "extra_fc": float(mode == "fc"),
            "last_block_only": float(mode == "last_block")}


def _classifier_row(row: int) -> Experiment:
    mode, data, aug, lr, l2, w = TABLE1[row]
    label = f"{row}: {_WEIGHTS[mode]}, {'seg.' if data == 'segmented' else 'orig.'}, augm. {'yes' if aug else 'no'}, " \
            f"lr {lr:g}, l2 {l2:g}, class w. {'2-1' if w != 1 else 'no'}"
    reported = {"1": _t1_reported(row), "2": dict(zip(T2_METRICS, TABLE2[row]))}
    tables: tuple[str, ...] = ("1", "2")
    if row in CONFUSION:
        tables += ("3cm",)
        reported["3cm"] = {f"true_{k}": dict(zip(CM_METRICS, v)) for k, v in CONFUSION[row].items()}
    params = {"kind": "classifier", "row": row, "train_mode": mode, "data": data, "augment": aug, "lr": lr,
              "l2": l2, "class_weights": (1.0, w)}
    return Experiment(key=f"t2_row{row:02d}", label=label, tables=tables, params=params, reported=reported,
                      quick=row in QUICK_ROWS)


#: The experiment grid, in run order (segmentation before the rows that use its crops; row 4 before the
#: skin-tone study that reuses its model).
EXPERIMENTS: list[Experiment] = [
    Experiment(key="t3_unet", label="U-Net", tables=("3",),
               params={"kind": "segmentation", "backbone": None, "size_key": "unet_size"},
               reported={"3": {"dice_loss": 0.09, "dice_coeff": 0.91, "pixel_acc": 0.923}}, quick=True),
    Experiment(key="t3_densenet_unet", label="DenseNet", tables=("3",),
               params={"kind": "segmentation", "backbone": "densenet121", "size_key": "densenet_unet_size"},
               reported={"3": {"dice_loss": 0.06, "dice_coeff": 0.94, "pixel_acc": 0.938}}, quick=True),
    *[_classifier_row(row) for row in TABLE1],
    Experiment(key="tone_original", label="Fig. 4: best model (row 4) on the ISIC 2020 test split",
               tables=("skin_tone",), params={"kind": "tone", "dataset": "segmented"}, quick=True),
    Experiment(key="tone_balanced", label="Fig. 6: row 4's settings on the balanced skin-tone dataset",
               tables=("skin_tone",), params={"kind": "tone", "dataset": "balanced"}, quick=True),
]

SEGMENTER_KEY = "t3_densenet_unet"  # the report segments ISIC 2020 with the DenseNet U-Net
BEST_KEY = "t2_row04"


def settings(session) -> dict[str, Any]:
    """The run's settings: :data:`QUICK` or :data:`FULL`."""
    return dict(QUICK if session.options.quick else FULL)


# ---------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------
def parse_data_roots(data: str) -> dict[str, Path] | None:
    """``--data`` → ``{"ham10000": root, "isic2020": root}``; None for ``"synthetic"``.

    Accepted forms: ``synthetic``; ``ham10000=/path/HAM10000,isic2020=/path/ISIC2020``; or one folder holding
    ``ham10000/`` and ``isic2020/`` subfolders (any capitalisation of those names).

    Raises:
        ValueError: a malformed value, an unknown dataset name, or a missing dataset.
    """
    if data == "synthetic":
        return None
    roots: dict[str, Path] = {}
    if "=" in data:
        for part in data.split(","):
            name, sep, value = part.partition("=")
            name = name.strip().lower()
            if not sep or name not in ("ham10000", "isic2020") or not value.strip():
                raise ValueError(
                    "--data must be 'synthetic', 'ham10000=ROOT,isic2020=ROOT' or a folder holding ham10000/ and "
                    f"isic2020/. Received: {data!r}"
                )
            roots[name] = Path(value.strip())
    else:
        base = Path(data)
        for name in ("ham10000", "isic2020"):
            found = [p for p in (base.iterdir() if base.is_dir() else []) if p.is_dir() and p.name.lower() == name]
            if found:
                roots[name] = found[0]
    missing = [n for n in ("ham10000", "isic2020") if n not in roots]
    if missing:
        raise ValueError(f"--data names no root for {missing} (need HAM10000 and ISIC 2020). Received: {data!r}")
    return roots


def preprocess_isic2020(image: np.ndarray, base_size: tuple[int, int], out_size: int) -> np.ndarray:
    """Section 4.1: resize to ``base_size`` (H, W) = (480, 640), crop the sides to a centred square H×H, resize
    to ``out_size``² (224). Area interpolation when shrinking, bilinear when enlarging. uint8 in, uint8 out."""
    import cv2

    height, width = base_size
    shrink = image.shape[0] * image.shape[1] > height * width
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    left = (width - height) // 2
    square = image[:, left:left + height]
    shrink = height > out_size
    return cv2.resize(square, (out_size, out_size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


@dataclass
class Data:
    """One run's data: HAM10000 and ISIC 2020 frames with a ``split`` column, and cached derived images."""

    ham: pd.DataFrame
    isic: pd.DataFrame  # image_path = the base-size ("640×480") image; original_path = the classifier input
    cache: Path
    synthetic: bool
    roots: dict[str, Path]
    models: dict = field(default_factory=dict, repr=False)
    extra: dict = field(default_factory=dict, repr=False)

    def split(self, frame: str, name: str) -> pd.DataFrame:
        df = getattr(self, frame)
        return df[df["split"] == name].reset_index(drop=True)


def _reduce_isic(df: pd.DataFrame, total: int | None, malignant: int | None, seed: int) -> pd.DataFrame:
    if total is None:
        return df
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(df["label"].to_numpy() == 1)
    neg = np.flatnonzero(df["label"].to_numpy() == 0)
    pos = rng.permutation(pos)[: malignant or len(pos)]
    neg = rng.permutation(neg)[: max(0, total - len(pos))]
    keep = np.sort(np.concatenate([pos, neg]))
    out = df.iloc[keep].reset_index(drop=True)
    out.attrs = dict(df.attrs)
    return out


def prepare(data: str, session) -> Data:
    """Load (or generate) HAM10000 and ISIC 2020, split 70/15/15 by lesion / patient, preprocess ISIC 2020.

    ISIC 2020 images are written once to ``<output>/data/goel2021/`` (resumable): ``base/<id>.png`` (the
    640×480 resize) and ``original/<id>.png`` (centre crop, classifier size).
    """
    from dermkit.data.imageio import read_image, write_png
    from dermkit.data.isic import load_ham10000, load_isic2020
    from dermkit.data.splits import grouped_split

    cfg = settings(session)
    seed = session.options.seed
    roots = parse_data_roots(data)
    synthetic = roots is None
    if synthetic:
        from dermkit.data.synthetic import make_ham10000, make_isic2020

        base = session.output / "data"
        roots = {
            "ham10000": make_ham10000(base / "ham10000", n_images=SYNTHETIC["ham_images"],
                                      image_size=SYNTHETIC["ham_size"], seed=0),
            "isic2020": make_isic2020(base / "isic2020", n_images=SYNTHETIC["isic_images"],
                                      image_size=SYNTHETIC["isic_size"], seed=0),
        }
    ham = load_ham10000(roots["ham10000"])
    ham = ham[ham["mask_path"].notna()].reset_index(drop=True)
    if cfg["ham_images"] is not None and len(ham) > cfg["ham_images"]:
        ham = ham.sample(n=cfg["ham_images"], random_state=seed).sort_index().reset_index(drop=True)
    isic = load_isic2020(roots["isic2020"])
    dropped = isic.attrs.get("duplicates_dropped", 0)
    isic = _reduce_isic(isic, cfg["isic_images"], cfg["isic_malignant"], seed)
    ham = grouped_split(ham, (0.7, 0.15, 0.15), group="group", stratify="label", seed=seed)
    isic = grouped_split(isic, (0.7, 0.15, 0.15), group="group", stratify="label", seed=seed)

    cache = session.output / "data" / "goel2021"
    base_paths, original_paths = [], []
    for row in isic.itertuples():
        base_path = cache / "base" / f"{row.image_id}.png"
        original_path = cache / "original" / f"{row.image_id}.png"
        if not (base_path.exists() and original_path.exists()):
            import cv2

            image = read_image(row.image_path)
            height, width = cfg["base_size"]
            shrink = image.shape[0] * image.shape[1] > height * width
            based = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
            write_png(base_path, based, overwrite=True)
            write_png(original_path, preprocess_isic2020(based, cfg["base_size"], cfg["cls_size"]), overwrite=True)
        base_paths.append(str(base_path))
        original_paths.append(str(original_path))
    isic["source_path"] = isic["image_path"]
    isic["image_path"] = base_paths
    isic["original_path"] = original_paths
    counts = {s: (int((isic.split == s).sum()), int(((isic.split == s) & (isic.label == 1)).sum()))
              for s in ("train", "val", "test")}
    session.log(f"HAM10000 {roots['ham10000']}: " + ", ".join(
        f"{s} {int((ham.split == s).sum())}" for s in ("train", "val", "test")))
    session.log(f"ISIC 2020 {roots['isic2020']}: {dropped} duplicates dropped; " + ", ".join(
        f"{s} {n} ({m} malignant)" for s, (n, m) in counts.items()))
    return Data(ham=ham, isic=isic, cache=cache, synthetic=synthetic, roots=dict(roots))


# ---------------------------------------------------------------------------------------------------------
# Segmentation (Table 3 top)
# ---------------------------------------------------------------------------------------------------------
def _seg_path(session, key: str) -> Path:
    return session.workdir(key) / "model.weights.h5"


def set_bn_momentum(model, momentum: float | None):
    """Set every BatchNormalization layer's moving-average momentum (None: leave the builders' 0.99).

    ``--quick`` uses 0.9: with 0.99 the moving statistics (used at validation and test time) would still be
    mostly their initial values after the quick run's few dozen steps, and every prediction would be off."""
    import keras

    if momentum is not None:
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = float(momentum)
    return model


def _build_segmenter(params: dict, cfg: dict):
    from dermkit.models.unet import unet

    size = tuple(cfg[params["size_key"]])
    if params["backbone"] is None:
        model = unet((*size, 3), num_classes=1)
    else:
        model = unet((*size, 3), num_classes=1, backbone=params["backbone"], encoder_weights=cfg["encoder_weights"])
    return set_bn_momentum(model, cfg.get("bn_momentum")), size


def dice_loss_fn():
    """The report's Dice loss (segmentation-models ``DiceLoss``, smooth 1e-5) as dermkit's Dice-F1 loss."""
    from dermkit.losses import DiceF1Loss

    return DiceF1Loss(partition="channel_batch", alpha=1e-5, beta=1e-5)


def segmentation_metrics(truth: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    """Table 3's numbers over a whole test set at the model's input size.

    Args:
        truth: ``[N, H, W, 1]`` 0/1 masks.
        prob: ``[N, H, W, 1]`` predicted lesion probabilities.

    Returns:
        ``dice_loss`` (the Dice loss over all test pixels as one batch), ``dice_coeff`` (1 − dice_loss),
        ``pixel_acc`` (share of pixels right at 0.5), ``jaccard`` and ``dice_per_image`` (ISIC 2018 Task 1
        per-image means of the thresholded masks).
    """
    from dermkit.metrics.isic import isic_segmentation_scores

    truth = np.asarray(truth, np.float32)
    prob = np.asarray(prob, np.float32)
    loss = float(dice_loss_fn()(truth, prob))
    scores = isic_segmentation_scores(list(truth[..., 0] > 0.5), list(prob[..., 0] > 0.5))
    return {"dice_loss": loss, "dice_coeff": 1.0 - loss,
            "pixel_acc": float(np.mean((prob > 0.5) == (truth > 0.5))),
            "jaccard": scores["jaccard"], "dice_per_image": scores["dice"]}


def _seg_test(data: Data, size) -> tuple[np.ndarray, np.ndarray]:
    from dermkit.data.pipelines import segmentation_dataset

    ds = segmentation_dataset(data.split("ham", "test"), image_size=size, batch_size=8)
    images, masks = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(images), np.concatenate(masks)


def _run_segmentation(exp: Experiment, data: Data, session) -> dict[str, Any]:
    import keras

    from dermkit.data.pipelines import segmentation_dataset

    cfg = settings(session)
    model, size = _build_segmenter(exp.params, cfg)
    session.compile(model, optimizer=keras.optimizers.Adam(cfg["seg_lr"]), loss=dice_loss_fn(),
                    metrics=[keras.metrics.BinaryAccuracy(name="pixel_acc")])
    seed = session.options.seed
    train = segmentation_dataset(data.split("ham", "train"), image_size=size, batch_size=cfg["seg_batch"],
                                 shuffle=True, seed=seed, cache="memory")
    val = segmentation_dataset(data.split("ham", "val"), image_size=size, batch_size=cfg["seg_batch"], cache="memory")
    fit = session.fit(model, train, key=exp.key, epochs=cfg["seg_epochs"], validation_data=val)
    model.save_weights(str(_seg_path(session, exp.key)))
    images, truth = _seg_test(data, size)
    prob = model.predict(images, batch_size=8, verbose=0)
    result = segmentation_metrics(truth, prob)
    result["baseline_background"] = segmentation_metrics(truth, np.zeros_like(truth))
    result["baseline_lesion"] = segmentation_metrics(truth, np.ones_like(truth))
    result.update({"fit": fit, "input_size": list(size), "n_test": int(len(truth))})
    data.models[exp.key] = model
    return result


def _segmenter(data: Data, session):
    """The trained DenseNet U-Net (trained now if this run has not trained it yet)."""
    if SEGMENTER_KEY in data.models:
        return data.models[SEGMENTER_KEY]
    exp = next(e for e in EXPERIMENTS if e.key == SEGMENTER_KEY)
    path = _seg_path(session, SEGMENTER_KEY)
    if path.exists():
        model, _ = _build_segmenter(exp.params, {**settings(session), "encoder_weights": None})
        model.load_weights(str(path))
        data.models[SEGMENTER_KEY] = model
        return model
    session.log(f"{SEGMENTER_KEY} not trained in this output folder: training it to segment ISIC 2020")
    _run_segmentation(exp, data, session)
    return data.models[SEGMENTER_KEY]


def _segmented(data: Data, session) -> pd.DataFrame:
    """ISIC 2020 frame with ``segmented_path`` and ``balanced_path`` (+ ``painted_tone``) classifier inputs."""
    if "segmented" in data.extra:
        return data.extra["segmented"]
    import cv2

    from dermkit.data.imageio import read_image, write_png
    from dermkit.preprocessing.crop import segment_and_crop
    from dermkit.preprocessing.skin_tone import replace_background

    cfg = settings(session)
    model = _segmenter(data, session)
    exp = next(e for e in EXPERIMENTS if e.key == SEGMENTER_KEY)
    size = tuple(cfg[exp.params["size_key"]])
    crops = segment_and_crop(model, data.isic, data.cache / "crops", image_size=size, batch_size=8,
                             progress=False)
    out = cfg["cls_size"]
    seg_paths, bal_paths, tones = [], [], []
    for row in crops.itertuples():
        seg_path = data.cache / "segmented" / f"{row.image_id}.png"
        bal_path = data.cache / "balanced" / f"{row.image_id}.png"
        # One generator per image id: the painted tone does not depend on the processing order.
        rng = np.random.default_rng([session.options.seed, int.from_bytes(row.image_id.encode()[-6:], "big")])
        crop = read_image(row.crop_path)
        painted, tone = replace_background(crop, None, "random", rng=rng, return_label=True)
        if not (seg_path.exists() and bal_path.exists()):
            write_png(seg_path, cv2.resize(crop, (out, out), interpolation=cv2.INTER_AREA), overwrite=True)
            write_png(bal_path, cv2.resize(painted, (out, out), interpolation=cv2.INTER_AREA), overwrite=True)
        seg_paths.append(str(seg_path))
        bal_paths.append(str(bal_path))
        tones.append(tone)
    frame = data.isic.copy()
    frame["segmented_path"] = seg_paths
    frame["balanced_path"] = bal_paths
    frame["painted_tone"] = tones
    frame["crop_fallback"] = crops["fallback"].to_numpy()
    data.extra["segmented"] = frame
    session.log(f"segmented ISIC 2020: {int(frame['crop_fallback'].sum())} of {len(frame)} images had an empty "
                "mask (kept whole)")
    return frame


# ---------------------------------------------------------------------------------------------------------
# Classification (Tables 1, 2 and Table 3's confusion matrices)
# ---------------------------------------------------------------------------------------------------------
_DATA_COLUMNS = {"original": "original_path", "segmented": "segmented_path", "balanced": "balanced_path"}


def _frame(data: Data, session, dataset: str, split: str) -> pd.DataFrame:
    df = data.isic if dataset == "original" else _segmented(data, session)
    df = df[df["split"] == split].reset_index(drop=True)
    df["image_path"] = df[_DATA_COLUMNS[dataset]]
    df.attrs["class_names"] = CLASS_NAMES
    return df


def _with_weights(ds, class_weights):
    import tensorflow as tf

    weights = tf.constant(class_weights, tf.float32)
    return ds.map(lambda x, y: (x, y, tf.reduce_sum(y * weights, axis=-1)))


def _cls_dataset(df: pd.DataFrame, cfg: dict, *, class_weights=(1.0, 1.0), shuffle=False, augment=None, seed=0):
    from dermkit.data.pipelines import classification_dataset

    ds = classification_dataset(df, image_size=cfg["cls_size"], batch_size=cfg["cls_batch"], num_classes=2,
                                shuffle=shuffle, seed=seed, augment=augment, cache="memory")
    return _with_weights(ds, class_weights)


def _reset_optimizer(optimizer, lr: float) -> None:
    for var in optimizer.variables:
        if var.path.endswith("learning_rate"):
            var.assign(lr)
        else:
            var.assign(np.zeros(var.shape, dtype=var.dtype))


def _classifier(data: Data, session, *, train_mode: str, l2: float, lr: float):
    """A compiled :func:`densenet_classifier` for this row, reusing the model of an earlier row when the
    architecture (``fc`` head, L2) is the same: initial weights restored, Adam state zeroed, learning rate set;
    compiled again only when the trainable layers change."""
    import keras

    from dermkit.losses import WeightedCategoricalCrossentropy
    from dermkit.models.classifiers import densenet_classifier, set_train_mode

    cfg = settings(session)
    key = ("classifier", train_mode == "fc", float(l2))
    entry = data.models.get(key)
    if entry is None:
        size = cfg["cls_size"]
        model = densenet_classifier((size, size, 3), num_classes=2, encoder_weights=cfg["encoder_weights"],
                                    train_mode=train_mode, l2=float(l2))
        set_bn_momentum(model, cfg.get("bn_momentum"))
        entry = data.models[key] = {"model": model, "initial": model.get_weights(), "mode": None}
    model = entry["model"]
    model.set_weights(entry["initial"])
    if entry["mode"] != train_mode:
        set_train_mode(model, train_mode)
        # Class weights arrive as per-sample weights (see _with_weights), so one 1:1 loss serves every row.
        session.compile(model, optimizer=keras.optimizers.Adam(lr),
                        loss=WeightedCategoricalCrossentropy((1.0, 1.0)))
        entry["mode"] = train_mode
    elif model.optimizer.built:
        _reset_optimizer(model.optimizer, lr)
    else:
        model.optimizer.learning_rate = lr
    return model


def classification_metrics(y_true: np.ndarray, prob: np.ndarray, class_weights=(1.0, 1.0)) -> dict[str, Any]:
    """Table 2's metrics of 2-class softmax outputs on a test set.

    Args:
        y_true: ``[N]`` labels, 1 = malignant.
        prob: ``[N, 2]`` softmax probabilities (column 1 malignant).
        class_weights: the row's loss weights (the loss column is Σ wᵢ CEᵢ / Σ wᵢ).

    Returns:
        ``loss``, ``accuracy``, ``benign_acc`` (specificity), ``malignant_acc`` (recall), ``balanced_acc``
        (their mean), ``precision``, ``f1``, ``auc``, ``average_precision`` and ``confusion``
        (``{"true_malignant": {"pred_malignant", "pred_benign"}, "true_benign": {...}}``).
    """
    from sklearn.metrics import confusion_matrix

    from dermkit.losses import weighted_categorical_crossentropy
    from dermkit.metrics.isic import isic_classification_scores

    y_true = np.asarray(y_true).astype(int)
    prob = np.clip(np.asarray(prob, np.float64), 0.0, 1.0)
    pred = prob.argmax(axis=1)
    (tn, fp), (fn, tp) = confusion_matrix(y_true, pred, labels=[0, 1]).tolist()
    mal = tp / (tp + fn) if tp + fn else math.nan
    ben = tn / (tn + fp) if tn + fp else math.nan
    onehot = np.eye(len(CLASS_NAMES), dtype=np.float32)[y_true]
    loss = float(weighted_categorical_crossentropy(onehot, prob.astype(np.float32), tuple(class_weights)))
    scores = isic_classification_scores(y_true, prob, class_names=CLASS_NAMES, positive_class="malignant")
    per_class = scores["per_class"]
    return {
        "loss": loss,
        "accuracy": float((pred == y_true).mean()),
        "benign_acc": ben, "malignant_acc": mal, "balanced_acc": float(np.nanmean([ben, mal])),
        "precision": float(scores["precision"]), "f1": float(scores["f1"]),
        "auc": float(per_class.loc["malignant", "auc"]),
        "average_precision": float(per_class.loc["malignant", "average_precision"]),
        "confusion": {"true_malignant": {"pred_malignant": tp, "pred_benign": fn},
                      "true_benign": {"pred_malignant": fp, "pred_benign": tn}},
    }


def _train_classifier(data: Data, session, *, key: str, dataset: str, train_mode: str, lr: float, l2: float,
                      class_weights, augment: bool):
    from dermkit.data.pipelines import Augment
    from dermkit.data.sampling import random_upsample
    from dermkit.training.callbacks import BestBalancedAccuracy

    cfg = settings(session)
    seed = session.options.seed
    model = _classifier(data, session, train_mode=train_mode, l2=l2, lr=lr)
    train_df = random_upsample(_frame(data, session, dataset, "train"), seed=seed)  # training split only
    train = _cls_dataset(train_df, cfg, class_weights=class_weights, shuffle=True, seed=seed,
                         augment=Augment(**AUGMENT) if augment else None)
    val = _cls_dataset(_frame(data, session, dataset, "val"), cfg)
    selector = BestBalancedAccuracy(val)
    fit = session.fit(model, train, key=key, epochs=cfg["cls_epochs"], callbacks=[selector],
                      monitor="val_balanced_accuracy", mode="max")
    fit["best_epoch"] = None if selector.best_epoch is None else int(selector.best_epoch) + 1
    fit["train_images_per_epoch"] = int(len(train_df))
    model.save_weights(str(session.workdir(key) / "final.weights.h5"))
    return model, fit


def _predict(model, df: pd.DataFrame, cfg: dict) -> np.ndarray:
    from dermkit.data.pipelines import classification_dataset

    ds = classification_dataset(df, image_size=cfg["cls_size"], batch_size=cfg["cls_batch"], num_classes=2)
    return model.predict(ds.map(lambda x, y: x), verbose=0)


def _run_classifier(exp: Experiment, data: Data, session) -> dict[str, Any]:
    p = exp.params
    cfg = settings(session)
    model, fit = _train_classifier(data, session, key=exp.key, dataset=p["data"], train_mode=p["train_mode"],
                                   lr=p["lr"], l2=p["l2"], class_weights=p["class_weights"], augment=p["augment"])
    test = _frame(data, session, p["data"], "test")
    prob = _predict(model, test, cfg)
    result = classification_metrics(test["label"].to_numpy(), prob, p["class_weights"])
    result.update({
        "fit": fit, "settings": {**_t1_reported(p["row"]), "lr": p["lr"]},
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "y_true": test["label"].astype(int).tolist(), "p_malignant": prob[:, 1].round(6).tolist(),
        "image_id": test["image_id"].tolist(),
    })
    return result


# ---------------------------------------------------------------------------------------------------------
# Skin-tone study (Section 7)
# ---------------------------------------------------------------------------------------------------------
def _test_tones(data: Data, session) -> pd.DataFrame:
    """Per ISIC 2020 test image: palette tone and ITA category of the surrounding skin of the *original*
    image, estimated outside the lesion mask predicted by the segmenter (written as ISIC mask PNGs)."""
    if "tones" in data.extra:
        return data.extra["tones"]
    from dermkit.data.imageio import read_image, read_mask
    from dermkit.errors import DermkitDataError
    from dermkit.inference import write_isic_masks
    from dermkit.preprocessing.skin_tone import estimate_skin_tone

    cfg = settings(session)
    exp = next(e for e in EXPERIMENTS if e.key == SEGMENTER_KEY)
    test = _frame(data, session, "original", "test")
    masks = write_isic_masks(_segmenter(data, session), test, data.cache / "test_masks",
                             input_size=tuple(cfg[exp.params["size_key"]]), progress=False)
    tones, itas = [], []
    for row in masks.itertuples():
        try:
            est = estimate_skin_tone(read_image(row.image_path), read_mask(row.mask_path))
            tones.append(est["tone"])
            itas.append(est["ita_category"])
        except DermkitDataError:
            tones.append("unknown")
            itas.append("unknown")
    frame = pd.DataFrame({"image_id": test["image_id"], "tone": tones, "ita_category": itas,
                          "mask_path": masks["mask_path"]})
    data.extra["tones"] = frame
    return frame


def _rates_table(y_true, y_pred, groups) -> list[dict]:
    from dermkit.preprocessing.skin_tone import per_tone_rates

    table = per_tone_rates(y_true, y_pred, np.asarray(groups, dtype=str))
    table = table.reset_index() if "group" not in table.columns else table
    return [{"group": str(r["group"]), **{m: float(r[m]) for m in TONE_METRICS}} for r in table.to_dict("records")]


def _best_model(data: Data, session):
    """Row 4's trained model (from this run, or its saved weights)."""
    mode, _, _, lr, l2, _ = TABLE1[4]
    path = session.workdir(BEST_KEY) / "final.weights.h5"
    if not path.exists():
        raise FileNotFoundError(f"{path}: the skin-tone study needs Table 2 row 4; run it first (--table 2)")
    model = _classifier(data, session, train_mode=mode, l2=l2, lr=lr)
    model.load_weights(str(path))
    return model


def _run_tone(exp: Experiment, data: Data, session) -> dict[str, Any]:
    cfg = settings(session)
    dataset = exp.params["dataset"]
    result: dict[str, Any] = {"dataset": dataset}
    if dataset == "balanced" and not session.options.quick:
        mode, _, aug, lr, l2, w = TABLE1[4]
        model, fit = _train_classifier(data, session, key=exp.key, dataset="balanced", train_mode=mode, lr=lr,
                                       l2=l2, class_weights=(1.0, w), augment=aug)
        result["fit"] = fit
        result["model"] = "row 4 settings trained on the balanced skin-tone train/val splits"
    else:
        model = _best_model(data, session)
        result["model"] = "row 4 (trained on segmented crops)"
        if dataset == "balanced":
            result["model"] += "; --quick evaluates it on the balanced-tone test split without retraining"
    test = _frame(data, session, dataset, "test")
    prob = _predict(model, test, cfg)
    y_true, y_pred = test["label"].to_numpy().astype(int), prob.argmax(axis=1)
    tones = _test_tones(data, session)
    if dataset == "balanced":
        from dermkit.preprocessing.skin_tone import SKIN_TONES

        palette = {t.label: t for t in SKIN_TONES}
        from dermkit.preprocessing.skin_tone import ita_category

        painted = test["painted_tone"].tolist()
        lab = [palette[t].lab for t in painted]
        ita = [ita_category(math.degrees(math.atan2(L - 50.0, b))) for L, _, b in lab]
        tone_groups, ita_groups = painted, ita
    else:
        tone_groups, ita_groups = tones["tone"].tolist(), tones["ita_category"].tolist()
    result.update(classification_metrics(y_true, prob))
    result["per_tone"] = _rates_table(y_true, y_pred, tone_groups)
    result["per_ita"] = _rates_table(y_true, y_pred, ita_groups)
    result["tone_counts"] = pd.Series(tone_groups).value_counts().sort_index().to_dict()
    return result


def run_experiment(exp: Experiment, data: Data, session) -> dict[str, Any]:
    """Run one row of the grid (called by the runner inside the strategy scope)."""
    kind = exp.params["kind"]
    if kind == "segmentation":
        return _run_segmentation(exp, data, session)
    if kind == "classifier":
        return _run_classifier(exp, data, session)
    if kind == "tone":
        return _run_tone(exp, data, session)
    raise ValueError(f"unknown experiment kind. Received: {kind!r}")


# ---------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------
def _quick_note(session) -> list[str]:
    if not session.options.quick:
        return []
    q = QUICK
    return [f"--quick: {q['cls_size']}×{q['cls_size']} classifier, {q['unet_size'][0]}×{q['unet_size'][1]} U-Net and "
            f"{q['densenet_unet_size'][0]}×{q['densenet_unet_size'][1]} DenseNet U-Net inputs, random encoders (no "
            f"ImageNet), batch-norm momentum {q['bn_momentum']}, segmentation {q['seg_epochs']} epochs at batch "
            f"{q['seg_batch']}, classifier {q['cls_epochs']} epochs at batch {q['cls_batch']}, ISIC 2020 reduced to "
            f"≤ {q['isic_images']} images — not the paper's settings."]


def make_tables(results: dict[str, dict], data, session) -> list[Table]:
    """Tables 1, 2, 3, 3cm and skin_tone from the finished rows (rows not run show the paper's numbers only)."""
    chosen = set(session.options.tables)
    wanted = [t for t in TABLES if "all" in chosen or t in chosen]
    synthetic = session.options.synthetic
    isic_label = "SYNTHETIC ISIC 2020 test split" if synthetic else "ISIC 2020 test split (15 %)"
    ham_label = "SYNTHETIC HAM10000 test split" if synthetic else "HAM10000 test split (15 %)"
    notes = _quick_note(session)
    rows_cls = [e for e in EXPERIMENTS if e.params["kind"] == "classifier"]
    tables = []
    if "1" in wanted:
        rows = []
        for exp in rows_cls:
            res = results.get(exp.key)
            ours = {}
            if res:
                fit = res.get("fit", {})
                ours = {**res["settings"], "trainable_params": res.get("trainable_params"),
                        "epochs_run": fit.get("epochs_run"), "best_epoch": fit.get("best_epoch")}
            rows.append(TableRow(exp.label, ours, exp.reported["1"]))
        tables.append(Table("1", "Ablation settings (dermkit: the settings this run used)",
                            T1_METRICS + ("trainable_params", "epochs_run", "best_epoch"), rows, isic_label,
                            synthetic, notes))
    if "2" in wanted:
        rows = [TableRow(exp.label, {m: results.get(exp.key, {}).get(m) for m in T2_METRICS} if exp.key in results
                         else {}, exp.reported["2"]) for exp in rows_cls]
        extra = [f"row {e.params['row']}: best epoch {results[e.key]['fit'].get('best_epoch')} of "
                 f"{results[e.key]['fit'].get('epochs_run')} (validation balanced accuracy)"
                 for e in rows_cls if e.key in results]
        tables.append(Table("2", "Classifier results on the test set", T2_METRICS, rows, isic_label, synthetic,
                            notes + extra))
    if "3" in wanted:
        rows = []
        seg = [e for e in EXPERIMENTS if e.params["kind"] == "segmentation"]
        for exp in seg:
            res = results.get(exp.key, {})
            rows.append(TableRow(exp.label, {m: res.get(m) for m in T3_METRICS}, exp.reported["3"]))
        for name, label in (("baseline_background", "all-background baseline"),
                            ("baseline_lesion", "all-lesion baseline")):
            res = next((results[e.key][name] for e in seg if e.key in results), None)
            if res is not None:
                rows.append(TableRow(label, {m: res.get(m) for m in T3_METRICS}, {}))
        tables.append(Table("3", "Segmentation on the test set (dice coeff. = 1 − Dice loss over all test pixels)",
                            T3_METRICS, rows, ham_label, synthetic,
                            notes + ["jaccard: ISIC 2018 Task 1 per-image mean of the thresholded masks"]))
    if "3cm" in wanted:
        rows = []
        for exp in rows_cls:
            if "3cm" not in exp.tables:
                continue
            res = results.get(exp.key, {}).get("confusion", {})
            for truth in ("true_malignant", "true_benign"):
                rows.append(TableRow(f"row {exp.params['row']} · {truth.replace('_', ' ')}", res.get(truth, {}),
                                     exp.reported["3cm"][truth]))
        tables.append(Table("3cm", "Confusion matrices: best segmented model (row 4), best original (row 3)",
                            CM_METRICS, rows, isic_label, synthetic, notes))
    if "skin_tone" in wanted:
        rows = []
        for exp in (e for e in EXPERIMENTS if e.params["kind"] == "tone"):
            res = results.get(exp.key)
            if not res:
                rows.append(TableRow(f"{exp.label} (not run)", {}, {}))
                continue
            fig = "Fig. 4" if exp.params["dataset"] == "segmented" else "Fig. 6"
            for part, name in (("per_tone", "tone"), ("per_ita", "ITA")):
                for r in res[part]:
                    rows.append(TableRow(f"{fig} · {name} {r['group']}", {m: r[m] for m in TONE_METRICS}, {}))
        tone_notes = notes + [
            "The report gives Figures 4 and 6 as bar charts only (no numbers). Fig. 4: tones estimated on the "
            "original test images outside the predicted lesion mask; Fig. 6: the tone painted as background.",
            "Palette A (dark) – R (light) interpolated from the Monk Skin Tone scale "
            "(dermkit.preprocessing.skin_tone).",
        ]
        tables.append(Table("skin_tone", "Sensitivity and false-negative rate per skin tone (Section 7)",
                            TONE_METRICS, rows, isic_label, synthetic, tone_notes))
    return tables


# ---------------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------------
def _figure_title(text: str, session) -> str:
    return f"SYNTHETIC DATA — {text}" if session.options.synthetic else text


def make_figures(results: dict[str, dict], data: Data, session) -> list[Path]:
    """Fig. 1 (masks), Fig. 2 (activation maps), Figs. 4/6 (per-tone bars), precision–recall and ROC curves."""
    from dermkit import plots

    out = session.figures_dir
    files: list[Path] = []
    seg_keys = [e.key for e in EXPERIMENTS if e.params["kind"] == "segmentation"]
    if all(k in results for k in seg_keys):
        files.append(_figure_masks(data, session, out))
    if "t2_row03" in results and BEST_KEY in results:
        try:
            files.append(_figure_cam(data, session, out))
        except Exception as exc:  # a figure must not lose the run's tables
            session.log(f"Figure 2 skipped: {exc}")
    for key, fig in (("tone_original", "fig4"), ("tone_balanced", "fig6")):
        res = results.get(key)
        if not res:
            continue
        for part, suffix in (("per_tone", "tones"), ("per_ita", "ita")):
            table = pd.DataFrame(res[part])
            if len(table):
                title = _figure_title(f"goel2021 {fig.replace('fig', 'Fig. ')}: {res['dataset']} test split", session)
                files.append(plots.plot_per_tone_rates(table, out / f"{fig}_{suffix}.png", title=title,
                                                       overwrite=True))
    curves = {f"row {e.params['row']}": (results[e.key]["y_true"], results[e.key]["p_malignant"])
              for e in EXPERIMENTS if e.params["kind"] == "classifier" and e.key in results}
    if curves:
        files.append(plots.plot_pr_roc_curves(curves, out / "pr_roc.png", overwrite=True,
                                              title=_figure_title("goel2021 classifiers: precision–recall and ROC "
                                                                  "(test split)", session)))
    return files


def _figure_masks(data: Data, session, out: Path) -> Path:
    from dermkit import plots

    cfg = settings(session)
    masks: dict[str, list] = {}
    images = None
    for exp in (e for e in EXPERIMENTS if e.params["kind"] == "segmentation"):
        model = data.models.get(exp.key)
        if model is None:
            model, _ = _build_segmenter(exp.params, {**cfg, "encoder_weights": None})
            model.load_weights(str(_seg_path(session, exp.key)))
        size = tuple(cfg[exp.params["size_key"]])
        x, truth = _seg_test(data, size)
        x, truth = x[:3], truth[:3]
        if images is None:
            images = list(x)
            masks["ground truth"] = list(truth[..., 0])
            ref = truth.shape[1:3]
        prob = model.predict(x, verbose=0)[..., 0]
        if prob.shape[1:] != ref:
            import cv2

            prob = np.stack([cv2.resize(p, (ref[1], ref[0])) for p in prob])
        masks[f"{exp.label} mask"] = list(prob > 0.5)
    return plots.plot_mask_comparison(images, masks, out / "fig1_masks.png", overwrite=True,
                                      title=_figure_title("goel2021 Fig. 1: predicted lesion masks (test split)",
                                                          session))


def _figure_cam(data: Data, session, out: Path) -> Path:
    from dermkit import plots
    from dermkit.data.imageio import read_image
    from dermkit.explain.cam import grad_cam

    original = _frame(data, session, "original", "test")
    segmented = _frame(data, session, "segmented", "test")
    pick = int(np.flatnonzero(original["label"].to_numpy() == 1)[0]) if original["label"].any() else 0
    panels = []
    for key, frame, name in (("t2_row03", original, "(a) trained on original images"),
                             (BEST_KEY, segmented, "(b) trained on segmented crops")):
        model = _classifier(data, session, train_mode="finetune", l2=0.0, lr=1e-3)
        model.load_weights(str(session.workdir(key) / "final.weights.h5"))
        image = read_image(frame["image_path"][pick]).astype(np.float32) / 255.0
        panels.append((name, image, grad_cam(model, image)))
    title = _figure_title(f"goel2021 Fig. 2: Grad-CAM of the last DenseNet features, test image "
                          f"{original['image_id'][pick]}", session)
    return plots.plot_activation_maps(panels, out / "fig2_activation_maps.png", title=title, overwrite=True)
