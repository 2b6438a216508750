"""The experiment engine: a paper's grid (rows as data) → units (row × repeat) → stored, fingerprinted results
→ tables and figures.

A paper module (``dermkit.papers.<paper>``, see :mod:`dermkit.papers`) defines ``NAME``, ``VERSION`` (bumped
when its recipe changes), ``TABLES``, ``EXPERIMENTS`` (:class:`Experiment` rows) and::

    prepare(data: str, session) -> object              # read (or generate) the data once per process
    run_experiment(exp, data, session) -> dict          # one row at one repeat: build, session.fit, evaluate
    make_tables(results, data, session) -> list[Table]  # results: {key: mean over repeats}
    make_figures(results, data, session) -> list[Path]  # optional

What the engine does for every paper:

* **Identity.** Each stored row (``rows/<key>.r<repeat>.json``) records its fingerprint: paper ``NAME`` and
  ``VERSION``, the row's params, repeat and seed, the result-changing run options and its dependencies'
  fingerprints. A stored row whose fingerprint differs is recomputed, and the log says why.
* **Repeats.** Repeat ``r`` runs with seed ``seed + r``; ``session.repeat`` hands ``r`` to the paper. Tables get
  the mean (:class:`~dermkit.training.experiment.MeanStd`, printed ``mean ± std`` when several).
* **Dependencies and artifacts.** ``Experiment.depends_on`` rows run first (also when not selected), once.
  ``session.artifact(key, name)`` is the one place a row writes what another row reads: the row's own key gives
  a path in its staging folder, published atomically (renamed into ``artifacts/<key>.r<repeat>/``) when the row
  finishes and listed in its result; a dependency's key gives the published path.
* **Any trainer.** ``session.fit`` serves any ``keras.Model`` whose ``train_step`` reports named metrics, with
  ``monitor=`` / ``mode=`` / ``checkpoint="best"|"last"``, NaN termination on any reported loss, crash-safe
  backups (:mod:`dermkit.training.checkpoints`) and the paper's own per-epoch callbacks.
* **Selection and scale-out.** ``--table``, ``--rows PATTERN``, ``--shard I/N``; several processes may share
  one output folder: each unit is claimed by a lock file (:mod:`dermkit.training.locks`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from dermkit._io import atomic_write_text, temporary_prefix
from dermkit.papers import load_paper
from dermkit.training.experiment import (
    Experiment,
    aggregate_repeats,
    dependency_closure,
    describe_change,
    fingerprint,
    identity,
    select_rows,
    shard_of,
)
from dermkit.training.locks import RowLock, describe_owner, lock_is_stale, read_lock, waiting_message
from dermkit.training.options import RunOptions, add_reproduce_arguments, options_from_args
from dermkit.training.report import Table, write_table

__all__ = [
    "Experiment",
    "RunOptions",
    "RunSession",
    "reproduce",
    "report",
    "load_paper",
    "select_experiments",
    "add_reproduce_arguments",
    "options_from_args",
]

CHECKPOINTS = ("best", "last")


def select_experiments(paper: ModuleType, tables: Sequence[str], quick: bool,
                       rows: Sequence[str] | None = None) -> list[Experiment]:
    """The paper's rows feeding ``tables`` (``"all"`` for every table), quick rows only if asked, and rows whose
    key matches a ``rows`` fnmatch pattern when given (dependencies not included; see the engine)."""
    return select_rows(paper.EXPERIMENTS, paper.TABLES, tables=tables, quick=quick, rows=rows, name=paper.NAME)


def _repeats(exp: Experiment, options: RunOptions, paper: ModuleType) -> int:
    """How many times ``exp`` runs: ``--repeats`` if given, else the row's ``repeats`` — at most the paper's
    ``QUICK_REPEATS`` (when it defines one) in a ``--quick`` run."""
    if options.repeats is not None:
        return int(options.repeats)
    quick_cap = getattr(paper, "QUICK_REPEATS", None)
    if options.quick and quick_cap is not None:
        return min(int(exp.repeats), int(quick_cap))
    return int(exp.repeats)


def _unit_name(key: str, repeat: int) -> str:
    return f"{key}.r{repeat}"


class _Unit:
    """The row × repeat being run: its identity and folders."""

    def __init__(self, exp: Experiment, repeat: int, seed: int, ident: dict, fp: str):
        self.exp, self.repeat, self.seed, self.identity, self.fingerprint = exp, repeat, seed, ident, fp
        #: Each ``session.fit`` of the row: name → ``{"epochs": trained, "of": asked, "stopped_by"}``.
        self.fits: dict[str, dict[str, Any]] = {}

    @property
    def name(self) -> str:
        return _unit_name(self.exp.key, self.repeat)


class RunSession:
    """Per-run state handed to the paper module: options, strategy, paths, ``fit``, artifacts, logging.

    Attributes set while a row runs: :attr:`key`, :attr:`repeat`, :attr:`seed` (``options.seed + repeat``).
    TensorFlow is imported only when a strategy, ``compile`` or ``fit`` is first needed.
    """

    def __init__(self, paper: ModuleType, options: RunOptions) -> None:
        self.paper = paper
        self.options = options
        self.output = Path(options.output)
        self._strategy = None
        self.precision: str | None = None
        self._unit: _Unit | None = None
        self._fingerprints: dict[tuple[str, int], str] = {}
        #: A per-process cache for expensive objects rows may share (a compiled model reset between rows).
        #: A row's result must not depend on what is in it: a fresh process computes the same numbers.
        self.cache: dict[Any, Any] = {}

    # -- the row being run -----------------------------------------------------------------------------------
    @property
    def key(self) -> str | None:
        return self._unit.exp.key if self._unit else None

    @property
    def repeat(self) -> int:
        return self._unit.repeat if self._unit else 0

    @property
    def seed(self) -> int:
        return self._unit.seed if self._unit else int(self.options.seed)

    def epochs(self, default: int) -> int:
        """The number of epochs the running row trains: ``--epochs`` when given, else ``default`` (the row's own).

        Every epoch-dependent schedule a recipe builds (a step decay, barata2020's Eq. 9 curriculum, a CHAI
        step policy) must be built for this count, and the same count passed to :meth:`fit`, so that
        ``--epochs N`` shortens the schedule with the training instead of leaving it at the paper's length.

        Raises:
            ValueError: ``default`` (or ``--epochs``) is not an integer ≥ 1.
        """
        value = self.options.epochs if self.options.epochs is not None else default
        if isinstance(value, bool) or int(value) != value or int(value) < 1:
            raise ValueError(f"epochs must be an integer ≥ 1. Received: {value!r}")
        return int(value)

    # -- paths -----------------------------------------------------------------------------------------------
    @property
    def rows_dir(self) -> Path:
        return self.output / "rows"

    @property
    def figures_dir(self) -> Path:
        return self.output / "figures"

    @property
    def artifacts_dir(self) -> Path:
        return self.output / "artifacts"

    def workdir(self, name: str | None = None) -> Path:
        """Scratch folder of the running row (checkpoints, backups, logs); ``name`` a subfolder of it."""
        if self._unit is None:
            raise RuntimeError("session.workdir() is for the row being run; read other rows' outputs with "
                               "session.artifact(key, name)")
        path = self.output / "work" / self._unit.name
        if name:
            path = path / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _staging(self, unit_name: str) -> Path:
        return self.artifacts_dir / ".staging" / unit_name

    def artifact(self, key: str, name: str, *, repeat: int | None = None) -> Path:
        """The one place rows exchange files (a trained ``.keras`` model, a folder of crops, a CSV).

        * ``key`` = the running row: where to write ``name`` (a file or a folder you create). It is published
          atomically when the row finishes and listed in its result.
        * ``key`` = one of the running row's ``depends_on``: the published file or folder (the dependency's
          repeat ``min(repeat, its repeats - 1)``).
        * outside a row (figures, reports): any finished row's artifact (``repeat`` default 0).

        Raises:
            ValueError: reading a row that the running row does not list in ``depends_on``.
            FileNotFoundError: the dependency did not produce ``name`` (the message lists what it produced).
        """
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            raise ValueError(f"an artifact name is a plain file or folder name. Received: {name!r}")
        unit = self._unit
        if unit is not None and key == unit.exp.key:
            path = self._staging(unit.name) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            return path
        if unit is not None and key not in unit.exp.depends_on:
            raise ValueError(f"row {unit.exp.key} reads artifacts of {key!r} but does not list it in depends_on "
                             f"(it lists {unit.exp.depends_on})")
        if repeat is None:
            repeat = self._dependency_repeat(key, unit.repeat if unit else 0)
        folder = self.artifacts_dir / _unit_name(key, repeat)
        path = folder / name
        if not path.exists():
            have = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
            raise FileNotFoundError(f"row {key} (repeat {repeat}) has no artifact {name!r} in {folder}; "
                                    f"it produced {have or 'none'}")
        return path

    def result(self, key: str, *, repeat: int | None = None) -> dict[str, Any]:
        """A finished row's stored result (a dependency's, while a row runs: same rules as :meth:`artifact`)."""
        unit = self._unit
        if unit is not None and key not in unit.exp.depends_on:
            raise ValueError(f"row {unit.exp.key} reads the result of {key!r} but does not list it in depends_on")
        if repeat is None:
            repeat = self._dependency_repeat(key, unit.repeat if unit else 0)
        record = _read_record(self, key, repeat)
        if record is None:
            raise FileNotFoundError(f"row {key} (repeat {repeat}) has no stored result in {self.rows_dir}")
        return record["result"]

    def _dependency_repeat(self, key: str, repeat: int) -> int:
        exp = _by_key(self.paper).get(key)
        if exp is None:
            raise ValueError(f"{key!r} is not a row of {self.paper.NAME}")
        return min(repeat, _repeats(exp, self.options, self.paper) - 1)

    # -- logging ---------------------------------------------------------------------------------------------
    @property
    def tag(self) -> str:
        return "[SYNTHETIC] " if self.options.synthetic else ""

    def log(self, message: str) -> None:
        """Print a log line (labelled SYNTHETIC when the data is)."""
        print(f"{self.tag}{self.paper.NAME}: {message}", flush=True)

    def lock(self, name: str) -> RowLock:
        """A lock file ``<output>/locks/<name>.lock`` shared by every process writing into this folder."""
        return RowLock(self.output / "locks" / f"{name}.lock", timeout=self.options.lock_timeout,
                       log=lambda message: self.log(message))

    # -- training --------------------------------------------------------------------------------------------
    @property
    def strategy(self):
        """The run's ``tf.distribute`` strategy (created on first use)."""
        if self._strategy is None:
            from dermkit.training.strategy import get_strategy

            self._strategy = get_strategy(self.options.strategy)
        return self._strategy

    def _set_precision(self) -> None:
        if self.precision is None:
            from dermkit.training.strategy import set_precision

            self.precision = set_precision(self.options.mixed_precision)

    def scope(self):
        """The strategy scope: build and compile models inside it (the engine runs every row inside it)."""
        self._set_precision()
        return self.strategy.scope()

    def compile(self, model, **compile_kwargs):
        """``model.compile(**compile_kwargs)`` in the strategy scope, with the run's ``jit_compile`` flag.

        Serves any trainer: ``optimizer=, loss=, metrics=`` for supervised models, or a custom ``compile``
        (a GAN's ``d_optimizer=, g_optimizer=, ...``); ``jit_compile`` is passed when the signature takes it.
        """
        import inspect

        params = inspect.signature(model.compile).parameters
        takes_jit = "jit_compile" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
        if takes_jit:
            compile_kwargs.setdefault("jit_compile", self.options.jit)
        if "metrics" in compile_kwargs and compile_kwargs["metrics"] is not None:
            compile_kwargs["metrics"] = list(compile_kwargs["metrics"])
        with self.scope():
            model.compile(**compile_kwargs)
        return model

    def fit(
        self,
        model,
        train_data,
        *,
        epochs: int,
        validation_data=None,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        callbacks: Iterable = (),
        monitor: str = "val_loss",
        mode: str = "min",
        checkpoint: str = "best",
        name: str = "fit",
        **fit_kwargs,
    ) -> dict[str, Any]:
        """Train ``model`` (compiled with :meth:`compile`) for the running row; return a summary dict.

        Args:
            epochs: the row's epoch count (``--epochs`` overrides it: :meth:`epochs`; build schedules with
                ``session.epochs(n)`` so they match).
            monitor: the epoch-log key to watch (``"val_loss"``, ``"val_balanced_accuracy"`` logged by a callback
                of ``callbacks``, ``"g_loss"``...). ``mode``: ``"min"`` or ``"max"``.
            checkpoint: ``"best"`` restores the best epoch by ``monitor`` at the end; ``"last"`` keeps the last
                epoch (GANs; kawahara2018's ISIC entry).
            callbacks: the paper's per-epoch callbacks, run first (so a metric they log can be monitored).
            name: the fit's subfolder of the row's work folder (a row that fits several models names each).

        Callbacks the engine adds, in order after the caller's: :class:`TerminateOnNonFinite` (any reported
        loss; it names the loss, epoch and batch), :class:`BestCheckpoint` (``checkpoint="best"``),
        :class:`LearningRateLogger` (``learning_rate`` in the epoch logs), :class:`CrashSafeBackup`, and
        ``TensorBoard`` (when installed) under ``work/<row>/<name>/logs``.

        Resume rules (our choice; no paper specifies them): an epoch's weights + optimizer state and its
        history line are saved as one unit (``backup/state.json``, written after the weights file, both by
        rename); ``history.csv`` is rewritten from that unit, never appended to. A killed row resumes at its
        last saved epoch; a fit whose unit already holds all ``epochs`` (killed after its last epoch, before
        the row was stored) trains nothing and its summary is read from the saved history. A damaged backup
        or ``best.weights.h5`` is named, set aside as ``*.corrupt``, and the fit restarts from epoch 1, saying
        so; an unreadable ``best.json`` is rebuilt from the saved history. Temporaries a killed writer left in
        the fit's folder are removed first.

        Returns:
            ``epochs_run`` (this call), ``epochs_total``, ``initial_epoch`` (resumed from), ``train_seconds``,
            ``final`` (last epoch's logs), ``history`` (every epoch's logs, resumed epochs included),
            ``best_<monitor>``, ``best_epoch`` (1-based), ``checkpoint``, ``restored_best``, ``diverged``,
            ``stopped_by`` (the non-finite loss, if any).
        """
        import keras

        from dermkit.data.pipelines import named_data_errors
        from dermkit.training.callbacks import LearningRateLogger
        from dermkit.training.checkpoints import (
            BestCheckpoint,
            CrashSafeBackup,
            TerminateOnNonFinite,
            _first_line,
            build_optimizers,
            set_aside,
            write_history_csv,
        )

        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max'. Received: mode={mode!r}")
        if checkpoint not in CHECKPOINTS:
            raise ValueError(f"checkpoint must be one of {CHECKPOINTS}. Received: checkpoint={checkpoint!r}")
        epochs = self.epochs(epochs)
        work = self.workdir(name)
        build_optimizers(model)  # a model without call() (a GAN) whose parts are built counts as built
        initial = _snapshot(model)  # the untrained state, for a restart
        for attempt in (1, 2):
            if attempt == 2:
                _assign(model, initial)
            initial_epoch, saved, stopped_before = self._resume(model, work, name, epochs, checkpoint, monitor,
                                                                initial, mode=mode)
            nan_stop = TerminateOnNonFinite()
            best = None
            if checkpoint == "best":
                best = BestCheckpoint(work / "best.weights.h5", monitor=monitor, mode=mode,
                                      initial_epoch=initial_epoch)
            backup = CrashSafeBackup(work / "backup", history=saved, history_csv=work / "history.csv",
                                     stopped_by=lambda stop=nan_stop: stop.stopped)
            start = time.perf_counter()
            if initial_epoch >= epochs or stopped_before:
                why = (f"was stopped by a non-finite loss ({stopped_before})" if stopped_before
                       else f"finished all {epochs} epochs")
                self.log(f"{self.key}: {name} {why} before the row was stored; not training again")
                if saved:  # a kill between state.json and history.csv: the CSV copy follows the saved unit
                    write_history_csv(saved, work / "history.csv")
            else:
                if initial_epoch:
                    self.log(f"{self.key}: resuming {name} at epoch {initial_epoch + 1} of {epochs}")
                engine: list = [nan_stop] + ([best] if best is not None else []) + [LearningRateLogger(), backup]
                if _tensorboard_available():
                    engine.append(keras.callbacks.TensorBoard(str(work / "logs"), write_graph=False))
                with named_data_errors(train_data, validation_data):  # a damaged file is named, also under a strategy
                    model.fit(
                        train_data,
                        validation_data=validation_data,
                        epochs=int(epochs),
                        initial_epoch=initial_epoch,
                        steps_per_epoch=steps_per_epoch,
                        validation_steps=validation_steps,
                        callbacks=list(callbacks) + engine,
                        shuffle=False,  # datasets arrive shuffled (or sampled) by dermkit.data.pipelines
                        verbose=(1 if sys.stdout.isatty() else 2) if self.options.verbose else 0,
                        **fit_kwargs,
                    )
                if nan_stop.stopped:
                    self.log(f"{self.key}: {name} stopped: non-finite {nan_stop.stopped}")
            seconds = time.perf_counter() - start
            restored = False
            if best is not None and best.best_epoch is not None and best.path.exists():
                try:
                    model.load_weights(str(best.path))
                    restored = True
                except Exception as exc:  # h5py/Keras raise OSError, ValueError, KeyError... for a damaged file
                    set_aside(best.path, self.log, _first_line(exc))
                    if attempt == 2:
                        raise RuntimeError(f"{best.path}: the best epoch's weights written by this fit cannot be "
                                           f"read back ({exc}); is the disk full?") from exc
                    self.log(f"{self.key}: {name}: the best epoch's weights are lost; restarting it from epoch 1")
                    _clear_fit(work)
                    continue
            break
        lines = backup.history
        history = _history_columns(lines)
        final = {k: v for k, v in lines[-1].items() if k != "epoch"} if lines else {}
        stopped = nan_stop.stopped or stopped_before
        diverged = stopped is not None or any(
            not math.isfinite(v) for k, vs in history.items() if "loss" in k for v in vs)
        monitored = history.get(monitor, [])
        finite = [v for v in monitored if math.isfinite(v)]
        best_value = (min if mode == "min" else max)(finite) if finite else math.nan
        summary = {
            "epochs_run": len(lines) - initial_epoch,
            "epochs_total": len(lines),
            "initial_epoch": initial_epoch,
            "train_seconds": round(seconds, 2),
            "final": final,
            "final_loss": float(final["loss"]) if "loss" in final else math.nan,
            "history": history,
            f"best_{monitor}": best_value,
            "best_epoch": (best.best_epoch if best is not None else
                           (monitored.index(best_value) + 1 if finite else None)),
            "checkpoint": checkpoint,
            "restored_best": restored,
            "diverged": diverged,
            "stopped_by": stopped,
        }
        if self._unit is not None:
            self._unit.fits[name] = {"epochs": len(lines), "of": int(epochs), "stopped_by": stopped}
        return summary

    def _resume(self, model, work: Path, name: str, epochs: int, checkpoint: str, monitor: str,
                initial: list, *, mode: str = "min") -> tuple[int, list[dict], str | None]:
        """Read the fit's saved unit back: (epoch to resume from, the saved epochs' logs, why it stopped).

        A damaged backup is set aside (``restore_backup``); a damaged or missing ``best.weights.h5`` of a
        resumed ``checkpoint="best"`` fit is set aside and the fit restarts from epoch 1, saying so.
        """
        from dermkit._io import remove_temporaries
        from dermkit.training.checkpoints import backup_state, restore_backup, set_aside, weights_file_error

        remove_temporaries(work)
        initial_epoch = restore_backup(model, work / "backup", log=self.log)
        if initial_epoch == 0:
            _clear_fit(work, keep_backup=True)
            return 0, [], None
        state = backup_state(work / "backup")
        saved = [dict(line) for line in state.get("history", [])][:initial_epoch]
        if len(saved) < initial_epoch:  # a backup of an earlier dermkit version: the CSV log holds the history
            columns = _read_history(work / "history.csv")
            saved = [{"epoch": e, **{k: vs[e] for k, vs in columns.items() if e < len(vs)}}
                     for e in range(initial_epoch)]
        best_path = work / "best.weights.h5"
        if checkpoint == "best":
            error = weights_file_error(best_path) if best_path.exists() else None
            lost = not best_path.exists() and any(math.isfinite(float(line.get(monitor, math.nan)))
                                                  for line in saved)
            if error or lost:
                if error:
                    set_aside(best_path, self.log, error)
                else:
                    self.log(f"WARNING: {best_path} is missing although epochs 1-{initial_epoch} were saved")
                self.log(f"{self.key}: {name}: the best epoch's weights are lost; restarting it from epoch 1")
                _clear_fit(work)
                _assign(model, initial)  # the weights before the fit, as an uninterrupted run starts
                return 0, [], None
            if best_path.exists():
                _check_best_state(work / "best.json", saved, monitor, mode, self.log)
        return min(initial_epoch, int(epochs)), saved[:int(epochs)], state.get("stopped_by")


def _check_best_state(path: Path, saved: list[dict], monitor: str, mode: str, log) -> None:
    """Make ``best.json`` (:class:`BestCheckpoint`'s ``{value, epoch}``) readable before a resume: an unreadable
    or missing one is set aside and rebuilt from the saved history by BestCheckpoint's own rule (the first
    strictly best finite ``monitor`` value) — without it the resumed fit would compare against ±inf, replace
    the best weights by a worse epoch's, or forget which epoch to restore."""
    from dermkit.training.checkpoints import set_aside

    try:
        state = json.loads(path.read_text())
        float(state["value"]), int(state["epoch"])
        return
    except FileNotFoundError:
        why = "missing"
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        why = f"{type(exc).__name__}: {exc}"
        set_aside(path, log, why)
    best_value, best_epoch = None, None
    for index, line in enumerate(saved):
        value = float(line.get(monitor, math.nan))
        if math.isfinite(value) and (best_value is None or (value < best_value if mode == "min"
                                                             else value > best_value)):
            best_value, best_epoch = value, index + 1
    if best_epoch is not None:
        atomic_write_text(path, json.dumps({"value": best_value, "epoch": best_epoch}), overwrite=True)
        log(f"WARNING: {path} was {'missing' if why == 'missing' else 'unreadable'}; rebuilt from the saved "
            f"history (best {monitor} {best_value:.6g} at epoch {best_epoch})")


def _training_variables(model) -> list:
    from dermkit.training.checkpoints import training_variables

    return training_variables(model)


def _snapshot(model) -> list:
    return [v.numpy() for v in _training_variables(model)]


def _assign(model, values: list) -> None:
    for var, value in zip(_training_variables(model), values):
        var.assign(value)


def _clear_fit(work: Path, *, keep_backup: bool = False) -> None:
    """Forget a fit's saved progress (a restart): its backup (unless ``keep_backup``), best checkpoint, log."""
    for name in ("history.csv", "best.weights.h5", "best.json"):
        (work / name).unlink(missing_ok=True)
    if not keep_backup:
        (work / "backup" / "state.json").unlink(missing_ok=True)


def _history_columns(lines: list[dict]) -> dict[str, list[float]]:
    """Per-epoch log lines → ``{key: [value per epoch]}`` (NaN where an epoch lacks the key; keys that are NaN
    in every epoch — Keras' ``val_*`` without validation data — dropped)."""
    keys = sorted({k for line in lines for k in line if k != "epoch"})
    columns = {k: [float(line.get(k, math.nan)) for line in lines] for k in keys}
    return {k: vs for k, vs in columns.items() if any(not math.isnan(v) for v in vs)}


def _read_history(path: Path) -> dict[str, list[float]]:
    """Per-epoch logs from a CSV log, the last line per epoch (a resumed epoch logged twice by an earlier
    dermkit version)."""
    import pandas as pd

    if not path.exists() or path.stat().st_size == 0:
        return {}
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        return {}
    if "epoch" not in frame:
        return {}
    frame = frame.drop_duplicates("epoch", keep="last").sort_values("epoch")
    return {str(c): [float(v) for v in frame[c]] for c in frame.columns
            if c != "epoch" and frame[c].notna().any()}  # Keras logs val_* columns of NaN without validation


def _tensorboard_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


# -- the result store ---------------------------------------------------------------------------------------
def _by_key(paper: ModuleType) -> dict[str, Experiment]:
    return {e.key: e for e in paper.EXPERIMENTS}


def _row_path(session: RunSession, key: str, repeat: int) -> Path:
    return session.rows_dir / f"{_unit_name(key, repeat)}.json"


def _read_record(session: RunSession, key: str, repeat: int) -> dict | None:
    """The stored row, or None when there is none — or it is damaged (not JSON, not a row record, a ``result``
    that is not a mapping): then a warning names the file and the row is recomputed."""
    path = _row_path(session, key, repeat)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        _warn_damaged(session, path, "not JSON")
        return None
    if not isinstance(record, dict) or "fingerprint" not in record or "result" not in record:
        _warn_damaged(session, path, "not a dermkit row record")
        return None
    if not isinstance(record["result"], dict):
        _warn_damaged(session, path, f"its result is {type(record['result']).__name__}, not a mapping "
                                     f"({json.dumps(record['result'])[:60]})")
        return None
    return record


def _warn_damaged(session: RunSession, path: Path, why: str) -> None:
    told = session.__dict__.setdefault("_damaged_told", set())
    if path not in told:  # once per file and process: the run loop reads a row several times
        told.add(path)
        session.log(f"WARNING: {path} is damaged ({why}); the row counts as missing and is recomputed by "
                    f"`dermkit reproduce`")


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a result row")


def _unit_identity(session: RunSession, exp: Experiment, repeat: int) -> tuple[dict, str]:
    """The identity and fingerprint of ``exp`` at ``repeat`` (dependencies' fingerprints included)."""
    deps = {}
    for dep in exp.depends_on:
        dep_repeat = session._dependency_repeat(dep, repeat)
        deps[dep] = _fingerprint_of(session, _by_key(session.paper)[dep], dep_repeat)
    options = {name: getattr(session.options, name) for name in
               ("data", "quick", "epochs", "mixed_precision", "jit", "deterministic")}
    ident = identity(session.paper.NAME, session.paper.VERSION, exp, repeat, session.options.seed + repeat,
                     options, deps)
    return ident, fingerprint(ident)


def _fingerprint_of(session: RunSession, exp: Experiment, repeat: int) -> str:
    cache = session._fingerprints
    if (exp.key, repeat) not in cache:
        cache[(exp.key, repeat)] = _unit_identity(session, exp, repeat)[1]
    return cache[(exp.key, repeat)]


def _current(session: RunSession, exp: Experiment, repeat: int) -> dict | None:
    """The stored record of this unit if its fingerprint is current, else None."""
    record = _read_record(session, exp.key, repeat)
    if record is not None and record["fingerprint"] == _fingerprint_of(session, exp, repeat):
        return record
    return None


def _load_results(session: RunSession, experiments: Sequence[Experiment]) -> tuple[dict[str, dict], list[str]]:
    """Mean-over-repeats results of the rows with every repeat current; and the keys missing or incomplete."""
    results, missing = {}, []
    for exp in experiments:
        records = [_current(session, exp, r) for r in range(_repeats(exp, session.options, session.paper))]
        if all(records):
            results[exp.key] = aggregate_repeats([rec["result"] for rec in records])
        else:
            missing.append(exp.key)
    return results, missing


def _fresh_folder(path: Path, fp: str) -> None:
    """Make ``path`` a folder belonging to fingerprint ``fp``: a folder left by another identity is emptied."""
    marker = path / ".fingerprint"
    if path.exists() and (not marker.exists() or marker.read_text().strip() != fp):
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    if not marker.exists():
        atomic_write_text(marker, fp, overwrite=True)


def _publish_artifacts(session: RunSession, unit: _Unit) -> list[str]:
    """Rename the row's staging folder into ``artifacts/<key>.r<repeat>/`` (replacing an older one)."""
    staging = session._staging(unit.name)
    final = session.artifacts_dir / unit.name
    names = sorted(p.name for p in staging.iterdir() if p.name != ".fingerprint") if staging.exists() else []
    if final.exists():
        trash = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    if names:
        os.replace(staging, final)
    else:
        shutil.rmtree(staging, ignore_errors=True)
    return names


def _remove_leftovers(session: RunSession, unit: _Unit) -> None:
    """Delete what a killed run of this unit left half-written (called holding the unit's lock): temporaries
    of the atomic writers in its work and staging folders, its row file's temporaries, an artifact folder
    being replaced."""
    from dermkit._io import is_temporary, remove_temporaries

    removed = remove_temporaries(session.output / "work" / unit.name) + remove_temporaries(session._staging(unit.name))
    for folder, prefix in ((session.rows_dir, f".{unit.name}."), (session.artifacts_dir, f".{unit.name}.")):
        for path in folder.glob(f"{prefix}*") if folder.is_dir() else ():
            if is_temporary(path.name) or ".old-" in path.name:
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
                removed.append(path)
    if removed:
        session.log(f"{unit.name}: removed {len(removed)} temporary file(s) left by an interrupted run")


def _datasets_in(data, depth: int = 3) -> list:
    """The ``tf.data.Dataset`` objects in ``data`` (what ``paper.prepare`` returned), looking into tuples,
    lists and dict values ``depth`` levels deep; other objects are ignored."""
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        return [data]
    if depth <= 0:
        return []
    if isinstance(data, Mapping):
        data = list(data.values())
    if isinstance(data, (list, tuple)):
        return [d for item in data for d in _datasets_in(item, depth - 1)]
    return []


def _run_unit(session: RunSession, data, unit: _Unit, on_row) -> dict:
    from dermkit.data.pipelines import named_data_errors
    from dermkit.training.strategy import set_determinism

    exp = unit.exp
    _remove_leftovers(session, unit)
    _fresh_folder(session.output / "work" / unit.name, unit.fingerprint)
    # The staging folder only ever holds this attempt's artifacts: a killed attempt's are discarded, so a recipe
    # writing them without overwrite (atomic_savez, a folder it creates) re-runs after a kill before the row
    # was stored (its fits resume without training).
    shutil.rmtree(session._staging(unit.name), ignore_errors=True)
    _fresh_folder(session._staging(unit.name), unit.fingerprint)
    set_determinism(unit.seed, session.options.deterministic)
    session._unit = unit
    start = time.perf_counter()
    try:
        # The one place every recipe's datasets (training, Dice mask batches, prediction, evaluation — built
        # inside the row or handed over by prepare) get a damaged file named: DermkitDataError with its path.
        with session.scope(), named_data_errors(*_datasets_in(data)):
            result = dict(session.paper.run_experiment(exp, data, session))
    finally:
        session._unit = None
    result.setdefault("seconds", round(time.perf_counter() - start, 2))
    artifacts = _publish_artifacts(session, unit)
    record = {
        "paper": session.paper.NAME, "key": exp.key, "repeat": unit.repeat, "seed": unit.seed,
        "fingerprint": unit.fingerprint, "identity": unit.identity, "artifacts": artifacts,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "fits": unit.fits, "result": result,
    }
    atomic_write_text(_row_path(session, exp.key, unit.repeat),
                      json.dumps(record, indent=1, default=_json_default), overwrite=True)
    if on_row is not None:
        on_row(exp, result)
    return record


# -- the run folder -----------------------------------------------------------------------------------------
_RUN_OUTPUTS = ("rows", "work", "figures", "artifacts", "locks")


def _live_locks(out: Path, timeout: float) -> list[str]:
    """The lock files in run folder ``out`` held by live processes (a stale one is left for take-over)."""
    held = []
    for path in sorted((out / "locks").glob("*.lock")) if (out / "locks").is_dir() else ():
        if path.exists() and not lock_is_stale(path, timeout):
            held.append(f"{path} ({describe_owner(read_lock(path))})")
    return held


def _has_rows(out: Path) -> bool:
    return (out / "rows").is_dir() and any(p.suffix == ".json" and not p.name.startswith(".")
                                           for p in (out / "rows").iterdir())


def _prepare_output(paper: ModuleType, options: RunOptions) -> None:
    """Create the output folder; resume a run of the same paper on the same data, refuse another without
    ``overwrite``; record the run options (read back by :func:`report`).

    A folder whose earlier run stored no row and is held by no live process (a failed start: a mistyped
    ``--data``) is taken over by this run. ``overwrite`` refuses while a live process holds a lock in it.
    """
    out = Path(options.output)
    manifest_path = out / "run.json"
    if not manifest_path.exists() and out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; choose another --output")
    out.mkdir(parents=True, exist_ok=True)
    wanted = {"paper": paper.NAME, "data": options.data}
    with RowLock(out / "run.lock", timeout=options.lock_timeout).hold(what=f"{out}/run.json"):
        # Checked under the lock: a second process starting at the same time sees the first one's run.json.
        for path in out.glob(f"{temporary_prefix('run')}*"):  # run.json's temporary, left by a kill
            path.unlink(missing_ok=True)
        foreign = [p.name for p in out.iterdir() if not p.name.startswith("run.lock")]
        if not manifest_path.exists() and foreign and not options.overwrite:
            raise FileExistsError(f"{out} exists and is not a dermkit run folder; pass --overwrite or choose another")
        if options.overwrite:
            held = _live_locks(out, options.lock_timeout)
            if held:
                raise FileExistsError(
                    f"--overwrite refused: another process is working in {out} (it holds {'; '.join(held)}). "
                    "Wait for it to finish or stop it, or choose another --output.")
            for name in _RUN_OUTPUTS:
                if name != "locks":
                    shutil.rmtree(out / name, ignore_errors=True)
            for path in list(out.glob("table_*.md")) + list(out.glob("table_*.csv")) + [manifest_path]:
                path.unlink(missing_ok=True)
        elif manifest_path.exists():
            try:
                found = json.loads(manifest_path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                found = None
            if not isinstance(found, dict):  # damaged by hand or by a tool: every row is checked by its fingerprint
                print(f"{paper.NAME}: WARNING: {manifest_path} is damaged; rewriting it (stored rows are reused only "
                      "where their fingerprint matches this run)", flush=True)
            elif {k: found.get(k) for k in wanted} != wanted:
                if _has_rows(out) or _live_locks(out, options.lock_timeout):
                    raise FileExistsError(
                        f"{out} holds a run of {found.get('paper')} on data {found.get('data')!r}; this one is "
                        f"{paper.NAME} on {options.data!r}. Choose another --output or pass --overwrite to start "
                        "fresh.")
                print(f"{paper.NAME}: {out} holds a run of {found.get('paper')} on data {found.get('data')!r} that "
                      f"stored no row (a failed start); starting it afresh on {options.data!r}", flush=True)
                shutil.rmtree(out / "work", ignore_errors=True)
                shutil.rmtree(out / "artifacts", ignore_errors=True)
        manifest = {**wanted, "options": {"quick": options.quick, "epochs": options.epochs, "seed": options.seed,
                                          "mixed_precision": options.mixed_precision, "jit": options.jit,
                                          "deterministic": options.deterministic, "repeats": options.repeats,
                                          "tables": list(options.tables)}}
        atomic_write_text(manifest_path, json.dumps(manifest, indent=1), overwrite=True)


def _prepare_data(paper: ModuleType, options: RunOptions, session: RunSession, *, read_only_ok: bool = False):
    """``paper.prepare`` under the folder's ``prepare`` lock (one process generates synthetic data at a time).

    ``read_only_ok`` (``report``): when the lock cannot be created (a read-only run folder), prepare without it.
    """
    lock = session.lock("prepare")
    try:
        held = lock.hold(poll=options.poll, what="data preparation")
        held.__enter__()
    except OSError as exc:
        if not read_only_ok:
            raise
        session.log(f"cannot take the lock in {session.output / 'locks'} ({exc.strerror or exc}); reading "
                    "without it")
        return paper.prepare(options.data, session)
    try:
        return paper.prepare(options.data, session)
    finally:
        held.__exit__(None, None, None)


def _epochs_notes(session: RunSession, tables: Sequence[Table]) -> None:
    """Add ``epochs trained: ...`` to each table's notes, from the fit summaries stored with its rows
    (``record["fits"]``: what ``session.fit`` trained, resumed epochs included)."""
    for table in tables:
        parts = []
        for exp in session.paper.EXPERIMENTS:
            if table.name not in exp.tables:
                continue
            records = [_current(session, exp, r) for r in range(_repeats(exp, session.options, session.paper))]
            if not all(records):
                continue
            fits: dict[str, list[int]] = {}
            for record in records:
                for name, fit in (record.get("fits") or {}).items():
                    fits.setdefault(name, []).append(int(fit.get("epochs", 0)))
            if not fits:
                continue
            text = ", ".join(
                (f"{name} " if len(fits) > 1 else "")
                + (str(vs[0]) if len(set(vs)) == 1 else f"{min(vs)}–{max(vs)} over repeats")
                for name, vs in fits.items())
            parts.append(f"{exp.label}: {text}")
        note = "epochs trained: " + "; ".join(parts)
        if parts and note not in table.notes:
            table.notes.append(note)


def _write_outputs(paper, results, data, session, *, read_only_ok: bool = False) -> tuple[list[Table], list[Path]]:
    """Make and write the paper's tables and figures. ``read_only_ok`` (``report``): a file that cannot be
    written is said so and skipped (the tables are still printed)."""
    tables: list[Table] = paper.make_tables(results, data, session)
    _epochs_notes(session, tables)
    files: list[Path] = []
    for table in tables:
        try:
            files += write_table(table, session.output, overwrite=True)
        except OSError as exc:
            if not read_only_ok:
                raise
            print(f"{paper.NAME}: could not write table {table.name} into {session.output} "
                  f"({exc.strerror or exc}); it is printed below only", flush=True)
    make_figures = getattr(paper, "make_figures", None)
    if make_figures is not None:
        try:
            files += list(make_figures(results, data, session))
        except OSError as exc:
            if not read_only_ok:
                raise
            print(f"{paper.NAME}: could not write the figures into {session.output} ({exc.strerror or exc})",
                  flush=True)
    return tables, files


def _print_outputs(tables, files) -> None:
    for path in files:
        print(f"wrote {path}")
    for table in tables:
        print()
        print(table.to_markdown())
    sys.stdout.flush()


def reproduce(
    paper: str | ModuleType,
    options: RunOptions,
    *,
    on_row: Callable[[Experiment, dict], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) a paper's selected rows — their dependencies first — and write its tables and figures.

    Rows stored with a current fingerprint are reused; stale ones are recomputed (the log says why). With
    ``options.shard = (i, n)`` only the i-th part of the selected rows runs here; rows another process holds
    are waited for. Tables and figures are written from every current row in the folder.

    Returns:
        ``{"results": {key: mean-over-repeats result}, "tables": [Table], "files": [Path], "missing": [key]}``.
    """
    paper = load_paper(paper)
    selected = select_experiments(paper, options.tables, options.quick, options.rows)
    plan = dependency_closure(selected, paper.EXPERIMENTS)
    index, count = options.shard
    owner = shard_of(selected, paper.EXPERIMENTS, count)
    _prepare_output(paper, options)
    session = RunSession(paper, options)
    if count > 1:
        mine = [e.key for e in plan if owner[e.key] == index - 1]
        session.log(f"shard {index}/{count}: {len(mine)} of {len(plan)} rows here ({', '.join(mine) or 'none'})")
    data = _prepare_data(paper, options, session)
    units = [(exp, r) for exp in plan for r in range(_repeats(exp, options, paper))]
    _run_units(session, data, units, owner, on_row)
    results, missing = _load_results(session, list(paper.EXPERIMENTS))
    missing = [k for k in missing if any(e.key == k for e in selected)]
    tables, files = _write_outputs(paper, results, data, session)
    _print_outputs(tables, files)
    return {"results": results, "tables": tables, "files": files, "missing": missing}


def _run_units(session: RunSession, data, units, owner: Mapping[str, int], on_row) -> None:
    """Run every unit this process owns once its dependencies are done; wait for the others."""
    options = session.options
    index, count = options.shard
    pending = list(units)
    done: set[tuple[str, int]] = set()
    waiting_since: dict[tuple[str, int], float] = {}
    told: set[tuple[str, int]] = set()
    while pending:
        progressed = False
        for exp, r in list(pending):
            uid = (exp.key, r)
            record = _read_record(session, exp.key, r)
            fp = _fingerprint_of(session, exp, r)
            if record is not None and record["fingerprint"] == fp:
                if uid not in told:
                    session.log(f"{_label(session, exp, r)}: finished earlier, skipped")
                pending.remove((exp, r))
                done.add(uid)
                progressed = True
                continue
            deps = [(d, session._dependency_repeat(d, r)) for d in exp.depends_on]
            if not all(dep in done for dep in deps):
                continue
            lock = session.lock(_unit_name(exp.key, r))
            ours = owner.get(exp.key, 0) == index - 1 or count == 1
            if not ours:  # another shard's: wait, unless nobody has claimed it for a whole lock timeout
                held = lock.path.exists() and not lock_is_stale(lock.path, options.lock_timeout)
                since = waiting_since.setdefault(uid, time.time())
                if held or time.time() - since < options.lock_timeout:
                    if uid not in told:
                        session.log(f"{_label(session, exp, r)}: waiting for shard {owner[exp.key] + 1}/{count}")
                        told.add(uid)
                    continue
                session.log(f"{_label(session, exp, r)}: shard {owner[exp.key] + 1}/{count} has not started it in "
                            f"{options.lock_timeout:.0f} s; running it here")
            if not lock.acquire():
                if uid not in told:
                    if read_lock(lock.path) is None and lock.path.exists():
                        session.log(f"{_label(session, exp, r)}: "
                                    f"{waiting_message(lock.path, 'it', options.lock_timeout)}")
                    else:
                        owner_text = describe_owner(read_lock(lock.path))
                        session.log(f"{_label(session, exp, r)}: running in {owner_text}; waiting")
                    told.add(uid)
                continue
            try:
                record = _read_record(session, exp.key, r)  # it may have finished while we looked elsewhere
                if record is None or record["fingerprint"] != fp:
                    ident = _unit_identity(session, exp, r)[0]
                    if record is not None:
                        why = describe_change(record.get("identity"), ident)
                        session.log(f"{_label(session, exp, r)}: stale ({why}), recomputing")
                    session.log(f"{_label(session, exp, r)}: {exp.label}")
                    _run_unit(session, data, _Unit(exp, r, options.seed + r, ident, fp), on_row)
                told.add(uid)
            finally:
                lock.release()
            pending.remove((exp, r))
            done.add(uid)
            progressed = True
        if pending and not progressed:
            time.sleep(options.poll)


def _label(session: RunSession, exp: Experiment, repeat: int) -> str:
    return exp.key if _repeats(exp, session.options, session.paper) == 1 else f"{exp.key} repeat {repeat}"


def report(paper: str | ModuleType, output: str | os.PathLike, *,
           tables: Sequence[str] = ("all",)) -> dict[str, Any]:
    """Write a run folder's tables and figures from the rows present (e.g. after sharded runs); list the rows
    missing or stale. The run options come from the folder's ``run.json``; nothing is trained.

    Returns:
        ``{"results", "tables", "files", "missing"}`` as :func:`reproduce`.

    Raises:
        FileNotFoundError: ``output`` is not a dermkit run folder.
        ValueError: it holds a run of another paper.
    """
    paper = load_paper(paper)
    out = Path(output)
    manifest_path = out / "run.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{out} is not a dermkit run folder (no run.json); run `dermkit reproduce` first")
    try:
        manifest = json.loads(manifest_path.read_text())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("options", {}), dict):
            raise ValueError("not a JSON object with 'paper', 'data' and 'options'")
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{manifest_path} is damaged ({exc}); re-run `dermkit reproduce` with the same "
                         f"options into {out} to rewrite it (finished rows are kept)") from exc
    if manifest.get("paper") != paper.NAME:
        raise ValueError(f"{out} holds a run of {manifest.get('paper')}, not {paper.NAME}")
    saved = manifest.get("options", {})
    try:
        options = RunOptions(output=out, data=manifest["data"], tables=tuple(tables),
                             quick=bool(saved.get("quick")), epochs=saved.get("epochs"),
                             seed=int(saved.get("seed", 0)), mixed_precision=saved.get("mixed_precision"),
                             jit=bool(saved.get("jit")), deterministic=bool(saved.get("deterministic")),
                             repeats=saved.get("repeats"), verbose=0)
    except (KeyError, TypeError, ValueError) as exc:  # e.g. epochs -1 stored by an earlier dermkit version
        raise ValueError(f"{manifest_path} records options this dermkit refuses ({type(exc).__name__}: {exc}); "
                         f"re-run `dermkit reproduce` into {out} with valid options to rewrite it") from exc
    session = RunSession(paper, options)
    data = _prepare_data(paper, options, session, read_only_ok=True)
    # quick rows of the tables asked for (none: nothing missing — a report never refuses, unlike reproduce)
    wanted = [e for e in select_experiments(paper, tables, False) if e.quick or not options.quick]
    results, missing = _load_results(session, list(paper.EXPERIMENTS))
    missing = [k for k in missing if any(e.key == k for e in wanted)]
    tables_out, files = _write_outputs(paper, results, data, session, read_only_ok=True)
    _print_outputs(tables_out, files)
    if missing:
        print(f"{paper.NAME}: rows missing or stale in {out}: {', '.join(missing)}")
    else:
        print(f"{paper.NAME}: every row of the selected tables is present in {out}")
    return {"results": results, "tables": tables_out, "files": files, "missing": missing}
