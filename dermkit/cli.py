"""The ``dermkit`` command line (also ``python -m dermkit`` and ``python -m dermkit.cli``).

One ``add_<name>_parser(subparsers)`` function per subcommand, registered in :data:`SUBCOMMANDS`; each sets
``func`` (``args → exit code``) on its parser. Subcommands import what they need when they run, so
``dermkit synth`` and ``dermkit demo`` never import TensorFlow.

Subcommands now:

* ``dermkit synth {isic2017,ham10000,isic2018-task3,isic2020} ROOT [--n-train N --n-val N --n-test N |
  --n-images N] [--image-size H W] [--seed S] [--overwrite]`` — write a synthetic dataset in the real
  ISIC format.
* ``dermkit demo [--output DIR] [--overwrite]`` — the main job on the embedded synthetic data: the quick
  reproductions of every paper (``DIR/<paper>/``), then where their tables and figures are.
* ``dermkit reproduce PAPER --data ROOT|synthetic [--table T ...] [--rows PATTERN ...] [--quick]
  [--shard I/N] [--repeats N] --output DIR [...]`` — a paper's tables (see :mod:`dermkit.training.runner`).
* ``dermkit report PAPER --output DIR`` — the tables and figures of the rows present in a run folder (after
  sharded runs), and the rows still missing.
* ``dermkit plan PAPER [--data ROOT|synthetic] [--output DIR] [--rows PATTERN ...] [--steps N] [--strategy S]
  [--mixed-precision]`` — every full-scale row measured before the long run (:mod:`dermkit.training.plan`).
* ``dermkit predict isic2017-part2 --weights NAME|PATH IMAGES_DIR OUT_DIR [--overwrite]`` — write
  ``_features.json`` predictions (progress bar, resumes; other weights' predictions refused without
  ``--overwrite``, replaced whole with it).
* ``dermkit score isic2017-part2 TRUTH_DIR PRED_DIR [--csv FILE [--overwrite]]`` — the official ISIC 2017
  Part 2 table.
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
def _paper_names() -> list[str]:
    from dermkit.papers import paper_names

    return list(paper_names())


def add_demo_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="run the main job on the embedded synthetic data",
        description="The quick reproduction of every paper on the embedded SYNTHETIC data, each under "
        "OUTPUT/<paper>/ (re-running resumes finished rows), then where the tables and figures are.",
    )
    parser.add_argument("--output", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    parser.add_argument("--papers", nargs="+", default=_paper_names(), choices=_paper_names())
    parser.add_argument("--overwrite", action="store_true", help="start every reproduction afresh")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch logs")
    parser.set_defaults(func=run_demo)
    return parser


def run_demo(args: argparse.Namespace) -> int:
    import importlib.util

    from dermkit.training.options import RunOptions

    summary = []
    for paper in args.papers:
        if importlib.util.find_spec(f"dermkit.papers.{paper}") is None:
            print(f"demo: dermkit.papers.{paper} is not available in this version, skipped")
            continue
        from dermkit.training.runner import reproduce

        out = args.output / paper
        print(f"=== SYNTHETIC demo: {paper} --quick → {out}", flush=True)
        run = reproduce(paper, RunOptions(output=out, data="synthetic", quick=True, overwrite=args.overwrite,
                                          verbose=0 if args.quiet else 1))
        summary.append((paper, out, run["files"]))
    print()
    print("SYNTHETIC demo finished. Tables and figures:")
    for paper, out, files in summary:
        print(f"  {paper}: {out.resolve()}")
        for path in files:
            print(f"    {path}")
    return 0


# ---------------------------------------------------------------------------------------------------------
# reproduce
# ---------------------------------------------------------------------------------------------------------
def add_reproduce_parser(subparsers) -> argparse.ArgumentParser:
    from dermkit.training.options import add_reproduce_arguments

    parser = subparsers.add_parser(
        "reproduce",
        help="reproduce a paper's tables",
        description="Run (or resume) a paper's experiment grid and write its tables (Markdown + CSV) and figures.",
    )
    parser.add_argument("paper", help=f"which paper: {', '.join(_paper_names())} (or an importable paper module)")
    add_reproduce_arguments(parser)
    parser.set_defaults(func=run_reproduce)
    return parser


def run_reproduce(args: argparse.Namespace) -> int:
    from dermkit.training.options import options_from_args
    from dermkit.training.runner import reproduce

    reproduce(args.paper, options_from_args(args))
    return 0


def add_report_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report",
        help="write a run folder's tables and figures from the rows present",
        description="Write the tables and figures of a run folder from the rows present (e.g. after several "
        "--shard runs into it) and list the rows still missing. Trains nothing.",
    )
    parser.add_argument("paper", help=f"which paper: {', '.join(_paper_names())} (or an importable paper module)")
    parser.add_argument("--output", required=True, type=Path, help="the run folder")
    parser.add_argument("--table", nargs="+", default=["all"], help="tables to write")
    parser.set_defaults(func=run_report)
    return parser


def run_report(args: argparse.Namespace) -> int:
    from dermkit.training.runner import report

    report(args.paper, args.output, tables=tuple(args.table))
    return 0


# ---------------------------------------------------------------------------------------------------------
# predict / score
# ---------------------------------------------------------------------------------------------------------
_TASKS = ("isic2017-part2",)


def add_predict_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="predict ISIC 2017 Part 2 _features.json files for a folder of images",
        description="For every ISIC_*.jpg (with its _superpixels.png) in IMAGES_DIR, write "
        "OUT_DIR/<id>_features.json: resize → predict → resize back → superpixel means (kawahara2018 Eq. 2). "
        "OUT_DIR/dermkit_predictions.json records the model: a re-run with the same weights resumes (existing "
        "predictions kept); other weights are refused unless --overwrite, which replaces the folder's predictions "
        "as a whole (never a mix of two models).",
    )
    parser.add_argument("task", choices=_TASKS)
    parser.add_argument("images_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--weights", required=True, help="registry name (weights/README.md) or a weights file")
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), help="model input size")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo existing predictions; replace those of other weights (all of them, atomically)")
    parser.set_defaults(func=run_predict)
    return parser


def _check_out_dir(out_dir: Path) -> None:
    """Refuse an OUT_DIR that is (or lies under) an existing file, before the model is built."""
    from dermkit.errors import DermkitDataError

    for path in (out_dir, *out_dir.parents):
        if path.exists():
            if not path.is_dir():
                where = "" if path == out_dir else f" ({path} is a file)"
                raise DermkitDataError(
                    f"{out_dir}: OUT_DIR must be a folder (created when missing), but {path} exists and is not "
                    f"a folder{where}. Pass another OUT_DIR."
                )
            return


def run_predict(args: argparse.Namespace) -> int:
    from dermkit.inference import predict_isic2017_folder
    from dermkit.weights import pretrained_model

    _check_out_dir(args.out_dir)
    size = tuple(args.input_size) if args.input_size else None
    model = pretrained_model(args.weights, input_size=size)
    paths = predict_isic2017_folder(model, args.images_dir, args.out_dir, overwrite=args.overwrite,
                                    weights=args.weights, input_size=size)
    print(f"{len(paths)} predictions of {args.weights} in {args.out_dir}")
    return 0


def add_score_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "score",
        help="score ISIC 2017 Part 2 predictions against ground truth",
        description="Official ISIC 2017 Part 2 scores (all superpixels of all images pooled per feature; "
        "average_precision_2017 is the 2017 scorer's trapezoidal area, average_precision scikit-learn's step-wise "
        "one).",
    )
    parser.add_argument("task", choices=_TASKS)
    parser.add_argument("truth_dir", type=Path, help="folder of ground-truth *_features.json")
    parser.add_argument("pred_dir", type=Path, help="folder of predicted *_features.json")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    parser.set_defaults(func=run_score)
    return parser


def run_score(args: argparse.Namespace) -> int:
    from dermkit._io import atomic_path, check_overwrite
    from dermkit.inference import score_isic2017_folder

    if args.csv:
        check_overwrite(args.csv, args.overwrite)  # before scoring, not after
    table = score_isic2017_folder(args.truth_dir, args.pred_dir)
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    if args.csv:
        with atomic_path(args.csv, overwrite=args.overwrite) as tmp:
            table.to_csv(tmp)
        print(f"wrote {args.csv}")
    return 0


# ---------------------------------------------------------------------------------------------------------
# plan (dermkit.training.plan)
# ---------------------------------------------------------------------------------------------------------
def add_plan_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "plan",
        help="measure every full-scale row of a paper on this machine before the long run",
        description="Build every full-scale row of PAPER (its model at the paper's input size and batch, its "
        "loss, optimiser and data pipeline), time 1 traced warm-up step + N training steps of each distinct "
        "step, and write plan.md and plan.csv (parameters, s/step, peak host and device memory, steps per "
        "epoch for the paper's training-set size, epochs, repeats, estimated hours per row and for the "
        "paper). Never trains a row to completion; never writes a row result.",
    )
    parser.add_argument("paper", help=f"which paper: {', '.join(_paper_names())} (or an importable paper module)")
    parser.add_argument("--data", default="synthetic",
                        help="dataset root(s) as for reproduce, or 'synthetic' (default: small synthetic data)")
    parser.add_argument("--output", type=Path, default=None, help="plan folder (default: runs/plan/PAPER)")
    parser.add_argument("--rows", nargs="+", metavar="PATTERN", default=None,
                        help="only rows whose key matches one of these fnmatch patterns (their dependencies run too)")
    parser.add_argument("--steps", type=int, default=3, metavar="N", help="timed steps per distinct step (default 3)")
    parser.add_argument("--strategy", default="default", choices=["default", "mirrored", "multiworker"],
                        help="tf.distribute strategy of the run being planned")
    parser.add_argument("--mixed-precision", nargs="?", const="mixed_float16", default=None,
                        choices=["mixed_float16", "mixed_bfloat16"], help="mixed precision policy")
    parser.add_argument("--jit", action="store_true", help="compile train steps with XLA")
    parser.add_argument("--evaluate", action="store_true",
                        help="let every row run through its evaluation (timed); by default a row no planned row "
                        "depends on stops once its fit is measured")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier plan.md / plan.csv")
    parser.add_argument("--quiet", action="store_true", help="fewer logs")
    parser.set_defaults(func=run_plan)
    return parser


def run_plan(args: argparse.Namespace) -> int:
    from dermkit.training.options import RunOptions

    if args.steps < 1:
        raise CLIError(f"--steps must be an integer ≥ 1. Received: {args.steps}")
    from dermkit.papers import load_paper
    from dermkit.training.plan import plan

    output = args.output if args.output is not None else Path("runs") / "plan" / load_paper(args.paper).NAME
    options = RunOptions(output=output, data=args.data, rows=tuple(args.rows) if args.rows else None,
                         strategy=args.strategy, mixed_precision=args.mixed_precision, jit=args.jit,
                         verbose=0 if args.quiet else 1)
    result = plan(args.paper, options, steps=args.steps, evaluate=args.evaluate, overwrite=args.overwrite)
    print((output / "plan.md").read_text())
    return 1 if result["failed"] and len(result["failed"]) == len({r["row"] for r in result["rows"]}) else 0


# ---------------------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------------------
#: Subcommand name → the function that adds its parser (add one line here per new subcommand).
SUBCOMMANDS: dict[str, Callable] = {
    "synth": add_synth_parser,
    "demo": add_demo_parser,
    "reproduce": add_reproduce_parser,
    "report": add_report_parser,
    "predict": add_predict_parser,
    "score": add_score_parser,
    "plan": add_plan_parser,
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
    """Run the CLI; returns the exit code (0 success, 1 bad input data or files, 2 usage error).

    Errors about the user's data and files — :class:`~dermkit.errors.DermkitDataError`, ``ValueError``,
    ``OSError`` (an existing output, a path that is a file, weights that cannot be downloaded:
    :class:`~dermkit.weights.WeightsUnavailableError`, ...) — are printed as ``dermkit <command>: error:
    <message>`` without a traceback.
    """
    from dermkit.errors import DermkitDataError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"dermkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (DermkitDataError, ValueError, OSError) as exc:  # OSError: FileExistsError, WeightsUnavailableError, ...
        print(f"dermkit {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
