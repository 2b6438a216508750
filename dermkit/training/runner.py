"""The shared experiment runner: one experiment = one config row → data, model, loss → ``fit`` → evaluate → row.

A paper module (``dermkit.papers.<paper>``) holds its experiment grid as data (:class:`Experiment` rows with the
paper's reported numbers) and four functions the runner calls::

    prepare(data: str, session) -> object          # read (or generate) the data once
    run_experiment(exp, data, session) -> dict      # build model + loss from exp.params, session.fit(...), evaluate
    make_tables(results, data, session) -> list[Table]
    make_figures(results, data, session) -> list[Path]   # optional

and the attributes ``NAME``, ``TABLES`` (table ids, paper order) and ``EXPERIMENTS`` (list of rows).

The runner owns what every paper shares: strategy and precision, seeds, the training callbacks (progress bar,
TensorBoard, best-on-validation-loss checkpoint, ``BackupAndRestore`` so a killed run resumes, NaN
termination), a result store that skips finished rows on re-runs, and atomic table/figure output.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from dermkit._io import atomic_write_text
from dermkit._optional import require_tensorflow
from dermkit.training.options import RunOptions, add_reproduce_arguments, options_from_args
from dermkit.training.report import Table, write_table

require_tensorflow("dermkit.training.runner")

import keras  # noqa: E402

from dermkit.training.strategy import get_strategy, set_determinism, set_precision  # noqa: E402

__all__ = [
    "Experiment",
    "RunOptions",
    "RunSession",
    "reproduce",
    "load_paper",
    "select_experiments",
    "add_reproduce_arguments",
    "options_from_args",
    "PAPERS",
]

#: Paper modules runnable by :func:`reproduce` / ``dermkit reproduce``.
PAPERS = ("kawahara2018", "goel2021")


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One row of a paper's experiment grid (pure data).

    Attributes:
        key: unique, file-name-safe id (``"t4_dice_channel_batch_aug_a0_b1"``).
        label: how the row reads in the paper's table.
        tables: the tables this row feeds (``("III", "IV")``).
        params: paper-specific settings (model, loss, partition, α, β, over-sampling, augmentation, epochs, lr,
            batch, input size, ...); the paper module turns them into objects.
        reported: the paper's numbers, ``{table: {metric: value}}``.
        quick: part of the ``--quick`` run.
    """

    key: str
    label: str
    tables: tuple[str, ...]
    params: Mapping[str, Any]
    reported: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)
    quick: bool = False


def load_paper(paper: str | ModuleType) -> ModuleType:
    """Import ``dermkit.papers.<paper>`` (or return a module as given)."""
    if isinstance(paper, ModuleType):
        return paper
    if paper not in PAPERS:
        raise ValueError(f"paper must be one of {PAPERS}. Received: {paper!r}")
    return importlib.import_module(f"dermkit.papers.{paper}")


class RunSession:
    """Per-run state handed to the paper module: options, strategy, paths, ``fit`` with the standard callbacks."""

    def __init__(self, paper: ModuleType, options: RunOptions) -> None:
        self.paper = paper
        self.options = options
        self.output = Path(options.output)
        self.strategy = get_strategy(options.strategy)
        self.precision = set_precision(options.mixed_precision)

    # -- paths ---------------------------------------------------------------------------------------------
    @property
    def rows_dir(self) -> Path:
        return self.output / "rows"

    @property
    def figures_dir(self) -> Path:
        return self.output / "figures"

    def workdir(self, key: str) -> Path:
        """Scratch folder of one experiment: checkpoints, backups, TensorBoard logs."""
        path = self.output / "work" / key
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- logging -------------------------------------------------------------------------------------------
    @property
    def tag(self) -> str:
        return "[SYNTHETIC] " if self.options.synthetic else ""

    def log(self, message: str) -> None:
        """Print a log line (labelled SYNTHETIC when the data is)."""
        print(f"{self.tag}{self.paper.NAME}: {message}", flush=True)

    # -- training ------------------------------------------------------------------------------------------
    def scope(self):
        """The strategy scope: build and compile models inside it."""
        return self.strategy.scope()

    def compile(self, model: keras.Model, *, optimizer, loss, metrics: Sequence | None = None) -> keras.Model:
        """``model.compile`` with the run's ``jit_compile`` flag."""
        model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics or []), jit_compile=self.options.jit)
        return model

    def fit(
        self,
        model: keras.Model,
        train_data,
        *,
        key: str,
        epochs: int,
        validation_data=None,
        steps_per_epoch: int | None = None,
        callbacks: Iterable[keras.callbacks.Callback] = (),
        monitor: str = "val_loss",
        mode: str = "min",
    ) -> dict[str, Any]:
        """Train with the standard callbacks; restore the best-on-``monitor`` weights. Returns a summary dict.

        Callbacks, in order: the caller's ``callbacks`` first (so a metric they add to the epoch logs, such as
        ``val_balanced_accuracy``, can be monitored); ``TerminateOnNaN``; ``BackupAndRestore`` (a killed run
        resumes at its last finished epoch); ``CSVLogger`` and ``TensorBoard`` logs under the experiment's work
        folder; ``ModelCheckpoint`` of the best epoch by ``monitor`` (``mode`` ``"min"`` or ``"max"``) when there
        is validation data.
        """
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max'. Received: mode={mode!r}")
        if self.options.epochs is not None:
            epochs = int(self.options.epochs)
        work = self.workdir(key)
        best = work / "best.weights.h5"
        cbs: list[keras.callbacks.Callback] = list(callbacks) + [
            keras.callbacks.TerminateOnNaN(),
            keras.callbacks.BackupAndRestore(str(work / "backup")),
            keras.callbacks.CSVLogger(str(work / "history.csv"), append=True),
        ]
        if _tensorboard_available():
            cbs.append(keras.callbacks.TensorBoard(str(work / "logs"), write_graph=False))
        if validation_data is not None:
            cbs.append(
                keras.callbacks.ModelCheckpoint(
                    str(best), monitor=monitor, mode=mode, save_best_only=True, save_weights_only=True
                )
            )
        start = time.perf_counter()
        history = model.fit(
            train_data,
            validation_data=validation_data,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            callbacks=cbs,
            shuffle=False,  # datasets arrive shuffled (or sampled) by dermkit.data.pipelines
            verbose=(1 if sys.stdout.isatty() else 2) if self.options.verbose else 0,  # bar on a terminal
        )
        seconds = time.perf_counter() - start
        losses = history.history.get("loss", [])
        diverged = any(not math.isfinite(v) for v in losses)
        restored = False
        if best.exists() and not diverged:
            model.load_weights(str(best))
            restored = True
        monitored = history.history.get(monitor, [])
        return {
            "epochs_run": len(losses),
            "train_seconds": round(seconds, 2),
            "final_loss": float(losses[-1]) if losses else math.nan,
            f"best_{monitor}": float((min if mode == "min" else max)(monitored)) if monitored else math.nan,
            "restored_best": restored,
            "diverged": diverged,
        }


def _tensorboard_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


# -- the result store -------------------------------------------------------------------------------------
def _row_path(session: RunSession, key: str) -> Path:
    return session.rows_dir / f"{key}.json"


def _load_results(session: RunSession, experiments: Sequence[Experiment]) -> dict[str, dict]:
    results = {}
    for exp in experiments:
        path = _row_path(session, exp.key)
        if path.exists():
            results[exp.key] = json.loads(path.read_text())
    return results


def _save_result(session: RunSession, key: str, result: Mapping[str, Any]) -> None:
    atomic_write_text(_row_path(session, key), json.dumps(result, indent=1, default=_json_default), overwrite=True)


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a result row")


def _manifest(paper: ModuleType, options: RunOptions) -> dict[str, Any]:
    return {"paper": paper.NAME, "data": options.data, "quick": options.quick, "epochs": options.epochs}


def _prepare_output(paper: ModuleType, options: RunOptions) -> None:
    """Create the output folder; resume a matching earlier run, refuse a different one without overwrite."""
    out = Path(options.output)
    manifest_path = out / "run.json"
    wanted = _manifest(paper, options)
    if options.overwrite:
        for name in ("rows", "work", "figures"):
            shutil.rmtree(out / name, ignore_errors=True)
        for path in list(out.glob("table_*.md")) + list(out.glob("table_*.csv")) + [manifest_path]:
            path.unlink(missing_ok=True)
    elif manifest_path.exists():
        found = json.loads(manifest_path.read_text())
        if found != wanted:
            raise FileExistsError(
                f"{out} holds a different run ({found}); this one is {wanted}. Choose another --output or "
                "pass --overwrite to start fresh."
            )
    elif out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not a dermkit run folder; pass --overwrite or choose another")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(manifest_path, json.dumps(wanted, indent=1), overwrite=True)


def select_experiments(paper: ModuleType, tables: Sequence[str], quick: bool) -> list[Experiment]:
    """The paper's rows feeding ``tables`` (``"all"`` for every table), restricted to quick rows if asked."""
    wanted = set(paper.TABLES) if "all" in tables else set(tables)
    unknown = wanted - set(paper.TABLES)
    if unknown:
        raise ValueError(f"{paper.NAME} has tables {paper.TABLES}. Received: {sorted(unknown)}")
    rows = [e for e in paper.EXPERIMENTS if wanted & set(e.tables) and (e.quick or not quick)]
    return rows


def reproduce(
    paper: str | ModuleType,
    options: RunOptions,
    *,
    on_row: Callable[[Experiment, dict], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) a paper's experiments and write its tables and figures.

    Finished rows (``<output>/rows/<key>.json``) are skipped; ``options.overwrite`` starts fresh.

    Returns:
        ``{"results": {key: row}, "tables": [Table], "files": [Path]}``.
    """
    paper = load_paper(paper)
    _prepare_output(paper, options)
    session = RunSession(paper, options)
    experiments = select_experiments(paper, options.tables, options.quick)
    results = _load_results(session, experiments)
    data = paper.prepare(options.data, session)
    for exp in experiments:
        if exp.key in results:
            session.log(f"{exp.key}: finished earlier, skipped")
            continue
        session.log(f"{exp.key}: {exp.label}")
        set_determinism(options.seed, options.deterministic)
        start = time.perf_counter()
        with session.scope():
            result = dict(paper.run_experiment(exp, data, session))
        result.setdefault("seconds", round(time.perf_counter() - start, 2))
        _save_result(session, exp.key, result)
        results[exp.key] = result
        if on_row is not None:
            on_row(exp, result)
    tables: list[Table] = paper.make_tables(results, data, session)
    files: list[Path] = []
    for table in tables:
        files += write_table(table, session.output, overwrite=True)
    make_figures = getattr(paper, "make_figures", None)
    if make_figures is not None:
        files += list(make_figures(results, data, session))
    for path in files:
        print(f"wrote {path}")
    for table in tables:
        print()
        print(table.to_markdown())
    sys.stdout.flush()
    return {"results": results, "tables": tables, "files": files}

