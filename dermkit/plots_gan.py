"""bisla2019's GAN figures (Matplotlib Agg, no pyplot state), written atomically like :mod:`dermkit.plots`.

- :func:`plot_mse_histograms` — histogram of each generated image's nearest-training-image MSE per class,
  with mean ± std (Fig. 5B; the paper: melanoma 0.088 ± 0.052, SK 0.030 ± 0.015).
- :func:`plot_nearest_pairs` — generated images over their nearest training image at chosen MSE quantiles and
  at the smallest MSE (Fig. 6).
- :func:`plot_coupled_grid` — the coupled DCGAN's images, one column per class, the same latent vector along
  a row, and the nearest real image under the last generated row (Fig. 12B).

MSE values are on images in [0, 1] (:func:`dermkit.metrics.novelty.nearest_training_mse`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from dermkit.plots import _new_figure, _save

__all__ = ["plot_mse_histograms", "plot_nearest_pairs", "plot_coupled_grid"]


def _label(name: str) -> str:
    return name.replace("_", " ")


def plot_mse_histograms(mse: Mapping[str, np.ndarray], path: str | os.PathLike, *, bins: int = 30,
                        paper: Mapping[str, tuple[float, float]] | None = None, title: str | None = None,
                        overwrite: bool = False, dpi: int = 150) -> Path:
    """One histogram panel per class of ``mse`` (``{class: float [N]}``), titled with ``mean ± std`` (and the
    paper's, from ``paper = {class: (mean, std)}``, where given).

    Raises:
        ValueError: no classes, or an empty array. FileExistsError: ``path`` exists and not ``overwrite``.
    """
    if not mse or any(len(np.asarray(v)) == 0 for v in mse.values()):
        raise ValueError("plot_mse_histograms needs at least one class with MSE values")
    figure = _new_figure((4.2 * len(mse), 3.4))
    for i, (name, values) in enumerate(mse.items()):
        values = np.asarray(values, np.float64)
        ax = figure.add_subplot(1, len(mse), i + 1)
        ax.hist(values, bins=bins, color="#1f77b4", edgecolor="white")
        ax.axvline(values.mean(), color="#d62728", linewidth=1.5)
        text = f"{_label(name)}: {values.mean():.3f} ± {values.std():.3f}"
        if paper and name in paper:
            text += f"\n(paper {paper[name][0]:.3f} ± {paper[name][1]:.3f})"
        ax.set_title(text, fontsize=9)
        ax.set_xlabel("MSE to the nearest training image (images in [0, 1])")
        ax.set_ylabel("generated images")
    if title:
        figure.suptitle(title, fontsize=10)
    return _save(figure, Path(path), overwrite, dpi)


def _show(ax, image, caption: str | None = None) -> None:
    ax.imshow(np.clip(np.asarray(image, np.float32), 0.0, 1.0))
    ax.set_xticks([])
    ax.set_yticks([])
    if caption:
        ax.set_title(caption, fontsize=7)


def plot_nearest_pairs(panels: Mapping[str, Mapping[str, np.ndarray]], path: str | os.PathLike, *,
                       quantiles: Sequence[float] = (), title: str | None = None, overwrite: bool = False,
                       dpi: int = 150) -> Path:
    """Fig. 6: per class, two blocks of (generated over nearest training image) pairs — at MSE quantiles and
    at the smallest MSE.

    Args:
        panels: ``{class: {"mse": [N], "quantile": int [Q], "smallest": int [S], "generated": [Q+S, H, W, 3],
            "nearest": [Q+S, H, W, 3]}}`` (the novelty artifact of bisla2019's GAN rows): ``generated`` /
            ``nearest`` hold the quantile picks then the smallest-MSE picks.
        quantiles: the quantile levels of the ``quantile`` picks (for the captions).

    Raises:
        ValueError: no classes or inconsistent arrays. FileExistsError: ``path`` exists and not ``overwrite``.
    """
    if not panels:
        raise ValueError("plot_nearest_pairs needs at least one class")
    width = max(len(p["quantile"]) + len(p["smallest"]) for p in panels.values())
    figure = _new_figure((1.3 * width + 0.6, 2.9 * len(panels)))
    grid = figure.add_gridspec(2 * len(panels), width)
    for row, (name, p) in enumerate(panels.items()):
        mse = np.asarray(p["mse"])
        picks = np.concatenate([np.asarray(p["quantile"]), np.asarray(p["smallest"])])
        if len(p["generated"]) != len(picks) or len(p["nearest"]) != len(picks):
            raise ValueError(f"{name}: generated / nearest must hold one image per pick ({len(picks)})")
        n_q = len(p["quantile"])
        for j, pick in enumerate(picks):
            what = (f"q{quantiles[j]:g}" if j < n_q and j < len(quantiles) else ("min" if j >= n_q else ""))
            top = figure.add_subplot(grid[2 * row, j])
            _show(top, p["generated"][j], f"{_label(name)[:12]} {what}\nMSE {mse[pick]:.3f}")
            _show(figure.add_subplot(grid[2 * row + 1, j]), p["nearest"][j])
    if title:
        figure.suptitle(title, fontsize=10)
    return _save(figure, Path(path), overwrite, dpi)


def plot_coupled_grid(generated: np.ndarray, nearest: np.ndarray, class_names: Sequence[str],
                      path: str | os.PathLike, *, title: str | None = None, overwrite: bool = False,
                      dpi: int = 150) -> Path:
    """Fig. 12B: ``generated [R, C, H, W, 3]`` (row r of every class from latent vector r) and, as the last
    row, ``nearest [C, H, W, 3]`` (the real image nearest to row R−1's image of each class).

    Raises:
        ValueError: shapes that disagree with ``class_names``. FileExistsError: ``path`` exists, not ``overwrite``.
    """
    generated, nearest = np.asarray(generated), np.asarray(nearest)
    if generated.ndim != 5 or generated.shape[1] != len(class_names) or nearest.shape[0] != len(class_names):
        raise ValueError(f"generated must be [R, C, H, W, 3] and nearest [C, H, W, 3] with C = "
                         f"{len(class_names)}. Received: {generated.shape}, {nearest.shape}")
    rows, cols = generated.shape[0] + 1, len(class_names)
    figure = _new_figure((1.3 * cols, 1.4 * rows))
    for r in range(rows):
        for c in range(cols):
            ax = figure.add_subplot(rows, cols, r * cols + c + 1)
            _show(ax, generated[r, c] if r < rows - 1 else nearest[c], class_names[c] if r == 0 else None)
            if c == 0:
                ax.set_ylabel("nearest real" if r == rows - 1 else f"z{r + 1}", fontsize=7)
    if title:
        figure.suptitle(title, fontsize=9)
    return _save(figure, Path(path), overwrite, dpi)
