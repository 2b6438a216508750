"""The papers' figures, drawn with Matplotlib's Agg backend (no display needed, no global pyplot state).

- :func:`plot_per_tone_rates` — sensitivity and false-negative rate per skin tone (goel2021 Figures 4 and 6).
- :func:`plot_superpixel_pipeline` — superpixels → mask → pixel prediction → superpixels (kawahara2018 Fig. 1).
- :func:`plot_feature_overlays` — ground truth / prediction / overlap per dermoscopic feature (kawahara2018 Fig. 4).
- :func:`plot_per_class_recall` — per-class recall per training strategy (barata2020 Figs. 1–2).
- :func:`plot_attention_maps` — spatial attention and best channel per strategy (barata2020 Figs. 3–4).

Every function writes its file atomically and refuses to overwrite an existing one unless
``overwrite=True``; it returns the path written.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from dermkit._io import atomic_path, check_overwrite

__all__ = ["plot_per_tone_rates", "plot_superpixel_pipeline", "plot_feature_overlays", "plot_per_class_recall",
           "plot_attention_maps"]

_SENSITIVITY_COLOUR = "#1f77b4"
_FNR_COLOUR = "#d62728"


def _new_figure(size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path, overwrite: bool, dpi: int) -> Path:
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path, overwrite=overwrite) as tmp:
        figure.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
    return path


def plot_per_tone_rates(
    table: pd.DataFrame,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    sensitivity_column: str = "sensitivity",
    fnr_column: str = "false_negative_rate",
    overwrite: bool = False,
    dpi: int = 150,
) -> Path:
    """Bar chart of sensitivity and false-negative rate per skin tone (goel2021 Figures 4 and 6).

    Two bars per tone (sensitivity, FNR), tones along the x axis in the table's row order (use
    :func:`dermkit.preprocessing.skin_tone.per_tone_rates`, which orders them dark → light). Palette tones
    get a swatch of their colour under the axis; a tone whose rates are NaN (no malignant sample) is marked
    "n/a". When the table has a ``positives`` column, each tick shows the number of malignant samples
    ("12 mal.").

    Args:
        table: one row per tone, the tone label as index (as ``per_group_rates`` returns) or in a ``group`` /
            ``tone`` column, with the two rate columns (values in [0, 1] or NaN).
        path: output file; the format follows the suffix (``.png``, ``.pdf``, ``.svg``).
        title: axes title. Default None (none).
        sensitivity_column: column with the sensitivity. Default ``"sensitivity"``.
        fnr_column: column with the false-negative rate. Default ``"false_negative_rate"``.
        overwrite: replace an existing file. Default False.
        dpi: raster resolution. Default 150.

    Returns:
        The path written.

    Raises:
        ValueError: a column is missing or the table is empty.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    from dermkit.preprocessing.skin_tone import SKIN_TONE_LABELS, get_skin_tone

    path = check_overwrite(path, overwrite)
    missing = [c for c in (sensitivity_column, fnr_column) if c not in table.columns]
    if missing:
        raise ValueError(f"table has no column(s) {missing}; columns are {list(table.columns)}")
    if len(table) == 0:
        raise ValueError("table is empty: no tone to plot")
    if "group" in table.columns:
        labels = [str(v) for v in table["group"]]
    elif "tone" in table.columns:
        labels = [str(v) for v in table["tone"]]
    else:
        labels = [str(v) for v in table.index]
    sensitivity = table[sensitivity_column].to_numpy(dtype=np.float64)
    fnr = table[fnr_column].to_numpy(dtype=np.float64)
    ticks = labels
    if "positives" in table.columns:
        ticks = [f"{label}\n{int(n)} mal." for label, n in zip(labels, table["positives"])]

    positions = np.arange(len(labels))
    width = 0.38
    figure = _new_figure((max(6.0, 0.55 * len(labels) + 2.0), 4.0))
    axes = figure.add_subplot(1, 1, 1)
    axes.bar(positions - width / 2, np.nan_to_num(sensitivity), width, label="Sensitivity",
             color=_SENSITIVITY_COLOUR)
    axes.bar(positions + width / 2, np.nan_to_num(fnr), width, label="False negative rate", color=_FNR_COLOUR)
    for x, s in zip(positions, sensitivity):
        if math.isnan(s):
            axes.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
    axes.set_ylim(0.0, 1.05)
    axes.set_ylabel("Rate")
    axes.set_xlabel("Skin tone (dark → light)" if set(labels) <= set(SKIN_TONE_LABELS) else "Group")
    axes.set_xticks(positions)
    axes.set_xticklabels(ticks, fontsize=8)
    axes.tick_params(axis="x", pad=9, length=0)  # room for the swatches
    axes.set_xlim(-0.6, len(labels) - 0.4)
    axes.legend(loc="upper right", fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    if title:
        axes.set_title(title)
    # Colour swatches for palette tones, just under the axis (axes-fraction y, data x).
    transform = axes.get_xaxis_transform()
    for x, label in zip(positions, labels):
        if label in SKIN_TONE_LABELS:
            rgb = np.asarray(get_skin_tone(label).rgb) / 255.0
            axes.add_patch(_rectangle((x - 0.4, -0.04), 0.8, 0.03, rgb, transform))
    return _save(figure, Path(path), overwrite, dpi)


def _rectangle(xy, width, height, colour, transform):
    from matplotlib.patches import Rectangle

    return Rectangle(xy, width, height, facecolor=colour, edgecolor="0.3", linewidth=0.4,
                     transform=transform, clip_on=False)


# ---------------------------------------------------------------------------------------------------------
# kawahara2018
# ---------------------------------------------------------------------------------------------------------
#: kawahara2018 Fig. 4 colours: ground truth green, prediction dark blue, overlap light blue.
_TRUTH_RGB = np.array([0.1, 0.8, 0.1])
_PRED_RGB = np.array([0.05, 0.1, 0.6])
_OVERLAP_RGB = np.array([0.45, 0.8, 1.0])


def _as_float_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)


def _overlay(image: np.ndarray, truth: np.ndarray, pred: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend Fig. 4's colours onto ``image`` where ``truth`` / ``pred`` (bool ``[H, W]``) hold."""
    out = image.copy()
    for where, colour in ((truth & ~pred, _TRUTH_RGB), (pred & ~truth, _PRED_RGB), (truth & pred, _OVERLAP_RGB)):
        out[where] = (1 - alpha) * out[where] + alpha * colour
    return out


def plot_superpixel_pipeline(
    image: np.ndarray,
    index: np.ndarray,
    truth_sp: np.ndarray,
    pred_pixels: np.ndarray,
    path: str | os.PathLike,
    *,
    channels: tuple[int, ...] = (0, 3),
    channel_names: tuple[str, ...] = ("pigment network", "negative network", "milia-like cyst", "streaks"),
    title: str | None = None,
    overwrite: bool = False,
    dpi: int = 120,
) -> Path:
    """kawahara2018 Fig. 1: superpixels → segmentation (Eq. 1), pixel prediction, prediction → superpixels (Eq. 2).

    One row per channel in ``channels`` (Fig. 1 shows pigment network and streaks): the image with superpixel
    boundaries, the ground-truth superpixels painted as a mask, the pixel-wise prediction, and the prediction
    averaged per superpixel.

    Args:
        image: ``[H, W, 3]`` uint8 or float in [0, 1].
        index: ``int [H, W]`` superpixel index map.
        truth_sp: ``[N, K]`` ground-truth superpixel labels.
        pred_pixels: ``[H, W, K]`` predicted probabilities at the image's size.
        path: output file (format from the suffix).
        channels: which feature channels to show (rows).
        channel_names: names of the K channels.
        title: figure title (say SYNTHETIC for synthetic data).
        overwrite: replace an existing file.
        dpi: raster resolution.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        DermkitDataError: sizes disagree (from Eq. 1 / Eq. 2).
    """
    from skimage.segmentation import find_boundaries

    from dermkit.data.superpixels import mask_to_superpixels, superpixels_to_mask

    path = check_overwrite(path, overwrite)
    image = _as_float_image(image)
    truth_mask = superpixels_to_mask(index, truth_sp)
    pred_sp_mask = superpixels_to_mask(index, mask_to_superpixels(pred_pixels, index, num_superpixels=len(truth_sp)))
    bounds = find_boundaries(index, mode="inner")
    with_bounds = image.copy()
    with_bounds[bounds] = 0.65 * with_bounds[bounds] + 0.35 * np.array([1.0, 1.0, 0.0])  # light yellow edges
    figure = _new_figure((10.0, 2.6 * len(channels) + 0.4))
    columns = ("image + superpixels", "truth superpixels → mask (Eq. 1)", "pixel prediction",
               "prediction → superpixels (Eq. 2)")
    for row, k in enumerate(channels):
        panels = (with_bounds, truth_mask[..., k], pred_pixels[..., k], pred_sp_mask[..., k])
        for col, panel in enumerate(panels):
            axes = figure.add_subplot(len(channels), 4, row * 4 + col + 1)
            if panel.ndim == 3:
                axes.imshow(panel)
            else:
                axes.imshow(panel, cmap="viridis", vmin=0.0, vmax=1.0)
            axes.set_xticks([])
            axes.set_yticks([])
            if row == 0:
                axes.set_title(columns[col], fontsize=8)
            if col == 0:
                axes.set_ylabel(channel_names[k], fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    return _save(figure, Path(path), overwrite, dpi)


def plot_feature_overlays(
    images,
    truth_masks,
    pred_masks,
    path: str | os.PathLike,
    *,
    channel_names: tuple[str, ...] = ("Pigment Network", "Negative Network", "Milia-like Cyst", "Streaks"),
    threshold: float = 0.5,
    title: str | None = None,
    overwrite: bool = False,
    dpi: int = 120,
) -> Path:
    """kawahara2018 Fig. 4: each feature (columns) overlaid on sample images (rows).

    Green: ground truth only; dark blue: predicted only (probability ≥ ``threshold``); light blue: both.

    Args:
        images: list of ``[H_i, W_i, 3]`` images (uint8 or float in [0, 1]).
        truth_masks: list of ``[H_i, W_i, K]`` ground-truth masks (Eq. 1 paintings).
        pred_masks: list of ``[H_i, W_i, K]`` predicted probabilities.
        path: output file.
        channel_names: column titles.
        threshold: a pixel is predicted positive at ``>= threshold``.
        title: figure title (say SYNTHETIC for synthetic data).
        overwrite: replace an existing file.
        dpi: raster resolution.

    Raises:
        ValueError: lists of different lengths or no image. FileExistsError: as usual.
    """
    path = check_overwrite(path, overwrite)
    if not (len(images) == len(truth_masks) == len(pred_masks)) or not len(images):
        raise ValueError(
            f"need equally many images, truth and predicted masks (at least one). Received: {len(images)}, "
            f"{len(truth_masks)}, {len(pred_masks)}"
        )
    k = len(channel_names)
    figure = _new_figure((2.4 * k, 2.4 * len(images) + 0.4))
    for row, (image, truth, pred) in enumerate(zip(images, truth_masks, pred_masks)):
        image = _as_float_image(image)
        for col in range(k):
            axes = figure.add_subplot(len(images), k, row * k + col + 1)
            axes.imshow(_overlay(image, np.asarray(truth)[..., col] >= 0.5, np.asarray(pred)[..., col] >= threshold))
            axes.set_xticks([])
            axes.set_yticks([])
            if row == 0:
                axes.set_title(channel_names[col], fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    return _save(figure, Path(path), overwrite, dpi)


# ---------------------------------------------------------------------------------------------------------
# goel2021 Figures 1 and 2, and the precision–recall / ROC curves of Section 6
# ---------------------------------------------------------------------------------------------------------
def _float_rgb(image) -> np.ndarray:
    image = np.asarray(image)
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else np.clip(image.astype(np.float32), 0, 1)


def plot_mask_comparison(
    images,
    masks,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    overwrite: bool = False,
    dpi: int = 120,
) -> Path:
    """Image and lesion masks side by side, one image per row (goel2021 Figure 1: ground truth, U-Net mask,
    DenseNet-U-Net mask).

    Args:
        images: list of ``N`` RGB images ``[H, W, 3]`` (uint8 or float in [0, 1]).
        masks: ``{column title: list of N masks [H, W] (bool, 0/1, 0/255 or probabilities)}``, in column order.
        path: output file (format from the suffix).
        title: figure title (say SYNTHETIC for synthetic data). Default None.
        overwrite: replace an existing file. Default False.
        dpi: raster resolution. Default 120.

    Returns:
        The path written.

    Raises:
        ValueError: no image, or a mask list whose length differs from ``images``.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = check_overwrite(path, overwrite)
    images = list(images)
    if not images:
        raise ValueError("images is empty: nothing to plot")
    for name, column in masks.items():
        if len(column) != len(images):
            raise ValueError(f"masks[{name!r}] has {len(column)} masks for {len(images)} images")
    columns = ["image", *masks]
    figure = _new_figure((2.0 * len(columns), 2.0 * len(images) + (0.4 if title else 0.0)))
    for row, image in enumerate(images):
        for col, name in enumerate(columns):
            axes = figure.add_subplot(len(images), len(columns), row * len(columns) + col + 1)
            if col == 0:
                axes.imshow(_float_rgb(image))
            else:
                mask = np.asarray(masks[name][row], dtype=np.float32)
                mask = mask[..., 0] if mask.ndim == 3 else mask
                axes.imshow(mask / 255.0 if mask.max() > 1 else mask, cmap="gray", vmin=0, vmax=1)
            axes.set_xticks([])
            axes.set_yticks([])
            if row == 0:
                axes.set_title(name, fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    return _save(figure, Path(path), overwrite, dpi)


def plot_activation_maps(
    panels,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    alpha: float = 0.45,
    overwrite: bool = False,
    dpi: int = 120,
) -> Path:
    """Class activation maps over their images (goel2021 Figure 2: model trained on original images (a) vs
    on segmented crops (b)).

    Args:
        panels: list of ``(panel title, image [H, W, 3], heat map [H, W] in [0, 1])``, e.g. from
            :func:`dermkit.explain.cam.grad_cam`.
        path: output file.
        title: figure title. Default None.
        alpha: opacity of the heat map (jet colour map) over the image. Default 0.45.
        overwrite: replace an existing file. Default False.
        dpi: raster resolution. Default 120.

    Returns:
        The path written.

    Raises:
        ValueError: no panel, or a heat map whose size differs from its image.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = check_overwrite(path, overwrite)
    panels = list(panels)
    if not panels:
        raise ValueError("panels is empty: nothing to plot")
    figure = _new_figure((2.6 * len(panels), 2.9 + (0.3 if title else 0.0)))
    for k, (name, image, heat) in enumerate(panels):
        image, heat = _float_rgb(image), np.asarray(heat, dtype=np.float32)
        if heat.shape != image.shape[:2]:
            raise ValueError(f"panel {name!r}: heat map {heat.shape} differs from image {image.shape[:2]}")
        axes = figure.add_subplot(1, len(panels), k + 1)
        axes.imshow(image)
        axes.imshow(heat, cmap="jet", alpha=alpha, vmin=0, vmax=1)
        axes.set_title(name, fontsize=9)
        axes.set_xticks([])
        axes.set_yticks([])
    if title:
        figure.suptitle(title, fontsize=10)
    return _save(figure, Path(path), overwrite, dpi)


def plot_pr_roc_curves(
    curves,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    overwrite: bool = False,
    dpi: int = 120,
) -> Path:
    """Precision–recall (left) and ROC (right) curves of binary classifiers (goel2021 Section 6: PR curves
    beside ROC because ROC is optimistic on data with 49 benign per malignant image).

    Args:
        curves: ``{label: (y_true [N] 0/1, score [N] of the positive class)}``; a label whose truth holds a
            single class is drawn in the legend only, marked "(one class)".
        path: output file.
        title: figure title. Default None.
        overwrite: replace an existing file. Default False.
        dpi: raster resolution. Default 120.

    Returns:
        The path written.

    Raises:
        ValueError: no curve, or truth and score lengths differ.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    path = check_overwrite(path, overwrite)
    if not curves:
        raise ValueError("curves is empty: nothing to plot")
    figure = _new_figure((10.0, 4.2))
    pr_axes, roc_axes = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    for label, (truth, score) in curves.items():
        truth, score = np.asarray(truth).astype(int).ravel(), np.asarray(score, dtype=np.float64).ravel()
        if truth.shape != score.shape:
            raise ValueError(f"curve {label!r}: {truth.size} labels but {score.size} scores")
        if len(np.unique(truth)) < 2:
            pr_axes.plot([], [], label=f"{label} (one class)")
            continue
        precision, recall, _ = precision_recall_curve(truth, score)
        pr_axes.plot(recall, precision, label=f"{label} (AP {average_precision_score(truth, score):.2f})")
        fpr, tpr, _ = roc_curve(truth, score)
        roc_axes.plot(fpr, tpr, label=f"{label} (AUC {roc_auc_score(truth, score):.2f})")
    roc_axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    pr_axes.set_xlabel("Recall (malignant accuracy)")
    pr_axes.set_ylabel("Precision")
    roc_axes.set_xlabel("False positive rate")
    roc_axes.set_ylabel("True positive rate")
    for axes, name in ((pr_axes, "Precision–recall"), (roc_axes, "ROC")):
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.02)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7, loc="lower right" if name == "ROC" else "upper right")
        axes.set_title(name, fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    return _save(figure, Path(path), overwrite, dpi)


__all__ += ["plot_mask_comparison", "plot_activation_maps", "plot_pr_roc_curves"]


# --- barata2020 figures ---
def plot_per_class_recall(
    bars: dict[str, dict[str, dict[str, float]]],
    path: str | os.PathLike,
    *,
    title: str | None = None,
    overwrite: bool = False,
    dpi: int = 150,
) -> Path:
    """Grouped bars of per-class recall (RE, %) per training strategy, one panel per model (barata2020 Figs. 1–2).

    Args:
        bars: ``{panel (model): {strategy label: {class name: recall in %}}}``; classes along the x axis in the
            first strategy's order, one bar per strategy.
        path, title, overwrite, dpi: as :func:`plot_per_tone_rates`.

    Raises:
        ValueError: nothing to draw. FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = check_overwrite(path, overwrite)
    panels = {name: strategies for name, strategies in bars.items() if strategies}
    if not panels:
        raise ValueError("plot_per_class_recall: no bars to draw")
    figure = _new_figure((4.5 * len(panels), 3.6))
    for k, (name, strategies) in enumerate(panels.items()):
        ax = figure.add_subplot(1, len(panels), k + 1)
        classes = list(next(iter(strategies.values())))
        width = 0.8 / len(strategies)
        for s, (label, recall) in enumerate(strategies.items()):
            xs = np.arange(len(classes)) + (s - (len(strategies) - 1) / 2) * width
            ax.bar(xs, [recall.get(c, np.nan) for c in classes], width, label=label)
        ax.set_xticks(np.arange(len(classes)), classes)
        ax.set_ylim(0, 100)
        ax.set_ylabel("RE (%)")
        ax.set_title(f"{name} model")
        ax.legend(fontsize=7, ncol=2)
    if title:
        figure.suptitle(title, fontsize=9)
    return _save(figure, path, overwrite=True, dpi=dpi)


def plot_attention_maps(
    panels: dict[str, dict[str, np.ndarray]],
    classes,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    overwrite: bool = False,
    dpi: int = 150,
) -> Path:
    """Per class (rows): the image, then per strategy the spatial attention map and the best channel of the
    last decision over it (barata2020 Figs. 3–4).

    Args:
        panels: ``{strategy label: {"images": [N, H, W, 3] in [0, 1], "classes": [N] class names,
            "spatial": [N, h, w], "channel": [N, h, w]}}`` — the same N images in every strategy.
        classes: the class names to show, one row each (rows without an image are skipped).
        path, title, overwrite, dpi: as :func:`plot_per_tone_rates`.

    Raises:
        ValueError: nothing to draw. FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = check_overwrite(path, overwrite)
    if not panels:
        raise ValueError("plot_attention_maps: no strategies to draw")
    first = next(iter(panels.values()))
    names = [str(c) for c in np.asarray(first["classes"])]
    rows = [c for c in classes if c in names]
    if not rows:
        raise ValueError(f"plot_attention_maps: none of {list(classes)} among the saved images {names}")
    cols = 1 + 2 * len(panels)
    figure = _new_figure((1.6 * cols, 1.7 * len(rows)))
    for r, name in enumerate(rows):
        i = names.index(name)
        image = np.clip(np.asarray(first["images"][i], np.float32), 0, 1)
        ax = figure.add_subplot(len(rows), cols, r * cols + 1)
        ax.imshow(image)
        ax.set_ylabel(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        for s, (label, saved) in enumerate(panels.items()):
            for j, (key, cmap) in enumerate((("spatial", "jet"), ("channel", "viridis"))):
                ax = figure.add_subplot(len(rows), cols, r * cols + 2 + 2 * s + j)
                ax.imshow(image)
                ax.imshow(np.asarray(saved[key][i], np.float32), cmap=cmap, alpha=0.5,
                          extent=(-0.5, image.shape[1] - 0.5, image.shape[0] - 0.5, -0.5), interpolation="bilinear")
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"{label}\n{'spatial' if key == 'spatial' else 'best channel'}", fontsize=7)
    if title:
        figure.suptitle(title, fontsize=9)
    return _save(figure, path, overwrite=True, dpi=dpi)


# --- kawahara2018 figures ---
#: kawahara2018's abbreviations of the four ISIC 2017 dermoscopic features, in channel order.
_FEATURE_ABBREV = ("PN", "NN", "MC", "ST")


def label_combination_counts(labels, *, names: tuple[str, ...] = _FEATURE_ABBREV) -> pd.Series:
    """How often each combination of labels occurs (kawahara2018 Fig. 3's bars).

    Args:
        labels: 0/1 labels, one row per labelled unit (a superpixel for Fig. 3): an ``[N, K]`` array or a list
            of ``[N_i, K]`` arrays (one per image, concatenated).
        names: the K label names.

    Returns:
        Counts (int) indexed by combination — ``"None"`` for a row with no label, else the names of its
        labels joined by ``" + "`` in channel order (``"NN + MC"``) — combinations that never occur left
        out, largest count first (ties by name).

    Raises:
        ValueError: labels not 0/1, not K columns, or no rows.
    """
    if isinstance(labels, np.ndarray):
        rows = labels
    else:
        parts = [np.asarray(a) for a in labels]
        rows = np.concatenate(parts) if parts else np.zeros((0, len(names)))
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] != len(names):
        raise ValueError(f"labels must be [N, {len(names)}] (one column per name in {names}); got {rows.shape}")
    if not len(rows):
        raise ValueError("labels has no rows: nothing to count")
    if not np.isin(rows, (0, 1)).all():
        raise ValueError(f"labels must be 0 or 1; found {sorted(set(np.unique(rows).tolist()) - {0, 1})[:5]}")
    combos, counts = np.unique(rows.astype(bool), axis=0, return_counts=True)
    keys = [" + ".join(n for n, on in zip(names, combo) if on) or "None" for combo in combos]
    series = pd.Series(counts.astype(np.int64), index=keys, name="count")
    order = sorted(range(len(series)), key=lambda i: (-int(series.iloc[i]), series.index[i]))
    return series.iloc[order]


def plot_label_combinations(
    labels,
    path: str | os.PathLike,
    *,
    names: tuple[str, ...] = _FEATURE_ABBREV,
    unit: str = "superpixels",
    title: str | None = None,
    overwrite: bool = False,
    dpi: int = 120,
) -> Path:
    """kawahara2018 Fig. 3: the number of ``unit`` carrying each combination of labels, on a log scale.

    One horizontal bar per combination that occurs (:func:`label_combination_counts`: ``"None"``, single
    labels, and combinations such as ``"NN + MC"``), largest first, each annotated with its count.

    Args:
        labels: 0/1 ``[N, K]`` array or list of ``[N_i, K]`` arrays (Fig. 3: every superpixel of the test set).
        path: output file (format from the suffix).
        names: the K label names. Default PN, NN, MC, ST.
        unit: what a row is, for the axis label. Default "superpixels".
        title: figure title (say SYNTHETIC for synthetic data). Default None.
        overwrite: replace an existing file. Default False.
        dpi: raster resolution. Default 120.

    Returns:
        The path written.

    Raises:
        ValueError: as :func:`label_combination_counts`. FileExistsError: ``path`` exists and not ``overwrite``.
    """
    path = check_overwrite(path, overwrite)
    counts = label_combination_counts(labels, names=names)
    figure = _new_figure((6.4, 0.35 * len(counts) + 1.4))
    axes = figure.add_subplot(1, 1, 1)
    positions = np.arange(len(counts))[::-1]  # largest at the top
    axes.barh(positions, counts.to_numpy(), color=_SENSITIVITY_COLOUR, height=0.7)
    axes.set_yticks(positions)
    axes.set_yticklabels(list(counts.index), fontsize=8)
    axes.set_xscale("log")
    axes.set_xlim(0.8, counts.max() * 4)
    for y, value in zip(positions, counts.to_numpy()):
        axes.text(value * 1.08, y, f"{value:,}", va="center", fontsize=7)
    axes.set_xlabel(f"number of {unit} with the label (log scale)")
    axes.set_ylabel("label")
    axes.grid(axis="x", alpha=0.3)
    if title:
        axes.set_title(title, fontsize=9)
    return _save(figure, Path(path), overwrite, dpi)


_TRUTH_CONTOUR = "#1ca01c"  # green: ground truth
_PRED_CONTOUR = "#1f4fd6"  # blue: prediction


def plot_lesion_contours(
    images,
    truth_masks,
    pred_masks,
    path: str | os.PathLike,
    *,
    names=None,
    title: str | None = None,
    columns: int = 4,
    overwrite: bool = False,
    dpi: int = 120,
) -> Path:
    """kawahara2018 Fig. 5: lesion contours on the images — ground truth green, prediction blue — with the
    Jaccard index of each pair (:func:`dermkit.metrics.isic.isic_segmentation_scores`) above each image.

    Args:
        images: list of ``[H_i, W_i, 3]`` images (uint8 or float in [0, 1]).
        truth_masks: list of ``[H_i, W_i]`` lesion masks (bool, 0/255, or probabilities), binarised by the
            ISIC rule (:func:`dermkit.data.masks.binarize_mask`).
        pred_masks: list of predicted masks, same layout (probabilities are cut at > 0.5).
        path: output file (format from the suffix).
        names: optional image names shown with the Jaccard (e.g. image ids).
        title: figure title (say SYNTHETIC for synthetic data). Default None.
        columns: images per row. Default 4.
        overwrite: replace an existing file. Default False.
        dpi: raster resolution. Default 120.

    Returns:
        The path written.

    Raises:
        ValueError: lists of different lengths or no image; a mask that cannot be binarised or whose size
            differs from its image (the message names the image). FileExistsError: as usual.
    """
    from dermkit.data.masks import binarize_mask
    from dermkit.metrics.isic import isic_segmentation_scores

    path = check_overwrite(path, overwrite)
    images, truth_masks, pred_masks = list(images), list(truth_masks), list(pred_masks)
    names = list(names) if names is not None else [None] * len(images)
    if not (len(images) == len(truth_masks) == len(pred_masks) == len(names)) or not images:
        raise ValueError(
            f"need equally many images, truth and predicted masks (at least one). Received: {len(images)}, "
            f"{len(truth_masks)}, {len(pred_masks)}" + (f", {len(names)} names" if len(names) != len(images) else "")
        )
    columns = max(1, min(int(columns), len(images)))
    rows = math.ceil(len(images) / columns)
    figure = _new_figure((2.8 * columns, 2.8 * rows + (0.4 if title else 0.0)))
    for i, (image, truth, pred, name) in enumerate(zip(images, truth_masks, pred_masks, names)):
        label = name or f"image {i}"
        truth = binarize_mask(truth, where=f"truth_masks[{i}] ({label})")
        pred = binarize_mask(pred, where=f"pred_masks[{i}] ({label})")
        image = _float_rgb(image)
        if truth.shape != image.shape[:2] or pred.shape != image.shape[:2]:
            raise ValueError(f"{label}: image is {image.shape[:2]} but the truth mask is {truth.shape} and the "
                             f"prediction {pred.shape}")
        jaccard = isic_segmentation_scores([truth], [pred])["jaccard"]
        axes = figure.add_subplot(rows, columns, i + 1)
        axes.imshow(image)
        for mask, colour in ((truth, _TRUTH_CONTOUR), (pred, _PRED_CONTOUR)):
            if mask.any() and not mask.all():
                axes.contour(mask.astype(np.float32), levels=[0.5], colors=[colour], linewidths=1.5)
        axes.set_title(f"{name}\nJaccard {jaccard:.3f}" if name else f"Jaccard {jaccard:.3f}", fontsize=8)
        axes.set_xticks([])
        axes.set_yticks([])
    if title:
        figure.suptitle(title, fontsize=10)
    return _save(figure, Path(path), overwrite, dpi)


__all__ += ["label_combination_counts", "plot_label_combinations", "plot_lesion_contours"]


# --- goel2021 figures ---
#: The panels of :func:`plot_training_curves` (goel2021 Figures 7–8): (title, history keys drawn in it).
TRAINING_CURVE_PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("loss", ("loss", "val_loss")),
    ("accuracy", ("accuracy", "val_accuracy")),
    ("class accuracies (validation)", ("val_benign_acc", "val_malignant_acc", "val_balanced_accuracy")),
)


def training_curve_series(history, panels=TRAINING_CURVE_PANELS) -> list[tuple[str, list[str]]]:
    """Which history keys each panel of :func:`plot_training_curves` draws: ``[(panel title, [keys present
    with at least one finite value])]``, panels with no such key left out."""
    out = []
    for name, keys in panels:
        present = [k for k in keys if k in history and np.isfinite(np.asarray(history[k], dtype=float)).any()]
        if present:
            out.append((name, present))
    return out


def plot_training_curves(
    histories,
    path: str | os.PathLike,
    *,
    panels=TRAINING_CURVE_PANELS,
    best_epochs=None,
    title: str | None = None,
    overwrite: bool = False,
    dpi: int = 120,
) -> Path:
    """Per-epoch training curves, one row of panels per run (goel2021 Figure 7: the best model's loss,
    accuracy, benign, malignant and balanced accuracy over 15 epochs; Figure 8: with augmentations over 15
    and over 50 epochs).

    Args:
        histories: ``{run label: {log key: [value per epoch]}}`` — e.g. the ``"history"`` of
            :meth:`dermkit.training.runner.RunSession.fit`'s summary; epochs are numbered from 1.
        path: output file.
        panels: ``((panel title, (history keys, ...)), ...)``; default :data:`TRAINING_CURVE_PANELS` (loss;
            accuracy; validation benign / malignant / balanced accuracy). Keys a history lacks are skipped.
        best_epochs: ``{run label: 1-based epoch}`` marked with a dotted vertical line (the checkpoint kept).
        title: figure title (say SYNTHETIC for synthetic data). Default None.
        overwrite: replace an existing file. Default False.
        dpi: raster resolution. Default 120.

    Returns:
        The path written.

    Raises:
        ValueError: no history, or a history with none of the panels' keys.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    from matplotlib.ticker import MaxNLocator

    path = check_overwrite(path, overwrite)
    histories = dict(histories)
    if not histories:
        raise ValueError("histories is empty: nothing to plot")
    layout = {}
    for label, history in histories.items():
        series = training_curve_series(history, panels)
        if not series:
            raise ValueError(f"history {label!r} has none of the keys {[k for _, keys in panels for k in keys]}; "
                             f"it has {sorted(history)}")
        layout[label] = series
    columns = max(len(series) for series in layout.values())
    figure = _new_figure((4.0 * columns, 3.0 * len(layout) + (0.4 if title else 0.0)))
    for row, (label, series) in enumerate(layout.items()):
        history = histories[label]
        best = (best_epochs or {}).get(label)
        for col, (name, keys) in enumerate(series):
            axes = figure.add_subplot(len(layout), columns, row * columns + col + 1)
            for key in keys:
                values = np.asarray(history[key], dtype=float)
                axes.plot(np.arange(1, values.size + 1), values, marker="o", markersize=3, label=key)
            if best is not None:
                axes.axvline(float(best), color="grey", linestyle=":", linewidth=1)
            axes.set_xlabel("epoch")
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.set_title(f"{label}: {name}", fontsize=9)
            axes.grid(alpha=0.3)
            axes.legend(fontsize=7)
            if "acc" in name:
                axes.set_ylim(-0.02, 1.02)
    if title:
        figure.suptitle(title, fontsize=10)
    return _save(figure, Path(path), overwrite, dpi)


__all__ += ["plot_training_curves", "training_curve_series", "TRAINING_CURVE_PANELS"]
