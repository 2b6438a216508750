"""goel2021 — Goel, Ko & Mishra, "Improving Melanoma Classification With Semantic Segmentation", Stanford
CS231n report, 2021. The experiment grid of Tables 1–3 and the skin-tone study (Section 7) as data, and the
recipes the engine (:mod:`dermkit.training.runner`) calls. Importing this module needs no TensorFlow.

The grid (``EXPERIMENTS``) and what flows between rows (``depends_on``, read through ``session.artifact``)::

    t3_unet            U-Net on HAM10000                       → artifact model.keras          (Table 3)
    t3_densenet_unet   DenseNet121-encoder U-Net on HAM10000   → artifact model.keras          (Table 3)
      └─ isic2020_crops  segments ISIC 2020 with it (§5.1)     → artifacts segmented/, balanced/,
                                                                  test_masks/, manifest.csv
           ├─ t2_row02, t2_row04 … t2_row11 (segmented data)  → artifact model.keras          (Tables 1, 2, 3cm)
           └─ t2_row07_50ep  row 7 trained 50 epochs (§5.2.3, Fig. 8 right)
    t2_row01, t2_row03 (original data)                        → artifact model.keras          (Tables 1, 2, 3cm)
    t2_row04 + isic2020_crops
      ├─ tone_original   row 4's model per skin tone of the ISIC 2020 test split (Fig. 4)
      └─ tone_balanced   row 4's settings on the balanced skin-tone dataset (Fig. 6)

Component → code:

* Section 3.1 / Table 3 top, segmentation: plain U-Net (BN, 'same' padding, up-convolutions) and the
  DenseNet121-encoder U-Net: :func:`dermkit.models.unet.unet`; Dice loss (segmentation-models' ``DiceLoss``):
  :class:`dermkit.losses.DiceF1Loss` (channel-batch, smoothing 1e-5); Table 3's numbers:
  :func:`dermkit.metrics.segmentation.segmentation_summary` ("dice coeff." = the soft Dice over all test
  pixels, "dice loss" = 1 − it, pixel accuracy at 0.5). HAM10000: :func:`dermkit.data.isic.load_ham10000`,
  :func:`dermkit.data.pipelines.segmentation_dataset`.
* Section 4.1 ISIC 2020 preprocessing (resize 640×480 → centre crop 480×480 → 224×224):
  :func:`dermkit.preprocessing.isic2020.preprocess_isic2020` (run once in :func:`prepare`); duplicates removed
  by :func:`dermkit.data.isic.load_isic2020`; 70/15/15 patient-grouped splits
  (:func:`dermkit.data.splits.grouped_split`, HAM10000 grouped by lesion); random up-sampling of malignant
  images in the training split only (:func:`dermkit.data.sampling.random_upsample`, Section 3.3).
* Section 5.1, two-stage pipeline: masks × image → contour → upright bounding rectangle → crop:
  :func:`dermkit.preprocessing.crop.segment_and_crop` (row ``isic2020_crops``), then resized to the classifier
  input.
* Section 3.2 / Tables 1–2, classifier: :func:`dermkit.models.classifiers.densenet_classifier` and
  :func:`~dermkit.models.classifiers.set_train_mode` ("base froz." → ``frozen``, "finetun." → ``finetune``,
  "fc layers" → ``fc``, "dense-bl." → ``last_block``); loss :class:`dermkit.losses.WeightedCategoricalCrossentropy`
  (2-unit softmax, equal to the report's binary cross-entropy with weights 1:1; row 11 weighs malignant 2:1,
  the report's Σ wᵢ lossᵢ / Σ wᵢ, fed as per-sample weights by
  ``classification_dataset(sample_weight_column=...)``); augmentation (Section 4.2)
  :class:`dermkit.data.pipelines.Augment` with rotations ≤ 90°, flips, scale [0.8, 1.2], shear ≤ 20°; model
  selection by validation balanced accuracy (:class:`dermkit.training.callbacks.ValidationClassScores` logs
  it, the engine keeps the best epoch: ``monitor="val_balanced_accuracy", mode="max"``).
* Table 2 metrics and Table 3's confusion matrices: :func:`dermkit.metrics.isic.binary_classification_scores`;
  the loss column :func:`dermkit.losses.weighted_categorical_crossentropy`.
* Section 7 / Figures 3–6: palette, tone and ITA estimation, background replacement:
  :mod:`dermkit.preprocessing.skin_tone` (ITA° = :func:`~dermkit.preprocessing.skin_tone.ita_from_lab`);
  masks for the tone estimate written by :func:`dermkit.inference.write_isic_masks`; per-tone sensitivity and
  FNR: :func:`~dermkit.preprocessing.skin_tone.per_tone_rates`.
* Figures: 1 (masks) :func:`dermkit.plots.plot_mask_comparison`; 2 (activation maps, Grad-CAM on the last
  DenseNet features) :func:`dermkit.explain.cam.grad_cam` + :func:`dermkit.plots.plot_activation_maps`;
  4 and 6 :func:`dermkit.plots.plot_per_tone_rates`; 7 and 8 (per-epoch curves from the fit history)
  :func:`dermkit.plots.plot_training_curves`; precision–recall and ROC :func:`dermkit.plots.plot_pr_roc_curves`.

Model reuse. Classifier rows build DenseNet121 through ``session.cache`` (one process's cache): rows with
the same architecture (``fc`` head, L2, input size, seed) share one model; each row restores the initial
weights, zeroes Adam's state (:func:`dermkit.training.optim.reset_optimizer`), sets its learning rate and
reseeds, and the model is compiled again only when its trainable layers change — so a row computes the same
numbers whether the cache was warm or cold (a fresh process, another shard).

``--quick`` (any data, 2 CPU cores, minutes): see :data:`QUICK` and :func:`_quick_note`; rows: Table 3's two
models, the crops, Table 2 rows 1, 3, 4 and 11, and the skin-tone study (the balanced-tone dataset is built
and row 4's model is evaluated on its test split; the full run trains row 4's settings on it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermkit.training.experiment import Experiment
from dermkit.training.options import parse_data_roots
from dermkit.training.report import Table, TableRow

NAME = "goel2021"
#: Bumped when a recipe changes results (stored rows of another version are recomputed).
VERSION = 1
#: Table ids: "1" (settings), "2" (results), "3" (segmentation), "3cm" (Table 3's confusion matrices),
#: "skin_tone" (Section 7, Figures 4 and 6 as numbers).
TABLES = ("1", "2", "3", "3cm", "skin_tone")
DATASETS = ("ham10000", "isic2020")

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
#: Section 4.2: rotations up to 90°, horizontal and vertical flips (p = 0.5), scaling [0.8, 1.2], shear ≤ 20°.
AUGMENT = {"rot90": False, "rotation": 90.0, "scale": (0.8, 1.2), "shear": 20.0}
#: The report's segmentation loss (segmentation-models ``DiceLoss``: smooth 1e-5), as DiceF1Loss options.
DICE_LOSS = {"partition": "channel_batch", "alpha": 1e-5, "beta": 1e-5}

#: Table 1's "weights" column → :func:`~dermkit.models.classifiers.set_train_mode` modes.
WEIGHTS_LABELS = {"frozen": "base froz.", "finetune": "finetun.", "fc": "fc layers", "last_block": "dense-bl."}


@dataclass(frozen=True)
class Table1Row:
    """One row of the report's Table 1, by its columns.

    Attributes:
        weights: which weights train — ``"frozen"`` ("base froz."), ``"finetune"`` ("finetun."), ``"fc"``
            ("fc layers": fine-tuned plus a 1024-unit FC layer), ``"last_block"`` ("dense-bl.").
        data: ``"original"`` ("orig.") or ``"segmented"`` ("seg.") ISIC 2020 images.
        augmentation: Section 4.2's augmentations ("augm." yes / no).
        lr: Adam's learning rate.
        l2: L2 factor on the kernels.
        class_weights: loss weights ``(benign, malignant)``: "no" = (1, 1), "2-1" = (1, 2).
    """

    weights: str
    data: str
    augmentation: bool
    lr: float
    l2: float
    class_weights: tuple[float, float]


_NO, _TWO_ONE = (1.0, 1.0), (1.0, 2.0)
#: Table 1 of the report, as printed.
TABLE1: dict[int, Table1Row] = {
    1: Table1Row(weights="frozen", data="original", augmentation=False, lr=1e-3, l2=0.0, class_weights=_NO),
    2: Table1Row(weights="frozen", data="segmented", augmentation=False, lr=1e-3, l2=0.0, class_weights=_NO),
    3: Table1Row(weights="finetune", data="original", augmentation=False, lr=1e-3, l2=0.0, class_weights=_NO),
    4: Table1Row(weights="finetune", data="segmented", augmentation=False, lr=1e-3, l2=0.0, class_weights=_NO),
    5: Table1Row(weights="fc", data="segmented", augmentation=False, lr=1e-3, l2=0.0, class_weights=_NO),
    6: Table1Row(weights="last_block", data="segmented", augmentation=False, lr=1e-3, l2=0.0, class_weights=_NO),
    7: Table1Row(weights="finetune", data="segmented", augmentation=True, lr=1e-3, l2=0.0, class_weights=_NO),
    8: Table1Row(weights="finetune", data="segmented", augmentation=False, lr=1e-2, l2=0.0, class_weights=_NO),
    9: Table1Row(weights="frozen", data="segmented", augmentation=False, lr=1e-2, l2=0.0, class_weights=_NO),
    10: Table1Row(weights="finetune", data="segmented", augmentation=False, lr=1e-3, l2=1e-3, class_weights=_NO),
    11: Table1Row(weights="finetune", data="segmented", augmentation=False, lr=1e-3, l2=0.0, class_weights=_TWO_ONE),
}


def _t2(loss, accuracy, benign_acc, malignant_acc, balanced_acc, precision, f1) -> dict[str, float]:
    return {"loss": loss, "accuracy": accuracy, "benign_acc": benign_acc, "malignant_acc": malignant_acc,
            "balanced_acc": balanced_acc, "precision": precision, "f1": f1}


#: Table 2 of the report (test set), percentages as fractions.
TABLE2: dict[int, dict[str, float]] = {
    1: _t2(loss=0.51, accuracy=0.71, benign_acc=0.708, malignant_acc=0.816, balanced_acc=0.762, precision=0.048,
           f1=0.091),
    2: _t2(loss=0.66, accuracy=0.642, benign_acc=0.639, malignant_acc=0.782, balanced_acc=0.71, precision=0.038,
           f1=0.073),
    3: _t2(loss=0.49, accuracy=0.775, benign_acc=0.776, malignant_acc=0.759, balanced_acc=0.767, precision=0.058,
           f1=0.107),
    4: _t2(loss=0.49, accuracy=0.749, benign_acc=0.748, malignant_acc=0.793, balanced_acc=0.771, precision=0.055,
           f1=0.102),
    5: _t2(loss=0.18, accuracy=0.925, benign_acc=0.937, malignant_acc=0.264, balanced_acc=0.60, precision=0.071,
           f1=0.112),
    6: _t2(loss=0.59, accuracy=0.602, benign_acc=0.596, malignant_acc=0.92, balanced_acc=0.758, precision=0.04,
           f1=0.077),
    7: _t2(loss=0.45, accuracy=0.782, benign_acc=0.783, malignant_acc=0.701, balanced_acc=0.742, precision=0.056,
           f1=0.104),
    8: _t2(loss=0.67, accuracy=0.671, benign_acc=0.668, malignant_acc=0.805, balanced_acc=0.737, precision=0.043,
           f1=0.081),
    9: _t2(loss=0.57, accuracy=0.719, benign_acc=0.72, malignant_acc=0.701, balanced_acc=0.71, precision=0.044,
           f1=0.083),
    10: _t2(loss=0.77, accuracy=0.535, benign_acc=0.528, malignant_acc=0.931, balanced_acc=0.73, precision=0.035,
            f1=0.067),
    11: _t2(loss=0.60, accuracy=0.697, benign_acc=0.695, malignant_acc=0.782, balanced_acc=0.738, precision=0.045,
            f1=0.085),
}

#: Table 3 bottom: confusion matrices (rows truth, columns predicted) of the best segmented model (row 4) and
#: the second best, trained on original data (row 3).
CONFUSION: dict[int, dict[str, dict[str, int]]] = {
    4: {"true_malignant": {"pred_malignant": 69, "pred_benign": 18},
        "true_benign": {"pred_malignant": 1193, "pred_benign": 3541}},
    3: {"true_malignant": {"pred_malignant": 66, "pred_benign": 21},
        "true_benign": {"pred_malignant": 1081, "pred_benign": 3737}},
}

#: Table 3 top: the two segmenters (label, encoder, input-size setting, the report's numbers).
SEGMENTERS: dict[str, dict[str, Any]] = {
    "t3_unet": {"label": "U-Net", "backbone": None, "size_key": "unet_size",
                "reported": {"dice_loss": 0.09, "dice_coeff": 0.91, "pixel_acc": 0.923}},
    "t3_densenet_unet": {"label": "DenseNet", "backbone": "densenet121", "size_key": "densenet_unet_size",
                         "reported": {"dice_loss": 0.06, "dice_coeff": 0.94, "pixel_acc": 0.938}},
}

SEGMENTER_KEY = "t3_densenet_unet"  # "We used the trained DenseNet segmentation model to produce the masks" (§5.1)
CROPS_KEY = "isic2020_crops"
BEST_ROW = 4  # "our best model (number 4)" (§7)
BEST_KEY = f"t2_row{BEST_ROW:02d}"
LONG_RUN_KEY = "t2_row07_50ep"
#: §5.2.3: "we trained the whole model [row 7, with augmentations] for 50 epochs" (Fig. 8 right).
LONG_RUN_EPOCHS = 50
QUICK_ROWS = (1, 3, 4, 11)
MODEL_FILE = "model.keras"


def _row_key(row: int) -> str:
    return f"t2_row{row:02d}"


def _row_label(row: int, settings: Table1Row) -> str:
    return (f"{row}: {WEIGHTS_LABELS[settings.weights]}, {'seg.' if settings.data == 'segmented' else 'orig.'}, "
            f"augm. {'yes' if settings.augmentation else 'no'}, lr {settings.lr:g}, l2 {settings.l2:g}, class w. "
            f"{'2-1' if settings.class_weights != _NO else 'no'}")


def _classifier_params(row: int, epochs: int | None = None) -> dict[str, Any]:
    return {"kind": "classifier", "row": row, **dataclasses.asdict(TABLE1[row]), "epochs": epochs}


def _classifier_row(row: int) -> Experiment:
    settings = TABLE1[row]
    reported = {"1": _t1_values(settings), "2": dict(TABLE2[row])}
    tables: tuple[str, ...] = ("1", "2")
    if row in CONFUSION:
        tables += ("3cm",)
        reported["3cm"] = CONFUSION[row]
    return Experiment(key=_row_key(row), label=_row_label(row, settings), tables=tables,
                      params=_classifier_params(row), reported=reported, quick=row in QUICK_ROWS,
                      depends_on=(CROPS_KEY,) if settings.data == "segmented" else ())


def _t1_values(settings: Table1Row) -> dict[str, float]:
    """Table 1 as numbers (the settings a row used)."""
    return {"lr": settings.lr, "l2": settings.l2, "class_w_malignant": settings.class_weights[1],
            "augmentation": float(settings.augmentation),
            "frozen_encoder": float(settings.weights in ("frozen", "last_block")),
            "extra_fc": float(settings.weights == "fc"), "last_block_only": float(settings.weights == "last_block")}


#: The experiment grid (rows as data; the engine orders them by ``depends_on``).
EXPERIMENTS: list[Experiment] = [
    *[Experiment(key=key, label=s["label"], tables=("3",),
                 params={"kind": "segmentation", "backbone": s["backbone"], "size_key": s["size_key"]},
                 reported={"3": s["reported"]}, quick=True) for key, s in SEGMENTERS.items()],
    Experiment(key=CROPS_KEY, label="§5.1: ISIC 2020 segmented by the DenseNet U-Net, lesions cropped",
               tables=(), params={"kind": "crops", "segmenter": SEGMENTER_KEY}, quick=True,
               depends_on=(SEGMENTER_KEY,)),
    *[_classifier_row(row) for row in TABLE1],
    Experiment(key=LONG_RUN_KEY, label=f"7 trained {LONG_RUN_EPOCHS} epochs (§5.2.3, Fig. 8 right; no numbers "
                                       "in the report)",
               tables=("1", "2"), params=_classifier_params(7, epochs=LONG_RUN_EPOCHS), depends_on=(CROPS_KEY,)),
    Experiment(key="tone_original", label=f"Fig. 4: best model (row {BEST_ROW}) on the ISIC 2020 test split",
               tables=("skin_tone",), params={"kind": "tone", "dataset": "segmented", "settings_of_row": BEST_ROW},
               quick=True, depends_on=(BEST_KEY, CROPS_KEY)),
    Experiment(key="tone_balanced", label=f"Fig. 6: row {BEST_ROW}'s settings on the balanced skin-tone dataset",
               tables=("skin_tone",), params={"kind": "tone", "dataset": "balanced", "settings_of_row": BEST_ROW},
               quick=True, depends_on=(BEST_KEY, CROPS_KEY)),
]


def settings(session) -> dict[str, Any]:
    """The run's settings: :data:`QUICK` or :data:`FULL`."""
    return dict(QUICK if session.options.quick else FULL)


# ---------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Data:
    """One run's data: HAM10000 and ISIC 2020 frames with a ``split`` column (read-only; rows exchange
    nothing through it). ``isic.image_path`` is the 640×480-stage image, ``isic.original_path`` the
    classifier input."""

    ham: pd.DataFrame
    isic: pd.DataFrame
    cache: Path
    synthetic: bool
    roots: dict

    def split(self, frame: str, name: str) -> pd.DataFrame:
        df = getattr(self, frame)
        return df[df["split"] == name].reset_index(drop=True)


def _reduce_isic(df: pd.DataFrame, total: int | None, malignant: int | None, seed: int) -> pd.DataFrame:
    """``--quick``: every malignant image (at most ``malignant``) plus benign ones up to ``total``."""
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
    640×480 resize) and ``original/<id>.png`` (centre crop, classifier size), by
    :func:`dermkit.preprocessing.isic2020.preprocess_isic2020`.
    """
    from dermkit.data.imageio import read_image, write_png
    from dermkit.data.isic import load_ham10000, load_isic2020
    from dermkit.data.splits import grouped_split
    from dermkit.preprocessing.isic2020 import preprocess_isic2020

    cfg = settings(session)
    seed = session.seed
    roots = parse_data_roots(data, DATASETS)
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
    todo = sum(not ((cache / "base" / f"{i}.png").exists() and (cache / "original" / f"{i}.png").exists())
               for i in isic["image_id"])
    if todo:
        session.log(f"ISIC 2020: resizing {todo} images to {cfg['base_size'][1]}×{cfg['base_size'][0]} and "
                    f"{cfg['cls_size']}×{cfg['cls_size']} (Section 4.1) into {cache}")
    base_paths, original_paths = [], []
    for row in isic.itertuples():
        base_path = cache / "base" / f"{row.image_id}.png"
        original_path = cache / "original" / f"{row.image_id}.png"
        if not (base_path.exists() and original_path.exists()):
            stages = preprocess_isic2020(read_image(row.image_path), base_size=tuple(cfg["base_size"]),
                                         out_size=cfg["cls_size"])
            write_png(base_path, stages.base, overwrite=True)
            write_png(original_path, stages.classifier, overwrite=True)
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


_DATA_COLUMNS = {"original": "original_path", "segmented": "segmented_path", "balanced": "balanced_path"}
_CROP_COLUMNS = ("segmented_path", "balanced_path", "test_mask_path")


def _crops_frame(data: Data, session) -> pd.DataFrame:
    """ISIC 2020 with the ``isic2020_crops`` row's classifier inputs: ``segmented_path``, ``balanced_path``,
    ``painted_tone``, ``crop_fallback`` and ``test_mask_path`` (test split), read from its artifact
    ``manifest.csv`` (paths in it are relative to the artifact folder)."""
    manifest_path = session.artifact(CROPS_KEY, "manifest.csv")
    folder = manifest_path.parent
    manifest = pd.read_csv(manifest_path, dtype={"image_id": str, "painted_tone": str, "test_mask_path": str},
                           keep_default_na=False)
    missing = sorted(set(data.isic["image_id"]) - set(manifest["image_id"]))
    if missing:
        raise FileNotFoundError(f"{manifest_path} lists no crop for {len(missing)} ISIC 2020 images of this run, "
                                f"e.g. {missing[:3]}")
    for column in _CROP_COLUMNS:
        manifest[column] = [str(folder / p) if p else "" for p in manifest[column]]
    manifest["crop_fallback"] = manifest["crop_fallback"].astype(str).str.lower() == "true"
    keep = ["image_id", *_CROP_COLUMNS, "painted_tone", "crop_fallback"]
    return data.isic.merge(manifest[keep], on="image_id", how="left", validate="one_to_one")


def _frame(data: Data, session, dataset: str, split: str) -> pd.DataFrame:
    """The classifier frame of one split: ``image_path`` = the ``dataset``'s image (original, segmented or
    balanced-tone)."""
    df = data.isic if dataset == "original" else _crops_frame(data, session)
    df = df[df["split"] == split].reset_index(drop=True)
    df["image_path"] = df[_DATA_COLUMNS[dataset]]
    df.attrs["class_names"] = CLASS_NAMES
    return df


# ---------------------------------------------------------------------------------------------------------
# Segmentation (Table 3 top) and the ISIC 2020 crops (Section 5.1)
# ---------------------------------------------------------------------------------------------------------
def _build_segmenter(params: dict, cfg: dict):
    from dermkit.models.unet import unet
    from dermkit.models.utils import set_batchnorm_momentum

    size = tuple(cfg[params["size_key"]])
    if params["backbone"] is None:
        model = unet((*size, 3), num_classes=1)
    else:
        model = unet((*size, 3), num_classes=1, backbone=params["backbone"], encoder_weights=cfg["encoder_weights"])
    return set_batchnorm_momentum(model, cfg.get("bn_momentum")), size


def dice_loss_fn():
    """The report's Dice loss (segmentation-models ``DiceLoss``, smooth 1e-5) as dermkit's Dice-F1 loss."""
    from dermkit.losses import DiceF1Loss

    return DiceF1Loss(**DICE_LOSS)


def _table3_numbers(truth: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    from dermkit.metrics.segmentation import segmentation_summary

    s = segmentation_summary(truth, prob, alpha=DICE_LOSS["alpha"], beta=DICE_LOSS["beta"])
    return {"dice_loss": s["dice_loss"], "dice_coeff": s["soft_dice"], "pixel_acc": s["pixel_accuracy"],
            "jaccard": s["jaccard"], "dice_per_image": s["dice"]}


def _seg_test(data: Data, size) -> tuple[np.ndarray, np.ndarray]:
    from dermkit.data.pipelines import segmentation_dataset

    ds = segmentation_dataset(data.split("ham", "test"), image_size=size, batch_size=8)
    images, masks = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(images), np.concatenate(masks)


def _run_segmentation(exp: Experiment, data: Data, session) -> dict[str, Any]:
    import keras

    from dermkit.data.pipelines import segmentation_dataset

    cfg = settings(session)
    size = tuple(cfg[exp.params["size_key"]])
    encoder = exp.params["backbone"] or "plain"
    session.log(f"{exp.key}: building the {encoder} U-Net at {size[0]}×{size[1]}")
    model, size = _build_segmenter(exp.params, cfg)
    session.compile(model, optimizer=keras.optimizers.Adam(cfg["seg_lr"]), loss=dice_loss_fn(),
                    metrics=[keras.metrics.BinaryAccuracy(name="pixel_acc")])
    train = segmentation_dataset(data.split("ham", "train"), image_size=size, batch_size=cfg["seg_batch"],
                                 shuffle=True, seed=session.seed, cache="memory")
    val = segmentation_dataset(data.split("ham", "val"), image_size=size, batch_size=cfg["seg_batch"], cache="memory")
    epochs = session.epochs(cfg["seg_epochs"])
    session.log(f"{exp.key}: training {epochs} epochs on {int((data.ham.split == 'train').sum())} "
                "HAM10000 images (the first epoch also traces the train step)")
    fit = session.fit(model, train, epochs=epochs, validation_data=val, monitor="val_loss", mode="min",
                      checkpoint="best")
    model.save(session.artifact(exp.key, MODEL_FILE))
    images, truth = _seg_test(data, size)
    session.log(f"{exp.key}: evaluating on the HAM10000 test split ({len(truth)} images)")
    prob = model.predict(images, batch_size=8, verbose=0)
    result = _table3_numbers(truth, prob)
    result["baseline_background"] = _table3_numbers(truth, np.zeros_like(truth))
    result["baseline_lesion"] = _table3_numbers(truth, np.ones_like(truth))
    result.update({"fit": fit, "input_size": list(size), "n_test": int(len(truth))})
    return result


def _load_model(session, key: str):
    """A model another row published as ``model.keras`` (through ``session.artifact``)."""
    import dermkit

    path = session.artifact(key, MODEL_FILE)
    session.log(f"{session.key or 'figures'}: loading {key}'s model ({path})")
    return dermkit.load_model(path, compile=False)


def _resize_crop(image: np.ndarray, size: int) -> np.ndarray:
    from dermkit.preprocessing.isic2020 import resize_uint8  # dermkit's one resize rule

    return resize_uint8(image, (size, size))


def _run_crops(exp: Experiment, data: Data, session) -> dict[str, Any]:
    """Section 5.1 on the whole of ISIC 2020: the DenseNet U-Net's masks × image → lesion crop → classifier
    size (``segmented/``); its black background painted with a random palette tone (``balanced/``, Section 7's
    balanced skin-tone dataset, Fig. 5); test-split lesion masks on the original classifier inputs for the
    tone estimate (``test_masks/``); ``manifest.csv`` listing them (relative paths), the painted tone and
    whether the mask was empty (the crop is then the whole image)."""
    from dermkit._io import atomic_write_text
    from dermkit.data.imageio import read_image, write_png
    from dermkit.inference import write_isic_masks
    from dermkit.preprocessing.crop import segment_and_crop
    from dermkit.preprocessing.skin_tone import replace_background

    cfg = settings(session)
    segmenter = exp.params["segmenter"]
    size = tuple(cfg[SEGMENTERS[segmenter]["size_key"]])
    model = _load_model(session, segmenter)
    session.log(f"{exp.key}: segmenting {len(data.isic)} ISIC 2020 images with {segmenter} at {size[0]}×{size[1]} "
                "and cropping the lesions")
    crops = segment_and_crop(model, data.isic, session.workdir("crops"), image_size=size, batch_size=8,
                             progress=False)
    out = cfg["cls_size"]
    folders = {name: session.artifact(exp.key, name) for name in ("segmented", "balanced", "test_masks")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    records = []
    for row in crops.itertuples():
        seg_path = folders["segmented"] / f"{row.image_id}.png"
        bal_path = folders["balanced"] / f"{row.image_id}.png"
        # One generator per image id: the painted tone does not depend on the processing order.
        rng = np.random.default_rng([session.seed, int.from_bytes(row.image_id.encode()[-6:], "big")])
        crop = read_image(row.crop_path)
        painted, tone = replace_background(crop, None, "random", rng=rng, return_label=True)
        if not (seg_path.exists() and bal_path.exists()):
            write_png(seg_path, _resize_crop(crop, out), overwrite=True)
            write_png(bal_path, _resize_crop(painted, out), overwrite=True)
        records.append({"image_id": row.image_id, "split": row.split, "label": int(row.label),
                        "segmented_path": f"segmented/{seg_path.name}", "balanced_path": f"balanced/{bal_path.name}",
                        "painted_tone": tone, "crop_fallback": bool(row.fallback),
                        "bbox": " ".join(str(v) for v in row.bbox), "test_mask_path": ""})
    manifest = pd.DataFrame.from_records(records)
    test = data.split("isic", "test")
    test = test.assign(image_path=test["original_path"])
    session.log(f"{exp.key}: lesion masks of the {len(test)} test images (on the original classifier inputs) for "
                "the skin-tone estimate")
    masks = write_isic_masks(model, test, folders["test_masks"], input_size=size, progress=False)
    relative = {i: f"test_masks/{Path(p).name}" for i, p in zip(masks["image_id"], masks["mask_path"])}
    manifest["test_mask_path"] = [relative.get(i, "") for i in manifest["image_id"]]
    atomic_write_text(session.artifact(exp.key, "manifest.csv"), manifest.to_csv(index=False), overwrite=True)
    fallbacks = int(manifest["crop_fallback"].sum())
    session.log(f"{exp.key}: {fallbacks} of {len(manifest)} images had an empty mask (kept whole)")
    return {"n_images": int(len(manifest)), "fallbacks": fallbacks, "n_test_masks": int(len(masks)),
            "segmenter": segmenter, "tone_counts": manifest["painted_tone"].value_counts().sort_index().to_dict()}


# ---------------------------------------------------------------------------------------------------------
# Classification (Tables 1, 2 and Table 3's confusion matrices)
# ---------------------------------------------------------------------------------------------------------
def _classifier(session, *, train_mode: str, l2: float, lr: float):
    """A compiled :func:`densenet_classifier` for the running row, from ``session.cache`` when an earlier row
    of this process built the same architecture (``fc`` head, L2, input size, encoder, seed): initial weights
    restored, Adam's state zeroed, learning rate set; compiled again only when the trainable layers change.
    The global seed is reset before building and before returning, so the row's numbers do not depend on
    whether the cache was warm."""
    import keras

    from dermkit.losses import WeightedCategoricalCrossentropy
    from dermkit.models.classifiers import densenet_classifier, set_train_mode
    from dermkit.models.utils import set_batchnorm_momentum
    from dermkit.training.optim import reset_optimizer

    cfg = settings(session)
    size = cfg["cls_size"]
    key = ("goel2021.densenet_classifier", size, train_mode == "fc", float(l2), cfg["encoder_weights"],
           cfg.get("bn_momentum"), session.seed)
    entry = session.cache.get(key)
    if entry is None:
        session.log(f"{session.key}: building DenseNet121 ({size}×{size}, "
                    f"{'ImageNet' if cfg['encoder_weights'] else 'random'} encoder, {train_mode})")
        keras.utils.set_random_seed(session.seed)
        model = densenet_classifier((size, size, 3), num_classes=2, encoder_weights=cfg["encoder_weights"],
                                    train_mode=train_mode, l2=float(l2))
        set_batchnorm_momentum(model, cfg.get("bn_momentum"))
        entry = session.cache[key] = {"model": model, "initial": model.get_weights(), "mode": None}
    else:
        session.log(f"{session.key}: reusing this process's DenseNet121 (initial weights restored, Adam zeroed)")
    model = entry["model"]
    model.set_weights(entry["initial"])
    if entry["mode"] != train_mode:
        set_train_mode(model, train_mode)
        # Class weights arrive as per-sample weights (sample_weight_column), so one 1:1 loss serves every row.
        session.compile(model, optimizer=keras.optimizers.Adam(lr), loss=WeightedCategoricalCrossentropy((1.0, 1.0)),
                        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
        entry["mode"] = train_mode
    else:
        reset_optimizer(model.optimizer, learning_rate=lr)
    keras.utils.set_random_seed(session.seed)
    return model


def _cls_dataset(df: pd.DataFrame, cfg: dict, *, shuffle=False, augment=None, seed=0, weighted=False):
    from dermkit.data.pipelines import classification_dataset

    return classification_dataset(df, image_size=cfg["cls_size"], batch_size=cfg["cls_batch"], num_classes=2,
                                  shuffle=shuffle, seed=seed, augment=augment, cache="memory",
                                  sample_weight_column="weight" if weighted else None)


def _train_classifier(data: Data, session, *, dataset: str, settings_row: Table1Row, epochs: int):
    """Train one Table 1 setting on ``dataset``'s train split (malignant up-sampled), best epoch by
    validation balanced accuracy; returns ``(model, fit summary)``."""
    from dermkit.data.pipelines import Augment
    from dermkit.data.sampling import random_upsample
    from dermkit.training.callbacks import ValidationClassScores

    cfg = settings(session)
    seed = session.seed
    epochs = session.epochs(epochs)
    model = _classifier(session, train_mode=settings_row.weights, l2=settings_row.l2, lr=settings_row.lr)
    train_df = random_upsample(_frame(data, session, dataset, "train"), seed=seed)  # training split only
    train_df["weight"] = np.asarray(settings_row.class_weights, np.float64)[train_df["label"].to_numpy()]
    train = _cls_dataset(train_df, cfg, shuffle=True, seed=seed, weighted=True,
                         augment=Augment(**AUGMENT) if settings_row.augmentation else None)
    scores = ValidationClassScores(_cls_dataset(_frame(data, session, dataset, "val"), cfg), class_names=CLASS_NAMES)
    session.log(f"{session.key}: training {epochs} epochs of {len(train_df)} {dataset} images (malignant "
                "up-sampled); the first epoch also traces the train step (a minute or more on a CPU)")
    fit = session.fit(model, train, epochs=epochs, callbacks=[scores], monitor="val_balanced_accuracy", mode="max",
                      checkpoint="best")
    fit["train_images_per_epoch"] = int(len(train_df))
    return model, fit


def _predict(model, df: pd.DataFrame, cfg: dict) -> np.ndarray:
    from dermkit.data.pipelines import classification_dataset

    ds = classification_dataset(df, image_size=cfg["cls_size"], batch_size=cfg["cls_batch"], num_classes=2)
    return model.predict(ds.map(lambda x, y: x), verbose=0)


def _table2_numbers(y_true, prob: np.ndarray, class_weights=_NO) -> dict[str, Any]:
    """Table 2's columns (and Table 3's confusion matrix) of 2-class softmax outputs on a test set; the loss
    column is the row's own loss, Σ wᵢ CEᵢ / Σ wᵢ."""
    from dermkit.losses import weighted_categorical_crossentropy
    from dermkit.metrics.isic import binary_classification_scores

    y_true = np.asarray(y_true).astype(int)
    prob = np.clip(np.asarray(prob, np.float64), 0.0, 1.0)
    s = binary_classification_scores(y_true, prob, class_names=CLASS_NAMES)
    onehot = np.eye(len(CLASS_NAMES), dtype=np.float32)[y_true]
    loss = float(weighted_categorical_crossentropy(onehot, prob.astype(np.float32), tuple(class_weights)))
    cm = s["confusion_matrix"]
    return {
        "loss": loss, "accuracy": s["accuracy"], "benign_acc": s["specificity"], "malignant_acc": s["sensitivity"],
        "balanced_acc": s["balanced_accuracy"], "precision": s["precision"], "f1": s["f1"], "auc": s["auc"],
        "average_precision": s["average_precision"],
        "confusion": {f"true_{t}": {f"pred_{p}": int(cm.loc[t, p]) for p in ("malignant", "benign")}
                      for t in ("malignant", "benign")},
    }


def _run_classifier(exp: Experiment, data: Data, session) -> dict[str, Any]:
    p = exp.params
    cfg = settings(session)
    row = TABLE1[p["row"]]
    model, fit = _train_classifier(data, session, dataset=p["data"], settings_row=row,
                                   epochs=p["epochs"] or cfg["cls_epochs"])
    model.save(session.artifact(exp.key, MODEL_FILE))
    test = _frame(data, session, p["data"], "test")
    session.log(f"{exp.key}: evaluating on the ISIC 2020 test split ({len(test)} images)")
    prob = _predict(model, test, cfg)
    result = _table2_numbers(test["label"].to_numpy(), prob, row.class_weights)
    result.update({
        "fit": fit, "settings": _t1_values(row),
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
    image, estimated outside the lesion mask the segmenter predicted (the crops row's ``test_masks/``)."""
    from dermkit.data.imageio import read_image, read_mask
    from dermkit.errors import DermkitDataError
    from dermkit.preprocessing.skin_tone import estimate_skin_tone

    test = _crops_frame(data, session)
    test = test[test["split"] == "test"].reset_index(drop=True)
    session.log(f"{session.key}: estimating the skin tone of {len(test)} test images")
    tones, itas = [], []
    for row in test.itertuples():
        try:
            est = estimate_skin_tone(read_image(row.original_path), read_mask(row.test_mask_path))
            tones.append(est["tone"])
            itas.append(est["ita_category"])
        except DermkitDataError:
            tones.append("unknown")
            itas.append("unknown")
    return pd.DataFrame({"image_id": test["image_id"], "tone": tones, "ita_category": itas})


def _rates_table(y_true, y_pred, groups) -> list[dict]:
    from dermkit.preprocessing.skin_tone import per_tone_rates

    table = per_tone_rates(y_true, y_pred, np.asarray(groups, dtype=str))
    table = table.reset_index() if "group" not in table.columns else table
    return [{"group": str(r["group"]), **{m: float(r[m]) for m in TONE_METRICS}} for r in table.to_dict("records")]


def _run_tone(exp: Experiment, data: Data, session) -> dict[str, Any]:
    from dermkit.preprocessing.skin_tone import get_skin_tone, ita_category, ita_from_lab

    cfg = settings(session)
    dataset = exp.params["dataset"]
    source = exp.params["settings_of_row"]
    result: dict[str, Any] = {"dataset": dataset}
    if dataset == "balanced" and not session.options.quick:
        model, fit = _train_classifier(data, session, dataset="balanced", settings_row=TABLE1[source],
                                       epochs=cfg["cls_epochs"])
        result["fit"] = fit
        result["model"] = f"row {source} settings trained on the balanced skin-tone train/val splits"
    else:
        model = _load_model(session, _row_key(source))
        result["model"] = f"row {source} (trained on segmented crops)"
        if dataset == "balanced":
            result["model"] += "; --quick evaluates it on the balanced-tone test split without retraining"
    test = _frame(data, session, dataset, "test")
    session.log(f"{exp.key}: evaluating on the {dataset} test split ({len(test)} images)")
    prob = _predict(model, test, cfg)
    y_true, y_pred = test["label"].to_numpy().astype(int), prob.argmax(axis=1)
    if dataset == "balanced":
        tone_groups = test["painted_tone"].tolist()
        ita_groups = [ita_category(ita_from_lab(get_skin_tone(t).lab[0], get_skin_tone(t).lab[2])) for t in tone_groups]
    else:
        tones = _test_tones(data, session).set_index("image_id").loc[test["image_id"]]
        tone_groups, ita_groups = tones["tone"].tolist(), tones["ita_category"].tolist()
    metrics = _table2_numbers(y_true, prob)
    result.update(metrics)
    result["per_tone"] = _rates_table(y_true, y_pred, tone_groups)
    result["per_ita"] = _rates_table(y_true, y_pred, ita_groups)
    result["tone_counts"] = pd.Series(tone_groups).value_counts().sort_index().to_dict()
    return result


def run_experiment(exp: Experiment, data: Data, session) -> dict[str, Any]:
    """Run one row of the grid (called by the engine inside the strategy scope).

    The whole row runs inside :func:`dermkit.data.pipelines.named_data_errors`: a damaged file met by any
    dataset it builds (training, the validation-score callback's set, the test predictions) fails naming the
    file, under any strategy."""
    from dermkit.data.pipelines import named_data_errors

    with named_data_errors():
        return _run_row(exp, data, session)


def _run_row(exp: Experiment, data: Data, session) -> dict[str, Any]:
    kind = exp.params["kind"]
    if kind == "segmentation":
        return _run_segmentation(exp, data, session)
    if kind == "crops":
        return _run_crops(exp, data, session)
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


def _classifier_rows() -> list[Experiment]:
    return [e for e in EXPERIMENTS if e.params["kind"] == "classifier"]


def make_tables(results: dict[str, dict], data, session) -> list[Table]:
    """Tables 1, 2, 3, 3cm and skin_tone from the finished rows (rows not run show the paper's numbers only)."""
    chosen = set(session.options.tables)
    wanted = [t for t in TABLES if "all" in chosen or t in chosen]
    synthetic = session.options.synthetic
    isic_label = "SYNTHETIC ISIC 2020 test split" if synthetic else "ISIC 2020 test split (15 %)"
    ham_label = "SYNTHETIC HAM10000 test split" if synthetic else "HAM10000 test split (15 %)"
    notes = _quick_note(session)
    rows_cls = _classifier_rows()
    tables = []
    if "1" in wanted:
        rows = []
        for exp in rows_cls:
            res = results.get(exp.key)
            ours = {}
            if res:
                fit = res.get("fit", {})
                ours = {**res["settings"], "trainable_params": res.get("trainable_params"),
                        "epochs_run": fit.get("epochs_total", fit.get("epochs_run")),
                        "best_epoch": fit.get("best_epoch")}
            rows.append(TableRow(exp.label, ours, exp.reported.get("1", {})))
        tables.append(Table("1", "Ablation settings (dermkit: the settings this run used)",
                            T1_METRICS + ("trainable_params", "epochs_run", "best_epoch"), rows, isic_label,
                            synthetic, notes))
    if "2" in wanted:
        rows = [TableRow(exp.label, {m: results[exp.key].get(m) for m in T2_METRICS} if exp.key in results else {},
                         exp.reported.get("2", {})) for exp in rows_cls]
        extra = [f"{e.key}: best epoch {results[e.key]['fit'].get('best_epoch')} of "
                 f"{results[e.key]['fit'].get('epochs_total')} (validation balanced accuracy)"
                 for e in rows_cls if e.key in results]
        crops = results.get(CROPS_KEY)
        if crops:
            extra.append(f"{CROPS_KEY}: {int(crops['fallbacks'])} of {int(crops['n_images'])} ISIC 2020 images had "
                         "an empty predicted mask and were kept whole")
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
            "(dermkit.preprocessing.skin_tone); ITA° = arctan((L* − 50)/b*)·180/π.",
        ]
        tables.append(Table("skin_tone", "Sensitivity and false-negative rate per skin tone (Section 7)",
                            TONE_METRICS, rows, isic_label, synthetic, tone_notes))
    return tables


# ---------------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------------
def _figure_title(text: str, session) -> str:
    return f"SYNTHETIC DATA — {text}" if session.options.synthetic else text


def _history(result: dict) -> dict:
    return dict(result.get("fit", {}).get("history", {}))


def make_figures(results: dict[str, dict], data: Data, session) -> list[Path]:
    """Fig. 1 (masks), Fig. 2 (activation maps), Figs. 4/6 (per-tone bars), Figs. 7/8 (per-epoch curves),
    precision–recall and ROC curves — each from the rows present."""
    from dermkit import plots

    out = session.figures_dir
    files: list[Path] = []
    if all(k in results for k in SEGMENTERS):
        session.log("figures: Fig. 1 (predicted masks)")
        files.append(_figure_masks(data, session, out))
    if _row_key(3) in results and BEST_KEY in results and CROPS_KEY in results:
        try:
            session.log("figures: Fig. 2 (Grad-CAM of rows 3 and 4)")
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
    if BEST_KEY in results and _history(results[BEST_KEY]):
        res = results[BEST_KEY]
        files.append(plots.plot_training_curves(
            {f"row {BEST_ROW} (best)": _history(res)}, out / "fig7_training_curves.png",
            best_epochs={f"row {BEST_ROW} (best)": res["fit"].get("best_epoch")}, overwrite=True,
            title=_figure_title("goel2021 Fig. 7: training loss and accuracy, validation class accuracies per "
                                "epoch", session)))
    runs = {label: results[key] for key, label in ((_row_key(7), "row 7 (augm.)"),
                                                   (LONG_RUN_KEY, f"row 7 (augm.), {LONG_RUN_EPOCHS} epochs"))
            if key in results and _history(results[key])}
    if runs:
        files.append(plots.plot_training_curves(
            {label: _history(res) for label, res in runs.items()}, out / "fig8_augmentation_curves.png",
            best_epochs={label: res["fit"].get("best_epoch") for label, res in runs.items()}, overwrite=True,
            title=_figure_title("goel2021 Fig. 8: with augmentations, 15 and 50 epochs", session)))
    curves = {f"row {e.params['row']}" + (f", {e.params['epochs']} epochs" if e.params["epochs"] else ""):
              (results[e.key]["y_true"], results[e.key]["p_malignant"])
              for e in _classifier_rows() if e.key in results}
    if curves:
        files.append(plots.plot_pr_roc_curves(curves, out / "pr_roc.png", overwrite=True,
                                              title=_figure_title("goel2021 classifiers: precision–recall and ROC "
                                                                  "(test split)", session)))
    return files


def _figure_masks(data: Data, session, out: Path) -> Path:
    import cv2

    from dermkit import plots

    cfg = settings(session)
    masks: dict[str, list] = {}
    images = None
    for key, spec in SEGMENTERS.items():
        model = _load_model(session, key)
        x, truth = _seg_test(data, tuple(cfg[spec["size_key"]]))
        x, truth = x[:3], truth[:3]
        if images is None:
            images = list(x)
            masks["ground truth"] = list(truth[..., 0])
            ref = truth.shape[1:3]
        prob = model.predict(x, verbose=0)[..., 0]
        if prob.shape[1:] != ref:
            prob = np.stack([cv2.resize(p, (ref[1], ref[0])) for p in prob])
        masks[f"{spec['label']} mask"] = list(prob > 0.5)
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
    for key, frame, name in ((_row_key(3), original, "(a) trained on original images"),
                             (BEST_KEY, segmented, "(b) trained on segmented crops")):
        model = _load_model(session, key)
        image = read_image(frame["image_path"][pick]).astype(np.float32) / 255.0
        panels.append((name, image, grad_cam(model, image)))
    title = _figure_title(f"goel2021 Fig. 2: Grad-CAM of the last DenseNet features, test image "
                          f"{original['image_id'][pick]}", session)
    return plots.plot_activation_maps(panels, out / "fig2_activation_maps.png", title=title, overwrite=True)


#: ``dermkit plan``: the training-set sizes of the full-scale run (fnmatch on ``"<row>/<fit>"``, first match).
PLAN = {
    "t3_*/*": {"train_images": 7010, "val_images": 1502, "source": "HAM10000 10,015 × 70 % (val 15 %)"},
    "t2_row*/*": {"train_images": 44976, "val_images": 4905,
                  "source": "ISIC 2020 33,126 less 425 duplicates × 70 %, malignant up-sampled to the ≈ 22,490 "
                            "benign (val 15 %)"},
}
