"""Result tables: Markdown layout, long-format CSV round trip, SYNTHETIC labelling, atomic no-overwrite."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dermkit.training.report import CSV_COLUMNS, Table, TableRow, format_value, write_table


def _table(synthetic: bool) -> Table:
    rows = [
        TableRow("(a) · PN", {"AUROC": 0.9123, "Jnan": None}, {"AUROC": 0.963, "Jnan": 0.209}),
        TableRow("(a) · avg", {"AUROC": math.nan, "Jnan": 0.05}, {}),
    ]
    return Table("III", "Detailed results", ("AUROC", "Jnan"), rows, "test split", synthetic, ["a note"])


@pytest.mark.parametrize(
    ("value", "text"), [(0.12345, "0.123"), (None, "—"), (math.nan, "nan"), (1, "1.000"), (0.0005, "0.001")]
)
def test_format_value(value, text):
    assert format_value(value) == text


def test_markdown_puts_paper_value_beside_dermkit_value():
    md = _table(synthetic=False).to_markdown()
    lines = md.splitlines()
    assert lines[0] == "## Table III: Detailed results (data: test split)"
    assert lines[2] == "| row | AUROC | AUROC (paper) | Jnan | Jnan (paper) |"
    assert lines[4] == "| (a) · PN | 0.912 | 0.963 | — | 0.209 |"
    assert lines[5] == "| (a) · avg | nan | — | 0.050 | — |"
    assert md.rstrip().endswith("- a note")


def test_synthetic_tables_say_so():
    assert _table(synthetic=True).heading.startswith("SYNTHETIC DATA — Table III")
    assert "SYNTHETIC" in _table(synthetic=True).to_markdown().splitlines()[0]


def test_csv_round_trip_long_format(tmp_path):
    paths = write_table(_table(synthetic=True), tmp_path)
    assert [p.name for p in paths] == ["table_III.md", "table_III.csv"]
    frame = pd.read_csv(tmp_path / "table_III.csv")
    assert tuple(frame.columns) == CSV_COLUMNS
    assert len(frame) == 4  # 2 rows × 2 metrics
    pn = frame[(frame["row"] == "(a) · PN") & (frame["metric"] == "AUROC")].iloc[0]
    assert pn["dermkit"] == pytest.approx(0.9123) and pn["paper"] == pytest.approx(0.963)
    assert frame[(frame["row"] == "(a) · PN") & (frame["metric"] == "Jnan")]["dermkit"].isna().all()


def test_write_table_refuses_to_overwrite(tmp_path):
    write_table(_table(False), tmp_path)
    with pytest.raises(FileExistsError, match="table_III.md already exists"):
        write_table(_table(False), tmp_path)
    write_table(_table(True), tmp_path, overwrite=True)
    assert "SYNTHETIC" in (tmp_path / "table_III.md").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left
