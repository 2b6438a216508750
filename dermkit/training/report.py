"""Result tables: dermkit's numbers beside the paper's, as Markdown and long-format CSV (atomic writes).

NumPy/pandas only; no TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dermkit._io import atomic_path, atomic_write_text
from dermkit.training.experiment import MeanStd

__all__ = ["TableRow", "Table", "write_table", "format_value", "CSV_COLUMNS"]

#: Columns of the long-format CSV written per table. ``repeat`` is ``"mean"`` for the value the Markdown
#: table shows, and the repeat index (0, 1, ...) for each repeat's own value when a row ran several times.
CSV_COLUMNS = ("table", "row", "metric", "repeat", "dermkit", "paper", "data")


@dataclass
class TableRow:
    """One row of a paper table: a label, dermkit's values and the paper's (None where it reports none)."""

    label: str
    dermkit: Mapping[str, float | None]
    paper: Mapping[str, float | None] = field(default_factory=dict)


@dataclass
class Table:
    """A reproduced table.

    Attributes:
        name: short id used in file names, e.g. ``"IV"`` → ``table_IV.md``.
        title: the paper's caption (shortened).
        metrics: column order.
        rows: the rows.
        data: what the numbers were computed on, e.g. ``"SYNTHETIC"`` or ``"ISIC 2017 test"``.
        synthetic: True when computed on the embedded synthetic data (titles then say SYNTHETIC).
        notes: free-text lines printed under the table (settings that differ from the paper, ...).
    """

    name: str
    title: str
    metrics: Sequence[str]
    rows: list[TableRow]
    data: str
    synthetic: bool
    notes: list[str] = field(default_factory=list)

    @property
    def heading(self) -> str:
        prefix = "SYNTHETIC DATA — " if self.synthetic else ""
        return f"{prefix}Table {self.name}: {self.title} (data: {self.data})"

    def to_frame(self) -> pd.DataFrame:
        """Long format: one line per (row, metric) with dermkit's mean and the paper's value (``repeat`` =
        ``"mean"``), then, for values averaged over several repeats, one line per repeat (``repeat`` = 0, 1, ...)."""
        records = []
        for row in self.rows:
            for metric in self.metrics:
                value = row.dermkit.get(metric)
                base = {"table": self.name, "row": row.label, "metric": metric, "paper": _nan(row.paper.get(metric)),
                        "data": self.data}
                records.append({**base, "repeat": "mean", "dermkit": _nan(value)})
                if isinstance(value, MeanStd) and value.n > 1:
                    records += [{**base, "repeat": str(r), "dermkit": v} for r, v in enumerate(value.values)]
        return pd.DataFrame.from_records(records, columns=list(CSV_COLUMNS))

    def to_markdown(self) -> str:
        """A Markdown table: for each metric, dermkit's value then the paper's ('—' where none)."""
        header = ["row"]
        for metric in self.metrics:
            header += [metric, f"{metric} (paper)"]
        lines = [f"## {self.heading}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in self.rows:
            cells = [row.label]
            for metric in self.metrics:
                cells += [format_value(row.dermkit.get(metric)), format_value(row.paper.get(metric))]
            lines.append("| " + " | ".join(cells) + " |")
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def format_value(value: float | None, digits: int = 3) -> str:
    """``0.1234 → '0.123'``; None → '—'; NaN → 'nan'; a :class:`MeanStd` of several repeats →
    ``'0.812 ± 0.010'``."""
    if value is None:
        return "—"
    if isinstance(value, MeanStd) and value.n > 1 and not math.isnan(value):
        return f"{float(value):.{digits}f} ± {value.std:.{digits}f}"
    value = float(value)
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


def write_table(table: Table, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """Write ``table_<name>.md`` and ``table_<name>.csv`` into ``out_dir`` atomically; return their paths."""
    out_dir = Path(out_dir)
    md = atomic_write_text(out_dir / f"table_{table.name}.md", table.to_markdown(), overwrite=overwrite)
    csv = out_dir / f"table_{table.name}.csv"
    with atomic_path(csv, overwrite=overwrite) as tmp:
        table.to_frame().to_csv(tmp, index=False)
    return [md, csv]
