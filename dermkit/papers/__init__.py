"""dermkit.papers — each paper's experiment grid as data, and the one registry of runnable papers.

A paper module ``dermkit.papers.<name>`` holds its grid (:class:`dermkit.training.experiment.Experiment`
rows), the paper's numbers, its table layout and short recipes over the public API; the engine
(:mod:`dermkit.training.runner`) runs it. Paper modules import without TensorFlow, so reading a grid or writing
a report stays cheap.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

__all__ = ["PAPERS", "load_paper", "paper_names"]

#: The registered papers, in the order ``dermkit demo`` runs them (name → module).
PAPERS: dict[str, str] = {
    "kawahara2018": "dermkit.papers.kawahara2018",
    "goel2021": "dermkit.papers.goel2021",
    "barata2020": "dermkit.papers.barata2020",
    "bisla2019": "dermkit.papers.bisla2019",
}

#: What every paper module defines (checked by :func:`load_paper`).
REQUIRED = ("NAME", "VERSION", "TABLES", "EXPERIMENTS", "prepare", "run_experiment", "make_tables")


def paper_names() -> tuple[str, ...]:
    """The registered paper names."""
    return tuple(PAPERS)


def load_paper(paper: str | ModuleType) -> ModuleType:
    """A paper module: a registered name (``"kawahara2018"``), an importable dotted module path holding a
    paper (``"mylab.papers.mypaper"``), or a module (returned as is after the check).

    Raises:
        ValueError: an unknown name, or a module that lacks what a paper defines.
    """
    if isinstance(paper, ModuleType):
        module = paper
    elif paper in PAPERS:
        module = importlib.import_module(PAPERS[paper])
    elif isinstance(paper, str) and ("." in paper or importlib.util.find_spec(paper) is not None):
        try:
            module = importlib.import_module(paper)
        except ImportError as exc:
            raise ValueError(f"paper must be one of {paper_names()} or an importable module. Received: {paper!r} "
                             f"({exc})") from None
    else:
        raise ValueError(f"paper must be one of {paper_names()} or an importable module. Received: {paper!r}")
    missing = [name for name in REQUIRED if not hasattr(module, name)]
    if missing:
        raise ValueError(f"{module.__name__} is not a dermkit paper module: it lacks {missing}")
    return module
