"""Issue 17 "Resume and locks", through the public API / CLI on the tiny paper: a row killed after its last
epoch resumes to the uninterrupted result without training; a corrupt best checkpoint is named and set aside;
leftover temporaries are swept; failed starts, damaged row files, read-only reports, epochs in the table notes,
``--quick --rows`` without a quick variant, a killed synthetic generation, and data errors named on a recipe's
own datasets."""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from dermkit.cli import main  # noqa: E402
from dermkit.errors import DermkitDataError  # noqa: E402
from dermkit.training.options import RunOptions  # noqa: E402
from dermkit.training.runner import report, reproduce  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import _tiny_paper as tiny  # noqa: E402


@pytest.fixture(autouse=True)
def _reset_calls():
    tiny.CALLS.clear()
    tiny.FAIL_AT_EPOCH.clear()


def _record(out: Path, key: str) -> dict:
    return json.loads((out / "rows" / f"{key}.r0.json").read_text())


def _forbid_training(monkeypatch):
    """Make any ``keras.Model.fit`` call fail the test (a resumed finished fit must not train)."""
    import keras

    def no_fit(self, *args, **kwargs):
        raise AssertionError("model.fit was called although every epoch was saved")

    monkeypatch.setattr(keras.Model, "fit", no_fit)


def _run_killed_after_its_fit(monkeypatch, out, rows, *, kill_on=None):
    """``reproduce`` into ``out`` where the process dies after a row's recipe finished (every epoch trained and
    saved) but before its result was stored — after every row, or only after ``kill_on``; then the recipe is
    restored for the re-run."""
    original = tiny.run_experiment

    def killed(exp, data, session):
        result = original(exp, data, session)
        if kill_on is None or exp.key == kill_on:
            raise KeyboardInterrupt("killed before the row result was stored")
        return result

    monkeypatch.setattr(tiny, "run_experiment", killed)
    with pytest.raises(KeyboardInterrupt):
        reproduce(tiny, RunOptions(output=out, rows=tuple(rows), verbose=0))
    monkeypatch.setattr(tiny, "run_experiment", original)


# -- a row killed after its last epoch, before its result was stored ---------------------------------------
@pytest.mark.parametrize("key, metrics", [("row_a", ("loss",)), ("gan", ("d_loss", "g_loss"))])
def test_kill_after_the_last_epoch_resumes_to_the_uninterrupted_result_without_training(
        tmp_path, monkeypatch, capsys, key, metrics):
    clean = reproduce(tiny, RunOptions(output=tmp_path / "clean", rows=(key,), verbose=0))["results"][key]
    out = tmp_path / "killed"
    _run_killed_after_its_fit(monkeypatch, out, [key])
    assert not (out / "rows" / f"{key}.r0.json").exists()
    history_csv = out / "work" / f"{key}.r0" / "fit" / "history.csv"
    lines = history_csv.read_text().splitlines()
    history_csv.write_text("\n".join(lines[:2]) + "\n")  # killed between state.json and the CSV copy
    _forbid_training(monkeypatch)
    capsys.readouterr()
    resumed = reproduce(tiny, RunOptions(output=out, rows=(key,), verbose=0))["results"][key]
    printed = capsys.readouterr().out
    epochs = {"row_a": 3, "gan": 2}[key]
    assert f"{key}: fit finished all {epochs} epochs before the row was stored; not training again" in printed
    assert "resuming" not in printed  # never "resuming at epoch E+1 of E"
    for metric in metrics:
        assert resumed[metric] == pytest.approx(clean[metric], rel=1e-6)
    fit, clean_fit = resumed["fit"], clean["fit"]
    assert fit["epochs_run"] == 0 and fit["epochs_total"] == epochs and fit["initial_epoch"] == epochs
    assert fit["final"] == pytest.approx(clean_fit["final"], rel=1e-6)  # read from the saved history
    assert set(fit["history"]) == set(clean_fit["history"])
    for name, values in clean_fit["history"].items():
        assert fit["history"][name] == pytest.approx(values, rel=1e-6)
    assert fit["best_epoch"] == clean_fit["best_epoch"]
    assert _record(out, key)["fits"] == {"fit": {"epochs": epochs, "of": epochs, "stopped_by": None}}
    assert history_csv.read_text().splitlines() == lines  # the CSV copy follows the saved unit again


@pytest.mark.parametrize("damage", ["garbage", "missing"])
def test_a_damaged_best_state_is_rebuilt_from_the_saved_history(tmp_path, monkeypatch, capsys, damage):
    """``best.json`` (which epoch ``best.weights.h5`` holds) unreadable after a kill past the last epoch: the
    resumed fit must still restore the best epoch, as the uninterrupted run does."""
    clean = reproduce(tiny, RunOptions(output=tmp_path / "clean", rows=("row_a",), verbose=0))["results"]["row_a"]
    out = tmp_path / "run"
    _run_killed_after_its_fit(monkeypatch, out, ["row_a"])
    state = out / "work" / "row_a.r0" / "fit" / "best.json"
    saved = json.loads(state.read_text())
    state.write_text("{") if damage == "garbage" else state.unlink()
    capsys.readouterr()
    fit = reproduce(tiny, RunOptions(output=out, rows=("row_a",), verbose=0))["results"]["row_a"]["fit"]
    printed = capsys.readouterr().out
    assert f"WARNING: {state} was {'unreadable' if damage == 'garbage' else 'missing'}; rebuilt from" in printed
    assert (state.with_name("best.json.corrupt").exists()) is (damage == "garbage")
    assert json.loads(state.read_text()) == pytest.approx(saved)
    assert fit["restored_best"] is True and fit["best_epoch"] == clean["fit"]["best_epoch"]


def test_a_row_killed_after_writing_its_artifacts_reruns_and_publishes_them(tmp_path, monkeypatch, capsys):
    """The producer row writes ``model.keras`` and creates a ``predictions`` folder (``mkdir`` without
    ``exist_ok``): a kill before its row was stored must not make the re-run fail on its own staged files."""
    out = tmp_path / "run"
    _run_killed_after_its_fit(monkeypatch, out, ["consumer"], kill_on="producer")
    assert (out / "artifacts" / ".staging" / "producer.r0" / "predictions").is_dir()
    capsys.readouterr()
    run = reproduce(tiny, RunOptions(output=out, rows=("consumer",), verbose=0))
    printed = capsys.readouterr().out
    assert "producer: fit finished all 2 epochs before the row was stored; not training again" in printed
    assert _record(out, "producer")["artifacts"] == ["model.keras", "predictions"]
    assert run["results"]["consumer"]["max_diff"] < 1e-6


def test_a_truncated_best_checkpoint_is_named_set_aside_and_the_fit_restarts(tmp_path, capsys):
    clean = reproduce(tiny, RunOptions(output=tmp_path / "clean", rows=("row_a",), verbose=0))["results"]["row_a"]
    out = tmp_path / "run"
    tiny.FAIL_AT_EPOCH["row_a"] = 1  # killed at the end of epoch 2 of 3: epoch 1 saved, best = epoch 1
    with pytest.raises(KeyboardInterrupt):
        reproduce(tiny, RunOptions(output=out, rows=("row_a",), verbose=0))
    best = out / "work" / "row_a.r0" / "fit" / "best.weights.h5"
    assert best.is_file()
    with open(best, "r+b") as f:  # a torn write / a full disk
        f.truncate(96)
    capsys.readouterr()
    resumed = reproduce(tiny, RunOptions(output=out, rows=("row_a",), verbose=0))["results"]["row_a"]
    printed = capsys.readouterr().out
    assert f"WARNING: {best} could not be read" in printed and "set aside as best.weights.h5.corrupt" in printed
    assert "row_a: fit: the best epoch's weights are lost; restarting it from epoch 1" in printed
    assert (best.parent / "best.weights.h5.corrupt").stat().st_size == 96
    assert resumed["fit"]["initial_epoch"] == 0 and resumed["fit"]["epochs_run"] == 3
    assert resumed["loss"] == pytest.approx(clean["loss"], rel=1e-6)  # a restart is the uninterrupted run


def test_a_kill_after_the_last_epoch_over_a_corrupt_best_restarts_not_fails(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    _run_killed_after_its_fit(monkeypatch, out, ["row_b"])
    best = out / "work" / "row_b.r0" / "fit" / "best.weights.h5"
    best.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 40)  # an HDF5 signature and nothing else
    capsys.readouterr()
    run = reproduce(tiny, RunOptions(output=out, rows=("row_b",), verbose=0))
    printed = capsys.readouterr().out
    assert f"WARNING: {best} could not be read" in printed and "restarting it from epoch 1" in printed
    assert run["results"]["row_b"]["fit"]["epochs_run"] == 2


# -- temporaries --------------------------------------------------------------------------------------------
def test_temporaries_a_kill_left_are_removed_by_the_next_run_of_that_row(tmp_path, capsys):
    out = tmp_path / "run"
    tiny.FAIL_AT_EPOCH["row_a"] = 1
    with pytest.raises(KeyboardInterrupt):
        reproduce(tiny, RunOptions(output=out, rows=("row_a",), verbose=0))
    fit = out / "work" / "row_a.r0" / "fit"
    leftovers = [
        fit / ".best.tmp-ab12cd34.weights.h5",  # the atomic writers' naming
        fit / "backup" / ".epoch-0002.tmp-zz99yy88.weights.h5",
        fit / ".history.k3j4l5m6.csv",  # an earlier version's hidden mkstemp name
        out / "rows" / ".row_a.r0.tmp-q1w2e3r4.json",
        out / "artifacts" / ".staging" / "row_a.r0" / ".model.tmp-abcdefgh.keras",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    other = out / "rows" / ".row_b.r0.tmp-x1y2z3w4.json"  # another row's: maybe being written right now
    other.write_bytes(b"half")
    kept = fit / "notes.txt"
    kept.write_text("not a temporary")
    capsys.readouterr()
    reproduce(tiny, RunOptions(output=out, rows=("row_a",), verbose=0))
    assert "row_a.r0: removed 5 temporary file(s) left by an interrupted run" in capsys.readouterr().out
    assert [p for p in leftovers if p.exists()] == []
    assert other.exists() and kept.read_text() == "not a temporary"
    hidden = sorted(p.name for p in out.rglob(".*") if p.is_file())
    assert hidden == [".fingerprint", ".row_b.r0.tmp-x1y2z3w4.json"]  # the work folder's marker


# -- run-folder rules ---------------------------------------------------------------------------------------
def test_a_failed_start_leaves_the_folder_usable(tmp_path, monkeypatch, capsys):
    real_prepare = tiny.prepare

    def prepare(data, session):
        if data != "synthetic":
            raise FileNotFoundError(f"--data {data}: no such folder")
        return real_prepare(data, session)

    monkeypatch.setattr(tiny, "prepare", prepare)
    out = tmp_path / "run"
    typo = tmp_path / "ISIC2017-typo"
    argv = ["reproduce", "_tiny_paper", "--rows", "row_b", "--quiet", "--output", str(out)]
    assert main(argv + ["--data", str(typo)]) == 1
    assert f"--data {typo}: no such folder" in capsys.readouterr().err
    assert main(argv + ["--data", "synthetic"]) == 0
    printed = capsys.readouterr().out
    assert f"holds a run of tiny on data {str(typo)!r} that stored no row (a failed start)" in printed
    assert _record(out, "row_b")["identity"]["options"]["data"] == "synthetic"
    # once a row is stored, a run on other data is refused (it would mix two runs' rows)
    assert main(argv + ["--data", str(typo)]) == 1
    assert "holds a run of tiny on data 'synthetic'" in capsys.readouterr().err


def test_a_kill_while_run_json_was_written_leaves_a_folder_the_next_run_takes(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    leftover = out / ".run.tmp-a1b2c3d4.json"  # atomic_write_text's temporary of run.json
    leftover.write_text('{"paper": "ti')
    (out / "run.lock").write_text("")  # its lock, left behind too (0 bytes, old)
    os.utime(out / "run.lock", (time.time() - 60, time.time() - 60))
    reproduce(tiny, RunOptions(output=out, rows=("row_b",), lock_timeout=0, verbose=0))
    assert not leftover.exists() and json.loads((out / "run.json").read_text())["paper"] == "tiny"
    assert tiny.CALLS == ["row_b"]


@pytest.mark.parametrize("result", [None, [0.5], "0.5", "garbage"], ids=["null", "list", "string", "not-json"])
def test_a_damaged_row_file_is_named_and_recomputed(tmp_path, capsys, result):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, tables=("T",), verbose=0))
    path = out / "rows" / "row_b.r0.json"
    if result == "garbage":
        path.write_bytes(b"\x00\x01 not json")
    else:
        path.write_text(json.dumps({**json.loads(path.read_text()), "result": result}))
    capsys.readouterr()
    run = report(tiny, out, tables=("T",))
    printed = capsys.readouterr().out
    assert run["missing"] == ["row_b"]
    assert f"WARNING: {path} is damaged" in printed and printed.count(f"{path} is damaged") == 1
    assert "rows missing or stale in" in printed
    tiny.CALLS.clear()
    reproduce(tiny, RunOptions(output=out, tables=("T",), verbose=0))
    assert tiny.CALLS == ["row_b"]
    assert isinstance(_record(out, "row_b")["result"], dict)


def test_report_names_a_damaged_run_json(tmp_path, capsys):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, rows=("row_b",), verbose=0))
    (out / "run.json").write_text('{"paper": "tiny", "da')
    assert main(["report", "_tiny_paper", "--output", str(out)]) == 1
    assert f"{out / 'run.json'} is damaged" in capsys.readouterr().err
    reproduce(tiny, RunOptions(output=out, rows=("row_b",), verbose=0))  # as the message says: rewritten
    assert f"WARNING: {out / 'run.json'} is damaged; rewriting it" in capsys.readouterr().out
    assert tiny.CALLS == ["row_b"]  # the finished row kept
    assert main(["report", "_tiny_paper", "--output", str(out), "--table", "T"]) == 0
    manifest = json.loads((out / "run.json").read_text())
    manifest["options"]["epochs"] = -1  # what an earlier dermkit stored for `--epochs -1`
    (out / "run.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(["report", "_tiny_paper", "--output", str(out)]) == 1
    assert f"{out / 'run.json'} records options this dermkit refuses" in capsys.readouterr().err


def _read_only_open(root: Path):
    real_open = os.open

    def fake(path, flags, *args, **kwargs):
        if str(path).startswith(str(root)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    return fake


def _check_read_only_report(out: Path, printed: str, run: dict, before: dict) -> None:
    assert "could not write table T" in printed and "it is printed below only" in printed
    assert "cannot take the lock in" in printed and "reading without it" in printed
    assert "| row a |" in printed and "| row b |" in printed  # the tables are printed
    assert run["missing"] == [] and {t.name for t in run["tables"]} == {"T", "G"}
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing written


def test_report_on_a_read_only_folder_prints_the_tables(tmp_path, monkeypatch, capsys):
    """Simulated read-only folder (every create/write under it refused), so it also runs as root."""
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, tables=("T",), verbose=0))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    monkeypatch.setattr(os, "open", _read_only_open(out))
    run = report(tiny, out, tables=("T",))
    _check_read_only_report(out, capsys.readouterr().out, run, before)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_report_on_a_chmod_read_only_folder_prints_the_tables(tmp_path, capsys):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, tables=("T",), verbose=0))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    folders = [out, *(p for p in out.rglob("*") if p.is_dir())]
    for folder in folders:
        folder.chmod(0o555)
    try:
        capsys.readouterr()
        run = report(tiny, out, tables=("T",))
        _check_read_only_report(out, capsys.readouterr().out, run, before)
    finally:
        for folder in folders:
            folder.chmod(0o755)


def test_table_notes_state_the_epochs_trained(tmp_path):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, tables=("T",), verbose=0))
    assert "- epochs trained: row a: 3; row b: 2" in (out / "table_T.md").read_text()
    short = tmp_path / "short"
    run = reproduce(tiny, RunOptions(output=short, tables=("T",), epochs=1, verbose=0))
    assert "- epochs trained: row a: 1; row b: 1" in (short / "table_T.md").read_text()
    assert [len(run["results"][k]["fit"]["history"]["loss"]) for k in ("row_a", "row_b")] == [1, 1]


def test_a_non_finite_loss_names_loss_epoch_and_batch_and_is_not_retrained(tmp_path, monkeypatch, capsys):
    import keras

    class PoisonAtEpoch2(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                for weight in self.model.trainable_weights:
                    weight.assign(weight * np.nan)

    original = tiny._callbacks
    monkeypatch.setattr(tiny, "_callbacks", lambda exp: original(exp) + [PoisonAtEpoch2()])
    out = tmp_path / "run"
    run = reproduce(tiny, RunOptions(output=out, rows=("row_a",), verbose=0))
    printed = capsys.readouterr().out
    assert "row_a: fit stopped: non-finite loss=nan at epoch 2, batch 0" in printed
    fit = run["results"]["row_a"]["fit"]
    assert fit["stopped_by"] == "loss=nan at epoch 2, batch 0" and fit["diverged"] is True
    assert _record(out, "row_a")["fits"]["fit"]["stopped_by"] == "loss=nan at epoch 2, batch 0"
    # the row result lost (killed before it was stored): the re-run reads the stop back, trains nothing
    (out / "rows" / "row_a.r0.json").unlink()
    _forbid_training(monkeypatch)
    reproduce(tiny, RunOptions(output=out, rows=("row_a",), verbose=0))
    assert ("row_a: fit was stopped by a non-finite loss (loss=nan at epoch 2, batch 0) before the row was "
            "stored; not training again") in capsys.readouterr().out


# -- selection ----------------------------------------------------------------------------------------------
def test_quick_rows_without_a_quick_variant_exit_non_zero(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["reproduce", "_tiny_paper", "--quick", "--rows", "row_b", "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "--quick --rows 'row_b': row_b of tiny has no quick variant; its quick rows are: row_a" in err
    assert not out.exists()  # no empty tables
    assert main(["reproduce", "_tiny_paper", "--quick", "--table", "G", "--output", str(out)]) == 1
    assert "--quick: tiny has no quick row in tables ['G']" in capsys.readouterr().err
    assert not out.exists()
    # a pattern with a quick row among others runs the quick ones
    assert main(["reproduce", "_tiny_paper", "--quick", "--rows", "row_*", "--quiet", "--output", str(out)]) == 0
    assert tiny.CALLS == ["row_a"]


@pytest.mark.parametrize("epochs", [0, -1, 1.5, True, "3"])
def test_run_options_refuse_epochs_that_are_not_integers_of_at_least_one(tmp_path, epochs):
    with pytest.raises(ValueError, match=r"epochs must be an integer ≥ 1 or None"):
        RunOptions(output=tmp_path, epochs=epochs)
    assert RunOptions(output=tmp_path, epochs=np.int64(2)).epochs == 2


# -- synthetic data generation killed -----------------------------------------------------------------------
def test_a_run_killed_while_generating_synthetic_data_regenerates_it(tmp_path, monkeypatch):
    import dermkit.data.synthetic as synthetic

    monkeypatch.setenv("TINY_SYNTHETIC_ISIC2017", "1")  # tiny.prepare: make_isic2017 into <output>/data
    real_write_png = synthetic.write_png
    written = []

    def dying_write_png(path, *args, **kwargs):
        if len(written) == 5:
            raise KeyboardInterrupt("killed while generating")
        written.append(path)
        return real_write_png(path, *args, **kwargs)

    out = tmp_path / "run"
    monkeypatch.setattr(synthetic, "write_png", dying_write_png)
    with pytest.raises(KeyboardInterrupt):
        reproduce(tiny, RunOptions(output=out, rows=("row_b",), verbose=0))
    root = out / "data" / "isic2017"
    entry = synthetic.read_manifest(root)["datasets"]["isic2017"]
    assert entry["complete"] is False and entry["writer"]["pid"] == os.getpid()
    leftover = root / "ISIC-2017_Training_Data" / ".ISIC_0000002.tmp-k1l2m3n4.jpg"
    leftover.write_bytes(b"half a jpeg")
    monkeypatch.setattr(synthetic, "write_png", real_write_png)
    with pytest.warns(UserWarning, match=r"left half-written .*; regenerating it"):
        reproduce(tiny, RunOptions(output=out, rows=("row_b",), verbose=0))
    assert tiny.CALLS == ["row_b"] and not leftover.exists()
    clean = synthetic.make_isic2017(tmp_path / "clean", n_train=6, n_val=2, n_test=2, image_size=(32, 32))

    def tree(folder):
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
                and p.name != synthetic.MANIFEST_NAME}

    assert tree(root) == tree(clean)  # byte-identical to an uninterrupted generation
    assert synthetic.read_manifest(root)["datasets"]["isic2017"]["complete"] is True


def test_a_synthetic_tree_being_generated_by_a_live_process_is_not_rebuilt(tmp_path):
    import subprocess

    from dermkit.data.synthetic import MANIFEST_NAME, make_isic2017, read_manifest
    from dermkit.training.locks import _process_start

    root = tmp_path / "isic2017"
    make_isic2017(root, n_train=2, n_val=0, n_test=0, image_size=(32, 32))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        manifest = read_manifest(root)
        manifest["datasets"]["isic2017"].update(
            complete=False, writer={"host": __import__("socket").gethostname(), "pid": sleeper.pid,
                                    "proc_start": _process_start(sleeper.pid)})
        (root / MANIFEST_NAME).write_text(json.dumps(manifest))
        with pytest.raises(DermkitDataError, match=f"being generated by pid {sleeper.pid}"):
            make_isic2017(root, n_train=2, n_val=0, n_test=0, image_size=(32, 32))
    finally:
        sleeper.kill()
        sleeper.wait()
    with pytest.warns(UserWarning, match="half-written"):
        make_isic2017(root, n_train=2, n_val=0, n_test=0, image_size=(32, 32))
    assert read_manifest(root)["datasets"]["isic2017"]["complete"] is True


# -- data errors on a recipe's own datasets -----------------------------------------------------------------
def _pixel_corrupt_jpeg(path: Path) -> None:
    """Keep the JPEG headers and end marker, replace the entropy-coded data by random bytes (as
    tests/data/test_pipelines.py): the header check passes, TensorFlow's decoder fails."""
    import tensorflow as tf

    data = bytearray(path.read_bytes())
    sos = data.index(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2: sos + 4], "big")
    data[start:-2] = np.random.default_rng(1).integers(0, 256, len(data) - 2 - start, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(tf.errors.InvalidArgumentError, match="jpeg::Uncompress failed"):
        tf.io.decode_jpeg(bytes(data), channels=3)


def test_a_corrupt_jpeg_in_a_recipe_built_dataset_is_named(tmp_path, monkeypatch, capsys):
    import pandas as pd
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(4):
        path = tmp_path / "images" / f"ISIC_{i:07d}.jpg"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(path, quality=95)
        paths.append(str(path))
    _pixel_corrupt_jpeg(Path(paths[1]))
    frame = pd.DataFrame({"image_path": paths, "label": [0, 1, 0, 1]})

    def run_experiment(exp, data, session):  # a recipe's own prediction path, nameless by itself
        import keras
        import tensorflow as tf

        from dermkit.data.pipelines import classification_dataset

        images = classification_dataset(frame, image_size=16, batch_size=2, num_classes=2)
        plain = tf.data.Dataset.zip((images,)).map(lambda xy: xy[0])
        model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.GlobalAveragePooling2D(name="pool")],
                                 name="probe")
        return {"mean": float(np.mean(model.predict(plain, verbose=0)))}

    monkeypatch.setattr(tiny, "run_experiment", run_experiment)
    out = tmp_path / "run"
    with pytest.raises(DermkitDataError, match=r"ISIC_0000001\.jpg: TensorFlow cannot decode this file"):
        reproduce(tiny, RunOptions(output=out, rows=("row_b",), verbose=0))
    assert main(["reproduce", "_tiny_paper", "--rows", "row_b", "--quiet", "--output", str(out)]) == 1
    assert f"{paths[1]}: TensorFlow cannot decode this file" in capsys.readouterr().err
