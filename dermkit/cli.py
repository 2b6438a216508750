"""The ``dermkit`` command line (also ``python -m dermkit`` and ``python -m dermkit.cli``).

One ``add_<name>_parser(subparsers)`` function per subcommand, registered in :data:`SUBCOMMANDS`; each sets
``func`` (``args → exit code``) on its parser. Subcommands import what they need when they run, so
``dermkit synth`` and ``dermkit demo`` never import TensorFlow.

Subcommands now:

* ``dermkit synth {isic2017,ham10000,isic2018-task3,isic2020} ROOT [--n-train N --n-val N --n-test N |
  --n-images N] [--image-size H W] [--seed S] [--overwrite]`` — write a synthetic dataset in the real
  ISIC format.
* ``dermkit demo [--output DIR] [--overwrite]`` — generate (or reuse) the embedded synthetic ISIC 2017 data
  under ``DIR/data/isic2017`` and print its SYNTHETIC summary.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

#: ``dermkit synth`` dataset names → (generator function name in dermkit.data.synthetic, its count options).
SYNTH_DATASETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "isic2017": ("make_isic2017", ("n_train", "n_val", "n_test")),
    "ham10000": ("make_ham10000", ("n_images",)),
    "isic2018-task3": ("make_isic2018_task3", ("n_images",)),
    "isic2020": ("make_isic2020", ("n_images",)),
}
_COUNT_OPTIONS = ("n_train", "n_val", "n_test", "n_images")


class CLIError(Exception):
    """A usage error found after parsing (printed as ``dermkit <command>: error: ...``, exit code 2)."""


# ---------------------------------------------------------------------------------------------------------
# synth
# ---------------------------------------------------------------------------------------------------------
def add_synth_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "synth",
        help="write a small synthetic dataset in the real ISIC file format",
        description="Write a small synthetic dataset in the real ISIC file format (labelled SYNTHETIC; a "
        "dermkit_synthetic.json manifest records how it was made). Re-running with the same options reuses it.",
    )
    parser.add_argument("dataset", choices=sorted(SYNTH_DATASETS), help="which dataset layout to write")
    parser.add_argument("root", type=Path, help="output folder")
    counts = parser.add_argument_group("sizes (defaults: the generator's)")
    counts.add_argument("--n-train", type=int, help="isic2017: training images")
    counts.add_argument("--n-val", type=int, help="isic2017: validation images")
    counts.add_argument("--n-test", type=int, help="isic2017: test images")
    counts.add_argument("--n-images", type=int, help="ham10000, isic2018-task3, isic2020: images")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="image height and width")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--overwrite", action="store_true", help="regenerate a synthetic tree made differently")
    parser.set_defaults(func=run_synth)
    return parser


def run_synth(args: argparse.Namespace) -> int:
    from dermkit.data import synthetic

    func_name, allowed = SYNTH_DATASETS[args.dataset]
    kwargs = {}
    for name in _COUNT_OPTIONS:
        value = getattr(args, name)
        if value is None:
            continue
        if name not in allowed:
            options = ", ".join("--" + a.replace("_", "-") for a in allowed)
            raise CLIError(f"--{name.replace('_', '-')} does not apply to {args.dataset} (use {options})")
        kwargs[name] = value
    if args.image_size is not None:
        kwargs["image_size"] = tuple(args.image_size)
    root = getattr(synthetic, func_name)(args.root, seed=args.seed, overwrite=args.overwrite, **kwargs)
    print(f"SYNTHETIC {args.dataset} data: {root}")
    if args.dataset == "isic2017":
        print(synthetic.summarize_isic2017(root))
    return 0


# ---------------------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------------------
def add_demo_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="run the demo on the embedded synthetic data",
        description="Generate (or reuse) the embedded synthetic ISIC 2017 data under OUTPUT/data/isic2017 and "
        "print its summary. Everything it reports is SYNTHETIC.",
    )
    parser.add_argument("--output", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    parser.add_argument("--overwrite", action="store_true", help="regenerate the synthetic data")
    parser.set_defaults(func=run_demo)
    return parser


def run_demo(args: argparse.Namespace) -> int:
    from dermkit.data.synthetic import is_synthetic, make_isic2017, summarize_isic2017

    data_root = args.output / "data" / "isic2017"
    reused = is_synthetic(data_root, "isic2017") and not args.overwrite
    make_isic2017(data_root, overwrite=args.overwrite)
    print(summarize_isic2017(data_root))
    print()
    print(f"SYNTHETIC ISIC 2017 data ({'reused' if reused else 'generated'}): {data_root.resolve()}")
    return 0


# ---------------------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------------------
#: Subcommand name → the function that adds its parser (add one line here per new subcommand).
SUBCOMMANDS: dict[str, Callable] = {
    "synth": add_synth_parser,
    "demo": add_demo_parser,
}


def build_parser() -> argparse.ArgumentParser:
    from dermkit import __version__

    parser = argparse.ArgumentParser(
        prog="dermkit",
        description="Reimplementations of five dermoscopy deep-learning papers (Keras 3 / TensorFlow).",
    )
    parser.add_argument("--version", action="version", version=f"dermkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_parser in SUBCOMMANDS.values():
        add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 success, 1 bad input data, 2 usage error)."""
    from dermkit.errors import DermkitDataError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"dermkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (DermkitDataError, FileExistsError, ValueError) as exc:
        print(f"dermkit {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
