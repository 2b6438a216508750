"""goel2021 Figures 7–8: per-epoch training curves (dermkit.plots.plot_training_curves)."""

from __future__ import annotations

import math

import pytest

from dermkit.plots import plot_training_curves, training_curve_series

HISTORY = {  # what RunSession.fit's summary "history" holds for a goel2021 classifier row
    "loss": [0.7, 0.4, 0.2], "val_loss": [0.6, 0.5, 0.7], "accuracy": [0.6, 0.8, 0.95],
    "val_accuracy": [0.5, 0.7, 0.8], "val_benign_acc": [0.5, 0.7, 0.9], "val_malignant_acc": [0.9, 0.7, 0.4],
    "val_balanced_accuracy": [0.7, 0.7, 0.65], "learning_rate": [1e-3] * 3,
}


def test_series_per_panel():
    assert training_curve_series(HISTORY) == [
        ("loss", ["loss", "val_loss"]),
        ("accuracy", ["accuracy", "val_accuracy"]),
        ("class accuracies (validation)", ["val_benign_acc", "val_malignant_acc", "val_balanced_accuracy"]),
    ]
    partial = {"loss": [1.0, 0.5], "val_malignant_acc": [math.nan, math.nan], "val_benign_acc": [0.2, 0.3]}
    assert training_curve_series(partial) == [("loss", ["loss"]), ("class accuracies (validation)",
                                                                   ["val_benign_acc"])]


def test_writes_png_one_row_per_run(tmp_path):
    longer = {k: v * 4 for k, v in HISTORY.items()}
    path = plot_training_curves({"row 7": HISTORY, "row 7, 50 epochs": longer}, tmp_path / "fig8.png",
                                best_epochs={"row 7": 2}, title="SYNTHETIC")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    with pytest.raises(FileExistsError, match="overwrite"):
        plot_training_curves({"row 4": HISTORY}, path)
    plot_training_curves({"row 4": HISTORY}, path, overwrite=True)


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        plot_training_curves({}, tmp_path / "a.png")
    with pytest.raises(ValueError, match="none of the keys"):
        plot_training_curves({"r": {"d_loss": [1.0]}}, tmp_path / "b.png")
    assert not any(tmp_path.iterdir())  # nothing half-written
