"""``dermkit plan`` on the tiny paper: plan.csv's columns, steps per epoch from the PLAN block or the dataset,
the estimate's arithmetic, reuse of a measured step, dependencies' artifacts and results, no row result
written, refusals (a run folder, an existing plan without --overwrite, --steps 0)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("tensorflow")

from dermkit.cli import main  # noqa: E402
from dermkit.training.options import RunOptions  # noqa: E402
from dermkit.training.plan import PLAN_COLUMNS, estimate_hours, plan, plan_sizes  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import _tiny_paper as tiny  # noqa: E402

#: The tiny paper's data: 16 images of 8×8×3, batches of 8 (see _tiny_paper.prepare / run_experiment).
TINY_IMAGES, TINY_BATCH = 16, 8


@pytest.fixture(autouse=True)
def _reset_calls():
    tiny.CALLS.clear()
    tiny.FAIL_AT_EPOCH.clear()


def test_plan_sizes_first_matching_pattern_wins(monkeypatch):
    monkeypatch.setattr(tiny, "PLAN", {"row_a/*": {"train_images": 100, "source": "A"},
                                       "*": {"train_images": 7, "source": "rest"}}, raising=False)
    assert plan_sizes(tiny, "row_a", "fit")["train_images"] == 100
    assert plan_sizes(tiny, "gan", "fit")["source"] == "rest"
    monkeypatch.setattr(tiny, "PLAN", {"train_images": 5, "source": "one block"}, raising=False)
    assert plan_sizes(tiny, "anything", "x")["train_images"] == 5
    monkeypatch.setattr(tiny, "PLAN", {"*": {"train_images": 0}}, raising=False)
    with pytest.raises(ValueError, match=r"tiny.PLAN\['\*'\] needs an integer train_images ≥ 1"):
        plan_sizes(tiny, "row_a", "fit")


def test_estimate_hours_is_epochs_times_steps_times_seconds():
    assert estimate_hours(100, 142, 1.8) == pytest.approx(100 * 142 * 1.8 / 3600)
    assert estimate_hours(2, 10, 3.0, 5, 1.0) == pytest.approx(2 * (10 * 3.0 + 5 * 1.0) / 3600)
    assert estimate_hours(2, 10, 3.0, 5, math.nan) == pytest.approx(2 * 30 / 3600)  # no validation measured


def test_plan_writes_the_columns_measures_and_writes_no_row_result(tmp_path, monkeypatch):
    monkeypatch.setattr(tiny, "PLAN", {"row_a/*": {"train_images": 1000, "val_images": 200, "source": "paper"}},
                        raising=False)
    out = tmp_path / "plan"
    run = plan(tiny, RunOptions(output=out, rows=("row_a", "row_b", "gan"), verbose=0), steps=2)
    assert tiny.CALLS == ["row_a", "row_b", "gan"]
    frame = pd.read_csv(out / "plan.csv")
    assert tuple(frame.columns) == PLAN_COLUMNS
    assert list(frame["row"]) == ["row_a", "row_b", "gan"]
    a = frame.set_index("row").loc["row_a"]
    assert a["batch"] == TINY_BATCH and a["input_size"] == "8×8×3" and a["epochs"] == 3 and a["repeats"] == 1
    assert a["parameters"] == 3 * 3 * 3 * 4 + 4 + 4 * 1 + 1  # conv 3×3×3→4 and head 1×1×4→1, with biases
    assert a["steps_measured"] == 2 and a["s_per_step"] > 0 and a["val_s_per_step"] > 0
    assert a["train_images"] == 1000 and a["steps_per_epoch"] == math.ceil(1000 / TINY_BATCH)  # the PLAN block
    assert a["val_steps"] == math.ceil(200 / TINY_BATCH)
    assert a["row_hours"] == pytest.approx(3 * (125 * a["s_per_step"] + 25 * a["val_s_per_step"]) / 3600, rel=1e-3)
    b = frame.set_index("row").loc["row_b"]  # no PLAN entry: the dataset's own batches
    assert b["steps_per_epoch"] == TINY_IMAGES // TINY_BATCH and "dataset" in b["steps_source"]
    gan = frame.set_index("row").loc["gan"]
    assert gan["s_per_step"] > 0 and math.isnan(gan["val_s_per_step"])  # a custom train_step, no validation
    assert gan["peak_host_mib"] > 0
    total = frame.drop_duplicates("row")["row_hours"].sum()
    assert run["paper_hours"] == pytest.approx(total, rel=1e-3)
    assert set(frame["note"]) == {"stopped after its fit (evaluation not timed)"}  # no row depends on them
    assert not (out / "rows").exists() and not (out / "run.json").exists()  # no row result, no run folder
    assert not (out / "work").exists() and not (out / "artifacts").exists()  # scratch removed
    text = (out / "plan.md").read_text()
    assert "# Plan: tiny at full scale" in text and "| row_a | fit | tiny_row_a | 8×8×3 | 8 | 117 |" in text


def test_rows_with_the_same_step_reuse_it_and_dependencies_get_artifacts(tmp_path):
    out = tmp_path / "plan"
    run = plan(tiny, RunOptions(output=out, rows=("row_b", "consumer"), verbose=0), steps=1)
    assert tiny.CALLS == ["row_b", "producer", "consumer"]  # the dependency ran first
    assert run["failed"] == {}  # the consumer read the producer's published model and its result
    frame = pd.read_csv(out / "plan.csv").set_index("row")
    # row_b and producer: the same 2-filter model, input, batch, loss and optimiser → one measurement
    assert frame.loc["producer", "reused_from"] == "row_b/fit"
    assert frame.loc["producer", "s_per_step"] == frame.loc["row_b", "s_per_step"]
    assert frame.loc["consumer", "fit"] == "-" and frame.loc["consumer", "row_hours"] == 0  # no training
    assert pd.isna(frame.loc["producer", "note"])  # carried on (its artifacts are needed)


def test_a_repeated_row_counts_each_repeat_and_evaluate_runs_it_through(tmp_path):
    plan(tiny, RunOptions(output=tmp_path / "plan", rows=("noisy",), verbose=0), steps=1, evaluate=True)
    row = pd.read_csv(tmp_path / "plan" / "plan.csv").iloc[0]
    assert row["repeats"] == 2
    assert row["row_hours"] == pytest.approx(2 * row["fit_hours"], rel=1e-3)
    assert tiny.CALLS == ["noisy"]  # measured once
    assert pd.isna(row["note"]) and row["other_s"] >= 0  # ran through its evaluation (seconds, rounded: 0 on a toy)


def test_the_cli_writes_the_plan_and_refuses_what_it_must(tmp_path, capsys, monkeypatch):
    out = tmp_path / "plan"
    assert main(["plan", "_tiny_paper", "--rows", "row_a", "--steps", "1", "--output", str(out), "--quiet"]) == 0
    assert "# Plan: tiny at full scale" in capsys.readouterr().out
    assert (out / "plan.csv").is_file()
    assert main(["plan", "_tiny_paper", "--rows", "row_a", "--output", str(out)]) == 1
    assert "plan.csv already exists; pass overwrite=True (or --overwrite)" in capsys.readouterr().err
    assert main(["plan", "_tiny_paper", "--rows", "row_a", "--output", str(out), "--overwrite", "--steps", "1",
                 "--quiet"]) == 0
    assert main(["plan", "_tiny_paper", "--steps", "0", "--output", str(out)]) == 2
    assert "--steps must be an integer ≥ 1. Received: 0" in capsys.readouterr().err
    run_folder = tmp_path / "run"
    run_folder.mkdir()
    (run_folder / "run.json").write_text("{}")
    assert main(["plan", "_tiny_paper", "--output", str(run_folder)]) == 1
    assert "is a `dermkit reproduce` run folder" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "_tiny_paper", "--rows", "row_b", "--steps", "1", "--quiet"]) == 0
    assert (tmp_path / "runs" / "plan" / "tiny" / "plan.md").is_file()  # the default output
