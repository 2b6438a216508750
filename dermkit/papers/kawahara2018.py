"""kawahara2018 — Kawahara & Hamarneh, "Fully Convolutional Neural Networks to Detect Clinical Dermoscopic
Features", IEEE JBHI 2018 (ISIC 2017 Part 2 winner). The experiment grid of Tables I–V as data, and the four
functions the shared runner (:mod:`dermkit.training.runner`) calls.

Equation → code:

* Eq. 1 (superpixels → masks), Eq. 2 (masks → superpixels): :mod:`dermkit.data.superpixels`.
* Eq. 3–7 (Dice-F1 over mini-batch partitions): :class:`dermkit.losses.DiceF1Loss`.
* Eq. 8–10 (fuzzy Jaccard, J̄1, J̄nan): :mod:`dermkit.metrics.jaccard`.
* Fig. 2 (VGG16 skip-concat FCN) and Table V variants: :func:`dermkit.models.vgg16_fcn`.
* Official 2017 Part 2 scores (Tables I, II): :func:`dermkit.metrics.isic.isic2017_part2_scores`.

Settings (Section II-E, III): Adam 5e-5, batch 12, 336×336, 100 epochs keeping the lowest validation loss,
1700/300 split of the 2000 ISIC 2017 training images, ImageNet VGG16 encoder; "class-augment" rows use flips /
rotations and over-sampling (each batch of 12 holds ≥ 2 images containing each label, 4 drawn at random).
The ISIC entry (Tables I, II) used neither, and 5 epochs.

``--quick`` (synthetic data, 2 CPU cores, minutes): 64×64 inputs, no ImageNet weights (no network), learning
rate :data:`QUICK_LEARNING_RATE` (higher than the paper's 5e-5, which needs ImageNet features and 100 epochs),
:data:`QUICK_EPOCHS` epochs, the eight rows of Table IV (which include Table III's four), the Empty and
Lesion baselines of Table II (the Lesion baseline uses the ground-truth lesion masks instead of a trained
lesion model, and says so), and Table V's three evaluations of the VGG skip model (Table IV's last row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermkit.data.isic import ISIC2017_FEATURES
from dermkit.training.report import Table, TableRow
from dermkit.training.runner import Experiment

NAME = "kawahara2018"
TABLES = ("I", "II", "III", "IV", "V")

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


def _train(loss: str, *, partition: str | None = None, alpha: float | None = None, beta: float | None = None,
           class_augment: bool, backbone: str = "vgg16", connection: str = "skip", epochs: int | None = None,
           n_val: int | None = None) -> dict[str, Any]:
    return {"kind": "train", "loss": loss, "partition": partition, "alpha": alpha, "beta": beta,
            "class_augment": class_augment, "backbone": backbone, "connection": connection, "epochs": epochs,
            "n_val": n_val}


def _t4(row: int, label: str, params: dict, jnan: float, t3: str | None = None, t5: dict | None = None):
    tables = ("IV",) + (("III",) if t3 else ()) + (("V",) if t5 else ())
    reported = {"IV": {"Jnan": jnan}}
    if t3:
        reported["III"] = _T3_ROWS[t3]
    if t5:
        reported["V"] = t5
    return Experiment(key=f"t4_row{row}", label=label, tables=tables, params=params, reported=reported, quick=True)


#: The experiment grid. Order matters: the lesion model precedes the Lesion baseline that uses it.
EXPERIMENTS: list[Experiment] = [
    Experiment(
        key="isic_entry", label="ours* (ISIC entry: Dice-F1 channel-batch, α=0, β=1, no class-augment, 5 epochs)",
        tables=("I", "II"), params=_train("dice", partition="channel_batch", alpha=0.0, beta=1.0,
                                          class_augment=False, epochs=5, n_val=0),
        reported={"I": _ENTRY_T1, "II": _ENTRY_T2}),
    Experiment(
        key="lesion_model", label="lesion segmentation model (Section III-C: 224×224, unreduced deep maps, "
                                  "extra conv, 12 epochs, batch 8)",
        tables=("II",), params={"kind": "lesion_model", "input_size": 224, "epochs": 12, "batch_size": 8}),
    Experiment(key="baseline_lesion", label="Lesion", tables=("II",), params={"kind": "baseline_lesion"},
               reported={"II": _LESION_T2}, quick=True),
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
        _train("dice", partition="channel_batch", alpha=0.0, beta=1.0, class_augment=False), 0.083),
    _t4(8, "Dice-F1 channel-batch, class-augment, α=0 β=1 (Table III d; VGG skip of Table V)",
        _train("dice", partition="channel_batch", alpha=0.0, beta=1.0, class_augment=True), 0.107, t3="d",
        t5=dict(zip(_T5, (0.071, 0.088, 0.107)))),
    Experiment(key="t5_inception_resnet_v2_skip", label="InceptionResNetV2, skip", tables=("V",),
               params=_train("dice", partition="channel_batch", alpha=0.0, beta=1.0, class_augment=True,
                             backbone="inception_resnet_v2"),
               reported={"V": dict(zip(_T5, (0.045, 0.078, 0.082)))}),
    Experiment(key="t5_resnet50_skip", label="ResNet50, skip", tables=("V",),
               params=_train("dice", partition="channel_batch", alpha=0.0, beta=1.0, class_augment=True,
                             backbone="resnet50"),
               reported={"V": dict(zip(_T5, (0.049, 0.083, 0.091)))}),
    Experiment(key="t5_vgg16_unet", label="VGG, UNet connections", tables=("V",),
               params=_train("dice", partition="channel_batch", alpha=0.0, beta=1.0, class_augment=True,
                             connection="unet"),
               reported={"V": dict(zip(_T5, (0.072, 0.073, 0.082)))}),
]


#: Table V's rows in the paper's order (the VGG skip model is Table IV's last row).
TABLE5_ORDER = ("t5_inception_resnet_v2_skip", "t5_resnet50_skip", "t5_vgg16_unet", "t4_row8")
TABLE5_LABELS = {"t4_row8": "VGG, skip (Table IV last row)"}


def settings(session) -> dict[str, Any]:
    """The run's settings: :data:`QUICK` or :data:`FULL`."""
    return dict(QUICK if session.options.quick else FULL)


# ---------------------------------------------------------------------------------------------------------
# Evaluation (Section III): official 2017 scores on superpixel probabilities (Eq. 2), fuzzy Jaccard on
# thresholded superpixel probabilities (values < 0.5 → 0), and Table V's pixel-level variants.
# ---------------------------------------------------------------------------------------------------------
def evaluate_predictions(items, predict) -> dict[str, Any]:
    """Score a predictor on per-image evaluation items at original resolution.

    Args:
        items: iterable of dicts with ``image`` (float32 [H, W, 3] in [0, 1]), ``index`` (int32 [H, W]
            superpixel map), ``labels`` (float32 [N, 4] truth) and ``image_id``; the dataset's original sizes.
        predict: ``predict(item) -> (pixel_probs [H, W, 4] or None, superpixel_probs [N, 4] or None)``; a
            missing superpixel prediction is computed from the pixel one by Eq. 2.

    Returns:
        ``{feature_abbrev: {metric: value}, "avg": {...}}`` with metrics ACC, AUROC, AP, AP_step, SEN, SPC (official
        2017 definitions on raw superpixel probabilities), J1, Jnan, Jc (thresholded superpixel probabilities,
        each superpixel weighted by its pixel count) and, when pixel predictions are given, Direct-Jnan and
        Thresh-Jnan (Table V); ``"n_images"``.
    """
    from dermkit.data.superpixels import mask_to_superpixels, superpixel_sizes, superpixels_to_mask
    from dermkit.metrics.isic import isic2017_part2_scores
    from dermkit.metrics.jaccard import (
        channel_jaccard_superpixels,
        mean_over_channels,
        per_image_jaccard,
        per_image_jaccard_superpixels,
        reduce_over_images,
        threshold_below,
    )

    truths, preds, sizes, direct, thresh = [], [], [], [], []
    for item in items:
        pixel, sp = predict(item)
        index = item["index"]
        if sp is None:
            sp = mask_to_superpixels(pixel, index, num_superpixels=len(item["labels"]))
        truths.append(np.asarray(item["labels"], np.float32))
        preds.append(np.clip(np.asarray(sp, np.float32), 0.0, 1.0))
        sizes.append(superpixel_sizes(index, len(item["labels"])))
        if pixel is not None:  # Table V: pixel-level J per image, accumulated without keeping full-size masks
            truth_pixels = superpixels_to_mask(index, item["labels"])
            direct.append(per_image_jaccard([truth_pixels], [pixel])[0])
            thresh.append(per_image_jaccard([truth_pixels], [threshold_below(pixel)])[0])
    official = isic2017_part2_scores(truths, preds)
    thresholded = [threshold_below(p) for p in preds]
    per_image = per_image_jaccard_superpixels(truths, thresholded, sizes)
    columns = {
        "ACC": official["accuracy"], "AUROC": official["auc"], "AP": official["average_precision_2017"],
        "AP_step": official["average_precision"], "SEN": official["sensitivity"],
        "SPC": official["specificity"],
    }
    per_channel = {
        "J1": reduce_over_images(per_image, empty="one"),
        "Jnan": reduce_over_images(per_image, empty="ignore"),
        "Jc": channel_jaccard_superpixels(truths, thresholded, sizes),
    }
    if direct:
        per_channel["Direct-Jnan"] = reduce_over_images(np.stack(direct), empty="ignore")
        per_channel["Thresh-Jnan"] = reduce_over_images(np.stack(thresh), empty="ignore")
    result: dict[str, Any] = {}
    for k, (abbrev, feature) in enumerate(zip(ABBREV, ISIC2017_FEATURES)):
        row = {name: float(col[feature]) for name, col in columns.items()}
        row.update({name: float(values[k]) for name, values in per_channel.items()})
        result[abbrev] = row
    avg = {name: float(col["average"]) for name, col in columns.items()}
    avg.update({name: mean_over_channels(values) for name, values in per_channel.items()})
    result["avg"] = avg
    result["n_images"] = len(truths)
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


def make_tables(results: dict[str, dict], data, session) -> list[Table]:
    """Tables I–V from the finished rows (rows not run show the paper's numbers only)."""
    by_key = {e.key: e for e in EXPERIMENTS}
    chosen = set(session.options.tables)
    wanted = [t for t in TABLES if "all" in chosen or t in chosen]
    synthetic = session.options.synthetic
    label = _data_label(session)
    quick_note = ("--quick: 64×64 inputs, random encoder (no ImageNet), lr "
                  f"{QUICK_LEARNING_RATE:g}, {QUICK_EPOCHS} epochs — not the paper's settings.")
    tables = []
    if "I" in wanted:
        rows = _feature_rows("ours", results.get("isic_entry"), _ENTRY_T1, _T1)
        for entry, reported in TABLE1_OTHER_ENTRIES.items():
            rows += _feature_rows(entry, None, reported, _T1)
        notes = [] if "isic_entry" in results else ["ISIC entry model not trained in this run (full scale only)"]
        tables.append(Table("I", "Official results over the ISIC-ISBI 2017 test dataset", _T1, rows, label,
                            synthetic, notes))
    if "II" in wanted:
        rows = []
        for key in ("baseline_lesion", "baseline_empty", "isic_entry"):
            exp = by_key[key]
            rows += _feature_rows(exp.label.split(" (")[0], results.get(key), exp.reported.get("II", {}), _T2)
        notes = []
        lesion = results.get("baseline_lesion", {})
        if lesion.get("lesion_source") == "ground_truth":
            notes.append("Lesion baseline from the ground-truth lesion masks (--quick), not a trained lesion model.")
        tables.append(Table("II", "Two simple baselines", _T2, rows, label, synthetic, notes))
    if "III" in wanted:
        rows = []
        for letter, exp in zip("abcd", [e for e in EXPERIMENTS if "III" in e.tables]):
            rows += _feature_rows(f"({letter})", results.get(exp.key), exp.reported["III"], _T3)
        tables.append(Table("III", "Detailed results comparing loss functions", _T3, rows, label, synthetic,
                            [quick_note] if session.options.quick else []))
    if "IV" in wanted:
        rows = [
            TableRow(exp.label, {"Jnan": results.get(exp.key, {}).get("avg", {}).get("Jnan")}, exp.reported["IV"])
            for exp in EXPERIMENTS if "IV" in exp.tables
        ]
        tables.append(Table("IV", "Mini-batch partitions and divide-by-zero corrections (J̄nan, avg)", ("Jnan",),
                            rows, label, synthetic, [quick_note] if session.options.quick else []))
    if "V" in wanted:
        rows = [
            TableRow(TABLE5_LABELS.get(key, by_key[key].label),
                     {m: results.get(key, {}).get("avg", {}).get(m) for m in _T5}, by_key[key].reported["V"])
            for key in TABLE5_ORDER
        ]
        tables.append(Table("V", "Base models and connection types (averaged over features)", _T5, rows, label,
                            synthetic, [quick_note] if session.options.quick else []))
    return tables


# ---------------------------------------------------------------------------------------------------------
# Data and experiments (called by the runner)
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


def prepare(data: str, session) -> Data:
    """Load ISIC 2017 (``data`` = root of the unpacked archives) or generate the synthetic set, and split it.

    The paper trained on 1700 of the 2000 training images and monitored 300 (Section III); the official
    validation split is not used for training. ``--quick`` holds out 20 % of the training split.
    """
    from dermkit.data.isic import load_isic2017

    synthetic = data == "synthetic"
    if synthetic:
        from dermkit.data.synthetic import make_isic2017, summarize_isic2017

        root = make_isic2017(session.output / "data" / "isic2017", **SYNTHETIC, seed=0)
        print(summarize_isic2017(root), flush=True)
    else:
        root = Path(data)
    train_all = load_isic2017(root, "training")
    test = load_isic2017(root, "test")
    n_val = settings(session)["n_val"]
    n_val = int(round(n_val * len(train_all))) if isinstance(n_val, float) else min(int(n_val), len(train_all) // 5)
    rng = np.random.default_rng(session.options.seed)
    order = rng.permutation(len(train_all))
    val = train_all.iloc[np.sort(order[:n_val])].reset_index(drop=True)
    train = train_all.iloc[np.sort(order[n_val:])].reset_index(drop=True)
    session.log(f"data {root}: {len(train)} train / {len(val)} validation / {len(test)} test images")
    return Data(Path(root), train, val, test, synthetic)


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


def _pixel_predictor(model, size: int):
    from dermkit.inference import predict_mask

    def predict(item):
        return predict_mask(model, item["image"], input_size=(size, size)), None

    return predict


def _superpixel_items(items):
    for item in items:
        yield {**item, "index": item["superpixels"]}


def run_experiment(exp: Experiment, data: Data, session) -> dict[str, Any]:
    """Run one row: train (or apply a baseline), then evaluate on the test split."""
    kind = exp.params["kind"]
    cfg = settings(session)
    if kind == "baseline_empty":
        from dermkit.models.baselines import empty_baseline

        return evaluate_predictions(_superpixel_items(data.eval_items()),
                                    lambda item: (None, empty_baseline(item["index"])))
    if kind == "baseline_lesion":
        return _run_lesion_baseline(data, session)
    if kind == "lesion_model":
        return _run_lesion_model(exp, data, session)
    return _run_training(exp, data, session, cfg)


def _run_training(exp: Experiment, data: Data, session, cfg: dict) -> dict[str, Any]:
    import keras

    from dermkit.metrics.keras_metrics import channel_dice_metrics
    from dermkit.models import vgg16_fcn

    params = exp.params
    size = cfg["input_size"]
    model = vgg16_fcn(input_shape=(size, size, 3), num_classes=4, encoder_weights=cfg["encoder_weights"],
                      backbone=params["backbone"], connection=params["connection"])
    loss = _loss(params, data.train, size)
    session.compile(model, optimizer=keras.optimizers.Adam(cfg["learning_rate"]), loss=loss,
                    metrics=channel_dice_metrics(ABBREV))
    train, val = _train_datasets(exp, data, cfg, session.options.seed)
    epochs = cfg["epochs"] if session.options.quick or params.get("epochs") is None else params["epochs"]
    fit = session.fit(model, train, validation_data=val, key=exp.key, epochs=epochs)
    predictor = _pixel_predictor(model, size)
    result = evaluate_predictions(_superpixel_items(data.eval_items()), predictor)
    result["fit"] = fit
    if exp.key == FIGURE_ROW:
        _save_figure_predictions(data, predictor, session.workdir(exp.key) / "figure_predictions.npz")
    return result


#: The row whose predictions are drawn as Fig. 1 and Fig. 4 (the paper's best model, Table III d / IV last).
FIGURE_ROW = "t4_row8"
_FIGURE_IMAGES = 4


def _figure_items(data: Data) -> list[dict]:
    """The test images drawn in the figures: those with the most feature types present, then by id."""
    items = []
    for item in data.eval_items():
        items.append(item)
        if not data.synthetic and len(items) >= 4 * _FIGURE_IMAGES:
            break
    ranked = sorted(items, key=lambda it: (-int((np.asarray(it["labels"]) > 0).any(axis=0).sum()), it["image_id"]))
    return ranked[:_FIGURE_IMAGES]


def _save_figure_predictions(data: Data, predictor, path: Path) -> None:
    from dermkit._io import atomic_path

    items = _figure_items(data)
    arrays = {}
    for i, item in enumerate(items):
        arrays[f"pred_{i}"] = predictor({**item, "index": item["superpixels"]})[0].astype(np.float16)
        arrays[f"id_{i}"] = np.array(item["image_id"])
    with atomic_path(path, overwrite=True) as tmp:
        np.savez_compressed(tmp, **arrays)


def make_figures(results: dict[str, dict], data: Data, session) -> list[Path]:
    """Fig. 1 and Fig. 4 from the saved predictions of :data:`FIGURE_ROW` (when that row ran)."""
    from dermkit.data.superpixels import superpixels_to_mask
    from dermkit.plots import plot_feature_overlays, plot_superpixel_pipeline

    saved = session.output / "work" / FIGURE_ROW / "figure_predictions.npz"
    if FIGURE_ROW not in results or not saved.exists():
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
    tag = "SYNTHETIC DATA — " if data.synthetic else ""
    model = next(e.label for e in EXPERIMENTS if e.key == FIGURE_ROW).split(" (")[0]
    figures = session.figures_dir
    # Fig. 1 shows pigment network and streaks: prefer an image that has both.
    both = [i for i, it in enumerate(items) if np.asarray(it["labels"])[:, [0, 3]].any(axis=0).all()]
    pick = both[0] if both else 0
    first = items[pick]
    paths = [
        plot_superpixel_pipeline(
            first["image"], first["superpixels"], first["labels"], preds[pick], figures / "fig1_superpixels.png",
            title=f"{tag}kawahara2018 Fig. 1 — {first['image_id']} ({model})", overwrite=True),
        plot_feature_overlays(
            [it["image"] for it in items], [superpixels_to_mask(it["superpixels"], it["labels"]) for it in items],
            preds, figures / "fig4_overlays.png",
            title=f"{tag}kawahara2018 Fig. 4 — green truth, dark blue prediction, light blue overlap",
            overwrite=True),
    ]
    return paths


def _lesion_model_path(session) -> Path:
    return session.workdir("lesion_model") / "lesion_model.weights.h5"


def _build_lesion_model(session, size: int, encoder_weights):
    from dermkit.models import vgg16_fcn

    return vgg16_fcn(input_shape=(size, size, 3), num_classes=1, encoder_weights=encoder_weights,
                     reduce_deep=False, extra_conv=True)


def _run_lesion_model(exp: Experiment, data: Data, session) -> dict[str, Any]:
    """Section III-C's lesion segmentation model, used by the full-scale Lesion baseline."""
    import keras

    from dermkit.data.pipelines import Augment, segmentation_dataset
    from dermkit.losses import DiceF1Loss
    from dermkit.metrics.isic import isic_segmentation_scores

    cfg = settings(session)
    size, batch = exp.params["input_size"], exp.params["batch_size"]
    model = _build_lesion_model(session, size, cfg["encoder_weights"])
    session.compile(model, optimizer=keras.optimizers.Adam(cfg["learning_rate"]), loss=DiceF1Loss())
    train = segmentation_dataset(data.train, image_size=size, batch_size=batch, augment=Augment(), shuffle=True,
                                 cache="memory", seed=session.options.seed)
    val = segmentation_dataset(data.val, image_size=size, batch_size=batch, cache="memory")
    fit = session.fit(model, train, validation_data=val, key=exp.key, epochs=exp.params["epochs"])
    model.save_weights(str(_lesion_model_path(session)))
    from dermkit.data.imageio import read_image, read_mask
    from dermkit.inference import predict_mask

    truths, preds = [], []
    for row in data.test.itertuples():
        truths.append(read_mask(row.segmentation_path))
        preds.append(predict_mask(model, read_image(row.image_path), input_size=(size, size))[..., 0])
    scores = isic_segmentation_scores(truths, preds)
    return {"jaccard": scores["jaccard"], "threshold_jaccard": scores["threshold_jaccard"], "fit": fit}


def _run_lesion_baseline(data: Data, session) -> dict[str, Any]:
    """Table II "Lesion": every pixel of the lesion positive for all four features.

    Full scale uses the trained lesion model (``lesion_model`` row) as the paper does; ``--quick`` (or a run
    without that row) uses the ground-truth lesion masks and records ``lesion_source``.
    """
    from dermkit.data.imageio import read_mask
    from dermkit.inference import predict_mask
    from dermkit.models.baselines import lesion_baseline

    weights = _lesion_model_path(session)
    masks = dict(zip(data.test["image_id"], data.test["segmentation_path"]))
    if weights.exists() and not session.options.quick:
        size = EXPERIMENTS[1].params["input_size"]
        model = _build_lesion_model(session, size, None)
        model.load_weights(str(weights))
        source = "lesion_model"

        def lesion_mask(item):
            return predict_mask(model, item["image"], input_size=(size, size))[..., 0]
    else:
        source = "ground_truth"

        def lesion_mask(item):
            return read_mask(masks[item["image_id"]])

    result = evaluate_predictions(_superpixel_items(data.eval_items()),
                                  lambda item: (None, lesion_baseline(lesion_mask(item), item["index"])))
    result["lesion_source"] = source
    return result

