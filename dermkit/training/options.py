"""Options of a reproduction run and the shared command-line arguments (no TensorFlow import).

Used by ``dermkit reproduce``, ``examples/<paper>/reproduce.py`` and :func:`dermkit.training.runner.reproduce`.
"""

from __future__ import annotations

import argparse
import dataclasses
import numbers
from pathlib import Path
from typing import Any

__all__ = ["RunOptions", "add_reproduce_arguments", "options_from_args", "parse_data_roots", "parse_shard"]


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """What the user asked for (the ``reproduce`` command line).

    Attributes:
        output: run folder (resumed when it holds the same run).
        data: dataset root(s) as the paper module documents, or ``"synthetic"`` (the embedded default).
        tables: table ids to reproduce, or ``("all",)``.
        quick: the small CPU-sized run.
        strategy: ``"default"``, ``"mirrored"``, ``"multiworker"`` or a ``tf.distribute.Strategy``.
        mixed_precision: None, ``"mixed_float16"`` or ``"mixed_bfloat16"``.
        jit: compile train steps with XLA.
        seed: seed of every row (``keras.utils.set_random_seed``).
        deterministic: enable TF op determinism.
        overwrite: discard an earlier run in ``output``.
        verbose: 1 for per-epoch logs, 0 for none.
        epochs: override every row's epoch count (None: the paper's, or the quick setting).
        rows: fnmatch patterns of row keys to run (with ``tables``); None: every row of the tables.
        repeats: override every row's repeat count (None: each row's ``Experiment.repeats``).
        shard: ``(i, n)``, 1-based: run the i-th of n deterministic parts of the selected rows.
        lock_timeout: seconds without a heartbeat after which another host's row lock is taken over.
        poll: seconds between checks while waiting for a row another process runs.
    """

    output: Path
    data: str = "synthetic"
    tables: tuple[str, ...] = ("all",)
    quick: bool = False
    strategy: Any = "default"
    mixed_precision: str | bool | None = None
    jit: bool = False
    seed: int = 0
    deterministic: bool = False
    overwrite: bool = False
    verbose: int = 1
    epochs: int | None = None
    rows: tuple[str, ...] | None = None
    repeats: int | None = None
    shard: tuple[int, int] = (1, 1)
    lock_timeout: float = 600.0
    poll: float = 2.0

    def __post_init__(self):
        i, n = self.shard
        if not (isinstance(i, int) and isinstance(n, int) and 1 <= i <= n):
            raise ValueError(f"shard must be (i, n) with 1 ≤ i ≤ n. Received: shard={self.shard!r}")
        if self.repeats is not None and (not isinstance(self.repeats, int) or self.repeats < 1):
            raise ValueError(f"repeats must be an integer ≥ 1 or None. Received: repeats={self.repeats!r}")
        if self.epochs is not None and (isinstance(self.epochs, bool)
                                        or not isinstance(self.epochs, numbers.Integral) or self.epochs < 1):
            raise ValueError(f"epochs must be an integer ≥ 1 or None (the paper's count). "
                             f"Received: epochs={self.epochs!r}")

    @property
    def synthetic(self) -> bool:
        return self.data == "synthetic"


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` → ``(2, 4)`` (1-based index, number of shards).

    Raises:
        ValueError: not of the form ``I/N`` with 1 ≤ I ≤ N.
    """
    index, sep, count = str(text).partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        shard = None
    if not sep or shard is None or not 1 <= shard[0] <= shard[1]:
        raise ValueError(f"--shard must be I/N with 1 ≤ I ≤ N (e.g. 1/4). Received: {text!r}")
    return shard


def parse_data_roots(data: str, names: tuple[str, ...]) -> dict[str, Path] | None:
    """A paper's ``--data`` value → ``{name: root}`` for the datasets it needs; None for ``"synthetic"``.

    Accepted forms: ``synthetic``; ``name=ROOT,name=ROOT`` (e.g. ``ham10000=/d/HAM10000,isic2020=/d/ISIC2020``);
    or one folder holding a subfolder per name (any capitalisation). A paper of one dataset also accepts its
    root itself (a folder without such subfolders).

    Raises:
        ValueError: a malformed value, an unknown dataset name, or a dataset without a root.
    """
    if data == "synthetic":
        return None
    roots: dict[str, Path] = {}
    usage = (f"--data must be 'synthetic', '{','.join(f'{n}=ROOT' for n in names)}' or a folder holding "
             f"{', '.join(n + '/' for n in names)}")
    if "=" in data:
        for part in data.split(","):
            name, sep, value = part.partition("=")
            name = name.strip().lower()
            if not sep or name not in names or not value.strip():
                raise ValueError(f"{usage}. Received: {data!r}")
            roots[name] = Path(value.strip())
    else:
        base = Path(data)
        children = [p for p in base.iterdir() if p.is_dir()] if base.is_dir() else []
        for name in names:
            found = [p for p in children if p.name.lower() == name]
            if found:
                roots[name] = found[0]
        if not roots and len(names) == 1:
            roots[names[0]] = base
    missing = [n for n in names if n not in roots]
    if missing:
        raise ValueError(f"--data names no root for {missing}; {usage}. Received: {data!r}")
    return roots


def add_reproduce_arguments(parser: argparse.ArgumentParser, paper_tables=None) -> None:
    """Add the ``reproduce`` options shared by ``dermkit reproduce`` and ``examples/<paper>/reproduce.py``."""
    choices = list(paper_tables) + ["all"] if paper_tables else None
    parser.add_argument("--data", default="synthetic", help="dataset root(s), or 'synthetic' (default)")
    parser.add_argument("--table", nargs="+", default=["all"], choices=choices, help="tables to reproduce")
    parser.add_argument("--rows", nargs="+", metavar="PATTERN", default=None,
                        help="only rows whose key matches one of these fnmatch patterns (with --table)")
    parser.add_argument("--quick", action="store_true", help="small, CPU-sized run (minutes)")
    parser.add_argument("--output", required=True, type=Path, help="output folder (resumed when re-run)")
    parser.add_argument("--strategy", default="default", choices=["default", "mirrored", "multiworker"],
                        help="tf.distribute strategy (multiworker reads TF_CONFIG)")
    parser.add_argument("--mixed-precision", nargs="?", const="mixed_float16", default=None,
                        choices=["mixed_float16", "mixed_bfloat16"], help="mixed precision policy")
    parser.add_argument("--jit", action="store_true", help="compile train steps with XLA")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0); repeat r uses seed + r")
    parser.add_argument("--repeats", type=int, default=None, help="override every row's number of repeats")
    parser.add_argument("--shard", type=_shard_arg, default=(1, 1), metavar="I/N",
                        help="run the I-th of N parts of the selected rows (shards may share one --output)")
    parser.add_argument("--lock-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="take over another host's row lock silent for this long (default 600)")
    parser.add_argument("--deterministic", action="store_true", help="enable TF op determinism")
    parser.add_argument("--epochs", type=_positive_int_arg, default=None, metavar="N",
                        help="override every row's epoch count (an integer ≥ 1)")
    parser.add_argument("--overwrite", action="store_true", help="discard an earlier run in --output")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch logs")


def _positive_int_arg(text: str) -> int:
    """An argparse ``type``: an integer ≥ 1 (``-1``, ``0``, ``1.5`` refused with a message)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer ≥ 1. Received: {text!r}")
    return value


def _shard_arg(text: str) -> tuple[int, int]:
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def options_from_args(args: argparse.Namespace) -> RunOptions:
    """Build :class:`RunOptions` from parsed :func:`add_reproduce_arguments` arguments."""
    return RunOptions(
        output=Path(args.output),
        data=args.data,
        tables=tuple(args.table),
        quick=args.quick,
        strategy=args.strategy,
        mixed_precision=args.mixed_precision,
        jit=args.jit,
        seed=args.seed,
        deterministic=args.deterministic,
        overwrite=args.overwrite,
        verbose=0 if args.quiet else 1,
        epochs=args.epochs,
        rows=tuple(args.rows) if args.rows else None,
        repeats=args.repeats,
        shard=tuple(args.shard),
        lock_timeout=args.lock_timeout,
    )
