"""barata2020 — Barata & Santiago, "How Important Is Each Dermoscopy Image?", CVPR Workshops (ISIC) 2020.

The 40-row grid of Tables 2–5 ({flat, hierarchical} × {Adam, SGD} × {CEL, FL} × {none, CB, ES, SPL, OHEM}),
each row the mean over two lesion-grouped 80/20 splits of the ISIC 2018 Task 3 training set (the engine's
repeats: repeat r uses split r), and Figs. 1–4, as data plus short recipes over the public API.

Equation → code:

* Eq. 3 (weighted mini-batch loss Σ w_j ℓ_j / M), Eq. 5 (CEL) and Eq. 6 (FL, Keras'
  ``CategoricalFocalCrossentropy(alpha=1.0, gamma=γ)``) with the class weights of Eq. 7 (CB) and Eq. 8 (ES) and
  the SPL / OHEM selection of Section 3.3: :class:`dermkit.losses.SampleWeightingLoss`,
  :func:`dermkit.losses.class_weights`.
* Eq. 9 (the number m of selected samples per epoch): :class:`dermkit.training.curriculum.CurriculumSchedule`.
* Eq. 10 (sum of per-level cross-entropies) and the hierarchical model (VGG16 + LSTM with dynamic channel and
  spatial attention, Section 4.1): :func:`dermkit.models.hierarchical_classifier`; the flat model (VGG16 →
  CBAM → fully connected): :func:`dermkit.models.vgg16_cbam_classifier`.
* Section 4.2 colour normalisation (Shades of Gray, p = 6): :func:`dermkit.preprocessing.shades_of_gray`,
  applied to every image at its original size before resizing to 299×299; Section 4.3 augmentation (random
  crops, flips, colour) :class:`dermkit.data.pipelines.Augment` — the random crop taken from the original
  (colour-normalised) image and then resized to 299² (Section 4.2's order, in
  :func:`~dermkit.data.pipelines.classification_dataset`); evaluation on the central 0.875 crop.
* Section 4.3 optimisers: Adam 1e-5 or SGD-Nesterov 1e-4 (momentum 0.9), ÷10 at 50 % and 75 % of the epochs:
  :func:`dermkit.training.schedules.step_decay`; batch 20; 150 epochs (flat) / 250 (hierarchical). The epochs
  a row trains (``session.epochs``: ``--epochs`` when given) drive the decay and Eq. 9 (:func:`schedules`).
* Section 5.2 / Figs. 3–4 hard and easy examples: :func:`dermkit.metrics.select_examples` over every Adam
  row's evaluation predictions (:func:`make_figures`).
* Section 4.4 metrics (Acc, BAcc = mean per-class RE, mPR, mF1, per-class RE):
  :func:`dermkit.metrics.multiclass_scores`.

Notes where the paper is silent or the notes and the issue add to it:

* One loss scale for CB and ES (dermkit, following Cui et al., the paper's ref. [9]): ES weights (Eq. 8) with
  β = (N − 1)/N are ≈ 1/N_y and CB's (Eq. 7) N/N_y, a mean sample weight of 7.5e-4 against 7.0 on Table 1's
  counts — a ~10,000× difference in SGD's effective learning rate, yet Table 4 has ES ≈ CB under SGD. Every
  CB and ES row normalises its weights to sum to the number of classes (``params["normalize"] =
  "num_classes"``, passed to ``class_weights``): mean sample weight 0.216 (CB) and 0.229 (ES). Weights come
  from each split's own training counts.
* Splits: "random splits" of 80 / 20 with each lesion on one side (the paper); stratified by label
  (dermkit's choice, so every class is in each evaluation split).
* Figs. 3–4 (Section 5.2): "hard" = an evaluation image some Adam row's model (flat or hierarchical, any
  weighting) classifies wrongly, the one most rows get wrong; "easy" = one every row gets right, or all but
  one (:func:`dermkit.metrics.select_examples`); split 0. Fig. 4 shows nevus, BCC and vascular, the classes the
  text calls easiest (its caption says nevus, vascular and actinic; the title notes the conflict). The
  paper's figures are the hierarchical model's; dermkit also draws the flat model's CBAM maps (``..._flat``).
* γ = 1 for FL: "in almost all of the experiments, the best γ ... was equal to 1".
* No model selection is described: every row keeps its last epoch (``checkpoint="last"``).
* Colour jitter amounts are not given ("color transformations"): Inception-style brightness 32/255,
  saturation ±50 %, hue ±0.05 (:data:`AUGMENT`).

``--quick`` (synthetic data, 2 CPU cores, minutes): both models with Adam and CEL under {none, ES, OHEM},
one repeat, :data:`QUICK` (hierarchical rows at 64², the smallest size whose ``block5_conv3`` keeps 4×4
attention positions; flat rows at 32², whose CBAM map at ``block5_pool`` is 1×1 and whose figure says so;
random encoders, a higher learning rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermkit.data.isic import ISIC2018_TASK3_CLASSES
from dermkit.training.experiment import Experiment
from dermkit.training.report import Table, TableRow

NAME = "barata2020"
VERSION = 3  # 2: --quick starts its random encoders with LSUV (the quick rows learn). 3 (issue 16): CB rows
# normalised as ES rows (one loss scale); schedules follow --epochs; the crop is taken from the original image;
# Adam rows write predictions + attention for the hard / easy Figs. 3–4; --quick hierarchical rows at 64²
# (block5_conv3 4×4).
#: Table 2: flat, Adam; 3: hierarchical, Adam; 4: flat, SGD; 5: hierarchical, SGD.
TABLES = ("2", "3", "4", "5")
METRICS = ("Acc", "BAcc", "mPR", "mF1")
CLASS_NAMES = tuple(ISIC2018_TASK3_CLASSES)  # MEL, NV, BCC, AKIEC, BKL, DF, VASC
MODELS = ("flat", "hierarchical")
OPTIMIZERS = ("adam", "sgd")
LOSSES = ("cel", "fl")
WEIGHTINGS = ("none", "cb", "es", "spl", "ohem")
TABLE_OF = {("flat", "adam"): "2", ("hierarchical", "adam"): "3", ("flat", "sgd"): "4", ("hierarchical", "sgd"): "5"}
_LABELS = {"cel": "CEL", "fl": "FL", "none": "-", "cb": "CB", "es": "ES", "spl": "SPL", "ohem": "OHEM"}

#: Tables 2–5 as printed (percent): {table: {(loss, weighting): (Acc, BAcc, mPR, mF1)}}.
PAPER: dict[str, dict[tuple[str, str], tuple[float, float, float, float]]] = {
    "2": {("cel", "none"): (87.5, 72.5, 80.0, 75.5), ("cel", "cb"): (82.0, 78.8, 73.0, 75.0),
          ("cel", "es"): (83.5, 78.0, 77.5, 77.0), ("cel", "spl"): (87.0, 74.5, 80.0, 77.0),
          ("cel", "ohem"): (84.5, 74.0, 77.0, 74.5), ("fl", "none"): (87.0, 73.5, 79.5, 75.5),
          ("fl", "cb"): (81.0, 78.8, 73.0, 75.0), ("fl", "es"): (82.0, 78.7, 74.0, 75.5),
          ("fl", "spl"): (86.0, 71.9, 80.0, 75.0), ("fl", "ohem"): (87.0, 75.6, 80.5, 77.5)},
    "3": {("cel", "none"): (87.5, 75.5, 80.0, 77.0), ("cel", "cb"): (84.0, 78.4, 76.0, 76.5),
          ("cel", "es"): (84.5, 76.7, 77.0, 76.0), ("cel", "spl"): (85.5, 68.8, 76.5, 72.0),
          ("cel", "ohem"): (87.0, 76.4, 79.0, 76.5), ("fl", "none"): (87.0, 74.5, 79.0, 76.0),
          ("fl", "cb"): (83.0, 76.9, 73.0, 75.0), ("fl", "es"): (83.5, 78.0, 74.0, 75.5),
          ("fl", "spl"): (84.5, 65.3, 71.5, 67.5), ("fl", "ohem"): (88.0, 75.7, 80.5, 77.5)},
    "4": {("cel", "none"): (78.5, 46.1, 57.0, 49.0), ("cel", "cb"): (70.5, 69.6, 55.5, 60.0),
          ("cel", "es"): (71.5, 68.9, 54.5, 59.5), ("cel", "spl"): (78.0, 45.4, 55.0, 48.0),
          ("cel", "ohem"): (78.0, 44.0, 61.0, 47.0), ("fl", "none"): (76.0, 42.4, 56.5, 44.5),
          ("fl", "cb"): (71.0, 69.0, 53.5, 59.0), ("fl", "es"): (71.5, 68.0, 54.0, 58.5),
          ("fl", "spl"): (77.0, 39.0, 60.0, 44.0), ("fl", "ohem"): (78.0, 46.1, 59.5, 50.0)},
    "5": {("cel", "none"): (80.5, 51.8, 56.0, 52.5), ("cel", "cb"): (75.0, 74.4, 60.5, 65.5),
          ("cel", "es"): (77.0, 73.8, 62.5, 66.5), ("cel", "spl"): (80.5, 52.1, 57.0, 53.0),
          ("cel", "ohem"): (82.5, 55.3, 75.0, 52.5), ("fl", "none"): (78.0, 49.0, 55.0, 51.0),
          ("fl", "cb"): (70.5, 69.8, 55.0, 60.0), ("fl", "es"): (72.5, 70.2, 55.5, 60.5),
          ("fl", "spl"): (77.0, 41.5, 52.0, 43.0), ("fl", "ohem"): (79.5, 49.2, 57.5, 52.0)},
}

#: Table 1: ISIC 2018 training set class counts (sum 10,068; the text says 10,015 images).
TABLE1_COUNTS = {"NV": 6741, "MEL": 1119, "DF": 116, "AKIEC": 331, "BKL": 1101, "BCC": 517, "VASC": 143}

#: Full-scale settings (Sections 4.2, 4.3).
FULL: dict[str, Any] = {
    "input_size": 299,
    "batch_size": 20,
    "epochs": {"flat": 150, "hierarchical": 250},
    "learning_rate": {"adam": 1e-5, "sgd": 1e-4},
    "encoder_weights": "imagenet",
    "init": None,
    "n_images": None,
}

#: ``--quick``: inputs per model — hierarchical 64² (VGG16's four pools before ``block5_conv3`` leave 4×4
#: attention positions for Figs. 3–4), flat 32² (its CBAM on ``block5_pool`` gets 1×1, and its figure says
#: so; 64² would make the flat rows ~4× slower, the whole quick run past its budget on 2 cores) — random
#: encoders (no network) started by LSUV (``"init"``), learning rates that
#: learn in a few epochs (per model: the hierarchical decoder needs the higher one), the paper's step decay.
#: Measured here (32², 224 training / 56 evaluation images): with Keras' default Glorot kernels a random VGG16
#: fed ImageNet-"caffe" inputs (± 128) starts saturated — the flat model predicts only nevus for 3+ epochs and
#: the hierarchical one never leaves it (its loss stays ≈ 8); after :func:`dermkit.models.utils.lsuv_init`
#: the flat model reaches BAcc 0.36–0.52 in 8 epochs at Adam 1e-4 and the hierarchical one 0.27–0.52 in
#: 8–12 epochs at 1e-4–3e-4 (chance 1/7; the 56-image evaluation split makes single epochs noisy).
QUICK: dict[str, Any] = {
    "input_size": {"flat": 32, "hierarchical": 64},
    "batch_size": 20,
    "epochs": {"flat": 8, "hierarchical": 10},
    "learning_rate": {"adam": {"flat": 1e-4, "hierarchical": 2e-4}, "sgd": {"flat": 1e-3, "hierarchical": 2e-3}},
    "encoder_weights": None,
    "init": "lsuv",
    "n_images": None,
}
QUICK_ROWS = (("adam", "cel", "none"), ("adam", "cel", "es"), ("adam", "cel", "ohem"))
#: ``--quick`` runs one split per row (the engine caps every row's repeats at this in quick runs).
QUICK_REPEATS = 1

#: Synthetic ISIC 2018 Task 3 for ``--data synthetic`` (HAM10000-like imbalance, lesion ids; every class
#: ≥ 25 images so a grouped 20 % split holds ≥ 5 of each).
SYNTHETIC = {"n_images": 280, "image_size": (64, 64), "min_per_class": 25}

#: Section 4.3 / reference notes: random crop (area 0.5–1, aspect 0.75–1.33), flips, colour distortion.
AUGMENT = {"rot90": False, "crop_area": (0.5, 1.0), "crop_aspect": (0.75, 4 / 3), "brightness": 32 / 255,
           "saturation": 0.5, "hue": 0.05}
EVAL_CENTRAL_CROP = 0.875
SHADES_OF_GRAY_P = 6
FOCAL_GAMMA = 1.0
SPLIT_FRACTIONS = (0.8, 0.2, 0.0)
#: ``normalize=`` of :func:`dermkit.losses.class_weights` for every class-weighted (CB and ES) row: the weights
#: sum to the number of classes (Cui et al., the paper's ref. [9]) — the paper prints neither scale; raw Eq. 7
#: weights give a mean sample weight of 7.0 on Table 1's counts and raw Eq. 8 ones 7.5e-4, a ~10,000× gap in
#: SGD's effective step, normalised 0.216 (CB) and 0.229 (ES).
CLASS_WEIGHT_NORMALIZE = "num_classes"
REPEATS = 2


def _key(model: str, optimizer: str, loss: str, weighting: str) -> str:
    return f"{model}_{optimizer}_{loss}_{weighting}"


def _row(model: str, optimizer: str, loss: str, weighting: str) -> Experiment:
    table = TABLE_OF[(model, optimizer)]
    label = f"{_LABELS[loss]} {_LABELS[weighting]}" if weighting != "none" else _LABELS[loss]
    params = {"model": model, "optimizer": optimizer, "loss": loss, "weighting": weighting,
              "gamma": FOCAL_GAMMA if loss == "fl" else None}
    if weighting in ("cb", "es"):
        params["normalize"] = CLASS_WEIGHT_NORMALIZE  # one loss scale for CB and ES (passed to class_weights)
    return Experiment(
        key=_key(model, optimizer, loss, weighting), label=label, tables=(table,), params=params,
        reported={table: dict(zip(METRICS, PAPER[table][(loss, weighting)]))},
        quick=(optimizer, loss, weighting) in QUICK_ROWS, repeats=REPEATS,
    )


#: The grid: Tables 2–5 in the paper's order (model × optimiser blocks; CEL then FL; none, CB, ES, SPL, OHEM).
EXPERIMENTS: list[Experiment] = [
    _row(model, optimizer, loss, weighting)
    for optimizer in OPTIMIZERS for model in MODELS for loss in LOSSES for weighting in WEIGHTINGS
]

#: Figs. 3–4: one evaluation image per class, hard (Fig. 3) or easy (Fig. 4) as Section 5.2 defines them
#: (:func:`dermkit.metrics.select_examples` over every Adam row's predictions). Fig. 3: the caption's "most
#: challenging classes: melanoma, dermatofibroma, keratosis, and actinic". Fig. 4: the classes the text calls
#: easier, "nevus, BCC, and vascular" (Section 5.1; the text also says "only BCC is incorrectly classified once
#: in the easiest examples") — the caption lists "nevus, vascular, and actinic"; dermkit follows the text and
#: notes the conflict in the figure title.
FIG3_CLASSES = ("MEL", "DF", "BKL", "AKIEC")
FIG4_CLASSES = ("NV", "BCC", "VASC")
#: Fewest attention positions per side a figure's maps should have (the issue's bar for ``--quick``).
MIN_MAP_SIDE = 4


def settings(session) -> dict[str, Any]:
    """The run's settings: :data:`QUICK` or :data:`FULL`."""
    return dict(QUICK if session.options.quick else FULL)


# ---------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Data:
    """The ISIC 2018 Task 3 training set (``group`` = HAM10000 lesion id) and where it came from."""

    frame: pd.DataFrame
    root: Path
    synthetic: bool


def prepare(data: str, session) -> Data:
    """Read ISIC 2018 Task 3 (``data`` = the folder holding ``ISIC2018_Task3_Training_Input/`` and the ground
    truth, with ``HAM10000_metadata.csv`` or the lesion-groupings CSV for the lesion ids) or generate the
    synthetic set. Splits are made per repeat in :func:`split`."""
    from dermkit.data.isic import load_isic2018_task3

    synthetic = data == "synthetic"
    if synthetic:
        from dermkit.data.synthetic import make_isic2018_task3

        root = make_isic2018_task3(session.output / "data" / "isic2018_task3", seed=0, **SYNTHETIC)
    else:
        root = Path(data)
    frame = load_isic2018_task3(root, "training")
    if frame.attrs.get("group_source") == "image_id":
        session.log("WARNING: no HAM10000_metadata.csv or lesion groupings found: images of one lesion may fall "
                    "on both sides of a split (the paper keeps each lesion on one side)")
    counts = frame["label"].value_counts().reindex(range(len(CLASS_NAMES)), fill_value=0)
    session.log(f"data {root}: {len(frame)} images, {frame['group'].nunique()} lesions; "
                + ", ".join(f"{c} {n}" for c, n in zip(CLASS_NAMES, counts)))
    return Data(frame, Path(root), synthetic)


def split(data: Data, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random 80/20 split keeping each lesion on one side (Section 4.4: "random splits", lesion grouping the
    paper's), stratified by label (dermkit's choice: every class appears in each evaluation split); the same
    seed gives the same split."""
    from dermkit.data.splits import grouped_split

    df = grouped_split(data.frame, SPLIT_FRACTIONS, group="group", stratify="label", seed=seed)
    train = df[df["split"] == "train"].reset_index(drop=True)
    val = df[df["split"] == "val"].reset_index(drop=True)
    for part in (train, val):
        part.attrs["class_names"] = CLASS_NAMES
    return train, val


# ---------------------------------------------------------------------------------------------------------
# One row
# ---------------------------------------------------------------------------------------------------------
def _loss(params: dict, train_counts: np.ndarray):
    """Eq. 5 / Eq. 6 as the Keras built-ins (summed over the hierarchy's levels by Eq. 10 for the hierarchical
    model), weighted per sample by Eq. 7 / 8 or selected by SPL / OHEM, reduced by Eq. 3."""
    import keras

    from dermkit.losses import SampleWeightingLoss, class_weights
    from dermkit.models.attention import HierarchicalLoss

    base = (keras.losses.CategoricalCrossentropy() if params["loss"] == "cel"
            else keras.losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=params["gamma"]))
    if params["model"] == "hierarchical":
        base = HierarchicalLoss(level_loss=base)
    weighting = params["weighting"]
    weights = None
    if weighting in ("cb", "es"):
        weights = class_weights(train_counts, method=weighting, normalize=params["normalize"])
    curriculum = weighting if weighting in ("spl", "ohem") else None
    return SampleWeightingLoss(base, class_weights=weights, curriculum=curriculum)


def input_size(cfg: dict, model: str) -> int:
    """The side of a row's square input: per model where the settings give a dict (``--quick``)."""
    size = cfg["input_size"]
    return int(size[model] if isinstance(size, dict) else size)


def _rate(cfg: dict, params: dict) -> float:
    """The initial learning rate of a row: per optimiser, and per model where the settings give a dict."""
    rate = cfg["learning_rate"][params["optimizer"]]
    return float(rate[params["model"]] if isinstance(rate, dict) else rate)


def _optimizer(params: dict, cfg: dict, steps_per_epoch: int, epochs: int):
    import keras

    from dermkit.training.schedules import step_decay

    rate = _rate(cfg, params)
    schedule = step_decay(rate, steps_per_epoch=steps_per_epoch, epochs=epochs)
    if params["optimizer"] == "adam":
        return keras.optimizers.Adam(schedule)
    return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True)


def _datasets(train: pd.DataFrame, val: pd.DataFrame, cfg: dict, seed: int, model: str):
    import functools

    from dermkit.data.pipelines import Augment, classification_dataset
    from dermkit.preprocessing import shades_of_gray

    colour = functools.partial(shades_of_gray, p=SHADES_OF_GRAY_P)
    common = {"image_size": input_size(cfg, model), "batch_size": cfg["batch_size"], "num_classes": len(CLASS_NAMES),
              "image_transform": colour, "cache": "memory"}
    train_ds = classification_dataset(train, augment=Augment(**AUGMENT), shuffle=True, seed=seed, **common)
    val_ds = classification_dataset(val, central_crop=EVAL_CENTRAL_CROP, **common)
    return train_ds, val_ds


def schedules(p: dict, cfg: dict, steps_per_epoch: int, session) -> tuple[int, Any, list]:
    """The epochs a row trains and everything built from them: ``(epochs, optimizer, callbacks)``.

    ``epochs = session.epochs(cfg["epochs"][model])`` (``--epochs`` when given, else 150 flat / 250
    hierarchical, Section 4.3) drives the step decay (÷10 at 50 % and 75 % of ``epochs · steps_per_epoch``
    optimizer steps) and, for SPL / OHEM rows, the Eq. 9 curriculum
    (:class:`~dermkit.training.curriculum.CurriculumSchedule` over ``epochs``); the same count goes to
    ``session.fit``. So ``--epochs N`` shortens the schedules with the training.
    """
    from dermkit.training.curriculum import CurriculumSchedule

    epochs = session.epochs(cfg["epochs"][p["model"]])
    optimizer = _optimizer(p, cfg, steps_per_epoch, epochs)
    callbacks = [CurriculumSchedule(epochs, batch_size=cfg["batch_size"])] if p["weighting"] in ("spl", "ohem") else []
    return epochs, optimizer, callbacks


def writes_figure_material(p: dict) -> bool:
    """Whether a row writes Figs. 3–4 material (``predictions.csv``, ``attention.npz``): every Adam row, flat
    and hierarchical (the paper's figures are Adam; "hard" / "easy" count every strategy's flat or
    hierarchical model), on repeat 0 (split 0)."""
    return p["optimizer"] == "adam"


def run_experiment(exp: Experiment, data: Data, session) -> dict[str, Any]:
    """Train one row on split ``session.repeat`` and score it on that split's 20 %."""
    from dermkit.metrics import multiclass_scores

    p = exp.params
    cfg = settings(session)
    train, val = split(data, seed=session.seed)  # repeat r: split r (seed + r), shared by every row
    counts = np.bincount(train["label"].to_numpy(), minlength=len(CLASS_NAMES))
    train_ds, val_ds = _datasets(train, val, cfg, session.seed, p["model"])
    steps = math.ceil(len(train) / cfg["batch_size"])
    epochs, optimizer, callbacks = schedules(p, cfg, steps, session)
    session.log(f"{exp.key} split {session.repeat}: {len(train)} train / {len(val)} evaluation images; building "
                f"the {p['model']} model at {input_size(cfg, p['model'])}², {epochs} epochs")
    model = _build(p, cfg, counts, optimizer, session, train_ds)
    fit = session.fit(model, train_ds, epochs=epochs, callbacks=callbacks, monitor="loss", checkpoint="last")
    session.log(f"{exp.key}: evaluating on {len(val)} images")
    y_true, prob = _predict(model, val_ds, p["model"])
    scores = multiclass_scores(y_true, y_score=prob, class_names=CLASS_NAMES)
    result = {
        "Acc": 100 * scores["accuracy"], "BAcc": 100 * scores["balanced_accuracy"],
        "mPR": 100 * scores["mean_precision"], "mF1": 100 * scores["mean_f1"],
        "recall": {c: 100 * float(scores["per_class"].loc[c, "recall"]) for c in CLASS_NAMES},
        "train_counts": dict(zip(CLASS_NAMES, counts.tolist())), "n_train": len(train), "n_val": len(val),
        "fit": fit,
    }
    if writes_figure_material(p) and session.repeat == 0:
        _save_predictions(val, y_true, prob, session)
        _save_attention(model, val, val_ds, p["model"], session)
    return result


def _build(p: dict, cfg: dict, counts: np.ndarray, optimizer, session, train_ds=None):
    from dermkit.models import hierarchical_classifier, vgg16_cbam_classifier

    side = input_size(cfg, p["model"])
    shape = (side, side, 3)
    loss = _loss(p, counts)
    if p["model"] == "flat":
        model = vgg16_cbam_classifier(shape, num_classes=len(CLASS_NAMES), encoder_weights=cfg["encoder_weights"])
    else:
        model = hierarchical_classifier(shape, encoder_weights=cfg["encoder_weights"])
    if cfg.get("init") == "lsuv" and cfg["encoder_weights"] is None:
        from dermkit.models.utils import lsuv_init

        images = next(iter(train_ds))[0]  # one augmented training batch (its statistics only)
        lsuv_init(model if p["model"] == "flat" else model.encoder, images, seed=session.seed)
    session.compile(model, optimizer=optimizer, loss=loss)
    return model


def _predict(model, val_ds, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Truth labels and predictions on the evaluation split: the flat model's softmax; the hierarchical
    model's greedy decoding (its ``"diagnosis"``), as the tables use."""
    truths, preds = [], []
    for x, y in val_ds:
        truths.append(np.argmax(y.numpy(), axis=1))
        out = model.predict_on_batch(x)
        preds.append(np.asarray(out) if kind == "flat" else np.asarray(out["diagnosis"]))
    return np.concatenate(truths), np.concatenate(preds)


#: Columns of a row's ``predictions.csv`` (class names from :data:`CLASS_NAMES`).
PREDICTION_COLUMNS = ("image_id", "label", "predicted")


def _save_predictions(val: pd.DataFrame, y_true: np.ndarray, prob: np.ndarray, session) -> None:
    """The row artifact ``predictions.csv``: per evaluation image (in ``val``'s order, which the unshuffled
    evaluation dataset keeps) its id, true class name and predicted class name (the flat model's argmax
    ``prob [N, 7]``; the hierarchical model's greedy diagnosis, class indices ``[N]``)."""
    from dermkit._io import atomic_write_text

    if not np.array_equal(y_true, val["label"].to_numpy()):
        raise RuntimeError("the evaluation dataset's labels are not in the order of its frame")
    names = np.asarray(CLASS_NAMES)
    predicted = np.argmax(prob, axis=1) if prob.ndim == 2 else prob.astype(np.int64)  # hierarchical: class ids
    frame = pd.DataFrame({"image_id": val["image_id"].astype(str).to_numpy(), "label": names[y_true],
                          "predicted": names[predicted]}, columns=list(PREDICTION_COLUMNS))
    atomic_write_text(session.artifact(session.key, "predictions.csv"), frame.to_csv(index=False), overwrite=True)


def _save_attention(model, val: pd.DataFrame, val_ds, kind: str, session) -> None:
    """The row artifact ``attention.npz`` (Figs. 3–4 material) for every evaluation image: ``image_ids``
    ``[N]``, ``spatial`` ``[N, h, w]`` (the hierarchical model's last-decision spatial attention α, or the flat
    model's CBAM M_s), ``channel`` ``[N, h, w]`` (the best channel of the features that attention acts on: the
    argmax of the last decision's β / of CBAM's M_c) and ``best_channel`` ``[N]``. The
    hierarchical maps follow the greedy path, as at test time. The figures are drawn after every row has run,
    when the hard and easy images are known (:func:`make_figures`)."""
    from dermkit._io import atomic_savez
    from dermkit.models.attention import cbam_attention_maps

    images = np.concatenate([x.numpy() for x, _ in val_ds])
    maps = model.attention_maps(images) if kind == "hierarchical" else cbam_attention_maps(model, images)
    spatial = maps["last_spatial"] if kind == "hierarchical" else maps["spatial"]
    arrays = {"image_ids": np.asarray(val["image_id"].astype(str).tolist(), dtype=str),
              "spatial": spatial.astype(np.float32), "channel": maps["best_channel_map"].astype(np.float32),
              "best_channel": maps["best_channel"]}
    atomic_savez(session.artifact(session.key, "attention.npz"), arrays, overwrite=True)


# ---------------------------------------------------------------------------------------------------------
# Tables and figures
# ---------------------------------------------------------------------------------------------------------
_TITLES = {"2": "flat model, Adam", "3": "hierarchical model, Adam", "4": "flat model, SGD",
           "5": "hierarchical model, SGD"}


def _notes(session) -> list[str]:
    notes = ["Percentages; dermkit: mean (± std) over the repeats (the paper: the mean of two lesion-grouped "
             "80/20 splits of the ISIC 2018 training set).",
             "CB and ES rows both normalise their class weights (Eq. 7, Eq. 8) to sum to the number of classes "
             "(Cui et al.; class_weights(normalize='num_classes')), one loss scale for both — mean sample weight "
             "0.216 (CB) and 0.229 (ES) on Table 1's counts, against 7.0 and 7.5e-4 as printed; FL uses γ = 1."]
    if session.options.quick:
        q = QUICK
        e, r = q["epochs"], q["learning_rate"]["adam"]
        sizes = q["input_size"]
        notes.append(f"--quick: {sizes['flat']}² / {sizes['hierarchical']}² inputs (flat / hierarchical; "
                     f"{sizes['hierarchical']}² keeps 4×4 attention positions at block5_conv3), random encoders "
                     "(no ImageNet) with "
                     f"LSUV initialisation, {e['flat']} / {e['hierarchical']} epochs (flat / hierarchical), Adam lr "
                     f"{r['flat']:g} / {r['hierarchical']:g} with the step decay, rows CEL / CEL ES / CEL OHEM with "
                     "Adam, one repeat — not the paper's settings.")
    return notes


def make_tables(results: dict[str, dict], data, session) -> list[Table]:
    """Tables 2–5: Acc, BAcc, mPR, mF1 per loss × weighting, dermkit's beside the paper's."""
    chosen = set(session.options.tables)
    synthetic = session.options.synthetic
    label = "SYNTHETIC ISIC 2018 Task 3, 20 % splits" if synthetic else "ISIC 2018 Task 3 training set, 20 % splits"
    tables = []
    for table in TABLES:
        if "all" not in chosen and table not in chosen:
            continue
        rows = [TableRow(exp.label, {m: results.get(exp.key, {}).get(m) for m in METRICS}, exp.reported[table])
                for exp in EXPERIMENTS if table in exp.tables]
        tables.append(Table(table, f"Average results for the validation splits ({_TITLES[table]})", METRICS, rows,
                            label, synthetic, _notes(session)))
    return tables


_FIG1_CLASSES = ("BCC", "AKIEC", "BKL", "DF", "VASC")  # non-melanocytic
_FIG2_CLASSES = ("MEL", "NV")  # melanocytic


def make_figures(results: dict[str, dict], data, session) -> list[Path]:
    """Figs. 1–2 (per-class RE per strategy, Adam) and Figs. 3–4 (attention on hard / easy images, Adam:
    the hierarchical model as in the paper, the flat model's CBAM beside; see :func:`_attention_figures`)."""
    from dermkit import plots

    tag = "SYNTHETIC DATA — " if session.options.synthetic else ""
    out = session.figures_dir
    files: list[Path] = []
    for number, classes, what in ((1, _FIG1_CLASSES, "non-melanocytic"), (2, _FIG2_CLASSES, "melanocytic")):
        bars = {}
        for model in MODELS:
            for exp in EXPERIMENTS:
                p = exp.params
                if p["model"] == model and p["optimizer"] == "adam" and exp.key in results:
                    bars.setdefault(model, {})[exp.label] = {c: results[exp.key]["recall"][c] for c in classes}
        if bars:
            files.append(plots.plot_per_class_recall(
                bars, out / f"fig{number}_recall_{what}.png", overwrite=True,
                title=f"{tag}barata2020 Fig. {number}: average RE, {what} lesions (Adam)"))
    files += _attention_figures(results, data, session, tag)
    return files


def figure_predictions(results: dict[str, dict], session) -> pd.DataFrame | None:
    """Every finished Adam row's ``predictions.csv`` (split 0) in one frame: ``image_id``, ``label`` (class
    name), then one column per row key holding that row's predicted class name; None when no row wrote one."""
    frame = None
    for exp in EXPERIMENTS:
        if not writes_figure_material(exp.params) or exp.key not in results:
            continue
        try:
            path = session.artifact(exp.key, "predictions.csv", repeat=0)
        except FileNotFoundError:
            session.log(f"{exp.key} has no predictions.csv (stored by an older version?); left out of Figs. 3–4")
            continue
        rows = pd.read_csv(path, dtype=str).rename(columns={"predicted": exp.key})
        frame = rows if frame is None else frame.merge(rows, on=["image_id", "label"], how="inner")
    return frame


def _display_images(data: Data, image_ids, size: int) -> np.ndarray:
    """The evaluation pipeline's input for ``image_ids`` (colour constancy, central crop, resize), in order."""
    from dermkit.data.pipelines import classification_dataset
    from dermkit.preprocessing import shades_of_gray

    frame = data.frame.set_index(data.frame["image_id"].astype(str)).loc[[str(i) for i in image_ids]]
    ds = classification_dataset(frame.reset_index(drop=True), image_size=size, batch_size=len(frame),
                                num_classes=len(CLASS_NAMES), central_crop=EVAL_CENTRAL_CROP,
                                image_transform=lambda im: shades_of_gray(im, p=SHADES_OF_GRAY_P))
    return next(iter(ds))[0].numpy()


def _map_note(side: tuple[int, int], kind: str) -> str:
    h, w = side
    layer = "block5_conv3" if kind == "hierarchical" else "block5_pool (CBAM's input)"
    note = f"maps {h}×{w} at {layer}"
    if min(h, w) < MIN_MAP_SIDE:
        note += f" — smaller than {MIN_MAP_SIDE}×{MIN_MAP_SIDE}: too coarse to show where the model looks"
    return note


def _attention_figures(results: dict[str, dict], data, session, tag: str) -> list[Path]:
    """Figs. 3–4: pick the hard / easy images from every Adam row's predictions
    (:func:`dermkit.metrics.select_examples`), write ``fig3_hard_examples.csv`` / ``fig4_easy_examples.csv``
    (``image_id``, ``label``, one predicted class name per row key), and draw the attention of those images for
    the hierarchical Adam rows (the paper's figures: ``fig3_attention_hardest.png``,
    ``fig4_attention_easiest.png``) and for the flat Adam rows (CBAM, ``..._flat.png``)."""
    from dermkit import plots
    from dermkit._io import atomic_write_text
    from dermkit.metrics.examples import select_examples

    predictions = figure_predictions(results, session)
    if predictions is None or data is None:
        return []
    cfg = settings(session)
    out = session.figures_dir
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for number, classes, kind, what in ((3, FIG3_CLASSES, "hard", "hardest"), (4, FIG4_CLASSES, "easy", "easiest")):
        chosen = select_examples(predictions, classes, kind=kind)
        csv = out / f"fig{number}_{kind}_examples.csv"
        files.append(atomic_write_text(csv, chosen.to_csv(index=False), overwrite=True))
        if chosen.empty:
            session.log(f"Fig. {number}: no {kind} evaluation image of {list(classes)}; figure not drawn")
            continue
        ids = chosen["image_id"].astype(str).tolist()
        conflict = " (classes from the text; the caption says nevus, vascular, actinic)" if number == 4 else ""
        for model, suffix in (("hierarchical", ""), ("flat", "_flat")):
            panels, side = {}, None
            for exp in EXPERIMENTS:
                if exp.params["model"] != model or exp.key not in chosen.columns:
                    continue
                try:
                    saved = np.load(session.artifact(exp.key, "attention.npz", repeat=0))
                except FileNotFoundError:
                    continue
                where = {str(i): k for k, i in enumerate(saved["image_ids"])}
                index = [where[i] for i in ids]
                panels[exp.label] = {"classes": chosen["label"].to_numpy(),
                                     "spatial": saved["spatial"][index], "channel": saved["channel"][index]}
                side = tuple(saved["spatial"].shape[1:3])
            if not panels:
                continue
            images = _display_images(data, ids, input_size(cfg, model))
            for panel in panels.values():
                panel["images"] = images
            what_model = "hierarchical model, last decision" if model == "hierarchical" else "flat model, CBAM"
            files.append(plots.plot_attention_maps(
                panels, classes, out / f"fig{number}_attention_{what}{suffix}.png", overwrite=True,
                title=f"{tag}barata2020 Fig. {number}: spatial attention and best channel ({what_model}, Adam), "
                      f"{what} examples{conflict}; {_map_note(side, model)}"))
    return files


#: ``dermkit plan``: the paper's training-set size (steps per epoch of the full-scale run on synthetic data).
PLAN = {"train_images": 8012, "source": "ISIC 2018 Task 3 10,015 × the 80 % lesion-grouped training split"}
