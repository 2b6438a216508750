"""bisla2019 part 2 — purification and classification rows (hooked into :mod:`dermkit.papers.bisla2019`).

Rows (``params["kind"]`` → recipe):

* ``segmentation`` — the 7-channel dilated U-Net (Section 3.2.3, Table 1, Fig. 4):
  :func:`dermkit.models.dilated_unet` with ``preprocess=True`` (:class:`~dermkit.models.SevenChannelInput`),
  BCE, :func:`~dermkit.models.dilated_unet.segmentation_optimizer` (Adam 1e-4, β (0.9, 0.999), ×0.1 every 30
  epochs), horizontal and vertical flips, images resized to 400 then centre-cropped to 380 (reference notes);
  post-processing :func:`dermkit.data.masks.binarize_and_fill` (≥ 0.4, hole filling); the prediction is padded
  back to the 400 frame and resized to each image's own size, then scored by
  :func:`dermkit.metrics.isic_segmentation_scores` — the mean ``jaccard`` (paper 0.77, ISIC 2017 winner
  0.765), not the 2018 threshold Jaccard. The all-background prediction is scored too (the learning check).
* ``hair`` — hair and ruler removal (Section 3.2.2, Fig. 3): :func:`dermkit.preprocessing.remove_hair`
  with the authors' final setting (closing with a radius-3 disk, ``L_closed − L > 0.1`` in L* units) on every
  ISIC 2017 training image at 400×400 (the authors' ``main.m``), the lesion copied from the segmentation
  network's mask (depends on ``segmentation``). The paper purified the images "which contained hairs and
  rulers" without saying how they were picked; the authors' mask marks most skin pixels, so it cannot pick
  them: dermkit counts an image as containing hairs or rulers when at least :data:`FULL`
  ``["hair"]["min_fraction"]`` of its pixels exceed ``select_threshold`` (5 L* units, dermkit's choice), and
  publishes those images' copies cleaned with the authors' setting (``purified/manifest.csv``) for the data
  growth (paper: 147 melanoma, 470 nevus, 182 SK). On the synthetic data, whose generator writes the painted
  hairs and ruler ticks, the row also reports the recall and precision of the authors' masks and the share of
  hair-free skin pixels they mark (the learning check asks recall ≥ 0.7).
* ``purification_net`` — the partial-convolution purification network (supplement 6.1, Fig. 10):
  :func:`dermkit.models.partialconv_unet` trained with :class:`dermkit.losses.InpaintingLoss` on
  :func:`dermkit.preprocessing.purification_pairs` of the ISIC 2018 training part (lesion masks from the
  segmentation network): input the original (occluded) image, target its classically purified copy, holes
  the occlusion mask ∪ a random mask ("the input of the network is the original image and the output is the
  same image after occlusion removal"); Adam 2e-4 (0.5, 0.99) then SGD momentum 0.9 at 1e-4 — dermkit
  switches after :data:`FULL` ``["purification"]["epochs_adam"]`` epochs (the paper does not say when).
  Scored on the held-out part: L1 inside the holes against the target, beside a mean-colour fill.
* ``classifier`` — the ResNet-50 classifier (Section 4.1, Tables 3–4, Figs. 2, 8, 9): SGD lr 1e-3,
  momentum 0.9, batch 50; train transforms scale 400, vertical flip, random crop 224; evaluation centre crop
  224 (reference notes). ``variant="baseline"``: "ResNet-50 pretrained on ImageNet and fine tuned on raw data
  without any purification/augmentation": no flips; the scale + random crop 224 of the authors' transform
  only (dermkit keeps the crop: the input size needs it); ``variant="proposed"``: the Fig. 7
  training set of :func:`dermkit.data.grow_training_set` — originals (ISIC 2017 training, + PH2 and Dermofit
  when present), the part-1 GAN images (depends on ``gan_melanoma`` / ``gan_sk``: their
  ``generated/manifest.csv``), horizontal flips of melanoma and SK, the purified copies of the ``hair`` row,
  ×6 by vertical flips and random crops. Scored on the ISIC 2017 test set: ROC AUC per class and mean(MEL, SK)
  (Table 3), specificity at 82 / 89 / 95 % melanoma sensitivity (Table 4), the three-class accuracy and the
  confusion matrix (Fig. 9), VisualBackProp on test images (Fig. 2 baseline, Fig. 8 proposed).
* ``isic2018`` — Table 6: a 7-class ResNet-50 on a lesion-grouped 80/20 split of the ISIC 2018 Task 3 training
  set (its test labels were not public), training on the training part plus its copies purified by the
  purification network, class-balanced batches (Section 6.3 "balanced the data online"); scored on the
  held-out part as is and after test-time purification: the network's holes are the occlusions
  ``remove_hair`` (the authors' setting) finds outside the lesion the segmentation network segments, so the
  lesion is never repainted (:func:`dermkit.preprocessing.purification_test_masks`; which mask the paper's
  network got is not said). Metrics as the ISIC 2018 server reports them (the paper: "ISIC 2018 ... utilizes
  black box system to output relevant metrics"): the scorer's macro averages of the one-vs-rest accuracy,
  sensitivity and specificity (:func:`dermkit.metrics.isic.isic_macro_averages`), with the overall and the
  balanced accuracy beside. The paper's two rows are mutually inconsistent under any one definition (table
  note).
  The coupled-DCGAN images of part 1 are not added (dermkit's choice; the paper's Section 6 does not give
  their number).

Tables: ``segmentation``, ``purification``, ``3``, ``4``, ``6``, ``fig9`` (three-class accuracy), ``fig7``
(training-set growth beside :data:`dermkit.data.growth.PAPER_GROWTH`). Figures: ``fig2_visualbackprop_baseline``,
``fig3_hair_removal``, ``fig4_segmentation``, ``fig7_data_growth``, ``fig8_visualbackprop_proposed``,
``fig9_roc_confusion``, ``fig10_purification_network``, ``fig11_isic2018_class_sizes``.

Epochs are not in the paper (dermkit's choices, :data:`FULL`). TensorFlow is imported inside the recipes only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermkit.training.experiment import Experiment
from dermkit.training.report import Table, TableRow

__all__ = ["EXPERIMENTS_PART2", "RECIPES_PART2", "TABLES_PART2", "TABLE_BUILDERS_PART2", "make_figures_part2",
           "FULL", "QUICK", "SYNTHETIC_ISIC2017"]

ISIC2017_CLASSES = ("melanoma", "nevus", "seborrheic_keratosis")
ISIC2018_CLASSES = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")  # dermkit's reader order

# --- the paper's numbers -----------------------------------------------------------------------------------
#: Section 3.2.3: mean Jaccard on the ISIC 2017 test set, and the challenge winner's.
PAPER_JACCARD = 0.77
WINNER_JACCARD = 0.765
#: Table 3: ROC AUC melanoma and mean(melanoma, SK) on the ISIC 2017 test set.
TABLE3 = {"baseline": {"auc_melanoma": 0.805, "auc_mean": 0.873},
          "proposed": {"auc_melanoma": 0.880, "auc_mean": 0.915},
          "winners": {"auc_melanoma": 0.874, "auc_mean": 0.911}}
#: Table 4: specificity at 82 / 89 / 95 % melanoma sensitivity.
SENSITIVITIES = (0.82, 0.89, 0.95)
TABLE4_METRICS = ("spec_at_82", "spec_at_89", "spec_at_95")
TABLE4 = {"Top AVG [24]": (0.729, 0.588, 0.366), "Top SK [14]": (0.727, 0.555, 0.404),
          "Top M [27]": (0.747, 0.590, 0.395), "proposed": (0.697, 0.648, 0.492)}
#: Table 6: ISIC 2018 without / with test-time purification.
TABLE6_METRICS = ("accuracy", "sensitivity", "specificity")
#: Table 6's columns in dermkit: the paper's three (the ISIC scorer's macro averages) and two beside them.
TABLE6_COLUMNS = (*TABLE6_METRICS, "overall_accuracy", "balanced_accuracy")
TABLE6 = {"raw": (0.675, 0.561, 0.954), "purified": (0.717, 0.754, 0.837)}
#: Section 4.2 / Fig. 9: three-class accuracy of the proposed model from its confusion matrix.
FIG9_ACCURACY = 0.816
#: Section 3.2.2: images with hairs and rulers that were purified and added.
PAPER_PURIFIED = {"melanoma": 147, "nevus": 470, "seborrheic_keratosis": 182}
#: Section 4.2: the ISIC 2017 test set.
PAPER_TEST_COUNTS = {"melanoma": 117, "nevus": 393, "seborrheic_keratosis": 90}
#: Section 6.2 / Fig. 11: ISIC 2018 training class sizes as printed.
FIG11_COUNTS = {"AKIEC": 452, "BCC": 825, "BKL": 1833, "DF": 187, "MEL": 2285, "NV": 9786, "VASC": 142}

# --- settings ----------------------------------------------------------------------------------------------
#: Full-scale settings (paper and reference notes; epochs and the SGD switch are dermkit's choices).
FULL: dict[str, Any] = {
    "segmentation": {"load_size": 400, "input_size": 380, "width": 1.0, "batch_size": 15, "epochs": 90,
                     "learning_rate": 1e-4, "decay_every": 30, "threshold": 0.4, "max_train": None,
                     "max_test": None},
    "hair": {"size": 400, "radius": 3, "threshold": 0.1, "select_threshold": 5.0, "min_fraction": 0.02,
             "max_images": None},
    "purification": {"size": 256, "depth": 7, "width": 1.0, "batch_size": 8, "epochs_adam": 40, "epochs_sgd": 20,
                     "vgg_weights": "imagenet", "vgg_layers": None, "loss_weights": None, "max_train": None,
                     "max_eval": 64},
    "classifier": {"scale": 400, "input_size": 224, "batch_size": 50, "epochs": 30, "steps_per_epoch": None,
                   "learning_rate": 1e-3, "momentum": 0.9, "encoder_weights": "imagenet", "max_test": None,
                   "recalibrate_bn": None, "gan_at_paper_ratio": False},
    "isic2018": {"epochs": 30, "max_train": None},
}
#: ``--quick`` (2 CPU cores): the smallest valid U-Net side at width 1/8, the purification network at 64² with
#: depth 6 and the perceptual/style terms off (no ImageNet VGG offline), the classifiers at 64² from random
#: weights at SGD lr 1e-2 (1e-3 learns nothing from scratch in a few epochs), a few epochs of a few images.
QUICK: dict[str, Any] = {
    "segmentation": {"load_size": 228, "input_size": 228, "width": 0.125, "batch_size": 4, "epochs": 5,
                     "learning_rate": 1e-3, "decay_every": 30, "threshold": 0.4, "max_train": 48,
                     "max_test": 24},
    "hair": {"size": None, "radius": 3, "threshold": 0.1, "select_threshold": 5.0, "min_fraction": 0.02,
             "max_images": None},
    # purification: 8 + 2 epochs (60 steps); 2 + 1 left the held-out hole L1 at 0.260 against the mean-colour
    # fill's 0.132 (1.97×, at the 2× bar of test_whole_quick_run)
    "purification": {"size": 64, "depth": 6, "width": 0.25, "batch_size": 8, "epochs_adam": 8, "epochs_sgd": 2,
                     "vgg_weights": None, "vgg_layers": ("block1_pool",), "loss_weights": {"perceptual": 0.0,
                                                                                            "style": 0.0},
                     "max_train": 48, "max_eval": 16},
    "classifier": {"scale": 72, "input_size": 64, "batch_size": 16, "epochs": 4, "steps_per_epoch": 8,
                   "learning_rate": 1e-3, "momentum": 0.9, "encoder_weights": None, "max_test": None,
                   "recalibrate_bn": 64, "gan_at_paper_ratio": True},
    "isic2018": {"epochs": 3, "max_train": None},
}
#: Added to part 1's synthetic ISIC 2017 options: the generator writes the painted hairs / ruler ticks (the
#: hair-removal ground truth) and draws hairs on 40 % of the images.
SYNTHETIC_ISIC2017 = {"occlusion_masks": True, "hair_fraction": 0.4}
ISIC2018_SPLIT = (0.8, 0.2, 0.0)


#: Bumped when :data:`FULL` / :data:`QUICK` change (part of every part-2 row's params, so stored rows go stale).
SETTINGS_VERSION = 7  # 7: --quick purification network 8 + 2 epochs


def settings(session) -> dict[str, Any]:
    """The part-2 settings of the run: :data:`QUICK` or :data:`FULL`."""
    return QUICK if session.options.quick else FULL


# --- rows --------------------------------------------------------------------------------------------------
EXPERIMENTS_PART2: list[Experiment] = [
    Experiment("segmentation", "7-channel dilated U-Net", ("segmentation",),
               {"kind": "segmentation", "settings": SETTINGS_VERSION},
               reported={"segmentation": {"jaccard": PAPER_JACCARD}}, quick=True),
    Experiment("hair_removal", "hair / ruler removal (closing)", ("purification", "fig7"),
               {"kind": "hair", "settings": SETTINGS_VERSION},
               reported={"purification": {f"purified_{c}": n for c, n in PAPER_PURIFIED.items()}}, quick=True,
               depends_on=("segmentation",)),
    Experiment("purification_net", "purification network (partial conv.)", ("purification", "6"),
               {"kind": "purification_net", "settings": SETTINGS_VERSION}, quick=True, depends_on=("segmentation",)),
    Experiment("classifier_baseline", "Traditional Baseline", ("3", "4", "fig9"),
               {"kind": "classifier", "variant": "baseline", "settings": SETTINGS_VERSION},
               reported={"3": TABLE3["baseline"]}, quick=True),
    Experiment("classifier_proposed", "Proposed Model", ("3", "4", "fig9", "fig7"),
               {"kind": "classifier", "variant": "proposed", "settings": SETTINGS_VERSION},
               reported={"3": TABLE3["proposed"], "4": dict(zip(TABLE4_METRICS, TABLE4["proposed"])),
                         "fig9": {"accuracy": FIG9_ACCURACY}},
               quick=True, depends_on=("gan_melanoma", "gan_sk", "hair_removal")),
    Experiment("isic2018_classifier", "ISIC 2018 classifier", ("6",),
               {"kind": "isic2018", "settings": SETTINGS_VERSION},
               reported={"6": {f"{m}_{k}": v for k, vals in TABLE6.items() for m, v in zip(TABLE6_METRICS, vals)}},
               quick=True, depends_on=("segmentation", "purification_net")),
]
TABLES_PART2: tuple[str, ...] = ("segmentation", "purification", "3", "4", "6", "fig9", "fig7")


# --- helpers -----------------------------------------------------------------------------------------------
def _paper():
    from dermkit.papers import bisla2019

    return bisla2019


def _read_rgb(path) -> np.ndarray:
    """RGB float32 [H, W, 3] in [0, 1] through dermkit's image reader."""
    from dermkit.data.imageio import read_image

    return read_image(path).astype(np.float32) / 255.0


def _read_mask(path) -> np.ndarray:
    from dermkit.data.imageio import read_mask

    return read_mask(path) > 127


def _resize(image: np.ndarray, side: int, *, nearest: bool = False) -> np.ndarray:
    import cv2

    if image.shape[0] == side and image.shape[1] == side:
        return image
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.resize(image, (side, side), interpolation=interp)


def _centre_crop(x: np.ndarray, side: int) -> np.ndarray:
    top, left = (x.shape[0] - side) // 2, (x.shape[1] - side) // 2
    return x[top:top + side, left:left + side]


def _cap(frame: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """At most ``n`` rows of ``frame`` (a seeded sample keeping the frame's order; all when None)."""
    if n is None or len(frame) <= n:
        return frame.reset_index(drop=True)
    keep = np.sort(np.random.default_rng(seed).choice(len(frame), n, replace=False))
    return frame.iloc[keep].reset_index(drop=True)


def _save_npz(path: Path, **arrays) -> None:
    from dermkit._io import atomic_savez

    atomic_savez(path, arrays, overwrite=True)


def _load_npz(session, key: str, name: str) -> dict | None:
    try:
        return dict(np.load(session.artifact(key, name)))
    except (FileNotFoundError, ValueError):
        return None


def _write_manifest(folder: Path, frame: pd.DataFrame) -> Path:
    from dermkit._io import atomic_path

    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "manifest.csv", overwrite=True) as tmp:
        frame.to_csv(tmp, index=False)
    return folder / "manifest.csv"


def _write_png(path: Path, image: np.ndarray) -> None:
    from dermkit.data.imageio import write_png

    write_png(path, np.clip(np.round(image * 255), 0, 255).astype(np.uint8), overwrite=True)


# --- segmentation ------------------------------------------------------------------------------------------
def _segmentation_dataset(frame: pd.DataFrame, cfg: dict, *, train: bool, seed: int):
    """(7-channel-ready RGB, mask) batches: resize to ``load_size``, centre crop ``input_size``, flips."""
    import tensorflow as tf

    from dermkit.data.pipelines import Augment, segmentation_dataset

    ds = segmentation_dataset(frame, image_size=cfg["load_size"], batch_size=cfg["batch_size"], cache="memory",
                              shuffle=train, seed=seed,
                              augment=Augment(flip_horizontal=True, flip_vertical=True, rot90=False) if train else None)
    side, load = cfg["input_size"], cfg["load_size"]
    off = (load - side) // 2

    def crop(x, y):
        return x[:, off:off + side, off:off + side], y[:, off:off + side, off:off + side]

    return ds.map(crop).prefetch(tf.data.AUTOTUNE)


def predict_lesion_masks(model, frame: pd.DataFrame, cfg: dict, *, shapes=None) -> list[np.ndarray]:
    """The segmentation network's binary masks for ``frame``'s images, each at its own image size
    (``shapes`` overrides): resize to ``load_size``, centre crop, predict, :func:`binarize_and_fill` at
    ``threshold``, pad back to the ``load_size`` frame (background), resize (nearest) to the image's size."""
    from dermkit.data.masks import binarize_and_fill

    side, load = cfg["input_size"], cfg["load_size"]
    off = (load - side) // 2
    masks: list[np.ndarray] = []
    batch = 16
    paths = list(frame["image_path"])
    for start in range(0, len(paths), batch):
        images = [_read_rgb(p) for p in paths[start:start + batch]]
        x = np.stack([_centre_crop(_resize(im, load), side) for im in images]).astype(np.float32)
        prob = np.asarray(model.predict_on_batch(x))[..., 0]
        for k, (im, pr) in enumerate(zip(images, prob)):
            full = np.zeros((load, load), bool)
            full[off:off + side, off:off + side] = binarize_and_fill(pr, threshold=cfg["threshold"])
            h, w = shapes[start + k] if shapes is not None else im.shape[:2]
            masks.append(_resize_hw(full, h, w))
    return masks


def _resize_hw(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    import cv2

    if mask.shape == (h, w):
        return mask.astype(bool)
    return cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0


def run_segmentation(exp: Experiment, data, session) -> dict[str, Any]:
    """Train the dilated U-Net on the ISIC 2017 training split (last epoch kept); score the test set's mean
    Jaccard at each image's own size (Section 3.2.3), and the all-background / all-lesion floors."""
    import keras

    from dermkit.metrics import isic_segmentation_scores
    from dermkit.models.dilated_unet import dilated_unet, segmentation_optimizer
    from dermkit.models.utils import save_model_for_inference

    cfg = settings(session)["segmentation"]
    train = _cap(data.isic2017["training"], cfg["max_train"], session.seed)
    test_split = "test" if "test" in data.isic2017 else "validation"
    test = _cap(data.isic2017[test_split], cfg["max_test"], session.seed + 1)
    ds = _segmentation_dataset(train, cfg, train=True, seed=session.seed)
    steps = math.ceil(len(train) / cfg["batch_size"])
    side = cfg["input_size"]
    session.log(f"{exp.key}: {len(train)} training / {len(test)} {test_split} images at {side}², width {cfg['width']}")
    model = dilated_unet((side, side, 3), width=cfg["width"], preprocess=True)
    opt = segmentation_optimizer(steps_per_epoch=steps, epochs=cfg["epochs"], learning_rate=cfg["learning_rate"],
                                 decay_every=cfg["decay_every"])
    session.compile(model, optimizer=opt, loss=keras.losses.BinaryCrossentropy())
    fit = session.fit(model, ds, epochs=cfg["epochs"], monitor="loss", checkpoint="last", name="segmentation")
    save_model_for_inference(model, session.artifact(exp.key, "segmentation.keras"))
    truth = [_read_mask(p) for p in test["mask_path"]]
    pred = predict_lesion_masks(model, test, cfg, shapes=[t.shape for t in truth])
    scores = isic_segmentation_scores(truth, pred)
    empty = isic_segmentation_scores(truth, [np.zeros_like(t, bool) for t in truth])
    full = isic_segmentation_scores(truth, [np.ones_like(t, bool) for t in truth])
    picks = np.arange(min(6, len(test)))
    images = np.stack([_resize(_read_rgb(test["image_path"][i]), 128) for i in picks])
    _save_npz(session.artifact(exp.key, "fig4.npz"), images=images,
              truth=np.stack([_resize_hw(truth[i], 128, 128) for i in picks]),
              pred=np.stack([_resize_hw(pred[i], 128, 128) for i in picks]))
    session.log(f"{exp.key}: {test_split} mean Jaccard {scores['jaccard']:.3f} (all background "
                f"{empty['jaccard']:.3f}, all lesion {full['jaccard']:.3f}; paper {PAPER_JACCARD})")
    return {"jaccard": scores["jaccard"], "dice": scores["dice"], "threshold_jaccard": scores["threshold_jaccard"],
            "accuracy": scores["accuracy"], "jaccard_all_background": empty["jaccard"],
            "jaccard_all_lesion": full["jaccard"], "evaluated_on": test_split, "n_train": len(train),
            "n_test": len(test), "fit": fit}


# --- hair removal ------------------------------------------------------------------------------------------
def occlusion_path(image_path: str) -> Path | None:
    """The synthetic generator's occlusion mask of an ISIC 2017 image (``make_isic2017(occlusion_masks=True)``),
    or None when the tree has none (real data)."""
    p = Path(image_path)
    split = p.parent.name.replace("ISIC-2017_", "").replace("_Data", "")
    path = p.parent.parent / f"ISIC-2017_{split}_Occlusions" / f"{p.stem}_occlusions.png"
    return path if path.exists() else None


def _load_segmenter(session, key: str = "segmentation"):
    from dermkit import load_model

    return load_model(session.artifact(key, "segmentation.keras"), compile=False)


def run_hair(exp: Experiment, data, session) -> dict[str, Any]:
    """``remove_hair`` over the ISIC 2017 training images (lesions from the segmentation network); publish the
    purified copies of the images that held hairs or rulers; recall / precision against drawn hairs."""
    from dermkit.preprocessing.hair import remove_hair

    cfg = settings(session)["hair"]
    seg_cfg = settings(session)["segmentation"]
    train = _cap(data.isic2017["training"], cfg["max_images"], session.seed)
    segmenter = _load_segmenter(session)
    lesions = predict_lesion_masks(segmenter, train, seg_cfg)
    out = session.artifact(exp.key, "purified")
    out.mkdir(parents=True, exist_ok=True)
    tp = fp = fn = skin_marked = skin_total = 0
    have_truth = False
    rows, fig = [], {"original": [], "clean": [], "mask": []}
    for i, row in train.iterrows():
        image = _read_rgb(row["image_path"])
        lesion = lesions[i]
        if cfg["size"]:
            image, lesion = _resize(image, cfg["size"]), _resize_hw(lesion, cfg["size"], cfg["size"])
        clean, mask = remove_hair(image, lesion, method="closing", radius=cfg["radius"], threshold=cfg["threshold"])
        _, strong = remove_hair(image, lesion, method="closing", radius=cfg["radius"],
                                threshold=cfg["select_threshold"])  # dermkit's "contains hairs / rulers" test
        occ = occlusion_path(row["image_path"])
        if occ is not None:
            have_truth = True
            drawn = _resize_hw(_read_mask(occ), *mask.shape)
            truth = drawn & ~lesion  # hairs over the lesion stay
            tp += int((mask & truth).sum())
            fp += int((mask & ~truth).sum())
            fn += int((~mask & truth).sum())
            skin = ~drawn & ~lesion
            skin_marked += int((mask & skin).sum())
            skin_total += int(skin.sum())
        if strong.mean() >= cfg["min_fraction"]:
            name = f"{row['image_id']}_purified.png"
            _write_png(out / name, clean)
            rows.append({"image_id": f"{row['image_id']}_purified", "image_path": name, "label": int(row["label"]),
                         "source": row["image_id"], "hair_fraction": float(mask.mean())})
            if len(fig["original"]) < 6:
                fig["original"].append(_resize(image, 128))
                fig["clean"].append(_resize(clean, 128))
                fig["mask"].append(_resize_hw(mask, 128, 128))
    manifest = pd.DataFrame(rows, columns=["image_id", "image_path", "label", "source", "hair_fraction"])
    _write_manifest(out, manifest)
    if fig["original"]:
        _save_npz(session.artifact(exp.key, "fig3.npz"), **{k: np.stack(v) for k, v in fig.items()})
    counts = np.bincount(manifest["label"].to_numpy(int), minlength=3) if len(manifest) else np.zeros(3, int)
    recall = tp / (tp + fn) if have_truth and tp + fn else float("nan")
    precision = tp / (tp + fp) if have_truth and tp + fp else float("nan")
    skin_share = skin_marked / skin_total if have_truth and skin_total else float("nan")
    session.log(f"{exp.key}: purified {len(manifest)} of {len(train)} training images ("
                + ", ".join(f"{c} {n}" for c, n in zip(ISIC2017_CLASSES, counts))
                + (f"); hair recall {recall:.3f}, precision {precision:.3f}, hair-free skin marked {skin_share:.3f}"
                   if have_truth else ")"))
    return {"hair_recall": recall, "hair_precision": precision, "skin_marked_share": skin_share,
            "n_images": len(train),
            **{f"purified_{c}": int(n) for c, n in zip(ISIC2017_CLASSES, counts)}}


def read_purified_manifest(folder: Path, class_names=ISIC2017_CLASSES) -> pd.DataFrame:
    """The ``hair`` row's ``purified/manifest.csv`` as a frame with absolute ``image_path`` and ``label``."""
    frame = pd.read_csv(Path(folder) / "manifest.csv")
    frame["image_path"] = [str(Path(folder) / p) for p in frame["image_path"]]
    frame["label"] = frame["label"].astype(np.int64)
    frame.attrs["class_names"] = class_names
    return frame


# --- purification network ----------------------------------------------------------------------------------
def split_isic2018(data, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 6's lesion-grouped 80/20 split of the ISIC 2018 Task 3 training set (stratified by class)."""
    from dermkit.data.splits import grouped_split

    df = grouped_split(data.isic2018, ISIC2018_SPLIT, group="group", stratify="label", seed=seed)
    train = df[df["split"] == "train"].reset_index(drop=True)
    held = df[df["split"] == "val"].reset_index(drop=True)
    return train, held


def _load_images(frame: pd.DataFrame, side: int) -> np.ndarray:
    if not len(frame):
        return np.zeros((0, side, side, 3), np.float32)
    return np.stack([_resize(_read_rgb(p), side) for p in frame["image_path"]]).astype(np.float32)


def _inpainting_loss(cfg: dict):
    from dermkit.losses.inpainting import VGG_LAYERS, InpaintingLoss

    return InpaintingLoss(vgg_weights=cfg["vgg_weights"], weights=cfg["loss_weights"],
                          layers=cfg.get("vgg_layers") or VGG_LAYERS)


def run_purification_net(exp: Experiment, data, session) -> dict[str, Any]:
    """Train the partial-convolution U-Net on classical-removal pairs of the ISIC 2018 training part; score
    hole L1 on the held-out part."""
    import tensorflow as tf

    from dermkit.losses.inpainting import inpainting_target
    from dermkit.models.partialconv import partialconv_unet, purification_optimizer, purify
    from dermkit.models.utils import save_model_for_inference
    from dermkit.preprocessing.purification import purification_pairs

    cfg = settings(session)["purification"]
    seg_cfg = settings(session)["segmentation"]
    side = cfg["size"]
    train, held = split_isic2018(data, seed=session.options.seed)
    train = _cap(train, cfg["max_train"], session.seed)
    held = _cap(held, cfg["max_eval"], session.seed + 1)
    segmenter = _load_segmenter(session)
    pairs, lesions = {}, {}
    for name, frame in (("train", train), ("held", held)):
        lesions[name] = np.stack([_resize_hw(m, side, side) for m in predict_lesion_masks(segmenter, frame, seg_cfg)])
        pairs[name] = purification_pairs(_load_images(frame, side), lesions[name], seed=session.seed)
    session.log(f"{exp.key}: {len(train)} training pairs at {side}², depth {cfg['depth']}, width {cfg['width']}")
    p = pairs["train"]
    x = {"image": p["inputs"], "mask": p["valid_masks"][..., None].astype(np.float32)}  # the occluded originals
    y = inpainting_target(p["targets"], p["valid_masks"])
    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=session.seed).batch(cfg["batch_size"])
    model = partialconv_unet((side, side, 3), depth=cfg["depth"], width=cfg["width"])
    loss = _inpainting_loss(cfg)
    session.compile(model, optimizer=purification_optimizer("adam"), loss=loss)
    fit_adam = session.fit(model, ds, epochs=cfg["epochs_adam"], monitor="loss", checkpoint="last", name="adam")
    session.compile(model, optimizer=purification_optimizer("sgd"), loss=loss)
    fit_sgd = session.fit(model, ds, epochs=cfg["epochs_sgd"], monitor="loss", checkpoint="last", name="sgd")
    save_model_for_inference(model, session.artifact(exp.key, "purification.keras"))
    h = pairs["held"]
    out = purify(model, h["inputs"], h["valid_masks"])
    hole = ~h["valid_masks"]
    n_hole = max(int(hole.sum()), 1)
    l1 = float(np.abs(out - h["targets"])[hole].sum() / (3 * n_hole))
    fill = h["targets"].copy()
    for i in range(len(fill)):
        valid = h["valid_masks"][i]
        fill[i][~valid] = fill[i][valid].mean(axis=0) if valid.any() else 0.5
    l1_fill = float(np.abs(fill - h["targets"])[hole].sum() / (3 * n_hole))
    # Fig. 10: held-out images as they are, and purified as at test time (holes: the occlusions found outside
    # the segmented lesion)
    from dermkit.preprocessing.purification import purification_test_masks

    raw = h["inputs"][:6]
    purified = purify(model, raw, purification_test_masks(raw, lesions["held"][:6])) if len(raw) else raw
    _save_npz(session.artifact(exp.key, "fig10.npz"), original=raw, purified=purified)
    session.log(f"{exp.key}: held-out hole L1 {l1:.4f} (mean-colour fill {l1_fill:.4f})")
    return {"hole_l1": l1, "hole_l1_mean_fill": l1_fill, "n_train": len(train), "n_eval": len(held),
            "switch_epoch": cfg["epochs_adam"], "fit_adam": fit_adam, "fit_sgd": fit_sgd}


# --- classifiers -------------------------------------------------------------------------------------------
class _Images:
    """Decoded images at the classifier's ``scale`` (cached), the transforms of the reference notes."""

    def __init__(self, scale: int):
        self.scale = scale
        self.cache: dict[str, np.ndarray] = {}

    def get(self, path: str) -> np.ndarray:
        """RGB float32 [scale, scale, 3] in [0, 1] (kept as uint8: ISIC 2018 + its purified copies at 400²
        are ~10 GB so, 40 GB as float32)."""
        if path not in self.cache:
            self.cache[path] = np.round(_resize(_read_rgb(path), self.scale) * 255).astype(np.uint8)
        return self.cache[path].astype(np.float32) / 255.0


def _train_batches(items: pd.DataFrame, images: _Images, cfg: dict, num_classes: int, seed: int, *,
                   resample_crops: bool, balanced: bool = False):
    """A repeating ``tf.data`` of ``(image [B, s, s, 3], one-hot [B, C])`` drawn from an item table (one row per
    training item: ``image_path, label, hflip, vflip, crop_seed``) by :func:`apply_growth_transform`.
    ``resample_crops``: a fresh random crop per draw and no flips (the baseline's online transform: the paper's
    baseline has no augmentation; the crop to the input size is the authors' transform); otherwise the table's
    own flips and crop (the grown set). ``balanced``: class-balanced batches."""
    import tensorflow as tf

    from dermkit.data.growth import apply_growth_transform

    side, batch = cfg["input_size"], cfg["batch_size"]
    labels = items["label"].to_numpy(np.int64)
    rng = np.random.default_rng(seed)

    def gen():
        while True:
            if balanced:
                per = [np.flatnonzero(labels == c) for c in range(num_classes) if (labels == c).any()]
                picks = np.concatenate([rng.choice(p, math.ceil(batch / len(per))) for p in per])[:batch]
                rng.shuffle(picks)
            else:
                picks = rng.choice(len(items), batch, replace=len(items) < batch)
            x = np.empty((batch, side, side, 3), np.float32)
            for j, k in enumerate(picks):
                row = items.iloc[int(k)]
                if resample_crops:  # a fresh random crop per draw; no flips (not in the paper's baseline)
                    row = {"hflip": False, "vflip": False, "crop_seed": int(rng.integers(2**31 - 1))}
                x[j] = apply_growth_transform(images.get(items["image_path"].iloc[int(k)]), row, scale=None, crop=side)
            yield x, np.eye(num_classes, dtype=np.float32)[labels[picks]]

    sig = (tf.TensorSpec((batch, side, side, 3), tf.float32), tf.TensorSpec((batch, num_classes), tf.float32))
    return tf.data.Dataset.from_generator(gen, output_signature=sig).prefetch(2)


def _eval_images(frame: pd.DataFrame, cfg: dict, images: _Images | None = None) -> np.ndarray:
    """Evaluation inputs: scale, centre crop ``input_size`` (reference notes)."""
    images = images or _Images(cfg["scale"])
    return np.stack([_centre_crop(images.get(p), cfg["input_size"]) for p in frame["image_path"]]).astype(np.float32)


def _train_classifier(session, items: pd.DataFrame, cfg: dict, num_classes: int, *, resample_crops: bool,
                      balanced: bool = False, epochs: int | None = None, name: str = "classifier"):
    import keras

    from dermkit.models.classifiers import resnet50_classifier

    side = cfg["input_size"]
    images = _Images(cfg["scale"])
    ds = _train_batches(items, images, cfg, num_classes, session.seed, resample_crops=resample_crops,
                        balanced=balanced)
    steps = cfg["steps_per_epoch"] or math.ceil(len(items) / cfg["batch_size"])
    model = resnet50_classifier((side, side, 3), num_classes=num_classes, encoder_weights=cfg["encoder_weights"])
    session.compile(model, optimizer=keras.optimizers.SGD(cfg["learning_rate"], momentum=cfg["momentum"]),
                    loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
    fit = session.fit(model, ds, epochs=epochs or cfg["epochs"], steps_per_epoch=steps, monitor="loss",
                      checkpoint="last", name=name)
    if cfg.get("recalibrate_bn"):
        batch = np.concatenate([x for x, _ in ds.take(math.ceil(cfg["recalibrate_bn"] / cfg["batch_size"]))])
        recalibrate_batchnorm(model, batch)
    return model, fit


def recalibrate_batchnorm(model, images: np.ndarray) -> None:
    """Set every BatchNormalization layer's moving mean and variance to the statistics of ``images`` (one
    training-mode pass with momentum 0; "precise BN"). For ``--quick`` only: after a few dozen steps from
    random weights the moving averages (momentum 0.99) still hold their initial values and every test image
    gets the same prediction."""
    import keras

    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    try:
        for layer in layers:
            layer.momentum = 0.0
        model(images, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum


def _originals(data, session) -> pd.DataFrame:
    """ISIC 2017 training (+ PH2 and Dermofit when the data folder holds them): ``image_path, label``."""
    frames = [data.isic2017["training"][["image_path", "label"]]]
    extra = data.extra.get("extra_datasets") if isinstance(data.extra, dict) else None
    for frame in (extra or {}).values():
        frames.append(frame[["image_path", "label"]])
    return pd.concat(frames, ignore_index=True)


def _find_extra(data, session) -> None:
    """PH2 / Dermofit beside ``isic2017/`` in the data folder (their absence is logged, not an error)."""
    if data.synthetic or "extra_datasets" in data.extra:
        data.extra.setdefault("extra_datasets", {})
        return
    from dermkit.data.extra_datasets import find_extra_datasets

    base = Path(data.roots["isic2017"]).parent
    found = find_extra_datasets(ph2=base / "ph2", dermofit=base / "dermofit")
    data.extra["extra_datasets"] = {}
    for line in found["report"]:
        session.log(line)
    for name in ("ph2", "dermofit"):
        frame = found.get(name)
        if frame is not None and len(frame):
            frame = frame[frame["label"].isin(ISIC2017_CLASSES)]
            data.extra["extra_datasets"][name] = frame.assign(
                label=[ISIC2017_CLASSES.index(str(c)) for c in frame["label"]])


def grown_items(originals: pd.DataFrame, generated: pd.DataFrame | None, purified: pd.DataFrame | None,
                seed: int) -> pd.DataFrame:
    """Fig. 7's item table (:func:`dermkit.data.grow_training_set`) with integer ``label`` (ISIC 2017 order)."""
    from dermkit.data.growth import grow_training_set

    def named(frame):
        if frame is None or not len(frame):
            return None
        return pd.DataFrame({"image_path": frame["image_path"].astype(str),
                             "label": [ISIC2017_CLASSES[int(c)] for c in frame["label"]]})

    grown = grow_training_set(named(originals), generated=named(generated), purified=named(purified), seed=seed)
    grown.attrs["names"] = grown["label"].copy()
    return grown.assign(label=[ISIC2017_CLASSES.index(c) for c in grown["label"]])


def _vbp_material(model, images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, proposed: bool) -> dict:
    """Fig. 2 (baseline: the first test images with hairs first) / Fig. 8 (proposed: per class a TP, FP, FN,
    TN where they exist) images, VisualBackProp masks and titles."""
    from dermkit.explain.visual_backprop import visual_backprop

    picks, titles = [], []
    if proposed:
        for c, name in enumerate(ISIC2017_CLASSES):
            for tag, sel in (("TP", (y_true == c) & (y_pred == c)), ("FP", (y_true != c) & (y_pred == c)),
                             ("FN", (y_true == c) & (y_pred != c)), ("TN", (y_true != c) & (y_pred != c))):
                idx = np.flatnonzero(sel)
                if len(idx):
                    picks.append(int(idx[0]))
                    titles.append(f"{name} {tag}")
    else:
        picks = list(range(min(6, len(images))))
        titles = [f"{ISIC2017_CLASSES[int(y_true[i])]} → {ISIC2017_CLASSES[int(y_pred[i])]}" for i in picks]
    chosen = images[picks]
    masks = visual_backprop(model, chosen) if len(chosen) else np.zeros(chosen.shape[:3], np.float32)
    return {"images": chosen, "masks": masks, "titles": np.array(titles)}


def run_classifier(exp: Experiment, data, session) -> dict[str, Any]:
    """The ISIC 2017 ResNet-50 (baseline on raw data or the proposed pipeline); Tables 3, 4, Fig. 9."""
    from sklearn.metrics import confusion_matrix

    from dermkit.data.gan_data import read_generated_manifest
    from dermkit.data.growth import growth_counts
    from dermkit.metrics.classification import (
        per_class_roc_auc,
        specificity_at_sensitivity,
    )

    cfg = settings(session)["classifier"]
    proposed = exp.params["variant"] == "proposed"
    _find_extra(data, session)
    originals = _originals(data, session)
    result: dict[str, Any] = {}
    if proposed:
        generated = pd.concat([read_generated_manifest(session.artifact(k, "generated") / "manifest.csv")
                               for k in ("gan_melanoma", "gan_sk")], ignore_index=True)
        if cfg.get("gan_at_paper_ratio"):
            generated = _gan_at_paper_ratio(generated, originals)
        purified = read_purified_manifest(session.artifact("hair_removal", "purified"))
        items = grown_items(originals, generated, purified, session.seed)
        counts = growth_counts(grown_items_named(items))
        result["growth"] = {stage: {k: float(v) for k, v in row.items()} for stage, row in counts.iterrows()}
        session.log(f"{exp.key}: grown training set {len(items)} items (" + ", ".join(
            f"{c} {int(counts.loc['x6', c])}" for c in ISIC2017_CLASSES)
            + f"), {counts.loc['x6', 'generated_share']:.0%} generated")
    else:
        items = originals.assign(hflip=False, vflip=False, crop_seed=0)
    session.log(f"{exp.key}: training on {len(items)} items at {cfg['input_size']}²")
    model, fit = _train_classifier(session, items, cfg, 3, resample_crops=not proposed)
    test_split = "test" if "test" in data.isic2017 else "validation"
    test = _cap(data.isic2017[test_split], cfg["max_test"], session.seed + 1)
    x = _eval_images(test, cfg)
    prob = np.asarray(model.predict(x, batch_size=32, verbose=0), np.float64)
    y = test["label"].to_numpy(np.int64)
    aucs = per_class_roc_auc(y, prob, class_names=ISIC2017_CLASSES)
    spec = specificity_at_sensitivity(y == 0, prob[:, 0], levels=SENSITIVITIES)
    pred = prob.argmax(axis=1)
    cm = confusion_matrix(y, pred, labels=[0, 1, 2])
    _save_npz(session.artifact(exp.key, "predictions.npz"), y_true=y, prob=prob, confusion=cm,
              image_ids=test["image_id"].to_numpy().astype(str))
    _save_npz(session.artifact(exp.key, "vbp.npz"), **_vbp_material(model, x, y, pred, proposed))
    result.update({
        "auc_melanoma": aucs["melanoma"], "auc_sk": aucs["seborrheic_keratosis"], "auc_nevus": aucs["nevus"],
        "auc_mean": float(np.mean([aucs["melanoma"], aucs["seborrheic_keratosis"]])),
        **{m: float(v) for m, v in zip(TABLE4_METRICS, spec.values())},
        "accuracy": float(np.mean(pred == y)), "confusion": cm.tolist(), "evaluated_on": test_split,
        "n_test": len(test), "n_train_items": len(items), "fit": fit,
    })
    session.log(f"{exp.key}: {test_split} AUC melanoma {result['auc_melanoma']:.3f}, mean(MEL, SK) "
                f"{result['auc_mean']:.3f}, accuracy {result['accuracy']:.3f}")
    return result


def _gan_at_paper_ratio(generated: pd.DataFrame, originals: pd.DataFrame) -> pd.DataFrame:
    """The first ``round(n_source_c · g_c / s_c)`` generated images of each class, with the paper's ``g`` (350
    melanoma, 750 SK) and ``s`` (919, 545 source images): the paper's GAN-to-source ratio for a smaller source
    set (``--quick``: 57 synthetic melanoma would otherwise face 350 generated ones)."""
    from dermkit.data.growth import PAPER_GROWTH

    keep = []
    for c, name in enumerate(ISIC2017_CLASSES):
        own = generated[generated["label"] == c]
        if not len(own):
            continue
        gan = PAPER_GROWTH.loc["gan", name] - PAPER_GROWTH.loc["source", name]
        n = int(round((originals["label"] == c).sum() * gan / PAPER_GROWTH.loc["source", name]))
        keep.append(own.iloc[:n])
    return pd.concat(keep, ignore_index=True) if keep else generated.iloc[:0]


def grown_items_named(items: pd.DataFrame) -> pd.DataFrame:
    """An item table with class names in ``label`` (what :func:`growth_counts` reads)."""
    return items.assign(label=[ISIC2017_CLASSES[int(c)] for c in items["label"]])


def purify_at_scale(net, images: np.ndarray, side: int, lesion_masks) -> np.ndarray:
    """Test-time purification of ``[N, S, S, 3]`` images for a network of input side ``side``: the holes are
    the occlusions ``remove_hair`` finds at ``S`` outside the segmented lesion (``lesion_masks`` ``[N, S, S]``,
    from the segmentation network; :func:`purification_test_masks`), so the lesion is never repainted; image
    and mask are resized to ``side``, the network fills the holes, its output is resized back to ``S`` and used
    inside the holes only (every other pixel keeps its original value)."""
    from dermkit.models.partialconv import purify
    from dermkit.preprocessing.purification import purification_test_masks

    if not len(images):
        return images
    valid = purification_test_masks(images, lesion_masks)
    small = np.stack([_resize(im, side) for im in images])
    small_valid = np.stack([_resize_hw(v, side, side) for v in valid])
    filled = purify(net, small, small_valid)
    big = np.stack([_resize_up(im, images.shape[1]) for im in filled])
    return np.where(valid[..., None], images, big).astype(np.float32)


def _resize_up(image: np.ndarray, side: int) -> np.ndarray:
    import cv2

    return cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR)


def run_isic2018(exp: Experiment, data, session) -> dict[str, Any]:
    """Table 6: train on the grouped split's training part + its purified copies; score the held-out part
    without and with test-time purification."""
    from dermkit import load_model
    from dermkit.metrics.isic import isic_macro_averages

    cfg = {**settings(session)["classifier"], **settings(session)["isic2018"]}
    side = settings(session)["purification"]["size"]
    train, held = split_isic2018(data, seed=session.options.seed)
    train = _cap(train, cfg["max_train"], session.seed)
    net = load_model(session.artifact("purification_net", "purification.keras"), compile=False)
    segmenter = _load_segmenter(session)
    seg_cfg = settings(session)["segmentation"]

    def purified_at(frame: pd.DataFrame, folder: Path) -> pd.DataFrame:
        """The frame's images purified at the classifier's scale (:func:`purify_at_scale`), the lesion kept."""
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for start in range(0, len(frame), 32):
            part = frame.iloc[start:start + 32]
            lesions = np.stack([_resize_hw(m, cfg["scale"], cfg["scale"])
                                for m in predict_lesion_masks(segmenter, part, seg_cfg)])
            clean = purify_at_scale(net, _load_images(part, cfg["scale"]), side, lesions)
            for (_, r), im in zip(part.iterrows(), clean):
                path = folder / f"{r['image_id']}_purified.png"
                _write_png(path, im)
                rows.append({"image_path": str(path), "label": int(r["label"]), "image_id": r["image_id"]})
        return pd.DataFrame(rows)

    work = session.workdir("purified")
    train_purified = purified_at(train, work / "train")
    items = pd.concat([train[["image_path", "label"]], train_purified[["image_path", "label"]]], ignore_index=True)
    items = items.assign(hflip=False, vflip=False, crop_seed=0)
    session.log(f"{exp.key}: {len(train)} training images + {len(train_purified)} purified copies; "
                f"{len(held)} held-out images (lesion-grouped split)")
    model, fit = _train_classifier(session, items, cfg, len(ISIC2018_CLASSES), resample_crops=True, balanced=True,
                                   name="isic2018")
    held_purified = purified_at(held, work / "held")
    y = held["label"].to_numpy(np.int64)
    result: dict[str, Any] = {"n_train": len(train), "n_held_out": len(held), "fit": fit}
    for tag, frame in (("raw", held), ("purified", held_purified)):
        prob = np.asarray(model.predict(_eval_images(frame, cfg), batch_size=32, verbose=0), np.float64)
        scores = isic_macro_averages(y, np.clip(prob, 0.0, 1.0), class_names=ISIC2018_CLASSES)
        result.update({f"{m}_{tag}": float(scores[m]) for m in TABLE6_COLUMNS})
    session.log(f"{exp.key}: held-out accuracy {result['accuracy_raw']:.3f} raw, {result['accuracy_purified']:.3f} "
                "purified")
    return result


RECIPES_PART2 = {"segmentation": run_segmentation, "hair": run_hair, "purification_net": run_purification_net,
                 "classifier": run_classifier, "isic2018": run_isic2018}


# --- tables ------------------------------------------------------------------------------------------------
def _r(results, key) -> dict:
    return results.get(key, {}) or {}


def _quick_note(session) -> list[str]:
    if not session.options.quick:
        return []
    q = QUICK
    return [f"--quick: dilated U-Net at {q['segmentation']['input_size']}², width {q['segmentation']['width']}, "
            f"{q['segmentation']['epochs']} epochs on {q['segmentation']['max_train']} images; purification "
            f"network at {q['purification']['size']}², depth {q['purification']['depth']}, perceptual/style off; "
            f"ResNet-50 from random weights at {q['classifier']['input_size']}², SGD lr "
            f"{q['classifier']['learning_rate']}, {q['classifier']['epochs']} × {q['classifier']['steps_per_epoch']} "
            "steps — not the paper's settings."]


def _where(session, what: str) -> str:
    return f"SYNTHETIC {what}" if session.options.synthetic else what


def table_segmentation(results, data, session) -> Table:
    r = _r(results, "segmentation")
    rows = [TableRow("7-channel dilated U-Net", {"jaccard": r.get("jaccard"), "dice": r.get("dice")},
                     {"jaccard": PAPER_JACCARD}),
            TableRow("all background (dermkit's floor)", {"jaccard": r.get("jaccard_all_background")}),
            TableRow("all lesion (dermkit's floor)", {"jaccard": r.get("jaccard_all_lesion")}),
            TableRow("ISIC 2017 challenge winner", {}, {"jaccard": WINNER_JACCARD})]
    notes = ["Mean per-image Jaccard (ISIC 2017 Part 1 metric; not 2018's threshold Jaccard), each prediction "
             "padded back to the 400 frame and resized to its image's size; threshold 0.4 + hole filling."]
    return Table("segmentation", "Lesion segmentation, mean Jaccard", ("jaccard", "dice"), rows,
                 _where(session, f"ISIC 2017 {r.get('evaluated_on', 'test')}"), session.options.synthetic,
                 notes + _quick_note(session))


def table_purification(results, data, session) -> Table:
    h, n = _r(results, "hair_removal"), _r(results, "purification_net")
    metrics = ("hair_recall", "hair_precision", "skin_marked_share", *(f"purified_{c}" for c in ISIC2017_CLASSES),
               "hole_l1", "hole_l1_mean_fill")
    rows = [TableRow("hair / ruler removal (closing)", {m: h.get(m) for m in metrics},
                     {f"purified_{c}": v for c, v in PAPER_PURIFIED.items()}),
            TableRow("purification network (ISIC 2018 held-out)", {m: n.get(m) for m in metrics})]
    notes = ["Hair removal with the authors' final setting (closing, disk radius 3, L_closed − L > 0.1 in L* "
             "units of [0, 100], L replaced inside the mask, lesion copied). hair_recall / precision: pixels of "
             "the drawn hairs and ruler ticks outside the lesion; skin_marked_share: hair-free skin pixels the "
             "setting marks (synthetic ground truth only; NaN on real data). purified_*: training images with ≥ "
             f"{FULL['hair']['min_fraction']:.1%} of their pixels above {FULL['hair']['select_threshold']:g} L* "
             "units (dermkit's 'contains hairs and rulers' test; the paper's 147 / 470 / 182 came from a larger "
             "source set). hole_l1: mean |composite − target| inside the holes (occlusion ∪ random mask) of "
             "held-out ISIC 2018 pairs; mean_fill: the holes filled with the image's mean valid colour.",
             f"Optimiser: Adam 2e-4 (0.5, 0.99) for {settings(session)['purification']['epochs_adam']} epochs, then "
             f"SGD 1e-4 momentum 0.9 for {settings(session)['purification']['epochs_sgd']} (the switch epoch is "
             "dermkit's choice)."]
    return Table("purification", "Data purification (Section 3.2.2, supplement 6.1)", metrics, rows,
                 _where(session, "ISIC 2017 training / ISIC 2018 held-out"), session.options.synthetic,
                 notes + _quick_note(session))


def table_3(results, data, session) -> Table:
    metrics = ("auc_melanoma", "auc_mean")
    rows = [TableRow("Traditional Baseline", {m: _r(results, "classifier_baseline").get(m) for m in metrics},
                     TABLE3["baseline"]),
            TableRow("Proposed Model", {m: _r(results, "classifier_proposed").get(m) for m in metrics},
                     TABLE3["proposed"]),
            TableRow("ISIC Challenge winners [24, 27]", {}, TABLE3["winners"])]
    return Table("3", "ROC AUC, melanoma and mean(melanoma, SK)", metrics, rows,
                 _where(session, "ISIC 2017 test"), session.options.synthetic,
                 ["Baseline: ResNet-50 on the raw ISIC 2017 training images (scale + random crop only); proposed: "
                  "the Fig. 7 training set (originals + GAN + flips + purified, ×6)."] + _quick_note(session))


def table_4(results, data, session) -> Table:
    rows = [TableRow(name, {}, dict(zip(TABLE4_METRICS, vals))) for name, vals in TABLE4.items() if name != "proposed"]
    rows.append(TableRow("Our Classification Model", {m: _r(results, "classifier_proposed").get(m)
                                                      for m in TABLE4_METRICS},
                         dict(zip(TABLE4_METRICS, TABLE4["proposed"]))))
    rows.append(TableRow("Traditional Baseline (dermkit only)", {m: _r(results, "classifier_baseline").get(m)
                                                                 for m in TABLE4_METRICS}))
    return Table("4", "Specificity at 82 / 89 / 95 % melanoma sensitivity", TABLE4_METRICS, rows,
                 _where(session, "ISIC 2017 test"), session.options.synthetic,
                 ["The best specificity among the ROC points whose sensitivity reaches each level. Top AVG / SK / M: "
                  "the ISIC 2017 winners as the paper reports them."] + _quick_note(session))


def table_6(results, data, session) -> Table:
    r = _r(results, "isic2018_classifier")
    rows = [TableRow("without data purification at testing", {m: r.get(f"{m}_raw") for m in TABLE6_COLUMNS},
                     dict(zip(TABLE6_METRICS, TABLE6["raw"]))),
            TableRow("with data purification at testing", {m: r.get(f"{m}_purified") for m in TABLE6_COLUMNS},
                     dict(zip(TABLE6_METRICS, TABLE6["purified"])))]
    return Table("6", "Test-time data purification, ISIC 2018", TABLE6_COLUMNS, rows,
                 _where(session, "ISIC 2018 Task 3, lesion-grouped 20 % held out of the training set"),
                 session.options.synthetic,
                 ["The paper scored the ISIC 2018 test set through the challenge's server (\"black box system\"); "
                  "its labels were not public, so dermkit holds out a lesion-grouped 20 % of the training set. "
                  "accuracy / sensitivity / specificity: the ISIC scorer's macro_average — the mean over the 7 "
                  "categories of the one-vs-rest values (each category's probability > 0.5); overall_accuracy "
                  "(argmax) and balanced_accuracy (mean per-class recall, the challenge's ranking score) beside. "
                  "The paper's two rows are mutually inconsistent under any one definition: a mean one-vs-rest "
                  "specificity cannot be 0.837 at an overall accuracy of 0.717 for ISIC 2018's class shares, and "
                  "a mean per-class accuracy cannot be 0.675 at a mean specificity of 0.954.",
                  "Test-time holes: the occlusions remove_hair (the authors' setting) finds outside the lesion "
                  "segmented by the segmentation network — the lesion is never repainted."]
                 + _quick_note(session))


def table_fig9(results, data, session) -> Table:
    rows = [TableRow("Traditional Baseline", {"accuracy": _r(results, "classifier_baseline").get("accuracy")}),
            TableRow("Proposed Model", {"accuracy": _r(results, "classifier_proposed").get("accuracy")},
                     {"accuracy": FIG9_ACCURACY})]
    return Table("fig9", "Three-class accuracy from the confusion matrices of Fig. 9", ("accuracy",), rows,
                 _where(session, "ISIC 2017 test"), session.options.synthetic, _quick_note(session))


def table_fig7(results, data, session) -> Table:
    from dermkit.data.growth import GROWTH_STAGES, PAPER_GROWTH

    growth = _r(results, "classifier_proposed").get("growth", {})
    metrics = (*ISIC2017_CLASSES, "total", "generated_share")
    rows = []
    for stage in GROWTH_STAGES:
        paper = {c: float(PAPER_GROWTH.loc[stage, c]) for c in ISIC2017_CLASSES}
        paper["total"] = float(sum(paper.values()))
        if stage == "x6":
            paper["generated_share"] = 0.26
        rows.append(TableRow(stage, {m: growth.get(stage, {}).get(m) for m in metrics}, paper))
    return Table("fig7", "Growth of the classifier's training set (Fig. 7)", metrics, rows,
                 _where(session, "ISIC 2017 training + GAN + purified"), session.options.synthetic,
                 ["source → + GAN (350 melanoma, 750 SK) → horizontal flips of melanoma and SK → + purified copies "
                  "(unflipped) → ×6 (vertical flips, random crops). The paper's source (919 / 2518 / 545) holds ISIC "
                  "Archive, PH2 and Dermofit images beyond ISIC 2017's training split."] + _quick_note(session))


TABLE_BUILDERS_PART2 = {"segmentation": table_segmentation, "purification": table_purification, "3": table_3,
                        "4": table_4, "6": table_6, "fig9": table_fig9, "fig7": table_fig7}


# --- figures -----------------------------------------------------------------------------------------------
def make_figures_part2(results: dict[str, dict], data, session) -> list[Path]:
    """Figs. 2, 3, 4, 7, 8, 9, 10, 11 from the part-2 rows' artifacts (those present)."""
    from dermkit import plots
    from dermkit import plots_purification as pp

    tag = "SYNTHETIC DATA — " if session.options.synthetic else ""
    out = session.figures_dir
    files: list[Path] = []

    def have(key, name):
        return _load_npz(session, key, name) if key in results else None

    seg = have("segmentation", "fig4.npz")
    if seg is not None:
        files.append(plots.plot_mask_comparison(
            seg["images"], {"ground truth": seg["truth"], "dilated U-Net": seg["pred"]},
            out / "fig4_segmentation.png", overwrite=True,
            title=f"{tag}bisla2019 Fig. 4B: test images, ground truth, segmentation network"))
    hair = have("hair_removal", "fig3.npz")
    if hair is not None:
        files.append(pp.plot_image_pairs(hair["original"], hair["clean"], out / "fig3_hair_removal.png",
                                         masks=hair["mask"], row_labels=("original", "hairs / rulers removed",
                                                                         "removed pixels"), overwrite=True))
    net = have("purification_net", "fig10.npz")
    if net is not None and len(net["original"]):
        files.append(pp.plot_image_pairs(net["original"], net["purified"], out / "fig10_purification_network.png",
                                         row_labels=("original", "purification network"), overwrite=True))
    for key, number, what in (("classifier_baseline", 2, "baseline"), ("classifier_proposed", 8, "proposed")):
        vbp = have(key, "vbp.npz")
        if vbp is not None and len(vbp["images"]):
            files.append(pp.plot_visual_backprop(vbp["images"], vbp["masks"],
                                                 out / f"fig{number}_visualbackprop_{what}.png",
                                                 titles=[str(t) for t in vbp["titles"]], overwrite=True))
    panels = {}
    for key, label in (("classifier_baseline", "Traditional Baseline"), ("classifier_proposed", "Proposed Model")):
        pred = have(key, "predictions.npz")
        if pred is not None:
            panels[label] = pred
    if panels:
        from dermkit.plots_purification import plot_roc_confusion

        files.append(plot_roc_confusion(
            panels, out / "fig9_roc_confusion.png", class_names=ISIC2017_CLASSES, short_names=("M", "N", "SK"),
            overwrite=True, title=f"{tag}bisla2019 Fig. 9: ROC curves and confusion matrices"))
    growth = _r(results, "classifier_proposed").get("growth")
    if growth:
        from dermkit.data.growth import PAPER_GROWTH

        counts = pd.DataFrame(growth).T[list(ISIC2017_CLASSES)]
        files.append(pp.plot_growth_stages(counts, out / "fig7_data_growth.png", paper=PAPER_GROWTH, overwrite=True,
                                           title=f"{tag}bisla2019 Fig. 7: growth of the training set"))
    if data is not None and getattr(data, "isic2018", None) is not None and len(data.isic2018):
        sizes = data.isic2018["label"].value_counts()
        files.append(pp.plot_class_sizes({c: int(sizes.get(i, 0)) for i, c in enumerate(ISIC2018_CLASSES)},
                                         out / "fig11_isic2018_class_sizes.png", overwrite=True,
                                         title=f"{tag}bisla2019 Fig. 11: ISIC 2018 training class sizes"))
    return files
