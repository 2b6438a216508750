"""Crash-safe training state for the engine's ``fit``: atomic checkpoints, a resumable backup, NaN stops.

Every file here is written to a temporary name in the same folder and renamed, so a process killed at any
instant (SIGKILL included) leaves either the previous complete file or the new one — never a truncated HDF5
file. A backup that still cannot be read at resume (damaged by hand, a full disk, a file from another tool) is
set aside as ``*.corrupt`` with a warning, and training restarts from the last readable state or from scratch.

Works for any ``keras.Model`` whose ``train_step`` reports named metrics: supervised, multi-output, a GAN
with two optimisers (``d_loss`` / ``g_loss``), a triplet model.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dermkit._io import atomic_path, atomic_write_text, default_file_mode, is_temporary, temporary_prefix
from dermkit._optional import require_tensorflow

require_tensorflow("dermkit.training.checkpoints")

import keras  # noqa: E402

__all__ = [
    "save_weights_atomically",
    "build_optimizers",
    "TerminateOnNonFinite",
    "BestCheckpoint",
    "CrashSafeBackup",
    "restore_backup",
    "backup_state",
    "training_variables",
    "weights_file_error",
    "set_aside",
]

_EPOCH_FILE = re.compile(r"^epoch-(\d+)\.weights\.h5$")


def save_weights_atomically(model: keras.Model, path: str | os.PathLike) -> Path:
    """``model.save_weights`` (a ``.weights.h5`` name, optimizer state included) via a temporary file + rename."""
    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        raise ValueError(f"a weights file name must end in '.weights.h5'. Received: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path.name[:-len('.weights.h5')]), suffix=".weights.h5",
                               dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        model.save_weights(tmp, overwrite=True)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _optimizers(model: keras.Model) -> list:
    found = []
    for value in [getattr(model, "optimizer", None), *vars(model).values()]:
        if isinstance(value, keras.optimizers.Optimizer) and all(value is not o for o in found):
            found.append(value)
    return found


def training_variables(model: keras.Model) -> list:
    """Every variable a training state holds: the model's and each of its optimizers' (a GAN's two)."""
    return list(model.variables) + [v for opt in _optimizers(model) for v in opt.variables]


def build_optimizers(model: keras.Model) -> None:
    """Make ``model`` and its optimizer built, so weights with optimizer state can be loaded before ``fit``.

    A one-optimizer model's optimizer is built on the trainable variables (as Keras' ``BackupAndRestore``
    does). Models with several optimizers (GANs) build them in their own ``compile``; a model without
    ``call`` whose layers are all built is marked built (keras-team/keras#20164).
    """
    if not model.built and model.layers and all(layer.built for layer in model.layers):
        model.built = True
    optimizer = getattr(model, "optimizer", None)
    if isinstance(optimizer, keras.optimizers.Optimizer) and not optimizer.built and len(_optimizers(model)) == 1:
        optimizer.build(model.trainable_variables)


class TerminateOnNonFinite(keras.callbacks.Callback):
    """Stop training as soon as any loss the model reports (every log key containing ``"loss"``: ``loss``,
    ``d_loss``, ``g_loss``, ``out1_loss``, ``val_loss``) is NaN or infinite.

    :attr:`stopped` says which loss, its value, the epoch (1-based) and the batch (0-based; for a validation
    loss, "end of epoch E"), e.g. ``"g_loss=nan at epoch 3, batch 17"``; :attr:`loss`, :attr:`epoch`,
    :attr:`batch` hold the parts (``batch`` is None for an epoch-end loss).
    """

    def __init__(self):
        super().__init__()
        self.stopped: str | None = None
        self.loss: str | None = None
        self.epoch: int | None = None
        self.batch: int | None = None
        self._epoch = 0

    def _check(self, logs, batch: int | None) -> None:
        for name, value in (logs or {}).items():
            if "loss" not in name:
                continue
            try:
                finite = math.isfinite(float(value))
            except (TypeError, ValueError):
                continue
            if not finite:
                if self.stopped is None:  # keep the first
                    self.loss, self.epoch, self.batch = name, self._epoch + 1, batch
                    where = f"batch {batch}" if batch is not None else "the end of the epoch"
                    self.stopped = f"{name}={float(value)} at epoch {self._epoch + 1}, {where}"
                self.model.stop_training = True
                return

    def on_train_begin(self, logs=None):
        self.stopped = self.loss = self.epoch = self.batch = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, batch)

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch
        self._check(logs, None)


class BestCheckpoint(keras.callbacks.Callback):
    """Keep the weights of the best epoch by ``monitor`` (any epoch-log key: ``val_loss``, ``g_loss``,
    ``val_balanced_accuracy`` written by a callback placed before this one).

    On improvement (strictly better) the weights go to ``path`` atomically and ``{value, epoch}`` to
    ``state_path``; a resumed run (``initial_epoch > 0``) continues from the saved best.
    """

    def __init__(self, path: str | os.PathLike, *, monitor: str, mode: str, initial_epoch: int = 0):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max'. Received: mode={mode!r}")
        self.path = Path(path)
        self.state_path = self.path.with_name(self.path.name.replace(".weights.h5", ".json"))
        self.monitor = monitor
        self.mode = mode
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch: int | None = None
        if initial_epoch > 0 and self.state_path.exists() and self.path.exists():
            try:
                state = json.loads(self.state_path.read_text())
                self.best, self.best_epoch = float(state["value"]), int(state["epoch"])
            except (ValueError, KeyError, TypeError):
                pass
        elif initial_epoch == 0:
            self.path.unlink(missing_ok=True)
            self.state_path.unlink(missing_ok=True)

    def _better(self, value: float) -> bool:
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(
                f"checkpoint='best' monitors {self.monitor!r}, which is not in the epoch logs (they hold "
                f"{sorted(logs)}). Pass monitor= one of those, add the callback that logs it, or checkpoint='last'."
            )
        value = float(logs[self.monitor])
        if math.isfinite(value) and self._better(value):
            self.best, self.best_epoch = value, epoch + 1
            save_weights_atomically(self.model, self.path)
            atomic_write_text(self.state_path, json.dumps({"value": value, "epoch": epoch + 1}), overwrite=True)


class CrashSafeBackup(keras.callbacks.Callback):
    """Save the whole training state (weights + optimizer state) and the epoch's history line at the end of
    every epoch, as one unit.

    ``backup_dir/epoch-NNNN.weights.h5`` is written first (temporary name + rename), then ``state.json`` —
    the unit: the epoch, the weights file, every epoch's logs so far (``history``) and, when training was
    stopped by a non-finite loss, ``stopped_by`` — also by rename; older epoch files are removed afterwards.
    ``history_csv`` (when given) is rewritten from that history, so it never holds an epoch the backup lacks
    or misses one it has. A kill at any instant leaves the previous unit or the new one.
    :func:`restore_backup` reads the weights back, :func:`backup_state` the rest.

    Args:
        backup_dir: the folder.
        history: the logs of the epochs before this fit's ``initial_epoch`` (from :func:`backup_state`).
        history_csv: a CSV copy of the history (``epoch`` 0-based, then the log keys).
        stopped_by: a callable giving the reason training stopped (:attr:`TerminateOnNonFinite.stopped`).
    """

    def __init__(self, backup_dir: str | os.PathLike, *, history: list[dict] | None = None,
                 history_csv: str | os.PathLike | None = None, stopped_by: Callable[[], str | None] | None = None):
        super().__init__()
        self.backup_dir = Path(backup_dir)
        self.history: list[dict[str, float]] = [dict(h) for h in (history or [])]
        self.history_csv = Path(history_csv) if history_csv else None
        self.stopped_by = stopped_by or (lambda: None)

    def on_epoch_end(self, epoch, logs=None):
        line = {"epoch": epoch}
        for key, value in (logs or {}).items():
            try:
                line[str(key)] = float(value)
            except (TypeError, ValueError):
                continue
        self.history = self.history[:epoch] + [line]
        name = f"epoch-{epoch + 1:04d}.weights.h5"
        save_weights_atomically(self.model, self.backup_dir / name)
        state = {"epoch": epoch + 1, "weights": name, "history": self.history, "stopped_by": self.stopped_by()}
        atomic_write_text(self.backup_dir / "state.json", json.dumps(state), overwrite=True)
        if self.history_csv is not None:
            write_history_csv(self.history, self.history_csv)
        for path in self.backup_dir.iterdir():
            match = _EPOCH_FILE.match(path.name)
            if (match and path.name != name) or is_temporary(path.name):
                path.unlink(missing_ok=True)


def write_history_csv(history: list[dict], path: str | os.PathLike) -> Path:
    """Write per-epoch logs (``[{"epoch": 0, "loss": ...}, ...]``) as a CSV, atomically (empty cells where an
    epoch lacks a key)."""
    import csv

    keys = ["epoch"] + sorted({k for line in history for k in line if k != "epoch"})
    with atomic_path(path, overwrite=True) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(keys)
        for line in history:
            writer.writerow(["" if line.get(k) is None else line[k] for k in keys])
    return Path(path)


def set_aside(path: Path, log: Callable[[str], None], why: str) -> Path | None:
    """Rename an unreadable file to ``NAME.corrupt`` (kept for inspection) and log a warning naming both."""
    path = Path(path)
    if path.exists():
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        log(f"WARNING: {path} could not be read ({why}); set aside as {aside.name}")
        return aside
    return None


_set_aside = set_aside


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def weights_file_error(path: str | os.PathLike) -> str | None:
    """Why the HDF5 weights file ``path`` cannot be read back (every dataset is read), or None when it can."""
    import h5py
    import numpy as np

    problems: list[str] = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            np.asarray(obj[()])

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError... for a damaged file
        problems.append(_first_line(exc))
    return problems[0] if problems else None


def backup_state(backup_dir: str | os.PathLike) -> dict[str, Any]:
    """The saved unit of :class:`CrashSafeBackup`: ``{"epoch", "weights", "history", "stopped_by"}`` (``{}``
    when there is none or it is unreadable: :func:`restore_backup` sets such a file aside)."""
    try:
        state = json.loads((Path(backup_dir) / "state.json").read_text())
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        return {}
    return state if isinstance(state, dict) else {}


def restore_backup(model: keras.Model, backup_dir: str | os.PathLike, *, log: Callable[[str], None]) -> int:
    """Load the last backup of :class:`CrashSafeBackup` into ``model``; return the epoch to resume from.

    Returns 0 (start from scratch) when there is no backup, or when it cannot be read: then the damaged files
    are renamed ``*.corrupt`` and a warning naming them is logged. Never raises for a damaged backup.
    Temporaries a killed writer left in ``backup_dir`` are removed.
    """
    backup_dir = Path(backup_dir)
    for path in backup_dir.iterdir() if backup_dir.is_dir() else ():
        if is_temporary(path.name):
            path.unlink(missing_ok=True)
    state_path = backup_dir / "state.json"
    if not state_path.exists():
        return 0
    try:
        state: dict[str, Any] = json.loads(state_path.read_text())
        epoch, weights = int(state["epoch"]), backup_dir / str(state["weights"])
        history = state.get("history", [])
        if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
            raise ValueError("its history is not a list of epoch logs")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        set_aside(state_path, log, f"{type(exc).__name__}: {exc}")
        return 0
    build_optimizers(model)
    variables = training_variables(model)
    snapshot = [v.numpy() for v in variables]
    try:
        model.load_weights(weights)
    except Exception as exc:  # h5py/Keras raise OSError, ValueError, KeyError... for a damaged file
        for var, value in zip(variables, snapshot):  # a half-read file must not leave half-loaded weights
            var.assign(value)
        set_aside(weights, log, _first_line(exc))
        set_aside(state_path, log, "its weights file is unreadable")
        return 0
    return epoch
