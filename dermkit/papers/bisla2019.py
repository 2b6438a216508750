"""bisla2019 — Bisla, Choromanska, Berman, Stein, Polsky, "Towards Automated Melanoma Detection with Deep
Learning: Data Purification and Augmentation", CVPR Workshops 2019.

Part 1 (this module's GAN rows): the data-generation unit.

* De-coupled DCGANs (Section 3.3.2, Table 2, Fig. 5A): one DCGAN per scarce class of ISIC 2017 — melanoma
  and seborrheic keratosis — latent length 10, BCE, Adam lr 2e-4 (β 0.5, 0.999), batch 50 (reference notes),
  early stopping, two extra generator updates per batch in every 10th epoch; each generates its class's
  images (350 melanoma, 750 SK). Models: :func:`dermkit.models.dcgan_generator` /
  :func:`dermkit.models.dcgan_discriminator`; trainer: :class:`dermkit.training.gan.GANTrainer` with
  :class:`~dermkit.training.gan.ExtraGeneratorSteps` and
  :class:`~dermkit.training.gan.ResumableEarlyStopping`.
* Novelty check (Section 3.3.2, Figs. 5–6): each generated image's smallest MSE to the training images and
  that image (:func:`dermkit.metrics.novelty.nearest_training_mse`), as the authors' ``mse_check.py``: the
  generated image min–max stretched to [0, 1], compared with the training images of its own class (the paper
  says "all the images from the training data set"; the authors' ``Data/`` folder holds the GAN's one class),
  so Fig. 5's MSE is on the [0, 1] scale.
* Coupled DCGAN (Section 6.3, Table 5, Fig. 12): the 7 classes of ISIC 2018 Task 3, latent 100, BCE, Adam
  2e-4 (0.5, 0.999), class-balanced mini-batches built online (:func:`dermkit.data.gan_data.gan_dataset`);
  Fig. 12's grid: 3 images per class (the same latent vector along a row) and the training image of the same
  class nearest to each third-row image.
* GAN step (both kinds): the discriminator sees the real and the generated batch in two separate calls
  (DCGAN and the authors' ``Generator/main.py``; batch-normalisation statistics per batch), ``d_loss =
  BCE(D(real), 1) + BCE(D(G(z)), 0)``, the generator updated on ``D(G(z))`` alone
  (:class:`~dermkit.training.gan.GANTrainer`'s default; rows of VERSION ≤ 2 used its ``joint_batch=True``,
  which ``--quick`` keeps: :data:`QUICK` says why).

Each GAN row publishes its generator (``generator.keras``), its generated set (``generated/`` with
``manifest.csv``, read by :func:`dermkit.data.gan_data.read_generated_manifest`) and the figure material as
artifacts; the classifier rows of part 2 read the generated sets through ``depends_on``.

Table ``gan`` (dermkit's own, no paper counterpart except Fig. 5's MSE): per GAN, the last epoch's
``d_real_accuracy`` / ``d_fake_accuracy``, ``stats_distance_init`` / ``stats_distance_final`` (per-channel
mean/std distance of generated to real images, :func:`dermkit.metrics.novelty.channel_stats_distance`, for
the untrained and the trained generator) and ``mse_mean`` / ``mse_std`` of the novelty check.

Where the paper is silent (choices, also in docs/bisla2019.md): epochs (:data:`FULL`), the early-stopping
quantity (``stats_distance``, patience :data:`FULL`), the coupled GAN's per-class batch (8 × 7 = 56 ≈ the
de-coupled 50). No label smoothing: the paper names "stabilization techniques [30]" without saying which, and
the authors' ``main.py`` trains on ``real_label = 1``. The paper's ISIC 2017 training
set also holds PH2 and Edinburgh images (Section 3.1); dermkit trains on the ISIC 2017 training split.

Extending (part 2): append rows to :data:`EXPERIMENTS` with a new ``params["kind"]``, a recipe in
:data:`RECIPES`, their table names to :data:`TABLES` and a builder to :data:`TABLE_BUILDERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermkit.data.isic import ISIC2018_TASK3_CLASSES
from dermkit.training.experiment import Experiment
from dermkit.training.report import Table, TableRow

NAME = "bisla2019"
VERSION = 3  # 3: separate-batch GAN step, novelty on [0,1] stretched images, part-2 fidelity fixes
# 2: --quick GANs train 24 epochs (the part-2 synthetic data, 40 % hairy, needed more)
#: Tables this module writes (part 2 appends its own).
TABLES: tuple[str, ...] = ("gan",)
DATASETS = ("isic2017", "isic2018_task3")

#: ISIC 2017 Part 3 classes in the paper's order (Section 3.1); ``label`` indexes this tuple.
ISIC2017_CLASSES = ("melanoma", "nevus", "seborrheic_keratosis")
#: ISIC 2018 Task 3 classes (dermkit's reader order); ``label`` indexes this tuple.
ISIC2018_CLASSES = tuple(ISIC2018_TASK3_CLASSES)
#: Fig. 5: mean ± std of the nearest-training-image MSE of the generated images.
PAPER_MSE = {"melanoma": (0.088, 0.052), "seborrheic_keratosis": (0.030, 0.015)}
#: Section 3.3.2: images generated per scarce class.
GENERATED = {"melanoma": 350, "seborrheic_keratosis": 750}
GAN_METRICS = ("d_real_accuracy", "d_fake_accuracy", "stats_distance_init", "stats_distance_final",
               "mse_mean", "mse_std")

#: Full-scale settings (paper; epochs and early stopping are dermkit's choices: the paper gives none).
FULL: dict[str, Any] = {
    "image_size": 256,
    "batch_size": 50,  # de-coupled: images per batch (reference notes)
    "per_class": 8,  # coupled: images of each class per batch
    "epochs": {"dcgan": 300, "coupled": 300},
    "num_batches": None,  # one pass's worth of images per epoch
    "learning_rate": {"d": 2e-4, "g": 2e-4},
    "beta_1": 0.5,
    "beta_2": 0.999,
    "extra_every": 10,
    "extra_steps": 2,
    "label_smoothing": 0.0,  # the authors' real_label = 1
    "joint_batch": False,  # D on the real and the generated batch apart (the authors' main.py)
    "early_stopping_patience": 30,
    "stats_images": 256,
    "synchronized_bn": False,
}
#: ``--quick``: 64×64, small batches, 24 epochs of 5 batches (2 CPU cores, about a minute per GAN; at 16 epochs
#: the melanoma GAN on the part-2 synthetic tree, 40 % hairy images, ended at 0.472 → 0.252, short of half). The
#: paper's lr 2e-4 for both networks learns too slowly in 80 steps and lets the discriminator win outright on
#: 39–57 images (measured: stats distance 0.47 → 0.29, D accuracy on generated images 1.0); a slower
#: discriminator (1e-4) and a faster generator (1e-3) learn the colours with neither network winning (a cosine
#: decay of both rates, tried, let the discriminator win again on the generated images: 0.975).
QUICK: dict[str, Any] = {
    **FULL,
    "image_size": 64,
    "batch_size": 16,
    "per_class": 2,
    "epochs": {"dcgan": 24, "coupled": 24},
    "num_batches": 5,
    "learning_rate": {"d": 1e-4, "g": 1e-3},
    "early_stopping_patience": 24,
    "stats_images": 64,
    # The quick check (colour statistics at least halved, D neither winning nor losing outright) fails with the
    # full rows' separate batches: the paper's BN on the discriminator's first, bias-free layer then removes each
    # batch's mean and spread, so D cannot see a colour difference. Measured (32², 10 epochs, melanoma, seed 0):
    # separate 0.466 → 0.260, D accuracy on generated 0.05 (lr 1e-4 / 1e-3), 0.239 / 0.01 (2e-4 / 2e-3), 0.188 /
    # 0.00 (5e-5 / 2e-3); joint 0.466 → 0.082 / 0.10. 64², 24 epochs, separate: 0.472 → 0.319 (melanoma),
    # 0.442 → 0.258 (SK). So --quick trains the joint-batch variant; the full rows keep the authors' step.
    "joint_batch": True,
}
#: Fig. 6: quantiles of the MSE shown as generated / nearest-training pairs, and how many smallest-MSE pairs.
FIG6_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
FIG6_SMALLEST = 5
#: Fig. 12: generated images per class (rows; the same latent vector along a row).
FIG12_ROWS = 3

#: Synthetic data for ``--data synthetic`` (64×64; ISIC 2017 ≈ 19 % melanoma, 13 % SK).
SYNTHETIC: dict[str, dict[str, Any]] = {
    "isic2017": {"n_train": 300, "n_val": 30, "n_test": 60, "image_size": (64, 64)},
    "isic2018_task3": {"n_images": 210, "image_size": (64, 64), "min_per_class": 20},
}


def _dcgan_row(key: str, cls: str, label: str) -> Experiment:
    return Experiment(
        key=key, label=label, tables=("gan",),
        params={"kind": "dcgan", "dataset": "isic2017", "class": cls, "latent_dim": 10,
                "n_generate": GENERATED[cls]},
        reported={"gan": {"mse_mean": PAPER_MSE[cls][0], "mse_std": PAPER_MSE[cls][1]}}, quick=True)


#: Part 1 rows: the two de-coupled DCGANs (ISIC 2017) and the coupled DCGAN (ISIC 2018).
GAN_EXPERIMENTS: list[Experiment] = [
    _dcgan_row("gan_melanoma", "melanoma", "DCGAN melanoma (ISIC 2017)"),
    _dcgan_row("gan_sk", "seborrheic_keratosis", "DCGAN seborrheic keratosis (ISIC 2017)"),
    Experiment(
        key="gan_coupled", label="coupled DCGAN, 7 classes (ISIC 2018)", tables=("gan",),
        params={"kind": "coupled", "dataset": "isic2018_task3", "latent_dim": 100,
                "num_classes": len(ISIC2018_CLASSES)}, quick=True),
]
#: Every row of the paper (part 2 appends its rows).
EXPERIMENTS: list[Experiment] = [*GAN_EXPERIMENTS]


def settings(session) -> dict[str, Any]:
    """The run's settings: :data:`QUICK` or :data:`FULL`."""
    return dict(QUICK if session.options.quick else FULL)


# ---------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Data:
    """ISIC 2017 splits (``label`` indexes :data:`ISIC2017_CLASSES`) and the ISIC 2018 Task 3 training set
    (``label`` indexes :data:`ISIC2018_CLASSES`), with their roots."""

    isic2017: dict[str, pd.DataFrame]
    isic2018: pd.DataFrame
    roots: dict[str, Path]
    synthetic: bool
    extra: dict[str, Any] = field(default_factory=dict)  # part 2's own prepared data


def isic2017_frame(root, split: str) -> pd.DataFrame:
    """One ISIC 2017 split with the readers' columns: ``label`` 0 melanoma, 1 nevus, 2 SK; ``mask_path`` the
    Part 1 segmentation; ``group`` the image id."""
    from dermkit.data.isic import load_isic2017

    frame = load_isic2017(root, split)
    if frame["melanoma"].isna().any():
        raise ValueError(f"{root}: the ISIC 2017 {split} split has no Part 3 ground-truth CSV (labels)")
    label = np.where(frame["melanoma"] == 1, 0, np.where(frame["seborrheic_keratosis"] == 1, 2, 1))
    out = frame.assign(label=label.astype(np.int64), mask_path=frame["segmentation_path"], group=frame["image_id"])
    out.attrs.update(frame.attrs)
    out.attrs["class_names"] = ISIC2017_CLASSES
    return out


def prepare(data: str, session) -> Data:
    """Read ISIC 2017 (every split present) and ISIC 2018 Task 3, or write the synthetic sets.

    ``data``: ``synthetic``; a folder holding ``isic2017/`` (the unpacked ISIC 2017 archives) and
    ``isic2018_task3/`` (ISIC 2018 Task 3 training input + ground truth); or
    ``isic2017=ROOT,isic2018_task3=ROOT``.
    """
    from dermkit.data.isic import ISIC2017_SPLITS, load_isic2018_task3
    from dermkit.errors import DermkitFileNotFoundError
    from dermkit.training.options import parse_data_roots

    roots = parse_data_roots(data, DATASETS)
    synthetic = roots is None
    if synthetic:
        from dermkit.data.synthetic import make_isic2017, make_isic2018_task3

        base = session.output / "data"
        roots = {"isic2017": make_isic2017(base / "isic2017", seed=0, **SYNTHETIC["isic2017"]),
                 "isic2018_task3": make_isic2018_task3(base / "isic2018_task3", seed=0,
                                                       **SYNTHETIC["isic2018_task3"])}
    splits = {}
    for split in ISIC2017_SPLITS:
        try:
            splits[split] = isic2017_frame(roots["isic2017"], split)
        except DermkitFileNotFoundError:
            if split == "training":
                raise
    isic2018 = load_isic2018_task3(roots["isic2018_task3"], "training")
    counts = np.bincount(splits["training"]["label"], minlength=3)
    session.log(f"ISIC 2017 {roots['isic2017']}: splits {', '.join(splits)}; training "
                + ", ".join(f"{c} {n}" for c, n in zip(ISIC2017_CLASSES, counts)))
    counts = isic2018["label"].value_counts().reindex(range(len(ISIC2018_CLASSES)), fill_value=0)
    session.log(f"ISIC 2018 Task 3 {roots['isic2018_task3']}: {len(isic2018)} images; "
                + ", ".join(f"{c} {n}" for c, n in zip(ISIC2018_CLASSES, counts)))
    return Data(splits, isic2018, {k: Path(v) for k, v in roots.items()}, synthetic)


def load_images(frame: pd.DataFrame, image_size: int, *, crop: float | None = None) -> np.ndarray:
    """``float32 [N, s, s, 3]`` in [0, 1]: the frame's images as the GAN sees them (the same crop and resize
    as :func:`dermkit.data.gan_data.gan_dataset`), in frame order."""
    from dermkit.data.gan_data import AUTHORS_CROP
    from dermkit.data.pipelines import classification_dataset

    crop = AUTHORS_CROP if crop is None else crop
    ds = classification_dataset(frame.assign(label=0), image_size=image_size, batch_size=64, num_classes=1,
                                one_hot=False, central_crop=crop)
    return np.concatenate([x.numpy() for x, _ in ds]) if len(frame) else np.zeros((0, image_size, image_size, 3))


# ---------------------------------------------------------------------------------------------------------
# GAN rows
# ---------------------------------------------------------------------------------------------------------
def _optimizers(cfg: dict):
    """Adam for each network at its rate (β 0.5, 0.999)."""
    import keras

    def adam(rate):
        return keras.optimizers.Adam(rate, beta_1=cfg["beta_1"], beta_2=cfg["beta_2"])

    return {"d_optimizer": adam(cfg["learning_rate"]["d"]), "g_optimizer": adam(cfg["learning_rate"]["g"])}


def _gan_callbacks(cfg: dict, session, stats, sampler, class_ids=None) -> list:
    from dermkit.training.gan import ExtraGeneratorSteps, ResumableEarlyStopping, SampleGrid, SamplerEpoch

    work = session.workdir("gan")
    return [
        SamplerEpoch(sampler),  # a resumed row draws the batches of its epoch
        stats,  # logs stats_distance first: the early stopping and the engine's history read it
        ExtraGeneratorSteps(every=cfg["extra_every"], steps=cfg["extra_steps"]),
        ResumableEarlyStopping(work / "early_stopping.json", monitor="stats_distance", mode="min",
                               patience=cfg["early_stopping_patience"]),
        SampleGrid(work / "samples", n=8, class_ids=class_ids, seed=session.seed),
    ]


def _fit_summary(fit: dict) -> dict[str, Any]:
    final = fit["final"]
    return {"d_real_accuracy": final.get("d_real_accuracy"), "d_fake_accuracy": final.get("d_fake_accuracy"),
            "d_loss": final.get("d_loss"), "g_loss": final.get("g_loss"), "epochs": fit["epochs_total"]}


def _pair_picks(mse: np.ndarray) -> dict[str, np.ndarray]:
    """Fig. 6's generated images: nearest to each MSE quantile, and the smallest-MSE ones."""
    order = np.argsort(mse, kind="stable")
    quantile = [int(np.argmin(np.abs(mse - np.quantile(mse, q)))) for q in FIG6_QUANTILES]
    return {"quantile": np.asarray(quantile, np.int64), "smallest": order[:FIG6_SMALLEST].astype(np.int64)}


def run_dcgan(exp: Experiment, data: Data, session) -> dict[str, Any]:
    """A de-coupled DCGAN on one ISIC 2017 class; generate its set; the novelty check (Figs. 5–6)."""
    from dermkit._io import atomic_savez
    from dermkit.data.gan_data import gan_dataset
    from dermkit.metrics.novelty import nearest_training_mse
    from dermkit.models.dcgan import dcgan_discriminator, dcgan_generator
    from dermkit.models.utils import save_model_for_inference
    from dermkit.training.gan import ChannelStatsDistance, GANTrainer

    p, cfg = exp.params, settings(session)
    size = cfg["image_size"]
    train = data.isic2017["training"]
    label = ISIC2017_CLASSES.index(p["class"])
    own = train[train["label"] == label].reset_index(drop=True)
    session.log(f"{exp.key}: {len(own)} {p['class']} training images at {size}²")
    ds, sampler = gan_dataset(own.assign(label=0), image_size=size, per_class=cfg["batch_size"], seed=session.seed,
                              num_batches=cfg["num_batches"], return_sampler=True)
    all_train = load_images(train, size)
    real = all_train[train.index[train["label"] == label]]
    generator = dcgan_generator(latent_dim=p["latent_dim"], image_size=size, synchronized_bn=cfg["synchronized_bn"])
    discriminator = dcgan_discriminator(image_size=size, synchronized_bn=cfg["synchronized_bn"])
    trainer = GANTrainer(generator, discriminator, latent_dim=p["latent_dim"], name=f"gan_{p['class']}")
    session.compile(trainer, **_optimizers(cfg), label_smoothing=cfg["label_smoothing"],
                    joint_batch=cfg["joint_batch"])
    stats = ChannelStatsDistance(real, n=cfg["stats_images"], seed=session.seed + 1)
    initial = stats.distance(trainer)
    fit = session.fit(trainer, ds, epochs=cfg["epochs"]["dcgan"],
                      callbacks=_gan_callbacks(cfg, session, stats, sampler),
                      monitor="stats_distance", mode="min", checkpoint="last", name="gan")
    final = stats.distance(trainer)
    save_model_for_inference(trainer.generator, session.artifact(exp.key, "generator.keras"))
    manifest = trainer.save_generated(session.artifact(exp.key, "generated"), p["n_generate"], seed=session.seed,
                                      label=label, class_name=p["class"])
    generated = trainer.generate(p["n_generate"], seed=session.seed)
    train_labels = train["label"].to_numpy()
    # mse_check.py: stretched generated images against the training images of the GAN's own class
    mse, index = nearest_training_mse(generated, all_train, generated_labels=np.full(len(generated), label),
                                      training_labels=train_labels)
    picks = _pair_picks(mse)
    chosen = np.concatenate([picks["quantile"], picks["smallest"]])
    atomic_savez(session.artifact(exp.key, "novelty.npz"), {
        "mse": mse, "index": index, "train_ids": train["image_id"].to_numpy().astype(str),
        "train_labels": train_labels, "quantile": picks["quantile"], "smallest": picks["smallest"],
        "generated": generated[chosen], "nearest": all_train[index[chosen]]})
    session.log(f"{exp.key}: stats distance {initial:.3f} → {final:.3f}; nearest-training MSE "
                f"{mse.mean():.4f} ± {mse.std():.4f} (paper {PAPER_MSE[p['class']][0]} ± {PAPER_MSE[p['class']][1]})")
    return {**_fit_summary(fit), "stats_distance_init": initial, "stats_distance_final": final,
            "mse_mean": float(mse.mean()), "mse_std": float(mse.std()),
            "n_train_class": len(own), "n_generated": int(p["n_generate"]), "manifest": manifest.name,
            "fit": fit}


def run_coupled(exp: Experiment, data: Data, session) -> dict[str, Any]:
    """The coupled DCGAN on the 7 ISIC 2018 classes (class-balanced online batches) and Fig. 12's material."""
    from dermkit._io import atomic_savez
    from dermkit.data.gan_data import gan_dataset
    from dermkit.metrics.novelty import nearest_training_mse
    from dermkit.models.dcgan import coupled_dcgan
    from dermkit.models.utils import save_model_for_inference
    from dermkit.training.gan import ChannelStatsDistance, GANTrainer

    p, cfg = exp.params, settings(session)
    size, classes = cfg["image_size"], p["num_classes"]
    frame = data.isic2018
    session.log(f"{exp.key}: {len(frame)} ISIC 2018 images, {cfg['per_class']} per class per batch, {size}²")
    ds, sampler = gan_dataset(frame, image_size=size, per_class=cfg["per_class"], num_classes=classes,
                              seed=session.seed, num_batches=cfg["num_batches"], return_sampler=True)
    real_all = load_images(frame, size)
    labels = frame["label"].to_numpy()
    generator, discriminator = coupled_dcgan(num_classes=classes, latent_dim=p["latent_dim"], image_size=size,
                                             synchronized_bn=cfg["synchronized_bn"])
    trainer = GANTrainer(generator, discriminator, latent_dim=p["latent_dim"], num_classes=classes,
                         name="gan_coupled")
    session.compile(trainer, **_optimizers(cfg), label_smoothing=cfg["label_smoothing"],
                    joint_batch=cfg["joint_batch"])
    stats = ChannelStatsDistance({c: real_all[labels == c] for c in range(classes)}, n=cfg["stats_images"],
                                 seed=session.seed + 1)
    initial = stats.distance(trainer)
    fit = session.fit(trainer, ds, epochs=cfg["epochs"]["coupled"],
                      callbacks=_gan_callbacks(cfg, session, stats, sampler, class_ids=list(range(classes))),
                      monitor="stats_distance", mode="min", checkpoint="last", name="gan")
    per_class = stats.per_class(trainer)
    final = float(np.mean(list(per_class.values())))
    save_model_for_inference(trainer.generator, session.artifact(exp.key, "generator.keras"))
    grid = np.stack([trainer.generate(FIG12_ROWS, class_id=c, seed=session.seed) for c in range(classes)], axis=1)
    # the third row's nearest real images, each of its own class (mse_check.py's per-class folders)
    mse, index = nearest_training_mse(grid[-1], real_all, generated_labels=np.arange(classes), training_labels=labels)
    atomic_savez(session.artifact(exp.key, "fig12.npz"), {
        "generated": grid, "nearest": real_all[index], "mse": mse, "index": index, "nearest_labels": labels[index],
        "class_names": np.array(ISIC2018_CLASSES)})
    session.log(f"{exp.key}: stats distance {initial:.3f} → {final:.3f}")
    return {**_fit_summary(fit), "stats_distance_init": initial, "stats_distance_final": final,
            "stats_distance_per_class": {ISIC2018_CLASSES[c]: v for c, v in per_class.items()}, "fit": fit}


#: ``params["kind"]`` → recipe (part 2 adds its kinds).
RECIPES: dict[str, Callable[[Experiment, Data, Any], dict[str, Any]]] = {"dcgan": run_dcgan, "coupled": run_coupled}


def run_experiment(exp: Experiment, data: Data, session) -> dict[str, Any]:
    """Run one row with the recipe of its ``params["kind"]``."""
    kind = exp.params["kind"]
    if kind not in RECIPES:
        raise ValueError(f"{exp.key}: no recipe for kind {kind!r} (known: {sorted(RECIPES)})")
    return RECIPES[kind](exp, data, session)


# ---------------------------------------------------------------------------------------------------------
# Tables and figures
# ---------------------------------------------------------------------------------------------------------
def _gan_notes(session) -> list[str]:
    notes = ["dermkit's own table (the paper reports only Fig. 5's MSE): discriminator accuracies of the last "
             "epoch on real and on generated images; stats_distance = ‖(μ − μ_real, σ − σ_real)‖ over the "
             "RGB channels, untrained vs trained generator (coupled: mean over classes); mse = each generated "
             "image's smallest MSE to the training images of its class, the generated image min–max stretched "
             "to [0, 1] (the authors' mse_check.py; Fig. 5's scale). GAN step: D on the real and the generated "
             "batch in separate calls (the authors' main.py), no label smoothing."]
    if session.options.quick:
        q = QUICK
        notes.append(f"--quick: {q['image_size']}×{q['image_size']}, batch {q['batch_size']} (coupled "
                     f"{q['per_class']} per class), {q['epochs']['dcgan']} epochs of {q['num_batches']} batches, "
                     f"Adam lr D {q['learning_rate']['d']:g} / G {q['learning_rate']['g']:g} — not the paper's "
                     "256×256, batch 50, lr 2e-4; "
                     + ("the discriminator on one joint real + generated batch (with the paper's BN on its first "
                        "layer, separate batches hide the colours from it; the full rows use separate batches)."
                        if q["joint_batch"] else "separate real / generated batches."))
    return notes


def table_gan(results: dict[str, dict], data, session) -> Table:
    rows = [TableRow(exp.label, {m: results.get(exp.key, {}).get(m) for m in GAN_METRICS}, exp.reported.get("gan", {}))
            for exp in EXPERIMENTS if "gan" in exp.tables]
    what = "SYNTHETIC ISIC 2017 / ISIC 2018" if session.options.synthetic else "ISIC 2017 / ISIC 2018 Task 3 training"
    return Table("gan", "GAN training: discriminator accuracy, colour statistics, novelty", GAN_METRICS, rows, what,
                 session.options.synthetic, _gan_notes(session))


#: table name → builder (part 2 adds its tables).
TABLE_BUILDERS: dict[str, Callable[[dict, Any, Any], Table]] = {"gan": table_gan}


def make_tables(results: dict[str, dict], data, session) -> list[Table]:
    chosen = set(session.options.tables)
    return [TABLE_BUILDERS[name](results, data, session) for name in TABLES
            if "all" in chosen or name in chosen]


def make_figures(results: dict[str, dict], data, session) -> list[Path]:
    """Figs. 5 and 6 (de-coupled DCGANs' novelty check) and Fig. 12 (coupled DCGAN grid)."""
    from dermkit import plots_gan

    tag = "SYNTHETIC DATA — " if session.options.synthetic else ""
    out = session.figures_dir
    files: list[Path] = []
    novelty = {}
    for exp in GAN_EXPERIMENTS:
        if exp.params["kind"] != "dcgan" or exp.key not in results:
            continue
        try:
            novelty[exp.params["class"]] = dict(np.load(session.artifact(exp.key, "novelty.npz")))
        except FileNotFoundError:
            continue
    if novelty:
        files.append(plots_gan.plot_mse_histograms(
            {c: v["mse"] for c, v in novelty.items()}, out / "fig5_mse_histograms.png", overwrite=True,
            paper=PAPER_MSE, title=f"{tag}bisla2019 Fig. 5: nearest-training-image MSE of the generated images"))
        files.append(plots_gan.plot_nearest_pairs(
            novelty, out / "fig6_nearest_pairs.png", overwrite=True, quantiles=FIG6_QUANTILES,
            title=f"{tag}bisla2019 Fig. 6: generated (top) and nearest training image (bottom)"))
    coupled = next((e for e in GAN_EXPERIMENTS if e.params["kind"] == "coupled"), None)
    if coupled is not None and coupled.key in results:
        try:
            saved = dict(np.load(session.artifact(coupled.key, "fig12.npz")))
        except FileNotFoundError:
            saved = None
        if saved is not None:
            files.append(plots_gan.plot_coupled_grid(
                saved["generated"], saved["nearest"], [str(c) for c in saved["class_names"]],
                out / "fig12_coupled_dcgan.png", overwrite=True,
                title=f"{tag}bisla2019 Fig. 12: coupled DCGAN, {FIG12_ROWS} images per class (one latent vector "
                      "per row); last row: nearest real image to row 3"))
    return files


# ---------------------------------------------------------------------------------------------------------
# Part 2 (purification and classification rows): dermkit/papers/_bisla2019_part2.py
# ---------------------------------------------------------------------------------------------------------
from dermkit.papers import _bisla2019_part2 as _part2  # noqa: E402

EXPERIMENTS += _part2.EXPERIMENTS_PART2
RECIPES.update(_part2.RECIPES_PART2)
TABLES += _part2.TABLES_PART2
TABLE_BUILDERS.update(_part2.TABLE_BUILDERS_PART2)
SYNTHETIC["isic2017"].update(_part2.SYNTHETIC_ISIC2017)
_make_figures_part1 = make_figures


def make_figures(results: dict[str, dict], data, session) -> list[Path]:  # noqa: F811
    """Part 1's figures (5, 6, 12) and part 2's (2, 3, 4, 7, 8, 9, 10, 11)."""
    return [*_make_figures_part1(results, data, session), *_part2.make_figures_part2(results, data, session)]


#: ``dermkit plan``: the training-set sizes of the full-scale run (fnmatch on ``"<row>/<fit>"``, first match).
PLAN = {
    "gan_melanoma/*": {"train_images": 374, "source": "ISIC 2017 training melanoma"},
    "gan_sk/*": {"train_images": 254, "source": "ISIC 2017 training seborrheic keratosis"},
    "gan_coupled/*": {"train_images": 8012, "source": "ISIC 2018 Task 3 10,015 × 80 % split"},
    "segmentation/*": {"train_images": 2000, "source": "ISIC 2017 Part 1 training set"},
    "purification_net/*": {"train_images": 8012, "source": "ISIC 2018 Task 3 10,015 × 80 % split"},
    "classifier_proposed/*": {"train_images": 50670,
                              "source": "Section 3.4's final set: 16,110 MEL + 17,928 NV + 16,632 SK"},
    "classifier_baseline/*": {"train_images": 2000, "source": "ISIC 2017 training set"},
    "isic2018_classifier/*": {"train_images": 8012,
                              "source": "ISIC 2018 Task 3 × 80 % split (its purified copies not counted)"},
}
