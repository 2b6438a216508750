"""The shared runner: resumable rows, refusal of foreign run folders, kill-and-resume, MirroredStrategy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("tensorflow")

from dermkit.training.options import RunOptions  # noqa: E402
from dermkit.training.runner import reproduce, select_experiments  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import _tiny_paper as tiny  # noqa: E402


@pytest.fixture(autouse=True)
def _reset_calls():
    tiny.CALLS.clear()
    tiny.FAIL_AT_EPOCH.clear()


def test_select_experiments_by_table_and_quick():
    assert [e.key for e in select_experiments(tiny, ["all"], quick=True)] == ["row_a"]
    assert [e.key for e in select_experiments(tiny, ["T"], quick=False)] == ["row_a", "row_b"]
    with pytest.raises(ValueError, match=r"tiny has tables \('T',\). Received: \['X'\]"):
        select_experiments(tiny, ["X"], quick=False)


def test_reproduce_writes_tables_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    run = reproduce(tiny, RunOptions(output=out, quick=False, verbose=0))
    assert tiny.CALLS == ["row_a", "row_b"]
    assert {p.name for p in run["files"]} == {"table_T.md", "table_T.csv"}
    printed = capsys.readouterr().out
    assert f"wrote {out / 'table_T.md'}" in printed and "| row a |" in printed
    assert json.loads((out / "run.json").read_text())["paper"] == "tiny"
    row = json.loads((out / "rows" / "row_a.json").read_text())
    assert row["fit"]["epochs_run"] == 3 and row["fit"]["restored_best"] is True
    frame = pd.read_csv(out / "table_T.csv")
    assert frame.loc[frame["row"] == "row a", "paper"].item() == pytest.approx(0.5)
    # Re-running the same run skips finished rows and rewrites the same tables.
    reproduce(tiny, RunOptions(output=out, quick=False, verbose=0))
    assert tiny.CALLS == ["row_a", "row_b"]
    assert "row_a: finished earlier, skipped" in capsys.readouterr().out


def test_a_different_run_needs_overwrite(tmp_path):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, quick=True, verbose=0))
    with pytest.raises(FileExistsError, match="holds a different run"):
        reproduce(tiny, RunOptions(output=out, quick=False, verbose=0))
    reproduce(tiny, RunOptions(output=out, quick=False, overwrite=True, verbose=0))
    assert tiny.CALLS == ["row_a", "row_a", "row_b"]  # overwrite started afresh


def test_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a dermkit run folder"):
        reproduce(tiny, RunOptions(output=tmp_path, verbose=0))
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_killed_row_resumes_from_its_last_epoch(tmp_path):
    out = tmp_path / "run"
    tiny.FAIL_AT_EPOCH["row_a"] = 1  # dies at the end of epoch 2 of 3, before that epoch is backed up
    with pytest.raises(KeyboardInterrupt):
        reproduce(tiny, RunOptions(output=out, quick=True, verbose=0))
    assert not (out / "rows" / "row_a.json").exists()  # no result row for an unfinished experiment
    assert (out / "work" / "row_a" / "backup").exists()
    reproduce(tiny, RunOptions(output=out, quick=True, verbose=0))
    row = json.loads((out / "rows" / "row_a.json").read_text())
    assert row["fit"]["epochs_run"] == 2  # epoch 1 restored from the backup, epochs 2-3 run again
    history = pd.read_csv(out / "work" / "row_a" / "history.csv")
    assert list(history["epoch"]) == [0, 1, 2]


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(HERE / "_tiny_paper.py"), str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("REPLICAS"))
    assert line.split()[1] == "2"
    assert 0.0 <= float(line.split()[3]) <= 1.0
