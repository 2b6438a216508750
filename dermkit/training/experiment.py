"""Rows of a paper's grid as data, their identity (fingerprints), repeats and the mean ± std over repeats.

No TensorFlow: reading a grid, planning a run or writing a report never pays TensorFlow's start-up.

A row (:class:`Experiment`) is pure data. One *unit* of work is a row at one repeat index; the engine
(:mod:`dermkit.training.runner`) runs units, stores each as ``rows/<key>.r<repeat>.json`` together with its
:func:`fingerprint`, and hands the paper's ``make_tables`` the mean over repeats (:func:`aggregate_repeats`),
whose numbers are :class:`MeanStd` floats that tables print as ``mean ± std`` when there are several.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "Experiment",
    "MeanStd",
    "aggregate_repeats",
    "fingerprint",
    "identity",
    "describe_change",
    "select_rows",
    "dependency_closure",
    "shard_of",
]

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One row of a paper's experiment grid (pure data).

    Attributes:
        key: unique, file-name-safe id (``"t4_row3"``); ``--rows`` patterns match it.
        label: how the row reads in the paper's table.
        tables: the tables this row feeds (``("III", "IV")``).
        params: the row's settings (model, loss, optimiser, ...), read by the paper's recipe. Part of the
            row's fingerprint: editing them makes a stored result stale.
        reported: the paper's numbers, ``{table: {metric: value}}``.
        quick: part of the ``--quick`` run.
        depends_on: keys of rows whose results or artifacts this row reads (through ``session.artifact`` /
            ``session.result``). They run first, also when not selected, and are part of the fingerprint.
        repeats: how many times the row runs (repeat ``r`` with seed ``seed + r``); the tables show the mean
            (and ``± std`` when several). ``--repeats N`` overrides it for every row.
    """

    key: str
    label: str
    tables: tuple[str, ...]
    params: Mapping[str, Any]
    reported: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    quick: bool = False
    depends_on: tuple[str, ...] = ()
    repeats: int = 1

    def __post_init__(self):
        if not isinstance(self.key, str) or not _KEY.match(self.key):
            raise ValueError(f"an experiment key must be a file-name-safe string. Received: key={self.key!r}")
        if isinstance(self.tables, str) or isinstance(self.depends_on, str):
            raise TypeError(f"{self.key}: tables and depends_on are tuples of strings, not one string")
        if not isinstance(self.repeats, int) or self.repeats < 1:
            raise ValueError(f"{self.key}: repeats must be an integer ≥ 1. Received: repeats={self.repeats!r}")
        if self.key in self.depends_on:
            raise ValueError(f"{self.key} depends on itself")


# -- identity ----------------------------------------------------------------------------------------------
#: Run options that change results (and so belong to a row's identity). Strategy, verbosity and output do not.
IDENTITY_OPTIONS = ("data", "quick", "epochs", "mixed_precision", "jit", "deterministic")


def _canonical(value: Any) -> Any:
    """JSON-able, order-independent form of params (tuples → lists, mappings sorted, floats exact)."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float):
        return repr(value) if not math.isfinite(value) else value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "tolist"):
        return _canonical(value.tolist())
    return repr(value)


def identity(paper_name: str, paper_version: Any, exp: Experiment, repeat: int, seed: int,
             options: Mapping[str, Any], dependencies: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What a stored row must match to be reused: paper name and ``VERSION``, the row's params, repeat and
    seed, the result-changing run options (:data:`IDENTITY_OPTIONS`) and the dependencies' fingerprints."""
    return {
        "paper": paper_name,
        "version": _canonical(paper_version),
        "params": _canonical(dict(exp.params)),
        "repeat": int(repeat),
        "seed": int(seed),
        "options": {name: _canonical(options.get(name)) for name in IDENTITY_OPTIONS},
        "dependencies": dict(sorted((dependencies or {}).items())),
    }


def fingerprint(ident: Mapping[str, Any]) -> str:
    """SHA-256 (hex, 16 characters) of an :func:`identity`."""
    text = json.dumps(_canonical(dict(ident)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def describe_change(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str:
    """Why a stored row is stale, in a few words: ``"seed 0 → 123"``, ``"params.lr 0.001 → 0.01"``."""
    if not old:
        return "no identity recorded"
    changes: list[str] = []

    def walk(a, b, path):
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for k in sorted(set(a) | set(b)):
                walk(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        elif a != b:
            name = path.replace("options.", "").replace("dependencies.", "dependency ")
            changes.append(f"{name} {a!r} → {b!r}" if not name.startswith("dependency ") else f"{name} changed")

    walk(old, new, "")
    return ", ".join(changes[:4]) + (f", … ({len(changes)} changes)" if len(changes) > 4 else "") or "unknown"


# -- selection, dependencies, shards -----------------------------------------------------------------------
def select_rows(experiments: Sequence[Experiment], paper_tables: Sequence[str], *, tables: Sequence[str] = ("all",),
                quick: bool = False, rows: Sequence[str] | None = None, name: str = "paper") -> list[Experiment]:
    """Rows feeding ``tables`` (``"all"``: every table), quick rows only when ``quick``, and — when ``rows``
    is given — only keys matching one of its fnmatch patterns. Grid order is kept.

    Raises:
        ValueError: an unknown table; a pattern that matches no row of the grid; with ``quick``, a pattern
            whose rows (in ``tables``) have no quick variant, or tables with no quick row at all — a quick run
            never writes empty tables.
    """
    wanted = set(paper_tables) if "all" in tables else set(tables)
    unknown = wanted - set(paper_tables)
    if unknown:
        raise ValueError(f"{name} has tables {tuple(paper_tables)}. Received: {sorted(unknown)}")
    in_tables = [e for e in experiments if wanted & set(e.tables)]
    chosen = [e for e in in_tables if e.quick or not quick]
    if rows:
        keys = [e.key for e in experiments]
        for pattern in rows:
            if not fnmatch.filter(keys, pattern):
                raise ValueError(f"--rows {pattern!r} matches no row of {name}; its rows are: {', '.join(keys)}")
            matched = [e.key for e in in_tables if fnmatch.fnmatchcase(e.key, pattern)]
            if quick and matched and not any(e.key in matched for e in chosen):
                quick_keys = [e.key for e in in_tables if e.quick]
                raise ValueError(
                    f"--quick --rows {pattern!r}: {', '.join(matched)} of {name} "
                    f"{'has' if len(matched) == 1 else 'have'} no quick variant; its quick rows are: "
                    f"{', '.join(quick_keys) or 'none'} (drop --quick to run the full-size row)")
        chosen = [e for e in chosen if any(fnmatch.fnmatchcase(e.key, p) for p in rows)]
    if quick and not chosen and in_tables:
        raise ValueError(f"--quick: {name} has no quick row in tables {sorted(wanted)}; its quick rows are: "
                         f"{', '.join(e.key for e in experiments if e.quick) or 'none'}")
    return chosen


def dependency_closure(selected: Iterable[Experiment], experiments: Sequence[Experiment]) -> list[Experiment]:
    """The selected rows and everything they depend on, dependencies first (grid order among equals).

    Raises:
        ValueError: an unknown dependency key, or a cycle (named).
    """
    by_key = {e.key: e for e in experiments}
    if len(by_key) != len(experiments):
        keys = [e.key for e in experiments]
        raise ValueError(f"duplicate experiment keys: {sorted({k for k in keys if keys.count(k) > 1})}")
    order: list[Experiment] = []
    state: dict[str, str] = {}

    def visit(key: str, path: tuple[str, ...]):
        if key not in by_key:
            who = f"{path[-1]} depends on {key!r}" if path else f"{key!r} is selected"
            raise ValueError(f"{who}, which is not a row of the grid")
        if state.get(key) == "done":
            return
        if state.get(key) == "active":
            cycle = path[path.index(key):] + (key,)
            raise ValueError(f"dependency cycle: {' → '.join(cycle)}")
        state[key] = "active"
        for dep in by_key[key].depends_on:
            visit(dep, path + (key,))
        state[key] = "done"
        order.append(by_key[key])

    for exp in selected:
        visit(exp.key, ())
    return order


def shard_of(selected: Sequence[Experiment], experiments: Sequence[Experiment], num_shards: int) -> dict[str, int]:
    """Which shard (0-based) owns each row of the plan: the selected rows round-robin in grid order; a
    dependency belongs to the shard of the first selected row (grid order) that needs it."""
    by_key = {e.key: e for e in experiments}
    owner: dict[str, int] = {}
    for i, exp in enumerate(selected):
        owner.setdefault(exp.key, i % num_shards)
    for i, exp in enumerate(selected):
        stack = list(exp.depends_on)
        while stack:
            dep = stack.pop()
            if dep not in owner:
                owner[dep] = i % num_shards
                stack.extend(by_key[dep].depends_on)
    return owner


# -- repeats -----------------------------------------------------------------------------------------------
class MeanStd(float):
    """A float that is the mean over repeats and keeps them: ``.values``, ``.std`` (sample std, ddof = 1;
    0 for one value), ``.n``. Arithmetic gives plain floats; tables print ``mean ± std`` when ``n > 1``."""

    values: tuple[float, ...]

    def __new__(cls, values: Sequence[float]):
        values = tuple(float(v) for v in values)
        if not values:
            raise ValueError("MeanStd needs at least one value")
        finite = [v for v in values if not math.isnan(v)]
        mean = math.fsum(finite) / len(finite) if finite else math.nan
        obj = super().__new__(cls, mean)
        obj.values = values
        return obj

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def std(self) -> float:
        finite = [v for v in self.values if not math.isnan(v)]
        if len(finite) < 2:
            return 0.0
        mean = float(self)
        return math.sqrt(math.fsum((v - mean) ** 2 for v in finite) / (len(finite) - 1))

    def __reduce__(self):
        return (MeanStd, (self.values,))

    def __repr__(self) -> str:
        return f"MeanStd({float(self)!r} ± {self.std!r}, n={self.n})"

    def __str__(self) -> str:
        return float.__repr__(self)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def aggregate_repeats(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The mean over repeats of result dicts of the same shape.

    Numbers found at the same place in every repeat become :class:`MeanStd` (floats: the mean); nested
    mappings are aggregated recursively; anything else (strings, lists of per-image values, ...) is repeat
    0's. With one repeat the numbers are :class:`MeanStd` of one value.
    """
    if not results:
        return {}
    first = results[0]
    out: dict[str, Any] = {}
    for key, value in first.items():
        others = [r.get(key) for r in results]
        if _is_number(value) and all(_is_number(v) for v in others):
            out[key] = MeanStd(others)
        elif isinstance(value, Mapping) and all(isinstance(v, Mapping) for v in others):
            out[key] = aggregate_repeats(others)
        else:
            out[key] = value
    return out
