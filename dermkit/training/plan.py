"""``dermkit plan PAPER``: every full-scale row measured on this machine before a multi-day run starts.

The plan runs each selected row's own recipe (``paper.run_experiment``) at full scale — the paper's input size,
batch, model, loss, optimiser and data pipeline (``--quick`` is never set) — through :class:`PlanSession`, a
:class:`~dermkit.training.runner.RunSession` whose :meth:`~PlanSession.fit` does not train: it runs one
traced warm-up step and ``--steps N`` timed steps (default 3) on the recipe's compiled model and its training
dataset, times ``N`` validation steps when the fit has validation data, records the parameters, the peak host
memory (resident set, sampled) and the peak device memory (``tf.config.experimental.get_memory_info``, GPUs
only), and returns a fit summary of the same keys as :meth:`RunSession.fit` so the recipe carries on.

Design choices (dermkit's; the issue leaves them open):

* **A row stops after its fit unless a planned row depends on it.** A row whose artifacts or result a later
  planned row reads (``depends_on``) carries on after each cut-down fit (the fit returns a summary of the
  measured steps), so it publishes its artifacts and a row with several fits (bisla2019's purification
  network: Adam, then SGD) gets each measured. Any other row stops right after its first fit is measured
  (a private exception), so the plan does not spend minutes evaluating rows on CPU; ``evaluate=True``
  (``--evaluate``) lets every row run through its evaluation instead. What a row spends outside its fits
  (building, the data passes before training, and the evaluation of rows that carry on) is ``other_s``: on
  real data it is added to the estimate once per repeat; on ``--data synthetic`` it ran on a few images and is
  shown only.
* **One measurement per distinct step**: fits whose model class, parameter count, input shape, batch, loss
  class(es), optimiser class(es), precision and jit flag agree reuse the first one's step time (the
  model is then not trained at all); the loss's settings (kawahara2018's Dice partitions, α, β) are left out
  of the key — they change a step's time by far less than its run-to-run spread.
* **Steps per epoch** follow the paper's training-set size, given by the paper module's ``PLAN`` block
  (:func:`plan_sizes`) on ``--data synthetic``; on real data, the recipe's own ``steps_per_epoch`` or the
  dataset's cardinality (what the run will do), the ``PLAN`` block only when neither is known.
* **Pretrained encoders** (``encoder_weights="imagenet"``) are loaded when Keras' cache holds the file and
  replaced by random weights otherwise (speed does not depend on them): nothing is downloaded. The plan's
  ``encoder`` column says which.
* Repeats are not run: the estimate multiplies a row's time by its repeat count. The paper's own per-epoch
  callbacks (validation scorers) are not run or timed.

Outputs: ``plan.csv`` (one line per fit: :data:`PLAN_COLUMNS`) and ``plan.md`` under ``--output`` (default
``runs/plan/PAPER``), written atomically. Scratch files (``work/``, ``artifacts/``) are removed at the end; the
synthetic data (``data/``) is kept for the next plan. The plan refuses a reproduction's run folder (one holding
``run.json``): it never writes a row result.
"""

from __future__ import annotations

import contextlib
import csv
import fnmatch
import io
import math
import os
import resource
import shutil
import statistics
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from dermkit._io import atomic_write_text, check_overwrite
from dermkit.papers import load_paper
from dermkit.training.experiment import dependency_closure
from dermkit.training.options import RunOptions
from dermkit.training.runner import RunSession, _publish_artifacts, _repeats, _Unit, select_experiments

__all__ = ["PLAN_COLUMNS", "PlanSession", "plan", "plan_sizes", "estimate_hours"]

#: The columns of ``plan.csv``, one line per fit of a row (a row with two fits has two lines).
PLAN_COLUMNS = (
    "row", "label", "fit", "model", "input_size", "batch", "parameters", "encoder", "s_per_step",
    "warmup_s", "val_s_per_step", "steps_measured", "reused_from", "peak_host_mib", "peak_device_mib",
    "train_images", "steps_per_epoch", "val_steps", "steps_source", "epochs", "repeats", "fit_hours",
    "other_s", "row_hours", "note",
)

DEFAULT_STEPS = 3


class _PlanStop(BaseException):
    """Raised by :meth:`PlanSession.fit` to end a row once its fit is measured (caught by :func:`plan`; a
    ``BaseException`` so that a recipe's ``except Exception`` does not swallow it)."""


def plan_sizes(paper: ModuleType, key: str, fit: str) -> dict[str, Any] | None:
    """The paper's training-set size for fit ``fit`` of row ``key``, from the paper module's ``PLAN`` block.

    ``PLAN`` (appended at the end of each paper module) maps fnmatch patterns of ``"<row key>/<fit name>"``
    to ``{"train_images": int, "val_images": int (optional), "source": str}``; the first matching pattern
    wins (dict order). A block without patterns (``{"train_images": ..., "source": ...}``) holds for every fit.
    Returns None when the paper has no block or no pattern matches.

    Raises:
        ValueError: a malformed block (named with the paper).
    """
    block = getattr(paper, "PLAN", None)
    if not block:
        return None
    if not isinstance(block, Mapping):
        raise ValueError(f"{paper.NAME}.PLAN must be a mapping. Received: {type(block).__name__}")
    entries = {"*": block} if "train_images" in block else block
    for pattern, entry in entries.items():
        if fnmatch.fnmatchcase(f"{key}/{fit}", pattern):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("train_images"), int) \
                    or entry["train_images"] < 1:
                raise ValueError(f"{paper.NAME}.PLAN[{pattern!r}] needs an integer train_images ≥ 1. "
                                 f"Received: {entry!r}")
            return dict(entry)
    return None


def estimate_hours(epochs: int, steps_per_epoch: float, s_per_step: float, val_steps: float = 0.0,
                   val_s_per_step: float = 0.0) -> float:
    """Hours of one fit: ``epochs × (steps_per_epoch × s_per_step + val_steps × val_s_per_step) / 3600``."""
    val = val_steps * val_s_per_step if val_steps and math.isfinite(val_s_per_step) else 0.0
    return epochs * (steps_per_epoch * s_per_step + val) / 3600.0


# -- measuring -----------------------------------------------------------------------------------------------
class _HostMemory:
    """Peak resident set size of this process while the block runs (sampled every 20 ms from /proc; the
    process's lifetime peak ``ru_maxrss`` where /proc is missing)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def current() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.current())

    def __enter__(self) -> _HostMemory:
        self.peak = self.current()
        self._thread = threading.Thread(target=self._sample, name="dermkit-plan-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, self.current())


def _device_names() -> list[str]:
    import tensorflow as tf

    return [d.name.replace("/device:", "").replace("/physical_device:", "")
            for d in tf.config.list_logical_devices("GPU")]


def _reset_device_peak() -> None:
    import tensorflow as tf

    for name in _device_names():
        with contextlib.suppress(ValueError, RuntimeError, AttributeError):
            tf.config.experimental.reset_memory_stats(name)


def _device_peak() -> float | None:
    """The largest peak (bytes) over the GPUs since the last reset; None without GPUs (or where
    ``tf.config.experimental.get_memory_info`` is not supported)."""
    import tensorflow as tf

    peaks = []
    for name in _device_names():
        with contextlib.suppress(ValueError, RuntimeError, AttributeError):
            peaks.append(tf.config.experimental.get_memory_info(name)["peak"])
    return float(max(peaks)) if peaks else None


def _step_timer():
    """A Keras callback recording each train / test batch's wall time; the device is synchronised at each
    batch end by reading a reported value."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.train: list[float] = []
            self.test: list[float] = []
            self._start = 0.0

        @staticmethod
        def _sync(logs):
            for value in (logs or {}).values():
                keras.ops.convert_to_numpy(value)
                break

        def on_train_batch_begin(self, batch, logs=None):
            if not self.train:
                self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):  # end to end: data, step and callbacks of each batch
            self._sync(logs)
            now = time.perf_counter()
            self.train.append(now - self._start)
            self._start = now

        def on_test_batch_begin(self, batch, logs=None):
            if not self.test:
                self._start = time.perf_counter()

        def on_test_batch_end(self, batch, logs=None):
            self._sync(logs)
            now = time.perf_counter()
            self.test.append(now - self._start)
            self._start = now

    return StepTimer()


def _first_batch(data) -> Any:
    """One element of a ``tf.data.Dataset`` (or the first of a ``PyDataset`` / iterable), for its shapes."""
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        return next(iter(data.take(1)))
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        return data[0]
    return next(iter(data))


def _batch_shape(element) -> tuple[int | None, tuple[int, ...]]:
    """(batch, input shape without the batch) of a dataset element: ``x`` or ``(x, y[, w])``; ``x`` may be a
    tuple or mapping (the first tensor in ``tree.flatten`` order counts)."""
    import keras

    x = element[0] if isinstance(element, tuple) and len(element) in (2, 3) else element
    leaves = keras.tree.flatten(x)
    if not leaves:
        return None, ()
    shape = tuple(int(d) for d in leaves[0].shape)
    return (shape[0] if shape else None), shape[1:]


def _repeated(data):
    import tensorflow as tf

    return data.repeat() if isinstance(data, tf.data.Dataset) else data


def _cardinality(data) -> int | None:
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        n = int(tf.data.experimental.cardinality(data))
        return n if n > 0 else None
    with contextlib.suppress(TypeError):
        return int(len(data))
    return None


def _class_names(value) -> str:
    import keras

    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    leaves = keras.tree.flatten(value) if isinstance(value, (Mapping, list, tuple)) else [value]
    return "+".join(sorted({type(v).__name__ if not isinstance(v, str) else v for v in leaves}))


def _losses_of(model) -> str:
    loss = getattr(model, "loss", None)
    if loss is None:  # a custom trainer (GANTrainer, TripletTrainer): its loss attributes
        loss = [v for k, v in vars(model).items() if "loss" in k and callable(v)
                and not k.endswith("tracker") and "Metric" not in type(v).__name__]
    return _class_names(loss)


def _optimizers_of(model) -> str:
    found = [v for v in vars(model).values() if type(v).__module__.startswith("keras") and
             "optimizers" in type(v).__module__]
    return _class_names(getattr(model, "optimizer", None) or found)


def _parameters(model) -> int | None:
    try:
        return int(model.count_params())
    except (ValueError, AttributeError):
        return None


class PlanSession(RunSession):
    """A run session whose :meth:`fit` measures the row's training step instead of training it.

    Attributes:
        steps: timed steps per fit (after one traced warm-up step).
        fits: one record per fit measured (or reused), in order: the :data:`PLAN_COLUMNS` of the fit.
        encoders: what each pretrained encoder request became (``"imagenet (cached: PATH)"`` or
            ``"random (no cached FILE)"``).
    """

    def __init__(self, paper: ModuleType, options: RunOptions, *, steps: int = DEFAULT_STEPS,
                 stop_after_fit: Sequence[str] = ()) -> None:
        super().__init__(paper, options)
        #: Rows that end (:class:`_PlanStop`) once their first fit is measured.
        self.stop_after_fit = frozenset(stop_after_fit)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an integer ≥ 1. Received: steps={steps!r}")
        self.steps = steps
        self.fits: list[dict[str, Any]] = []
        self.encoders: list[str] = []
        self.row_encoders: list[str] = []  # those of the row being run
        self._measured: dict[tuple, dict[str, Any]] = {}
        #: The results the plan's rows returned (read by their dependents through :meth:`result`).
        self.results: dict[str, dict[str, Any]] = {}

    def result(self, key: str, *, repeat: int | None = None) -> dict[str, Any]:
        """A dependency's result from this plan (rows run once, repeat 0); nothing is read from ``rows/``."""
        unit = self._unit
        if unit is not None and key not in unit.exp.depends_on:
            raise ValueError(f"row {unit.exp.key} reads the result of {key!r} but does not list it in depends_on")
        if key not in self.results:
            raise FileNotFoundError(f"row {key} has not run in this plan")
        return self.results[key]

    def _steps_per_epoch(self, key: str, name: str, train_data, steps_per_epoch, batch: int | None,
                         validation_data, validation_steps) -> dict[str, Any]:
        """Steps per epoch (train and validation) and where they come from (see the module docstring)."""
        sizes = plan_sizes(self.paper, key, name)
        from_plan = None
        if sizes is not None and batch:
            val = sizes.get("val_images")
            from_plan = {"train_images": sizes["train_images"],
                         "steps_per_epoch": math.ceil(sizes["train_images"] / batch),
                         "val_steps": math.ceil(val / batch) if val and validation_data is not None else 0,
                         "steps_source": f"{sizes['train_images']} images ({sizes.get('source', 'PLAN')}) / "
                                         f"batch {batch}"}
        recipe = None
        n = steps_per_epoch or _cardinality(train_data)
        if n:
            val = validation_steps or (_cardinality(validation_data) if validation_data is not None else 0) or 0
            recipe = {"train_images": n * batch if batch else None, "steps_per_epoch": int(n), "val_steps": int(val),
                      "steps_source": ("the recipe's steps_per_epoch" if steps_per_epoch else
                                       "the dataset's batches") + (" (SYNTHETIC data)" if self.options.synthetic
                                                                   else "")}
        chosen = (from_plan or recipe) if self.options.synthetic else (recipe or from_plan)
        return chosen or {"train_images": None, "steps_per_epoch": None, "val_steps": 0,
                          "steps_source": "unknown: no PLAN entry and an unsized dataset"}

    def fit(self, model, train_data, *, epochs: int, validation_data=None, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, callbacks=(), monitor: str = "val_loss", mode: str = "min",
            checkpoint: str = "best", name: str = "fit", **fit_kwargs) -> dict[str, Any]:
        """Measure one warm-up + :attr:`steps` training steps (and validation steps) of ``model`` on
        ``train_data``; the arguments are :meth:`RunSession.fit`'s (``callbacks`` are not run).

        Returns:
            a :meth:`RunSession.fit` summary (``epochs_run`` 1, or 0 when the step was measured earlier and
            reused; ``final`` / ``history`` from the measured steps' logs) plus ``plan``, this fit's record.
        """
        from dermkit.data.pipelines import named_data_errors
        from dermkit.training.checkpoints import build_optimizers

        epochs = self.epochs(epochs)
        key = self.key or "-"
        build_optimizers(model)
        with named_data_errors(train_data, validation_data):
            batch, input_shape = _batch_shape(_first_batch(train_data))
        cache_key = (type(model).__name__, _parameters(model), input_shape, batch, _losses_of(model),
                     _optimizers_of(model), self.precision, bool(self.options.jit))
        reused = self._measured.get(cache_key)
        logs: dict[str, float] = {}
        wall = 0.0
        if reused is not None:
            measured = {k: reused[k] for k in ("s_per_step", "warmup_s", "val_s_per_step", "steps_measured",
                                               "peak_host_mib", "peak_device_mib")}
            measured["reused_from"] = f"{reused['row']}/{reused['fit']}"
            self.log(f"{key}: {name}: same step as {measured['reused_from']} "
                     f"({measured['s_per_step']:.3g} s/step); not measured again")
        else:
            self.log(f"{key}: {name}: timing 1 warm-up + {self.steps} steps at batch {batch}, input "
                     f"{'×'.join(map(str, input_shape))}")
            timer = _step_timer()
            _reset_device_peak()
            start = time.perf_counter()
            with _HostMemory() as memory, named_data_errors(train_data, validation_data):
                history = model.fit(_repeated(train_data), epochs=1, steps_per_epoch=1 + self.steps,
                                    callbacks=[timer], shuffle=False, verbose=0, **fit_kwargs)
                logs = {k: float(v[-1]) for k, v in history.history.items()}
                if validation_data is not None:
                    evaluated = model.evaluate(_repeated(validation_data), steps=1 + self.steps,
                                               callbacks=[timer], verbose=0, return_dict=True)
                    logs.update({f"val_{k}": float(v) for k, v in evaluated.items()})
            wall = time.perf_counter() - start
            peak_device = _device_peak()
            measured = {
                "s_per_step": statistics.median(timer.train[1:]) if len(timer.train) > 1 else math.nan,
                "warmup_s": timer.train[0] if timer.train else math.nan,
                "val_s_per_step": statistics.median(timer.test[1:]) if len(timer.test) > 1 else math.nan,
                "steps_measured": max(len(timer.train) - 1, 0),
                "peak_host_mib": memory.peak / 2**20,
                "peak_device_mib": peak_device / 2**20 if peak_device is not None else None,
                "reused_from": "",
            }
            self.log(f"{key}: {name}: {measured['s_per_step']:.3g} s/step (warm-up {measured['warmup_s']:.1f} s), "
                     f"peak host {measured['peak_host_mib']:.0f} MiB"
                     + (f", device {measured['peak_device_mib']:.0f} MiB" if peak_device is not None else ""))
        per_epoch = self._steps_per_epoch(key, name, train_data, steps_per_epoch, batch, validation_data,
                                          validation_steps)
        steps = per_epoch["steps_per_epoch"]
        record = {
            "row": key, "fit": name, "model": getattr(model, "name", type(model).__name__),
            "model_class": type(model).__name__, "input_size": "×".join(map(str, input_shape)), "batch": batch,
            "parameters": _parameters(model), **measured, **per_epoch, "epochs": epochs,
            "fit_hours": estimate_hours(epochs, steps, measured["s_per_step"], per_epoch["val_steps"],
                                        measured["val_s_per_step"]) if steps else math.nan,
            "wall_s": wall,
        }
        self.fits.append(record)
        if reused is None:
            self._measured[cache_key] = record
        if self._unit is not None:
            self._unit.fits[name] = {"epochs": 0 if reused else 1, "of": int(epochs), "stopped_by": None}
        if key in self.stop_after_fit:
            raise _PlanStop(key)
        return {
            "epochs_run": 0 if reused else 1, "epochs_total": 0 if reused else 1, "initial_epoch": 0,
            "train_seconds": round(wall, 2), "final": logs, "final_loss": logs.get("loss", math.nan),
            "history": {k: [v] for k, v in logs.items()}, f"best_{monitor}": logs.get(monitor, math.nan),
            "best_epoch": 1 if monitor in logs else None, "checkpoint": checkpoint, "restored_best": False,
            "diverged": False, "stopped_by": None, "plan": dict(record),
        }


@contextlib.contextmanager
def _cached_encoders_or_random(session: PlanSession) -> Iterator[None]:
    """While the plan runs, ``encoder_weights="imagenet"`` is the Keras-cached notop file when present and
    random weights (None) otherwise: nothing is downloaded (:func:`dermkit.weights.build_encoder`)."""
    from dermkit.weights import loading

    original = loading.resolve_encoder_weights

    def resolve(application, encoder_weights):
        if isinstance(encoder_weights, str) and encoder_weights == "imagenet":
            spec = loading.ENCODERS[application]
            cached = loading._cached(spec.notop_file)
            what = (f"{application}: imagenet (cached {cached})" if cached is not None else
                    f"{application}: random (no cached {spec.notop_file})")
            if what not in session.row_encoders:
                session.row_encoders.append(what)
            if what not in session.encoders:
                session.encoders.append(what)
                session.log(f"encoder {what}")
            return cached
        return original(application, encoder_weights)

    loading.resolve_encoder_weights = resolve
    try:
        yield
    finally:
        loading.resolve_encoder_weights = original


# -- the plan ------------------------------------------------------------------------------------------------
def plan(paper: str | ModuleType, options: RunOptions, *, steps: int = DEFAULT_STEPS, evaluate: bool = False,
         overwrite: bool = False) -> dict[str, Any]:
    """Measure every selected full-scale row of ``paper`` (and the rows they depend on) and write ``plan.csv``
    and ``plan.md`` into ``options.output``.

    Args:
        options: the run's options; ``quick`` must be False (a plan is of the full-scale run); ``rows`` and
            ``tables`` select rows as for ``reproduce``; ``strategy``, ``mixed_precision`` and ``jit`` are
            those of the run being planned.
        steps: timed training steps per distinct step (after one traced warm-up step).
        evaluate: let every row run through its evaluation (timed as ``other_s``); by default a row that no
            planned row depends on stops once its first fit is measured.
        overwrite: replace an earlier plan's ``plan.csv`` / ``plan.md``.

    Returns:
        ``{"rows": [PLAN_COLUMNS dicts], "paper_hours": float, "files": [Path], "failed": {key: message}}``.

    Raises:
        ValueError: ``options.quick``, bad ``steps``, an unknown table or row pattern.
        FileExistsError: ``output`` is a reproduction's run folder, or holds a plan and ``overwrite`` is False.
    """
    paper = load_paper(paper)
    if options.quick:
        raise ValueError("a plan measures the full-scale run; --quick does not apply")
    out = Path(options.output)
    if (out / "run.json").exists():
        raise FileExistsError(f"{out} is a `dermkit reproduce` run folder (it holds run.json); a plan never writes "
                              "into one: choose another --output")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; choose another --output")
    for name in ("plan.csv", "plan.md"):
        check_overwrite(out / name, overwrite)
    selected = select_experiments(paper, options.tables, False, options.rows)
    order = dependency_closure(selected, paper.EXPERIMENTS)
    needed = {d for e in order for d in e.depends_on}
    session = PlanSession(paper, options, steps=steps,
                          stop_after_fit=() if evaluate else [e.key for e in order if e.key not in needed])
    out.mkdir(parents=True, exist_ok=True)
    for scratch in ("work", "artifacts"):
        shutil.rmtree(out / scratch, ignore_errors=True)
    from dermkit.training.strategy import set_determinism

    failed: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    with _cached_encoders_or_random(session):
        data = paper.prepare(options.data, session)
        for exp in order:
            repeats = _repeats(exp, options, paper)
            lost = [d for d in exp.depends_on if d in failed]
            if lost:
                failed[exp.key] = f"not run: it needs {', '.join(lost)}, which failed"
                rows.append(_row_line(exp, None, repeats, math.nan, failed[exp.key], options))
                continue
            unit = _Unit(exp, 0, options.seed, {}, "plan")
            set_determinism(unit.seed, options.deterministic)
            first = len(session.fits)
            session.row_encoders = []
            session._unit = unit
            session.log(f"{exp.key}: {exp.label}")
            start = time.perf_counter()
            note = ""
            try:
                with session.scope():
                    session.results[exp.key] = dict(session.paper.run_experiment(exp, data, session))
            except _PlanStop:
                note = "stopped after its fit (evaluation not timed)"
            except Exception as exc:  # noqa: BLE001 (an OOM or a recipe error is a finding of the plan)
                first_line = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
                failed[exp.key] = note = f"{type(exc).__name__}: {first_line}"
                session.log(f"{exp.key}: failed ({note})")
            finally:
                session._unit = None
            seconds = time.perf_counter() - start
            if exp.key not in failed and exp.key in session.results:
                _publish_artifacts(session, unit)
            fits = session.fits[first:]
            for fit in fits:
                fit["encoder"] = "; ".join(session.row_encoders) or "none"
            other = max(seconds - sum(f["wall_s"] for f in fits), 0.0)
            if not fits:
                rows.append(_row_line(exp, None, repeats, other, note or "no training: the row's whole run took "
                                      "other_s" + (" on the synthetic images (not estimated)" if options.synthetic
                                                   else ""), options))
            for fit in fits:
                rows.append(_row_line(exp, fit, repeats, other, note, options))
    _row_totals(rows, options)
    paper_hours = math.fsum(r["row_hours"] for r in {r["row"]: r for r in rows}.values()
                            if math.isfinite(r["row_hours"]))
    files = [atomic_write_text(out / "plan.csv", _to_csv(rows), overwrite=overwrite),
             atomic_write_text(out / "plan.md", _to_markdown(paper, options, session, rows, paper_hours, failed),
                               overwrite=overwrite)]
    for scratch in ("work", "artifacts"):
        shutil.rmtree(out / scratch, ignore_errors=True)
    session.log(f"estimated {_hours_text(paper_hours)} for {len({r['row'] for r in rows})} rows on this machine; "
                f"wrote {files[0]} and {files[1]}")
    return {"rows": rows, "paper_hours": paper_hours, "files": files, "failed": failed}


def _row_line(exp, fit: dict | None, repeats: int, other_s: float, note: str, options: RunOptions) -> dict:
    line = {c: None for c in PLAN_COLUMNS}
    line.update({"row": exp.key, "label": exp.label, "fit": "-", "repeats": repeats, "fit_hours": math.nan,
                 "other_s": round(other_s, 1) if math.isfinite(other_s) else math.nan, "note": note})
    if fit is not None:
        line.update({k: fit.get(k) for k in PLAN_COLUMNS if k in fit})
    return line


def _row_totals(rows: list[dict], options: RunOptions) -> None:
    """``row_hours`` of each line: the row's fits (and, on real data, its measured other time) × repeats."""
    by_row: dict[str, list[dict]] = {}
    for line in rows:
        by_row.setdefault(line["row"], []).append(line)
    for lines in by_row.values():
        fits = [line["fit_hours"] for line in lines if line["fit"] != "-"]
        other = lines[0]["other_s"]
        if any(not math.isfinite(h) for h in fits) or (not fits and not math.isfinite(other)):
            total = math.nan
        else:
            extra = other / 3600.0 if not options.synthetic and math.isfinite(other) else 0.0
            total = (math.fsum(fits) + extra) * lines[0]["repeats"]
        for line in lines:
            line["row_hours"] = total


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def _to_csv(rows: Sequence[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PLAN_COLUMNS)
    for line in rows:
        writer.writerow([_format(line.get(c)) for c in PLAN_COLUMNS])
    return buffer.getvalue()


def _hours_text(hours: float | None) -> str:
    """``"3.2 days (76.8 h)"``, ``"4.5 h"``, ``"12 min"``, ``"40 s"``; ``"unknown"`` for NaN / None."""
    if hours is None or not math.isfinite(hours):
        return "unknown"
    if hours >= 24:
        return f"{hours / 24:.1f} days ({hours:.0f} h)"
    if hours >= 1:
        return f"{hours:.1f} h"
    return f"{hours * 60:.0f} min" if hours * 60 >= 1 else f"{hours * 3600:.0f} s"


def _machine() -> str:
    import platform

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names = []
    for gpu in gpus:
        with contextlib.suppress(Exception):
            names.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
    where = ", ".join(names) if names else f"CPU only ({os.cpu_count()} cores)"
    return f"{platform.node()}: {where}; TensorFlow {tf.__version__}"


def _to_markdown(paper, options: RunOptions, session: PlanSession, rows: Sequence[dict], paper_hours: float,
                 failed: Mapping[str, str]) -> str:
    data = "SYNTHETIC data (`--data synthetic`)" if options.synthetic else f"data `{options.data}`"
    lines = [
        f"# Plan: {paper.NAME} at full scale",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {_machine()}; {data}; strategy {options.strategy}, "
        f"precision {session.precision or 'float32'}{', XLA' if options.jit else ''}; 1 traced warm-up step + "
        f"{session.steps} timed steps per distinct step (median).",
        "",
        f"**Estimated wall time of the whole paper on this machine: {_hours_text(paper_hours)}** "
        "(training steps × steps per epoch × epochs, validation steps included, × repeats"
        + ("; evaluation not included: on synthetic data it runs on a few images" if options.synthetic else
           "; plus each row's measured time outside its fits (`other_s`: building, data passes, and the "
           "evaluation where the row ran through it)") + ").",
        "",
        "Pretrained encoders: " + ("; ".join(session.encoders) if session.encoders else "none requested") + ".",
        "",
        "| row | fit | model | input | batch | parameters | s/step | val s/step | peak host MiB | peak device MiB "
        "| steps/epoch (training-set size) | epochs | repeats | row time | note |",
        "|" + "---|" * 15,
    ]
    for r in rows:
        reused = f" (as {r['reused_from']})" if r.get("reused_from") else ""
        size = f"{_format(r['steps_per_epoch'])} ({r['steps_source']})" if r.get("steps_source") else ""
        lines.append(
            f"| {r['row']} | {r['fit']} | {_format(r['model'])} | {_format(r['input_size'])} | {_format(r['batch'])} "
            f"| {_format(r['parameters'])} | {_format(r['s_per_step'])}{reused} | {_format(r['val_s_per_step'])} "
            f"| {_format(r['peak_host_mib'])} | {_format(r['peak_device_mib']) or '-'} | {size} "
            f"| {_format(r['epochs'])} | {_format(r['repeats'])} | {_hours_text(r['row_hours'])} | {r['note'] or ''} |")
    lines += ["", "Rows sharing model, input size, batch, loss and optimiser reuse the first one's step (the "
              "reused step's row is named). Peak host memory is this process's resident set while the fit ran "
              "(it includes the earlier rows' cached data and models); device memory is "
              "`tf.config.experimental.get_memory_info`'s peak (GPUs only). Not timed: the paper's own per-epoch "
              "callbacks (a validation scorer such as goel2021's balanced accuracy: a fit without `validation_data` "
              "shows no val s/step) and, for rows stopped after their fit, the evaluation."]
    if failed:
        lines += ["", "Failed rows (a row that does not fit in memory shows here):", ""]
        lines += [f"- {key}: {why}" for key, why in failed.items()]
    return "\n".join(lines) + "\n"
