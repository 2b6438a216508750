"""The engine end to end on the tiny paper: resumable fingerprinted rows, stale detection, repeats, dependencies
and artifacts, any trainer (GAN-like, multi-output), --rows, shards sharing a folder, stale locks, kill-and-resume
over a corrupt backup, MirroredStrategy."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("tensorflow")

from dermkit.training.experiment import Experiment  # noqa: E402
from dermkit.training.options import RunOptions  # noqa: E402
from dermkit.training.runner import report, reproduce, select_experiments  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import _tiny_paper as tiny  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
       "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture(autouse=True)
def _reset_calls():
    tiny.CALLS.clear()
    tiny.FAIL_AT_EPOCH.clear()


def _cli(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "dermkit.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env or ENV)


def _finish(proc, timeout=600):
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def test_select_experiments_by_table_quick_and_rows():
    assert [e.key for e in select_experiments(tiny, ["all"], quick=True)] == ["row_a"]
    assert [e.key for e in select_experiments(tiny, ["T"], quick=False)] == ["row_a", "row_b"]
    assert [e.key for e in select_experiments(tiny, ["all"], False, rows=["row_*", "gan"])] == ["row_a", "row_b", "gan"]
    with pytest.raises(ValueError, match=r"tiny has tables \('T', 'G'\). Received: \['X'\]"):
        select_experiments(tiny, ["X"], quick=False)


def test_reproduce_writes_tables_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    run = reproduce(tiny, RunOptions(output=out, tables=("T",), verbose=0))
    assert tiny.CALLS == ["row_a", "row_b"]
    assert {p.name for p in run["files"]} == {"table_T.md", "table_T.csv", "table_G.md", "table_G.csv"}
    printed = capsys.readouterr().out
    assert f"wrote {out / 'table_T.md'}" in printed and "| row a |" in printed
    assert json.loads((out / "run.json").read_text())["paper"] == "tiny"
    record = json.loads((out / "rows" / "row_a.r0.json").read_text())
    assert record["key"] == "row_a" and record["seed"] == 0 and len(record["fingerprint"]) == 16
    assert record["result"]["fit"]["epochs_run"] == 3 and record["result"]["fit"]["restored_best"] is True
    frame = pd.read_csv(out / "table_T.csv")
    assert frame.loc[frame["row"] == "row a", "paper"].item() == pytest.approx(0.5)
    reproduce(tiny, RunOptions(output=out, tables=("T",), verbose=0))
    assert tiny.CALLS == ["row_a", "row_b"]  # nothing recomputed
    assert "row_a: finished earlier, skipped" in capsys.readouterr().out


def test_a_seed_change_makes_rows_stale_and_says_why(tmp_path, capsys):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, quick=True, verbose=0))
    first = json.loads((out / "rows" / "row_a.r0.json").read_text())["result"]["loss"]
    reproduce(tiny, RunOptions(output=out, quick=True, seed=123, verbose=0))
    assert tiny.CALLS == ["row_a", "row_a"]
    assert "row_a: stale (seed 0 → 123), recomputing" in capsys.readouterr().out
    record = json.loads((out / "rows" / "row_a.r0.json").read_text())
    assert record["seed"] == 123 and record["result"]["loss"] != first


def test_a_params_change_makes_the_row_stale(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, quick=True, verbose=0))
    changed = [dataclasses.replace(e, params={**e.params, "filters": 8}) if e.key == "row_a" else e
               for e in tiny.EXPERIMENTS]
    monkeypatch.setattr(tiny, "EXPERIMENTS", changed)
    reproduce(tiny, RunOptions(output=out, quick=True, verbose=0))
    assert tiny.CALLS == ["row_a", "row_a"]
    assert "row_a: stale (params.filters 4 → 8), recomputing" in capsys.readouterr().out


def test_other_data_needs_overwrite_and_foreign_folders_are_refused(tmp_path):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, quick=True, verbose=0))
    with pytest.raises(FileExistsError, match="holds a run of tiny on data 'synthetic'"):
        reproduce(tiny, RunOptions(output=out, data="/elsewhere", quick=True, verbose=0))
    reproduce(tiny, RunOptions(output=out, quick=True, overwrite=True, verbose=0))
    assert tiny.CALLS == ["row_a", "row_a"]  # overwrite started afresh
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a dermkit run folder"):
        reproduce(tiny, RunOptions(output=tmp_path / "other", verbose=0))
    assert (tmp_path / "other" / "precious.txt").read_text() == "keep me"


def test_dependencies_run_first_and_pass_artifacts(tmp_path):
    out = tmp_path / "run"
    run = reproduce(tiny, RunOptions(output=out, rows=("consumer",), verbose=0))
    assert tiny.CALLS == ["producer", "consumer"]  # the dependency ran although not selected
    producer = json.loads((out / "rows" / "producer.r0.json").read_text())
    assert producer["artifacts"] == ["model.keras", "predictions"]
    assert (out / "artifacts" / "producer.r0" / "model.keras").is_file()
    assert not (out / "artifacts" / ".staging" / "producer.r0").exists()  # published by rename
    consumer = run["results"]["consumer"]
    assert consumer["max_diff"] < 1e-6 and consumer["producer_loss"] == pytest.approx(producer["result"]["loss"])
    assert consumer["loss"] == pytest.approx(producer["result"]["loss"], abs=1e-6)
    reproduce(tiny, RunOptions(output=out, rows=("consumer", "producer"), verbose=0))
    assert tiny.CALLS == ["producer", "consumer"]  # never twice


def test_undeclared_artifacts_are_refused(tmp_path, monkeypatch):
    grid = [e if e.key != "consumer" else dataclasses.replace(e, depends_on=()) for e in tiny.EXPERIMENTS]
    monkeypatch.setattr(tiny, "EXPERIMENTS", grid)
    reproduce(tiny, RunOptions(output=tmp_path / "run", rows=("producer",), verbose=0))
    with pytest.raises(ValueError, match=r"row consumer reads artifacts of 'producer' but does not list it"):
        reproduce(tiny, RunOptions(output=tmp_path / "run", rows=("consumer",), verbose=0))


def test_repeats_use_seed_plus_r_and_tables_show_mean_and_std(tmp_path):
    out = tmp_path / "run"
    run = reproduce(tiny, RunOptions(output=out, rows=("noisy",), seed=5, verbose=0))
    records = [json.loads((out / "rows" / f"noisy.r{r}.json").read_text()) for r in (0, 1)]
    assert [r["seed"] for r in records] == [5, 6] and [r["result"]["repeat"] for r in records] == [0, 1]
    losses = [r["result"]["loss"] for r in records]
    assert losses[0] != losses[1]
    mean = run["results"]["noisy"]["loss"]
    assert mean == pytest.approx(sum(losses) / 2) and mean.values == pytest.approx(losses)
    assert " ± " in (out / "table_G.md").read_text()
    frame = pd.read_csv(out / "table_G.csv")
    noisy = frame[(frame["row"] == "two repeats") & (frame["metric"] == "loss")]
    assert list(noisy["repeat"]) == ["mean", "0", "1"]
    assert list(noisy["dermkit"]) == pytest.approx([mean, *losses])
    # --repeats overrides every row: one repeat, row noisy.r0 reused (same identity), no ± in the table.
    reproduce(tiny, RunOptions(output=out, rows=("noisy",), seed=5, repeats=1, verbose=0))
    assert tiny.CALLS == ["noisy", "noisy"]
    assert " ± " not in (out / "table_G.md").read_text()


def test_a_paper_caps_repeats_in_quick_runs(tmp_path, monkeypatch):
    grid = [dataclasses.replace(e, quick=True) if e.key == "noisy" else e for e in tiny.EXPERIMENTS]
    monkeypatch.setattr(tiny, "EXPERIMENTS", grid)
    monkeypatch.setattr(tiny, "QUICK_REPEATS", 1, raising=False)
    reproduce(tiny, RunOptions(output=tmp_path / "run", quick=True, rows=("noisy",), verbose=0))
    assert tiny.CALLS == ["noisy"]  # one repeat of two
    reproduce(tiny, RunOptions(output=tmp_path / "full", rows=("noisy",), verbose=0))
    assert tiny.CALLS == ["noisy", "noisy", "noisy"]  # a full run: both


def test_any_trainer_gan_and_multi_output_rows(tmp_path):
    run = reproduce(tiny, RunOptions(output=tmp_path / "run", rows=("gan", "multi"), verbose=0))
    gan = run["results"]["gan"]["fit"]
    assert gan["checkpoint"] == "last" and gan["restored_best"] is False and gan["epochs_run"] == 2
    # the engine logs each optimizer's rate (LearningRateLogger): the tiny GAN's Adam(1e-3) pair
    assert set(gan["history"]) == {"d_loss", "g_loss", "learning_rate", "learning_rate_d", "learning_rate_g"}
    assert gan["history"]["learning_rate_d"] == pytest.approx([1e-3, 1e-3])
    assert len(gan["history"]["g_loss"]) == 2
    assert gan["best_g_loss"] == pytest.approx(min(gan["history"]["g_loss"]))
    multi = run["results"]["multi"]
    assert multi["outputs"] == ["cls_loss", "seg_loss", "val_cls_loss", "val_loss", "val_seg_loss"]
    assert multi["fit"]["restored_best"] is True


def test_non_finite_losses_of_any_name_stop_training():
    import keras
    import numpy as np

    from dermkit.training.checkpoints import TerminateOnNonFinite

    class Exploding(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1, name="dense")

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            nan = keras.ops.log(keras.ops.convert_to_tensor(-1.0))
            return {"d_loss": keras.ops.convert_to_tensor(1.0), "g_loss": nan}

    model = Exploding()
    model(np.zeros((1, 2), np.float32))
    model.compile(optimizer="sgd")
    stop = TerminateOnNonFinite()
    history = model.fit(np.zeros((8, 2), np.float32), epochs=5, batch_size=4, callbacks=[stop], verbose=0)
    assert stop.stopped is not None and stop.stopped.startswith("g_loss=nan at epoch 1, batch 0")
    assert len(history.history["g_loss"]) == 1


def test_best_checkpoint_names_a_missing_monitor(tmp_path, monkeypatch):
    def run_experiment(exp, data, session):
        import keras
        import numpy as np

        model = tiny._conv_model(2, "m")
        session.compile(model, optimizer=keras.optimizers.SGD(0.1), loss="mse")
        x, y = data
        session.fit(model, x, epochs=1, monitor="val_balanced_accuracy", y=y, batch_size=8)
        return {"n": int(np.size(x))}

    monkeypatch.setattr(tiny, "run_experiment", run_experiment)
    with pytest.raises(ValueError, match=r"monitors 'val_balanced_accuracy', which is not in the epoch logs"):
        reproduce(tiny, RunOptions(output=tmp_path / "run", quick=True, verbose=0))


def test_killed_row_resumes_from_its_last_epoch(tmp_path):
    out = tmp_path / "run"
    tiny.FAIL_AT_EPOCH["row_a"] = 1  # dies at the end of epoch 2 of 3, before that epoch is backed up
    with pytest.raises(KeyboardInterrupt):
        reproduce(tiny, RunOptions(output=out, quick=True, verbose=0))
    assert not (out / "rows" / "row_a.r0.json").exists()  # no result row for an unfinished experiment
    assert json.loads((out / "work" / "row_a.r0" / "fit" / "backup" / "state.json").read_text())["epoch"] == 1
    assert not list((out / "locks").glob("*.lock"))  # the lock was released
    run = reproduce(tiny, RunOptions(output=out, quick=True, verbose=0))
    fit = run["results"]["row_a"]["fit"]
    assert fit["initial_epoch"] == 1 and fit["epochs_run"] == 2 and fit["epochs_total"] == 3
    assert len(fit["history"]["loss"]) == 3
    history = pd.read_csv(out / "work" / "row_a.r0" / "fit" / "history.csv")
    assert list(history["epoch"]) == [0, 1, 2]  # the kill came before epoch 2 was logged


def _table_text(folder: Path, name: str) -> str:
    return (folder / f"table_{name}.md").read_text()


@pytest.mark.parametrize("truncate", [False, True], ids=["plain-kill", "kill-over-torn-backup"])
def test_sigkill_then_rerun_gives_the_uninterrupted_table(tmp_path, truncate):
    clean = tmp_path / "clean"
    reproduce(tiny, RunOptions(output=clean, quick=True, verbose=0))
    out = tmp_path / "killed"
    env = {**ENV, "TINY_KILL_AT_EPOCH": "2", **({"TINY_TRUNCATE_BACKUP": "1"} if truncate else {})}
    code, text = _finish(_cli("reproduce", "_tiny_paper", "--quick", "--quiet", "--output", str(out), env=env))
    assert code == -9, text[-2000:]
    backup = out / "work" / "row_a.r0" / "fit" / "backup"
    assert json.loads((backup / "state.json").read_text())["epoch"] == 2
    code, text = _finish(_cli("reproduce", "_tiny_paper", "--quick", "--quiet", "--output", str(out)))
    assert code == 0, text[-3000:]
    if truncate:
        assert "could not be read" in text and list(backup.glob("*.corrupt"))
        assert "resuming" not in text
    else:
        assert "row_a: resuming fit at epoch 3 of 3" in text
    assert _table_text(out, "T") == _table_text(clean, "T")


def test_two_shards_into_one_folder_then_report_equal_one_process(tmp_path):
    rows = ["--rows", "row_a", "row_b", "consumer", "noisy"]
    single = tmp_path / "single"
    code, text = _finish(_cli("reproduce", "_tiny_paper", *rows, "--quiet", "--output", str(single)))
    assert code == 0, text[-3000:]
    shared = tmp_path / "shared"
    procs = [_cli("reproduce", "_tiny_paper", *rows, "--quiet", "--shard", f"{i}/2", "--output", str(shared))
             for i in (1, 2)]
    outputs = [_finish(p) for p in procs]
    for code, text in outputs:
        assert code == 0, text[-3000:]
    # Round robin over the selected rows; the dependency producer goes with its first user, consumer.
    assert "shard 1/2: 3 of 5 rows here (row_a, producer, consumer)" in outputs[0][1]
    assert "shard 2/2: 2 of 5 rows here (row_b, noisy)" in outputs[1][1]
    code, text = _finish(_cli("report", "_tiny_paper", "--output", str(shared)))
    assert code == 0, text[-3000:]
    assert "missing" not in text.split("wrote")[0]
    for name in ("T", "G"):
        assert _table_text(shared, name) == _table_text(single, name)
    calls = sorted(json.loads(p.read_text())["key"] for p in (shared / "rows").glob("*.json"))
    assert calls == ["consumer", "noisy", "noisy", "producer", "row_a", "row_b"]  # each unit once


def test_three_runs_into_one_new_folder_all_succeed(tmp_path):
    """Issue 8 item 12: concurrent runs share one synthetic-data generation (the prepare lock) and one run.json."""
    out = tmp_path / "new"
    env = {**ENV, "TINY_SYNTHETIC_ISIC2017": "1"}
    procs = [_cli("reproduce", "_tiny_paper", "--rows", "row_b", "--quiet", "--output", str(out), env=env)
             for _ in range(3)]
    for code, text in [_finish(p) for p in procs]:
        assert code == 0, text[-3000:]
    manifest = json.loads((out / "data" / "isic2017" / "dermkit_synthetic.json").read_text())
    assert manifest and (out / "rows" / "row_b.r0.json").exists()
    assert not list((out / "locks").glob("*.lock")) and not (out / "run.lock").exists()


def test_engine_modules_and_registry_import_without_tensorflow():
    code = ("import sys; import dermkit.training.experiment, dermkit.training.report, dermkit.training.options, "
            "dermkit.training.locks, dermkit.training.runner, dermkit.papers; "
            "from dermkit.papers import load_paper; [load_paper(n) for n in dermkit.papers.PAPERS]; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["False", "False"]


def test_report_lists_missing_rows(tmp_path, capsys):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, rows=("row_a",), verbose=0))
    result = report(tiny, out, tables=("T",))
    assert result["missing"] == ["row_b"]
    assert "rows missing or stale in" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="not a dermkit run folder"):
        report(tiny, tmp_path / "nothing")


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, rows=("row_b",), verbose=0))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock = out / "locks" / "row_a.r0.lock"
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "start": time.time()}))
    reproduce(tiny, RunOptions(output=out, rows=("row_a",), verbose=0))
    printed = capsys.readouterr().out
    assert f"took over the stale lock {lock}" in printed and tiny.CALLS == ["row_b", "row_a"]
    assert not lock.exists()


def test_a_row_held_by_a_live_process_is_waited_for(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, rows=("row_b",), verbose=0))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock = out / "locks" / "row_a.r0.lock"
        lock.write_text(json.dumps({"host": socket.gethostname(), "pid": sleeper.pid, "start": time.time()}))
        import threading

        def finish_elsewhere():  # the "other process" finishes the row: copy a record, drop its lock
            time.sleep(1.5)
            sleeper.kill()
            sleeper.wait()

        threading.Thread(target=finish_elsewhere, daemon=True).start()
        reproduce(tiny, RunOptions(output=out, rows=("row_a",), poll=0.2, verbose=0))
    finally:
        sleeper.kill()
    printed = capsys.readouterr().out
    assert f"row_a: running in pid {sleeper.pid}" in printed and "took over the stale lock" in printed


def test_mirrored_strategy_on_two_logical_cpus_with_a_gan_row(tmp_path):
    proc = subprocess.run([sys.executable, str(HERE / "_tiny_paper.py"), str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if "REPLICAS" in line}
    assert float(lines["REPLICAS"][1]) == 2 and 0.0 <= float(lines["REPLICAS"][3]) <= 1.0
    assert float(lines["GAN_REPLICAS"][1]) == 2 and float(lines["GAN_REPLICAS"][3]) > 0


def test_experiment_rows_are_validated():
    with pytest.raises(ValueError, match="file-name-safe"):
        Experiment("a/b", "x", ("T",), {})
    with pytest.raises(ValueError, match="repeats must be an integer ≥ 1"):
        Experiment("a", "x", ("T",), {}, repeats=0)


def test_epochs_override_reaches_schedules_and_history_records_the_rate(tmp_path):
    """``--epochs`` is what ``session.epochs`` returns (so schedules match the training), and ``history.csv``
    records the optimizer's rate per epoch (the tiny supervised row trains SGD(0.1))."""
    import pandas as pd

    from dermkit.training.runner import RunSession

    session = RunSession(tiny, RunOptions(output=tmp_path / "s", epochs=3))
    assert session.epochs(150) == 3
    assert RunSession(tiny, RunOptions(output=tmp_path / "t")).epochs(150) == 150
    with pytest.raises(ValueError, match="integer ≥ 1"):
        RunSession(tiny, RunOptions(output=tmp_path / "u")).epochs(0)
    reproduce(tiny, RunOptions(output=tmp_path / "run", rows=("row_b",), epochs=3, verbose=0))
    history = pd.read_csv(next((tmp_path / "run" / "work").glob("row_b.r0/*/history.csv")))
    assert list(history["epoch"]) == [0, 1, 2]
    assert history["learning_rate"].tolist() == pytest.approx([0.1, 0.1, 0.1])
