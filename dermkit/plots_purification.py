"""bisla2019's purification, explanation and data-growth figures (Matplotlib Agg, no pyplot state).

- :func:`plot_image_pairs` — originals on top, processed images below (Fig. 3: hair/ruler removal; Fig. 10: the
  purification network), optionally a third row (e.g. the hair mask).
- :func:`plot_visual_backprop` — originals on top, VisualBackProp masks overlaid below (Figs. 2 and 8).
- :func:`plot_growth_stages` — per-class counts after each stage of the training-set growth, dermkit's bars
  beside the paper's numbers (Fig. 7).
- :func:`plot_class_sizes` — one bar per class (Fig. 11, the ISIC 2018 class sizes).
- :func:`plot_roc_confusion` — per model one-vs-rest ROC curves and the confusion matrix (Fig. 9).

Every function writes its file atomically, refuses to overwrite an existing file unless ``overwrite=True``
and returns the path written (the rules of :mod:`dermkit.plots`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dermkit._io import check_overwrite
from dermkit.plots import _new_figure, _save

__all__ = ["plot_image_pairs", "plot_visual_backprop", "plot_growth_stages", "plot_class_sizes", "plot_roc_confusion"]


def _images(x, name: str) -> np.ndarray:
    array = np.asarray(x)
    if array.ndim != 4 or array.shape[-1] != 3 or len(array) == 0:
        raise ValueError(f"{name} must be a non-empty batch of RGB images [N, H, W, 3]. Received: shape {array.shape}")
    array = array.astype(np.float32)
    return array / 255.0 if array.max() > 1.0 else array


def plot_image_pairs(
    originals,
    processed,
    path: str | os.PathLike,
    *,
    masks=None,
    titles: Sequence[str] | None = None,
    row_labels: Sequence[str] = ("original", "processed", "mask"),
    overwrite: bool = False,
    dpi: int = 150,
) -> Path:
    """A grid: ``originals`` on the top row, ``processed`` below, ``masks`` (optional, ``[N, H, W]``) third.

    Args:
        originals, processed: RGB ``[N, H, W, 3]`` (float in [0, 1] or uint8), the same N.
        path: the file to write (format from the suffix).
        masks: optional ``[N, H, W]`` masks shown in grey.
        titles: optional one title per column.
        row_labels: the rows' labels.
        overwrite, dpi: as :func:`dermkit.plots.plot_per_tone_rates`.

    Raises:
        ValueError: shapes that disagree. FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = check_overwrite(path, overwrite)
    top, bottom = _images(originals, "originals"), _images(processed, "processed")
    if top.shape[0] != bottom.shape[0]:
        raise ValueError(f"originals and processed must hold the same number of images: {len(top)} vs {len(bottom)}")
    rows = [top, bottom]
    if masks is not None:
        m = np.asarray(masks)
        if m.shape[0] != top.shape[0] or m.ndim != 3:
            raise ValueError(f"masks must be [N, H, W] with N = {len(top)}. Received: shape {m.shape}")
        rows.append(m.astype(np.float32))
    n = len(top)
    figure = _new_figure((2.0 * n, 2.0 * len(rows)))
    for r, row in enumerate(rows):
        for c in range(n):
            ax = figure.add_subplot(len(rows), n, r * n + c + 1)
            ax.imshow(row[c], cmap="gray" if row[c].ndim == 2 else None, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and titles is not None and c < len(titles):
                ax.set_title(str(titles[c]), fontsize=7)
            if c == 0 and r < len(row_labels):
                ax.set_ylabel(row_labels[r], fontsize=8)
    return _save(figure, path, overwrite=True, dpi=dpi)


def plot_visual_backprop(
    images,
    masks,
    path: str | os.PathLike,
    *,
    titles: Sequence[str] | None = None,
    alpha: float = 0.6,
    overwrite: bool = False,
    dpi: int = 150,
) -> Path:
    """Originals on top, ``masks`` (VisualBackProp, ``[N, H, W]`` in [0, 1]) overlaid in the ``jet`` colour map
    below (bisla2019 Fig. 2: "Visualization mask overlaid on the original image"; Fig. 8 with titles such as
    ``"nevus TP"``).

    Raises:
        ValueError: shapes that disagree. FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = check_overwrite(path, overwrite)
    top = _images(images, "images")
    m = np.asarray(masks, np.float32)
    if m.shape != top.shape[:3]:
        raise ValueError(f"masks must be [N, H, W] = {top.shape[:3]} like images. Received: shape {m.shape}")
    n = len(top)
    figure = _new_figure((2.0 * n, 4.0))
    for c in range(n):
        ax = figure.add_subplot(2, n, c + 1)
        ax.imshow(top[c])
        if titles is not None and c < len(titles):
            ax.set_title(str(titles[c]), fontsize=7)
        ax2 = figure.add_subplot(2, n, n + c + 1)
        ax2.imshow(top[c])
        ax2.imshow(m[c], cmap="jet", alpha=alpha, vmin=0, vmax=1)
        for a in (ax, ax2):
            a.set_xticks([])
            a.set_yticks([])
    return _save(figure, path, overwrite=True, dpi=dpi)


def plot_growth_stages(
    counts: pd.DataFrame,
    path: str | os.PathLike,
    *,
    paper: pd.DataFrame | None = None,
    title: str | None = None,
    overwrite: bool = False,
    dpi: int = 150,
) -> Path:
    """Grouped bars of per-class counts after each growth stage (bisla2019 Fig. 7), log scale.

    Args:
        counts: :func:`dermkit.data.growth.growth_counts` (stages as rows, one column per class).
        path: the file to write.
        paper: the paper's counts (:data:`dermkit.data.growth.PAPER_GROWTH`) drawn as black ticks over the
            bars, or None.
        title, overwrite, dpi: as :func:`dermkit.plots.plot_per_tone_rates`.

    Raises:
        ValueError: no class column. FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    from dermkit.data.growth import GROWTH_CLASSES

    path = check_overwrite(path, overwrite)
    classes = [c for c in GROWTH_CLASSES if c in counts.columns]
    if not classes or counts.empty:
        raise ValueError(f"counts must hold the class columns {GROWTH_CLASSES}")
    figure = _new_figure((7.0, 3.6))
    ax = figure.add_subplot(1, 1, 1)
    stages = list(counts.index)
    width = 0.8 / len(classes)
    for k, cls in enumerate(classes):
        xs = np.arange(len(stages)) + (k - (len(classes) - 1) / 2) * width
        ax.bar(xs, counts[cls].to_numpy(dtype=float), width, label=cls.replace("_", " "))
        if paper is not None and cls in paper.columns:
            values = paper[cls].reindex(stages).to_numpy(dtype=float)
            ax.scatter(xs, values, marker="_", s=120, color="black", zorder=3,
                       label="paper" if k == 0 else None)
    ax.set_xticks(np.arange(len(stages)), stages)
    ax.set_yscale("log")
    ax.set_ylabel("images")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(figure, path, overwrite=True, dpi=dpi)


def plot_class_sizes(
    sizes: Mapping[str, int],
    path: str | os.PathLike,
    *,
    title: str | None = None,
    overwrite: bool = False,
    dpi: int = 150,
) -> Path:
    """One bar per class with its count printed above it (bisla2019 Fig. 11: "Sizes of the training data sets
    for the ISIC 2018 task").

    Raises:
        ValueError: no class. FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = check_overwrite(path, overwrite)
    if not sizes:
        raise ValueError("plot_class_sizes: no class sizes to draw")
    names, values = list(sizes), [int(v) for v in sizes.values()]
    figure = _new_figure((max(4.0, 0.8 * len(names)), 3.2))
    ax = figure.add_subplot(1, 1, 1)
    ax.bar(np.arange(len(names)), values, color="#1f77b4")
    for x, v in enumerate(values):
        ax.text(x, v, str(v), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel("images")
    if title:
        ax.set_title(title, fontsize=9)
    return _save(figure, path, overwrite=True, dpi=dpi)


def plot_roc_confusion(
    panels: Mapping[str, Mapping],
    path: str | os.PathLike,
    *,
    class_names: Sequence[str],
    short_names: Sequence[str] | None = None,
    title: str | None = None,
    overwrite: bool = False,
    dpi: int = 120,
) -> Path:
    """Fig. 9: per model (columns) one-vs-rest ROC curves of every class (top, scikit-learn's
    ``RocCurveDisplay``; a class absent or alone in ``y_true`` is skipped) and the confusion matrix of the
    argmax predictions (bottom, ``ConfusionMatrixDisplay``).

    Args:
        panels: ``{model label: {"y_true": [N] int, "prob": [N, K]}}``, in column order.
        path: output file (format from the suffix).
        class_names: the K class names (ROC legend). short_names: the confusion matrix's tick labels
            (default ``class_names``).
        title, overwrite, dpi: as the other plots.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    path = check_overwrite(path, overwrite)
    k = len(class_names)
    figure = _new_figure((5 * len(panels), 9))
    axes = figure.subplots(2, len(panels), squeeze=False)
    for j, (label, p) in enumerate(panels.items()):
        y, prob = np.asarray(p["y_true"]), np.asarray(p["prob"])
        for c, name in enumerate(class_names):
            if 0 < (y == c).sum() < len(y):
                RocCurveDisplay.from_predictions(y == c, prob[:, c], name=name, ax=axes[0, j])
        axes[0, j].plot([0, 1], [0, 1], "k:", lw=0.8)
        axes[0, j].set_title(label)
        ConfusionMatrixDisplay.from_predictions(y, prob.argmax(1), labels=list(range(k)),
                                                display_labels=list(short_names or class_names), ax=axes[1, j],
                                                colorbar=False)
    if title:
        figure.suptitle(title)
    return _save(figure, path, overwrite=True, dpi=dpi)
