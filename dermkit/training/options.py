"""Options of a reproduction run and the shared command-line arguments (no TensorFlow import).

Used by ``dermkit reproduce``, ``examples/<paper>/reproduce.py`` and :func:`dermkit.training.runner.reproduce`.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

__all__ = ["RunOptions", "add_reproduce_arguments", "options_from_args"]


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

    @property
    def synthetic(self) -> bool:
        return self.data == "synthetic"


def add_reproduce_arguments(parser: argparse.ArgumentParser, paper_tables=None) -> None:
    """Add the ``reproduce`` options shared by ``dermkit reproduce`` and ``examples/<paper>/reproduce.py``."""
    choices = list(paper_tables) + ["all"] if paper_tables else None
    parser.add_argument("--data", default="synthetic", help="dataset root(s), or 'synthetic' (default)")
    parser.add_argument("--table", nargs="+", default=["all"], choices=choices, help="tables to reproduce")
    parser.add_argument("--quick", action="store_true", help="small, CPU-sized run (minutes)")
    parser.add_argument("--output", required=True, type=Path, help="output folder (resumed when re-run)")
    parser.add_argument("--strategy", default="default", choices=["default", "mirrored", "multiworker"],
                        help="tf.distribute strategy (multiworker reads TF_CONFIG)")
    parser.add_argument("--mixed-precision", nargs="?", const="mixed_float16", default=None,
                        choices=["mixed_float16", "mixed_bfloat16"], help="mixed precision policy")
    parser.add_argument("--jit", action="store_true", help="compile train steps with XLA")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--deterministic", action="store_true", help="enable TF op determinism")
    parser.add_argument("--epochs", type=int, default=None, help="override every row's epoch count")
    parser.add_argument("--overwrite", action="store_true", help="discard an earlier run in --output")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch logs")


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
    )
