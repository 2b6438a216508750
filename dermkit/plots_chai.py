"""codella2018 figures: Fig. 3 (ranked search results per embedding, melanoma framed in red) and Fig. 4
(query / QAM / result / RAM quartets, Eq. 2). Files are written atomically; nothing is overwritten unless
``overwrite=True``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dermkit._io import check_overwrite
from dermkit.plots import _new_figure, _save

__all__ = ["plot_search_results", "plot_activation_pairs"]


def _image(ax, image, *, red: bool = False, title: str | None = None):
    image = np.asarray(image)
    ax.imshow(image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else np.clip(image, 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(red)
        if red:
            spine.set_edgecolor("red")
            spine.set_linewidth(3)
    if title:
        ax.set_title(title, fontsize=7)


def plot_search_results(ranked: dict[str, dict], query_images, archive_images, archive_melanoma,
                        path: str | os.PathLike, *, query_melanoma=None, query: int = 0, title: str | None = None,
                        overwrite: bool = False, dpi: int = 150) -> Path:
    """Fig. 3: one query (left) and, per embedding (rows), its results by similarity rank (rank 1 = nearest);
    melanoma images have red borders.

    Args:
        ranked: ``{model label: {"queries": [q...], "results": [[archive rows by rank], ...]}}``.
        query_images, archive_images: ``[N, H, W, 3]`` (uint8 or float in [0, 1]).
        archive_melanoma: ``bool [N]``; query_melanoma: ``bool [Q]`` (optional).
        query: which of the saved queries (position in ``"queries"``) to show.

    Raises:
        ValueError: nothing to draw. FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = check_overwrite(path, overwrite)
    if not ranked:
        raise ValueError("plot_search_results: no models to draw")
    first = next(iter(ranked.values()))
    q = int(first["queries"][query])
    n_results = max(len(v["results"][query]) for v in ranked.values())
    figure = _new_figure((1.3 * (n_results + 1), 1.4 * len(ranked)))
    mel = np.asarray(archive_melanoma, bool)
    for r, (label, saved) in enumerate(ranked.items()):
        ax = figure.add_subplot(len(ranked), n_results + 1, r * (n_results + 1) + 1)
        red = bool(query_melanoma[q]) if query_melanoma is not None else False
        _image(ax, query_images[q], red=red, title="query" if r == 0 else None)
        ax.set_ylabel(label, fontsize=7)
        for j, idx in enumerate(saved["results"][query]):
            ax = figure.add_subplot(len(ranked), n_results + 1, r * (n_results + 1) + 2 + j)
            _image(ax, archive_images[int(idx)], red=bool(mel[int(idx)]), title=f"rank {j + 1}" if r == 0 else None)
    if title:
        figure.suptitle(title, fontsize=9)
    return _save(figure, path, overwrite=True, dpi=dpi)


def _unit(amap) -> np.ndarray:
    """An activation map min–max scaled to [0, 1] (a constant map → 0), so one colour bar serves every map."""
    amap = np.asarray(amap, np.float64)
    low, high = float(amap.min()), float(amap.max())
    return np.zeros_like(amap) if high <= low else (amap - low) / (high - low)


def plot_activation_pairs(pairs: dict[str, dict], query_images, archive_images, path: str | os.PathLike, *,
                          title: str | None = None, overwrite: bool = False, dpi: int = 150) -> Path:
    """Fig. 4: per embedding (column blocks) and saved query (rows), a 2×2 quartet — top-left the query,
    top-right its QAM, bottom-left the top search result, bottom-right its RAM (Eq. 2; maps over the images).

    Every embedding's two columns are titled (``"<label>: image"``, ``"<label>: QAM / RAM"``), each row is
    labelled (``"query i"`` / ``"top result"``), and one colour bar gives the scale: each map is min–max
    scaled to [0, 1] (the paper shows maps without units; only their pattern within an image carries meaning).

    Args:
        pairs: ``{model label: {"queries": [Q], "results": [Q] archive rows, "qam": [Q, h, w], "ram": [Q, h, w]}}``.

    Raises:
        ValueError: nothing to draw. FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = check_overwrite(path, overwrite)
    if not pairs:
        raise ValueError("plot_activation_pairs: no models to draw")
    n_q = min(len(v["queries"]) for v in pairs.values())
    rows, cols = 2 * n_q, 2 * len(pairs)
    figure = _new_figure((1.3 * cols + 0.8, 1.3 * rows + 0.3))
    shown = None
    for m, (label, saved) in enumerate(pairs.items()):
        for i in range(n_q):
            q, res = int(saved["queries"][i]), int(saved["results"][i])
            for (dr, dc), (image, amap) in {(0, 0): (query_images[q], None), (0, 1): (query_images[q], saved["qam"][i]),
                                            (1, 0): (archive_images[res], None),
                                            (1, 1): (archive_images[res], saved["ram"][i])}.items():
                ax = figure.add_subplot(rows, cols, (2 * i + dr) * cols + 2 * m + dc + 1)
                column = f"{label}: image" if dc == 0 else f"{label}: QAM / RAM"
                _image(ax, image, title=column if (i == 0 and dr == 0) else None)
                if m == 0 and dc == 0:
                    ax.set_ylabel(f"query {i + 1}" if dr == 0 else "top result", fontsize=7)
                if amap is not None:
                    h, w = np.asarray(image).shape[:2]
                    shown = ax.imshow(_unit(amap), cmap="jet", alpha=0.5, interpolation="bilinear", vmin=0.0,
                                      vmax=1.0, extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    if shown is not None:
        bar = figure.colorbar(shown, ax=figure.axes, fraction=0.03, pad=0.02)
        bar.set_label("activation (min–max per map)", fontsize=7)
        bar.ax.tick_params(labelsize=6)
    if title:
        figure.suptitle(title, fontsize=9)
    return _save(figure, path, overwrite=True, dpi=dpi)
