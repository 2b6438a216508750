"""The papers' figures, drawn with Matplotlib's Agg backend (no display needed, no global pyplot state).

- :func:`plot_per_tone_rates` — sensitivity and false-negative rate per skin tone (goel2021 Figures 4 and 6).

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

__all__ = ["plot_per_tone_rates"]

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
