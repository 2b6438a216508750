"""kawahara2018 — Kawahara & Hamarneh, "Fully Convolutional Neural Networks to Detect Clinical Dermoscopic
Features", IEEE JBHI 2018 (ISIC 2017 Part 2 winner). The experiment grid of Tables I–V and Section III-C as
data, the paper's numbers, the table layout, and the short recipes the engine (:mod:`dermkit.training.runner`)
calls. Importing this module needs no TensorFlow.

Equation → code:

* Eq. 1 (superpixels → masks), Eq. 2 (masks → superpixels): :mod:`dermkit.data.superpixels`.
* Eq. 3–7 (Dice-F1 over mini-batch partitions): :class:`dermkit.losses.DiceF1Loss`.
* Eq. 8–10 (fuzzy Jaccard, J̄1, J̄nan), Table V's three evaluations and the official 2017 Part 2 scores
  (Tables I, II): :class:`dermkit.metrics.isic.Part2Evaluation` (which calls
  :func:`~dermkit.metrics.isic.isic2017_part2_scores` and :func:`~dermkit.metrics.jaccard.table5_evaluations`).
* Fig. 2 (VGG16 skip-concat FCN) and Table V variants: :func:`dermkit.models.vgg16_fcn`.
* Section III-C (lesion segmentation, ISIC 2017 Part 1 Jaccard): :func:`dermkit.metrics.isic.isic_segmentation_scores`.

Settings (Section II-E, III): Adam 5e-5, batch 12, 336×336, 100 epochs keeping the lowest validation loss,
1700/300 split of the 2000 ISIC 2017 training images ("We trained our network over 1700 images ... and used
300 images to monitor"), ImageNet VGG16 encoder; "class-augment" rows use flips / rotations and over-sampling
(each batch of 12 holds ≥ 2 images containing each label, 4 drawn at random). The ISIC entry (Tables I, II)
used neither and "stopped training after only 5 epochs": it keeps the 5th epoch. The lesion model (Section
III-C): 224×224, unreduced deep feature maps, one extra convolution, 12 epochs, batch 8.

Rows pass nothing to each other but artifacts: ``lesion_model`` saves its trained model
(:data:`LESION_MODEL_FILE`), which the Lesion baseline (``depends_on=("lesion_model",)``) reads through
``session.artifact``; :data:`FIGURE_ROW` saves the predictions drawn in Fig. 1 and Fig. 4.

``--quick`` (synthetic data, 2 CPU cores, minutes): 64×64 inputs, no ImageNet weights (no network), learning
rate :data:`QUICK_LEARNING_RATE` (higher than the paper's 5e-5, which needs ImageNet features and 100 epochs),
:data:`QUICK_EPOCHS` epochs, the eight rows of Table IV (which include Table III's four), the lesion model
(64×64, :data:`QUICK_EPOCHS` epochs, the paper's batch of 8) with Table II's Lesion baseline built on it, the
Empty baseline, and Table V's three evaluations of the VGG skip model (Table IV's last row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermkit.data.isic import ISIC2017_FEATURES
from dermkit.training.experiment import Experiment
from dermkit.training.report import Table, TableRow

NAME = "kawahara2018"
#: Bumped when a recipe changes results (part of every row's fingerprint).
VERSION = 1
TABLES = ("I", "II", "III", "IV", "V", "III-C")

#: Paper abbreviations of :data:`ISIC2017_FEATURES`, in channel order.
ABBREV = ("PN", "NN", "MC", "ST")

#: Full-scale settings (Section II-E, III).
FULL = {
    "input_size": 336,
    "batch_size": 12,
    "learning_rate": 5e-5,
    "epochs": 100,
    "encoder_weights": "imagenet",
    "n_val": 300,
    "per_label": 2,
}

QUICK_LEARNING_RATE = 3e-4
QUICK_EPOCHS = 5

#: ``--quick`` settings: small inputs, random encoder, a higher learning rate, few epochs.
QUICK = {
    "input_size": 64,
    "batch_size": 12,
    "learning_rate": QUICK_LEARNING_RATE,
    "epochs": QUICK_EPOCHS,
    "encoder_weights": None,
    "n_val": 0.2,
    "per_label": 2,
}

#: Synthetic data used by ``--data synthetic`` (generated at the quick input size).
SYNTHETIC = {"n_train": 120, "n_val": 20, "n_test": 40, "image_size": (64, 64)}


def _per_feature(metrics: tuple[str, ...], rows: dict[str, tuple[float, ...]]) -> dict[str, dict[str, float]]:
    return {feature: dict(zip(metrics, values)) for feature, values in rows.items()}


_T1 = ("ACC", "AUROC", "AP", "SEN", "SPC")
_T2 = ("ACC", "AUROC", "AP", "SEN", "SPC", "J1", "Jnan")
_T3 = ("AUROC", "AP", "Jc", "Jnan")

#: Table I: official ISIC 2017 test results (other entries are reported for reference only).
TABLE1_OTHER_ENTRIES = {
    "Lee [28]": _per_feature(_T1, {
        "PN": (0.915, 0.828, 0.487, 0.736, 0.921), "NN": (0.905, 0.762, 0.321, 0.618, 0.906),
        "MC": (0.843, 0.837, 0.421, 0.832, 0.843), "ST": (0.961, 0.900, 0.422, 0.839, 0.961),
        "avg": (0.906, 0.832, 0.413, 0.649, 0.907)}),
    "Shen [28]": _per_feature(_T1, {
        "PN": (0.909, 0.835, 0.491, 0.756, 0.914), "NN": (0.917, 0.762, 0.317, 0.606, 0.919),
        "MC": (0.852, 0.838, 0.418, 0.824, 0.852), "ST": (0.978, 0.896, 0.411, 0.815, 0.978),
        "avg": (0.914, 0.833, 0.409, 0.665, 0.915)}),
}

_ENTRY_T1 = _per_feature(_T1, {
    "PN": (0.951, 0.945, 0.582, 0.803, 0.956), "NN": (0.982, 0.869, 0.152, 0.428, 0.984),
    "MC": (0.988, 0.807, 0.078, 0.303, 0.990), "ST": (0.997, 0.960, 0.151, 0.637, 0.997),
    "avg": (0.980, 0.895, 0.241, 0.542, 0.981)})
_ENTRY_T2 = _per_feature(_T2, {
    "PN": (0.951, 0.944, 0.585, 0.806, 0.956, 0.319, 0.217), "NN": (0.982, 0.870, 0.159, 0.427, 0.984, 0.339, 0.021),
    "MC": (0.988, 0.809, 0.075, 0.294, 0.990, 0.225, 0.031), "ST": (0.997, 0.963, 0.154, 0.605, 0.997, 0.532, 0.007),
    "avg": (0.980, 0.896, 0.243, 0.533, 0.982, 0.354, 0.069)})
_LESION_T2 = _per_feature(_T2, {
    "PN": (0.832, 0.913, 0.528, 0.962, 0.827, 0.167, 0.167), "NN": (0.807, 0.916, 0.502, 0.992, 0.806, 0.012, 0.012),
    "MC": (0.805, 0.884, 0.421, 0.915, 0.805, 0.016, 0.016), "ST": (0.803, 0.894, 0.380, 0.960, 0.803, 0.001, 0.001),
    "avg": (0.812, 0.902, 0.458, 0.957, 0.810, 0.049, 0.049)})
_EMPTY_T2 = _per_feature(_T2, {
    "PN": (0.969, 0.500, 0.515, 0.000, 1.000, 0.445, 0.000), "NN": (0.996, 0.500, 0.502, 0.000, 1.000, 0.925, 0.000),
    "MC": (0.998, 0.500, 0.501, 0.000, 1.000, 0.755, 0.000), "ST": (1.000, 0.500, 0.500, 0.000, 1.000, 0.985, 0.000),
    "avg": (0.991, 0.500, 0.505, 0.000, 1.000, 0.777, 0.000)})

_T3_ROWS = {
    "a": _per_feature(_T3, {"PN": (0.963, 0.578, 0.299, 0.209), "NN": (0.941, 0.091, 0.066, 0.027),
                            "MC": (0.948, 0.077, 0.037, 0.023), "ST": (0.966, 0.049, 0.027, 0.009),
                            "avg": (0.955, 0.199, 0.107, 0.067)}),
    "b": _per_feature(_T3, {"PN": (0.882, 0.591, 0.427, 0.269), "NN": (0.502, 0.008, 0.000, 0.000),
                            "MC": (0.500, 0.001, 0.000, 0.000), "ST": (0.500, 0.000, 0.000, 0.000),
                            "avg": (0.596, 0.150, 0.107, 0.067)}),
    "c": _per_feature(_T3, {"PN": (0.938, 0.591, 0.380, 0.232), "NN": (0.798, 0.113, 0.080, 0.027),
                            "MC": (0.793, 0.075, 0.094, 0.045), "ST": (0.845, 0.033, 0.046, 0.010),
                            "avg": (0.843, 0.203, 0.150, 0.078)}),
    "d": _per_feature(_T3, {"PN": (0.910, 0.602, 0.426, 0.282), "NN": (0.645, 0.134, 0.079, 0.056),
                            "MC": (0.737, 0.103, 0.126, 0.051), "ST": (0.641, 0.053, 0.048, 0.039),
                            "avg": (0.733, 0.223, 0.170, 0.107)}),
}

_T5 = ("Direct-Jnan", "Thresh-Jnan", "Jnan")

_T3C = ("Jaccard", "Thresh-Jaccard")

#: Section III-C: "our entry for Part 1: Lesion Segmentation Task ranked sixth out of 21 entries based on the
#: Jaccard distance (ours 0.752 vs first place 0.765 [30])".
_LESION_JACCARD = {"ours": 0.752, "first place [30]": 0.765}

#: Table III's rows (a)–(d) are these Table IV rows.
TABLE3_ROWS = {"a": "t4_row2", "b": "t4_row3", "c": "t4_row5", "d": "t4_row8"}
#: Table IV's rows, top to bottom.
TABLE4_ORDER = tuple(f"t4_row{i}" for i in range(1, 9))
#: Table V's rows in the paper's order (the VGG skip model is Table IV's last row).
TABLE5_ORDER = ("t5_inception_resnet_v2_skip", "t5_resnet50_skip", "t5_vgg16_unet", "t4_row8")
TABLE5_LABELS = {"t4_row8": "VGG, skip (Table IV last row)"}

#: The lesion model's artifact (a whole Keras model, read back with :func:`dermkit.load_model`).
LESION_MODEL_FILE = "lesion_model.keras"
#: The lesion model's Fig. 5 predictions (an artifact of ``lesion_model``).
LESION_FIGURE_FILE = "fig5_lesions.npz"
#: The row whose predictions are drawn as Fig. 1 and Fig. 4 (the paper's best model, Table III d / IV last),
#: and the artifact it saves them in.
FIGURE_ROW = "t4_row8"
FIGURE_FILE = "figure_predictions.npz"
_FIGURE_IMAGES = 4
#: Fig. 5 "sampled lesions that have a computed Jaccard Index ... between 0.736 and 0.782".
FIG5_JACCARD_RANGE = (0.736, 0.782)


def _train(loss: str, *, partition: str | None = None, alpha: float | None = None, beta: float | None = None,
           class_augment: bool, backbone: str = "vgg16", connection: str = "skip", epochs: int | None = None,
           checkpoint: str = "best") -> dict[str, Any]:
    """A feature-model row's params. ``epochs`` None: the run's (100 at full scale); ``checkpoint``: "best"
    (lowest validation loss, Section II-E) or "last"."""
    return {"kind": "train", "loss": loss, "partition": partition, "alpha": alpha, "beta": beta,
            "class_augment": class_augment, "backbone": backbone, "connection": connection, "epochs": epochs,
            "checkpoint": checkpoint}


def _t4(row: int, label: str, params: dict, jnan: float, *, t3: str | None = None, t5: dict | None = None):
    tables = ("IV",) + (("III",) if t3 else ()) + (("V",) if t5 else ())
    reported = {"IV": {"Jnan": jnan}}
    if t3:
        reported["III"] = _T3_ROWS[t3]
    if t5:
        reported["V"] = t5
    return Experiment(key=f"t4_row{row}", label=label, tables=tables, params=params, reported=reported, quick=True)


_CHANNEL_BATCH = {"partition": "channel_batch", "alpha": 0.0, "beta": 1.0}

#: The experiment grid (rows pass state only through artifacts; their order does not matter).
EXPERIMENTS: list[Experiment] = [
    Experiment(
        key="isic_entry",
        label="ours* (ISIC entry: Dice-F1 channel-batch, α=0, β=1, no class-augment, the 5th epoch kept; "
              "trained on the 1700-image split, the 300 only monitored)",
        tables=("I", "II"),
        params=_train("dice", **_CHANNEL_BATCH, class_augment=False, epochs=5, checkpoint="last"),
        reported={"I": _ENTRY_T1, "II": _ENTRY_T2}),
    Experiment(
        key="lesion_model",
        label="ours (Section III-C lesion segmentation: 224×224, unreduced deep maps, extra conv, 12 epochs, "
              "batch 8)",
        tables=("III-C",),
        params={"kind": "lesion_model", "input_size": 224, "epochs": 12, "batch_size": 8, "checkpoint": "last"},
        reported={"III-C": {"Jaccard": _LESION_JACCARD["ours"]}}, quick=True),
    Experiment(key="baseline_lesion", label="Lesion", tables=("II",), params={"kind": "baseline_lesion"},
               reported={"II": _LESION_T2}, quick=True, depends_on=("lesion_model",)),
    Experiment(key="baseline_empty", label="Empty", tables=("II",), params={"kind": "baseline_empty"},
               reported={"II": _EMPTY_T2}, quick=True),
    _t4(1, "Cross-entropy, no class-augment", _train("wbce", class_augment=False), 0.0),
    _t4(2, "Cross-entropy, class-augment (Table III a)", _train("wbce", class_augment=True), 0.067, t3="a"),
    _t4(3, "Dice-F1 volume-batch, class-augment, α=0 β=1 (Table III b)",
        _train("dice", partition="volume", alpha=0.0, beta=1.0, class_augment=True), 0.067, t3="b"),
    _t4(4, "Dice-F1 channel-image, class-augment, α=1 β=1",
        _train("dice", partition="channel_image", alpha=1.0, beta=1.0, class_augment=True), 0.0),
    _t4(5, "Dice-F1 channel-image, class-augment, α=0 β=1 (Table III c)",
        _train("dice", partition="channel_image", alpha=0.0, beta=1.0, class_augment=True), 0.078, t3="c"),
    _t4(6, "Dice-F1 channel-batch, no class-augment, α=1 β=1",
        _train("dice", partition="channel_batch", alpha=1.0, beta=1.0, class_augment=False), 0.0),
    _t4(7, "Dice-F1 channel-batch, no class-augment, α=0 β=1",
        _train("dice", **_CHANNEL_BATCH, class_augment=False), 0.083),
    _t4(8, "Dice-F1 channel-batch, class-augment, α=0 β=1 (Table III d; VGG skip of Table V)",
        _train("dice", **_CHANNEL_BATCH, class_augment=True), 0.107, t3="d",
        t5={"Direct-Jnan": 0.071, "Thresh-Jnan": 0.088, "Jnan": 0.107}),
    Experiment(key="t5_inception_resnet_v2_skip", label="InceptionResNetV2, skip", tables=("V",),
               params=_train("dice", **_CHANNEL_BATCH, class_augment=True, backbone="inception_resnet_v2"),
               reported={"V": {"Direct-Jnan": 0.045, "Thresh-Jnan": 0.078, "Jnan": 0.082}}),
    Experiment(key="t5_resnet50_skip", label="ResNet50, skip", tables=("V",),
               params=_train("dice", **_CHANNEL_BATCH, class_augment=True, backbone="resnet50"),
               reported={"V": {"Direct-Jnan": 0.049, "Thresh-Jnan": 0.083, "Jnan": 0.091}}),
    Experiment(key="t5_vgg16_unet", label="VGG, UNet connections", tables=("V",),
               params=_train("dice", **_CHANNEL_BATCH, class_augment=True, connection="unet"),
               reported={"V": {"Direct-Jnan": 0.072, "Thresh-Jnan": 0.073, "Jnan": 0.082}}),
]


def settings(session) -> dict[str, Any]:
    """The run's settings: :data:`QUICK` or :data:`FULL`."""
    return dict(QUICK if session.options.quick else FULL)


def lesion_settings(exp: Experiment, session) -> dict[str, Any]:
    """The lesion model's input size, epochs and batch: the row's (Section III-C) at full scale; ``--quick``:
    :data:`QUICK`'s input size and epochs with the paper's batch of 8."""
    params = exp.params
    if session.options.quick:
        return {"input_size": QUICK["input_size"], "epochs": QUICK["epochs"], "batch_size": params["batch_size"]}
    return {"input_size": params["input_size"], "epochs": params["epochs"], "batch_size": params["batch_size"]}


# ---------------------------------------------------------------------------------------------------------
# Evaluation (Section III): the library's Part2Evaluation, mapped to the paper's table columns.
# ---------------------------------------------------------------------------------------------------------
#: Table column → :class:`dermkit.metrics.isic.Part2Evaluation` column. The tables' "AP" is the 2017 scorer's
#: trapezoidal AP; AP_step (scikit-learn's step-wise AP) is stored for reference.
COLUMNS = {
    "ACC": "accuracy", "AUROC": "auc", "AP": "average_precision_2017", "AP_step": "average_precision",
    "SEN": "sensitivity", "SPC": "specificity", "J1": "j1", "Jnan": "jnan", "Jc": "jc",
    "Direct-Jnan": "direct_jnan", "Thresh-Jnan": "thresholded_jnan",
}


def evaluate_predictions(items: Iterable[dict], predict: Callable[[dict], np.ndarray], *,
                         log: Callable[[str], None] | None = None, every: int = 100) -> dict[str, Any]:
    """Score a predictor on per-image evaluation items at original resolution.

    Args:
        items: dicts with ``image`` (float32 [H, W, 3] in [0, 1]), ``index`` (int [H, W] superpixel map),
            ``labels`` (float32 [N, 4] truth) and ``image_id`` (and optionally ``path``).
        predict: ``predict(item)`` → ``[H, W, 4]`` pixel probabilities at the item's size, or ``[N, 4]``
            superpixel probabilities (the baselines).
        log: called with a progress line every ``every`` images.

    Returns:
        ``{feature_abbrev: {column: value}, "avg": {...}, "n_images": n}`` with the columns of :data:`COLUMNS`
        (Direct-Jnan and Thresh-Jnan only for pixel predictions).
    """
    from dermkit.metrics.isic import Part2Evaluation

    evaluation = Part2Evaluation()
    for item in items:
        evaluation.update(item["labels"], predict(item), item["index"], where=item.get("path") or item["image_id"])
        if log is not None and evaluation.n_images % every == 0:
            log(f"evaluated {evaluation.n_images} test images")
    table = evaluation.result()
    rows = dict(zip(ABBREV + ("avg",), ISIC2017_FEATURES + ("average",)))
    result: dict[str, Any] = {
        abbrev: {column: float(table.loc[row, name]) for column, name in COLUMNS.items() if name in table.columns}
        for abbrev, row in rows.items()
    }
    result["n_images"] = evaluation.n_images
    return result


# ---------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------
def _data_label(session) -> str:
    return "SYNTHETIC ISIC 2017 test split" if session.options.synthetic else "ISIC 2017 test set"


def _feature_rows(exp_label: str, result: dict | None, reported: dict, metrics) -> list[TableRow]:
    rows = []
    for part in ABBREV + ("avg",):
        ours = {m: (result or {}).get(part, {}).get(m) for m in metrics} if result else {}
        rows.append(TableRow(f"{exp_label} · {part}", ours, reported.get(part, {})))
    return rows


def _entry_note(results: dict, session) -> list[str]:
    if "isic_entry" in results:
        return []
    if session.options.quick:
        return ["ours* (the ISIC entry) is a full-scale row, not part of --quick: its cells show the paper's "
                "numbers only (run without --quick to train it)."]
    return ["ours* (the ISIC entry, row isic_entry) has not run in this folder yet: its cells show the paper's "
            "numbers only."]


def make_tables(results: dict[str, dict], data, session) -> list[Table]:
    """Tables I–V and III-C from the finished rows (rows not run show the paper's numbers only)."""
    by_key = {e.key: e for e in EXPERIMENTS}
    chosen = set(session.options.tables)
    wanted = [t for t in TABLES if "all" in chosen or t in chosen]
    synthetic = session.options.synthetic
    label = _data_label(session)
    quick_note = ("--quick: 64×64 inputs, random encoder (no ImageNet), lr "
                  f"{QUICK_LEARNING_RATE:g}, {QUICK_EPOCHS} epochs — not the paper's settings.")
    quick = [quick_note] if session.options.quick else []
    tables = []
    if "I" in wanted:
        rows = _feature_rows("ours", results.get("isic_entry"), _ENTRY_T1, _T1)
        for entry, reported in TABLE1_OTHER_ENTRIES.items():
            rows += _feature_rows(entry, None, reported, _T1)
        tables.append(Table("I", "Official results over the ISIC-ISBI 2017 test dataset", _T1, rows, label,
                            synthetic, _entry_note(results, session)))
    if "II" in wanted:
        rows = []
        for key in ("baseline_lesion", "baseline_empty", "isic_entry"):
            exp = by_key[key]
            rows += _feature_rows(exp.label.split(" (")[0], results.get(key), exp.reported.get("II", {}), _T2)
        notes = quick + _entry_note(results, session) + [
            "Lesion: every pixel inside the lesion predicted by the lesion_model row (Section III-C; its Jaccard "
            "is table III-C) counts as all four features."]
        tables.append(Table("II", "Two simple baselines", _T2, rows, label, synthetic, notes))
    if "III" in wanted:
        rows = []
        for letter, key in TABLE3_ROWS.items():
            rows += _feature_rows(f"({letter})", results.get(key), by_key[key].reported["III"], _T3)
        tables.append(Table("III", "Detailed results comparing loss functions", _T3, rows, label, synthetic, quick))
    if "IV" in wanted:
        rows = [TableRow(by_key[key].label, {"Jnan": results.get(key, {}).get("avg", {}).get("Jnan")},
                         by_key[key].reported["IV"]) for key in TABLE4_ORDER]
        tables.append(Table("IV", "Mini-batch partitions and divide-by-zero corrections (J̄nan, avg)", ("Jnan",),
                            rows, label, synthetic, quick))
    if "V" in wanted:
        rows = [
            TableRow(TABLE5_LABELS.get(key, by_key[key].label),
                     {m: results.get(key, {}).get("avg", {}).get(m) for m in _T5}, by_key[key].reported["V"])
            for key in TABLE5_ORDER
        ]
        tables.append(Table("V", "Base models and connection types (averaged over features)", _T5, rows, label,
                            synthetic, quick))
    if "III-C" in wanted:
        lesion = results.get("lesion_model", {})
        exp = by_key["lesion_model"]
        ours = {"Jaccard": lesion.get("jaccard"), "Thresh-Jaccard": lesion.get("threshold_jaccard")}
        rows = [TableRow(exp.label, ours, exp.reported["III-C"])]
        rows += [TableRow(entry, {}, {"Jaccard": value}) for entry, value in _LESION_JACCARD.items()
                 if entry != "ours"]
        size, batch = lesion_settings(exp, session)["input_size"], exp.params["batch_size"]
        notes = [f"--quick: {size}×{size} inputs, random encoder (no ImageNet), lr {QUICK_LEARNING_RATE:g}, "
                 f"{QUICK_EPOCHS} epochs, batch {batch} — not the paper's settings."] if session.options.quick else []
        notes += [
            "Jaccard: the mean over test images of each image's Jaccard index of the > 0.5 masks (the ISIC 2017 "
            "Part 1 ranking score). Thresh-Jaccard: the same with values below 0.65 counted as 0 (ISIC 2018 "
            "Task 1), for reference; the paper reports the Jaccard only."]
        tables.append(Table("III-C", "Lesion segmentation (ISIC 2017 Part 1)", _T3C, rows,
                            label.replace("test", "Part 1 test"), synthetic, notes))
    return tables


# ---------------------------------------------------------------------------------------------------------
# Data (called once per process by the engine)
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Data:
    """The splits of one run: the paper's train/validation split of the ISIC 2017 training set, and the test set."""

    root: Path
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    synthetic: bool
    _eval_items: list | None = field(default=None, repr=False)

    def eval_items(self) -> list[dict] | Any:
        """Per-image test items at original resolution (kept in memory for small synthetic sets)."""
        from dermkit.data.pipelines import iter_isic2017_eval

        if not self.synthetic:
            return iter_isic2017_eval(self.test)
        if self._eval_items is None:
            self._eval_items = list(iter_isic2017_eval(self.test))
        return self._eval_items


def validation_count(n_val: int | float, n_images: int) -> int:
    """How many of ``n_images`` training images are monitored: a fraction (``0.2``) of them, or a count
    (the paper's 300) capped at a fifth of a smaller set."""
    if isinstance(n_val, float):
        return int(round(n_val * n_images))
    return min(int(n_val), n_images // 5)


def split_train_val(frame: pd.DataFrame, n_val: int, *, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random split of ``frame`` into training and ``n_val`` validation images (each image its own group,
    :func:`dermkit.data.splits.grouped_split`); the same seed gives the same split. Both keep the file order."""
    from dermkit.data.splits import grouped_split

    share = n_val / len(frame)
    split = grouped_split(frame, (1.0 - share, share, 0.0), group="image_id", stratify=None, seed=seed)
    train = frame[split["split"].to_numpy() == "train"].reset_index(drop=True)
    val = frame[split["split"].to_numpy() == "val"].reset_index(drop=True)
    return train, val


def prepare(data: str, session) -> Data:
    """Load ISIC 2017 (``data`` = root of the unpacked archives) or generate the synthetic set, and split it.

    The paper trained on 1700 of the 2000 training images and monitored 300 (Section III); the official
    validation split is not used for training. ``--quick`` holds out 20 % of the training split. The split is
    random, seeded by the run's seed.
    """
    from dermkit.data.isic import load_isic2017

    synthetic = data == "synthetic"
    if synthetic:
        from dermkit.data.synthetic import make_isic2017, summarize_isic2017

        root = make_isic2017(session.output / "data" / "isic2017", **SYNTHETIC, seed=0)
        print(summarize_isic2017(root), flush=True)
    else:
        root = Path(data)
        session.log(f"reading the ISIC 2017 training and test sets under {root}")
    train_all = load_isic2017(root, "training")
    test = load_isic2017(root, "test")
    n_val = validation_count(settings(session)["n_val"], len(train_all))
    train, val = split_train_val(train_all, n_val, seed=session.seed)
    session.log(f"data {root}: {len(train)} train / {len(val)} validation (monitored) / {len(test)} test images")
    return Data(Path(root), train, val, test, synthetic)


# ---------------------------------------------------------------------------------------------------------
# Rows (called by the engine, one row at a time, inside the strategy scope)
# ---------------------------------------------------------------------------------------------------------
def run_experiment(exp: Experiment, data: Data, session) -> dict[str, Any]:
    """Run one row: train (or apply a baseline), then evaluate on the test split.

    The whole row runs inside :func:`dermkit.data.pipelines.named_data_errors`: a damaged file met by any of
    its datasets (the median-frequency mask pass, training, validation) or by the NumPy readers of the
    evaluation (:func:`~dermkit.data.pipelines.iter_isic2017_eval`, :func:`dermkit.data.imageio.read_image`)
    fails naming the file."""
    from dermkit.data.pipelines import named_data_errors

    with named_data_errors():
        return _run_row(exp, data, session)


def _run_row(exp: Experiment, data: Data, session) -> dict[str, Any]:
    kind = exp.params["kind"]
    if kind == "baseline_empty":
        from dermkit.models.baselines import empty_baseline

        return evaluate_predictions(_superpixel_items(data.eval_items()), lambda item: empty_baseline(item["index"]))
    if kind == "baseline_lesion":
        return _run_lesion_baseline(exp, data, session)
    if kind == "lesion_model":
        return _run_lesion_model(exp, data, session)
    return _run_training(exp, data, session)


def _superpixel_items(items):
    for item in items:
        yield {**item, "index": item["superpixels"]}


def _loss(params: dict, train_df: pd.DataFrame, size: int):
    from dermkit.losses import DiceF1Loss, WeightedBinaryCrossentropy, median_frequency_weights

    if params["loss"] == "dice":
        return DiceF1Loss(partition=params["partition"], alpha=params["alpha"], beta=params["beta"])
    from dermkit.data.pipelines import feature_dataset

    masks = feature_dataset(train_df, image_size=size, batch_size=16).map(lambda image, mask: mask)
    weights = median_frequency_weights(masks)
    return WeightedBinaryCrossentropy(pos_weights=weights.pos.tolist(), neg_weights=weights.neg.tolist())


def _train_datasets(exp: Experiment, data: Data, cfg: dict, seed: int):
    from dermkit.data.pipelines import Augment, feature_dataset
    from dermkit.data.sampling import MultiLabelBatchSampler, labels_present_from_features

    size, batch = cfg["input_size"], cfg["batch_size"]
    if exp.params["class_augment"]:
        present = labels_present_from_features(data.train)
        usable = present.any(axis=0)
        sampler = MultiLabelBatchSampler(present[:, usable], batch_size=batch, per_label=cfg["per_label"],
                                         seed=seed)
        train = feature_dataset(data.train, image_size=size, batch_size=None, sampler=sampler, augment=Augment(),
                                cache="memory", seed=seed)
    else:
        train = feature_dataset(data.train, image_size=size, batch_size=batch, shuffle=True, cache="memory",
                                seed=seed)
    val = feature_dataset(data.val, image_size=size, batch_size=batch, cache="memory") if len(data.val) else None
    return train, val


def _fit(session, model, train, val, *, epochs: int, checkpoint: str, n_train: int, n_val: int) -> dict:
    """``session.fit`` with log lines around the silent stretches (the first epoch traces the train step)."""
    session.log(f"{session.key}: training {epochs} epochs on {n_train} images ({n_val} monitored), keeping the "
                f"{'best epoch by validation loss' if checkpoint == 'best' else 'last epoch'}; the first epoch "
                "starts by tracing the train step (minutes for large models)")
    fit = session.fit(model, train, validation_data=val, epochs=epochs, checkpoint=checkpoint)
    kept = fit["best_epoch"] if checkpoint == "best" else fit["epochs_total"]
    session.log(f"{session.key}: trained {fit['epochs_run']} epochs in {fit['train_seconds']:.0f} s "
                f"(kept epoch {kept})")
    return fit


def _run_training(exp: Experiment, data: Data, session) -> dict[str, Any]:
    import time

    import keras

    from dermkit.metrics.keras_metrics import channel_dice_metrics
    from dermkit.models import vgg16_fcn

    cfg = settings(session)
    params = exp.params
    size = cfg["input_size"]
    start = time.perf_counter()
    session.log(f"{session.key}: building the {params['backbone']} FCN ({params['connection']} connections, "
                f"{size}×{size}, encoder {cfg['encoder_weights'] or 'random'})")
    model = vgg16_fcn(input_shape=(size, size, 3), num_classes=4, encoder_weights=cfg["encoder_weights"],
                      backbone=params["backbone"], connection=params["connection"])
    if params["loss"] == "wbce":
        session.log(f"{session.key}: median-frequency pixel weights over the {len(data.train)} training masks")
    loss = _loss(params, data.train, size)
    session.compile(model, optimizer=keras.optimizers.Adam(cfg["learning_rate"]), loss=loss,
                    metrics=channel_dice_metrics(ABBREV))
    session.log(f"{session.key}: {model.count_params():,} parameters, built in {time.perf_counter() - start:.0f} s")
    train, val = _train_datasets(exp, data, cfg, session.seed)
    row_epochs = None if session.options.quick else params["epochs"]  # only the ISIC entry sets its own
    epochs = session.epochs(row_epochs or cfg["epochs"])
    fit = _fit(session, model, train, val, epochs=epochs, checkpoint=params["checkpoint"], n_train=len(data.train),
               n_val=len(data.val))
    predictor = _pixel_predictor(model, size)
    session.log(f"{session.key}: evaluating on the {len(data.test)} test images at their original sizes")
    result = evaluate_predictions(_superpixel_items(data.eval_items()), predictor, log=_row_log(session))
    result["fit"] = fit
    if session.key == FIGURE_ROW:
        _save_figure_predictions(data, predictor, session.artifact(session.key, FIGURE_FILE))
    return result


def _row_log(session) -> Callable[[str], None]:
    key = session.key
    return lambda message: session.log(f"{key}: {message}")


def _pixel_predictor(model, size: int):
    from dermkit.inference import predict_mask

    def predict(item):
        return predict_mask(model, item["image"], input_size=(size, size))

    return predict


# ---------------------------------------------------------------------------------------------------------
# Section III-C: the lesion model, and Table II's Lesion baseline built on it
# ---------------------------------------------------------------------------------------------------------
def _fig5_distance(jaccard: float) -> float:
    low, high = FIG5_JACCARD_RANGE
    return max(0.0, low - jaccard, jaccard - high)


def _run_lesion_model(exp: Experiment, data: Data, session) -> dict[str, Any]:
    """Section III-C's lesion segmentation model: trained, saved as an artifact (read by the Lesion baseline),
    scored on the test set by the ISIC 2017 Part 1 Jaccard; Fig. 5's images (those with a Jaccard closest to
    :data:`FIG5_JACCARD_RANGE`) saved as a second artifact."""
    import keras

    from dermkit.data.imageio import read_image, read_mask
    from dermkit.data.masks import binarize_mask
    from dermkit.data.pipelines import Augment, segmentation_dataset
    from dermkit.inference import predict_mask
    from dermkit.losses import DiceF1Loss
    from dermkit.metrics.isic import SEGMENTATION_COLUMNS, isic_segmentation_scores
    from dermkit.models import vgg16_fcn
    from dermkit.models.utils import save_model_for_inference

    cfg = settings(session)
    lesion = lesion_settings(exp, session)
    size, batch = lesion["input_size"], lesion["batch_size"]
    session.log(f"{session.key}: building the lesion FCN ({size}×{size}, unreduced deep maps, extra conv, "
                f"encoder {cfg['encoder_weights'] or 'random'})")
    model = vgg16_fcn(input_shape=(size, size, 3), num_classes=1, encoder_weights=cfg["encoder_weights"],
                      reduce_deep=False, extra_conv=True)
    session.compile(model, optimizer=keras.optimizers.Adam(cfg["learning_rate"]), loss=DiceF1Loss())
    train = segmentation_dataset(data.train, image_size=size, batch_size=batch, augment=Augment(), shuffle=True,
                                 cache="memory", seed=session.seed)
    val = segmentation_dataset(data.val, image_size=size, batch_size=batch, cache="memory")
    fit = _fit(session, model, train, val, epochs=session.epochs(lesion["epochs"]),
               checkpoint=exp.params["checkpoint"], n_train=len(data.train), n_val=len(data.val))
    save_model_for_inference(model, session.artifact(session.key, LESION_MODEL_FILE), overwrite=True)

    session.log(f"{session.key}: scoring the lesion masks of the {len(data.test)} test images")
    log = _row_log(session)
    per_image = []
    for i, row in enumerate(data.test.itertuples(), 1):
        pred = predict_mask(model, read_image(row.image_path), input_size=(size, size))[..., 0]
        per_image.append(isic_segmentation_scores([read_mask(row.segmentation_path)], [pred])["per_image"])
        if i % 100 == 0:
            log(f"scored {i} test lesions")
    table = pd.concat(per_image, ignore_index=True)
    table.index = data.test["image_id"].to_numpy()
    result: dict[str, Any] = {c: float(table[c].mean()) for c in SEGMENTATION_COLUMNS}  # macro means, as the scorer
    result["n_images"] = len(table)

    ranked = sorted(table.index, key=lambda image_id: (_fig5_distance(table.loc[image_id, "jaccard"]), image_id))
    chosen = ranked[:_FIGURE_IMAGES]
    paths = data.test.set_index("image_id")["image_path"]
    arrays = {"image_id": np.array(chosen), "jaccard": table.loc[chosen, "jaccard"].to_numpy()}
    for i, image_id in enumerate(chosen):
        pred = predict_mask(model, read_image(paths[image_id]), input_size=(size, size))[..., 0]
        arrays[f"mask_{i}"] = binarize_mask(pred)
    np.savez_compressed(session.artifact(session.key, LESION_FIGURE_FILE), **arrays)
    result["fit"] = fit
    return result


def _run_lesion_baseline(exp: Experiment, data: Data, session) -> dict[str, Any]:
    """Table II "Lesion": every pixel of the lesion predicted by the ``lesion_model`` row's model (its
    artifact) positive for all four features (Eq. 2 gives border superpixels the fraction inside)."""
    from dermkit import load_model
    from dermkit.inference import predict_mask
    from dermkit.models.baselines import lesion_baseline

    path = session.artifact("lesion_model", LESION_MODEL_FILE)
    session.log(f"{session.key}: lesion masks from {path}")
    model = load_model(path, compile=False)

    def predict(item):
        return lesion_baseline(predict_mask(model, item["image"])[..., 0], item["index"])

    return evaluate_predictions(_superpixel_items(data.eval_items()), predict, log=_row_log(session))


# ---------------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------------
def _figure_items(data: Data) -> list[dict]:
    """The test images drawn in Figs. 1 and 4: those with the most feature types present, then by id."""
    items = []
    for item in data.eval_items():
        items.append(item)
        if not data.synthetic and len(items) >= 4 * _FIGURE_IMAGES:
            break
    ranked = sorted(items, key=lambda it: (-int((np.asarray(it["labels"]) > 0).any(axis=0).sum()), it["image_id"]))
    return ranked[:_FIGURE_IMAGES]


def _save_figure_predictions(data: Data, predictor, path: Path) -> None:
    arrays = {}
    for i, item in enumerate(_figure_items(data)):
        arrays[f"pred_{i}"] = predictor({**item, "index": item["superpixels"]}).astype(np.float16)
        arrays[f"id_{i}"] = np.array(item["image_id"])
    np.savez_compressed(path, **arrays)


def _artifact(session, key: str, name: str) -> Path | None:
    try:
        return session.artifact(key, name)
    except FileNotFoundError:
        return None


def make_figures(results: dict[str, dict], data: Data, session) -> list[Path]:
    """Fig. 3 (label combinations over the test set) always; Fig. 1 and Fig. 4 from :data:`FIGURE_ROW`'s saved
    predictions and Fig. 5 from the lesion model's, when those rows ran."""
    return _fig3(data, session) + _fig1_fig4(results, data, session) + _fig5(results, data, session)


def _tag(data: Data) -> str:
    return "SYNTHETIC DATA — " if data.synthetic else ""


def _fig3(data: Data, session) -> list[Path]:
    """Fig. 3: "The distribution of the superpixel labels over the ISIC-ISBI 2017 test set"."""
    from dermkit.data.isic import read_superpixel_labels
    from dermkit.plots import plot_label_combinations

    labels = [read_superpixel_labels(p) for p in data.test["features_path"]]
    n = sum(len(lab) for lab in labels)
    split = "synthetic test split" if data.synthetic else "ISIC 2017 test set"
    title = (f"{_tag(data)}kawahara2018 Fig. 3 — superpixel labels over the {split} ({len(labels)} images, "
             f"{n:,} superpixels)")
    return [plot_label_combinations(labels, session.figures_dir / "fig3_label_combinations.png", title=title,
                                    overwrite=True)]


def _fig1_fig4(results: dict[str, dict], data: Data, session) -> list[Path]:
    from dermkit.data.superpixels import superpixels_to_mask
    from dermkit.plots import plot_feature_overlays, plot_superpixel_pipeline

    saved = _artifact(session, FIGURE_ROW, FIGURE_FILE) if FIGURE_ROW in results else None
    if saved is None:
        return []
    arrays = np.load(saved)
    by_id = {item["image_id"]: item for item in _figure_items(data)}
    items, preds = [], []
    for i in range(_FIGURE_IMAGES):
        if f"id_{i}" in arrays and str(arrays[f"id_{i}"]) in by_id:
            items.append(by_id[str(arrays[f"id_{i}"])])
            preds.append(arrays[f"pred_{i}"].astype(np.float32))
    if not items:
        return []
    tag = _tag(data)
    model = next(e.label for e in EXPERIMENTS if e.key == FIGURE_ROW).split(" (")[0]
    figures = session.figures_dir
    # Fig. 1 shows pigment network and streaks: prefer an image that has both.
    both = [i for i, it in enumerate(items) if np.asarray(it["labels"])[:, [0, 3]].any(axis=0).all()]
    pick = both[0] if both else 0
    first = items[pick]
    return [
        plot_superpixel_pipeline(
            first["image"], first["superpixels"], first["labels"], preds[pick], figures / "fig1_superpixels.png",
            title=f"{tag}kawahara2018 Fig. 1 — {first['image_id']} ({model})", overwrite=True),
        plot_feature_overlays(
            [it["image"] for it in items], [superpixels_to_mask(it["superpixels"], it["labels"]) for it in items],
            preds, figures / "fig4_overlays.png",
            title=f"{tag}kawahara2018 Fig. 4 — green truth, dark blue prediction, light blue overlap",
            overwrite=True),
    ]


def _fig5(results: dict[str, dict], data: Data, session) -> list[Path]:
    """Fig. 5: lesion contours (truth green, prediction blue) with each image's Jaccard."""
    from dermkit.data.imageio import read_image, read_mask
    from dermkit.plots import plot_lesion_contours

    saved = _artifact(session, "lesion_model", LESION_FIGURE_FILE) if "lesion_model" in results else None
    if saved is None:
        return []
    arrays = np.load(saved)
    rows = data.test.set_index("image_id")
    ids = [str(i) for i in arrays["image_id"] if str(i) in rows.index]
    if not ids:
        return []
    masks = [arrays[f"mask_{i}"] for i, image_id in enumerate(arrays["image_id"]) if str(image_id) in rows.index]
    low, high = FIG5_JACCARD_RANGE
    title = (f"{_tag(data)}kawahara2018 Fig. 5 — lesion contours: green truth, blue prediction (images with a "
             f"Jaccard nearest {low}–{high})")
    return [plot_lesion_contours([read_image(rows.loc[i, "image_path"]) for i in ids],
                                 [read_mask(rows.loc[i, "segmentation_path"]) for i in ids], masks,
                                 session.figures_dir / "fig5_lesion_contours.png", names=ids, title=title,
                                 overwrite=True)]


#: ``dermkit plan``: the paper's training-set size (steps per epoch of the full-scale run on synthetic data).
PLAN = {"train_images": 1700, "val_images": 300,
        "source": "ISIC 2017 training set (2,000) less the 300 monitored images, Section III"}
