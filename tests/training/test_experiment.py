"""Rows as data (no TensorFlow): selection, dependency order and cycles, shards, fingerprints, repeats, locks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from dermkit.training.experiment import (
    Experiment,
    MeanStd,
    aggregate_repeats,
    dependency_closure,
    describe_change,
    fingerprint,
    identity,
    select_rows,
    shard_of,
)
from dermkit.training.locks import RowLock, lock_is_stale
from dermkit.training.options import RunOptions, parse_data_roots, parse_shard
from dermkit.training.report import Table, TableRow, format_value


def _e(key, deps=(), tables=("T",), quick=False, repeats=1, **params):
    return Experiment(key, key, tables, params, depends_on=tuple(deps), quick=quick, repeats=repeats)


GRID = [_e("a"), _e("b", ["a"]), _e("c", ["b"], quick=True), _e("d", tables=("U",)), _e("e", ["a", "d"])]


def test_select_rows_by_table_quick_and_pattern():
    assert [e.key for e in select_rows(GRID, ("T", "U"))] == ["a", "b", "c", "d", "e"]
    assert [e.key for e in select_rows(GRID, ("T", "U"), tables=("U",))] == ["d"]
    assert [e.key for e in select_rows(GRID, ("T", "U"), quick=True)] == ["c"]
    assert [e.key for e in select_rows(GRID, ("T", "U"), rows=("[ce]",))] == ["c", "e"]
    with pytest.raises(ValueError, match=r"--rows 'z\*' matches no row of paper; its rows are: a, b, c, d, e"):
        select_rows(GRID, ("T", "U"), rows=("z*",))
    with pytest.raises(ValueError, match=r"has tables \('T', 'U'\). Received: \['X'\]"):
        select_rows(GRID, ("T", "U"), tables=("X",))


def test_dependencies_come_first_once_even_when_not_selected():
    plan = dependency_closure([GRID[2], GRID[4]], GRID)  # c needs b needs a; e needs a and d
    assert [e.key for e in plan] == ["a", "b", "c", "d", "e"]


def test_cycles_and_unknown_dependencies_are_refused():
    grid = [_e("x", ["z"]), _e("y", ["x"]), _e("z", ["y"])]
    with pytest.raises(ValueError, match="dependency cycle: x → z → y → x"):
        dependency_closure([grid[0]], grid)
    with pytest.raises(ValueError, match="x depends on 'nope', which is not a row of the grid"):
        dependency_closure([_e("x", ["nope"])], [_e("x", ["nope"])])
    with pytest.raises(ValueError, match="depends on itself"):
        _e("x", ["x"])


def test_shards_partition_rows_and_give_a_dependency_to_its_first_user():
    selected = [GRID[2], GRID[3], GRID[4]]  # c, d, e
    owner = shard_of(selected, GRID, 2)
    # c → shard 0, d → 1, e → 0 (round robin); a and b are first needed by c (shard 0).
    assert owner == {"c": 0, "d": 1, "e": 0, "b": 0, "a": 0}
    assert set(shard_of(selected, GRID, 1).values()) == {0}


def _ident(exp, seed=0, repeat=0, **options):
    return identity("p", 1, exp, repeat, seed, {"data": "synthetic", "quick": True, **options})


def test_fingerprint_changes_with_what_changes_results_only():
    exp = _e("a", lr=1e-3, size=64)
    base = fingerprint(_ident(exp))
    assert fingerprint(_ident(_e("a", size=64, lr=1e-3))) == base  # params order does not matter
    assert fingerprint(_ident(exp, seed=1)) != base
    assert fingerprint(_ident(_e("a", lr=1e-2, size=64))) != base
    assert fingerprint(_ident(exp, quick=False)) != base
    assert fingerprint(_ident(exp, epochs=3)) != base
    assert fingerprint(identity("p", 2, exp, 0, 0, {"data": "synthetic", "quick": True})) != base  # VERSION
    assert fingerprint(_ident(exp, strategy="mirrored")) == base  # not an identity option


def test_describe_change_names_the_difference():
    exp = _e("a", lr=1e-3)
    assert describe_change(_ident(exp), _ident(exp, seed=123)) == "seed 0 → 123"
    assert describe_change(_ident(exp), _ident(_e("a", lr=0.01))) == "params.lr 0.001 → 0.01"


def test_mean_std_over_repeats():
    rows = [{"acc": 0.5, "per": {"MEL": 1.0}, "name": "x", "ids": [1]},
            {"acc": 0.7, "per": {"MEL": 0.0}, "name": "y", "ids": [2]}]
    agg = aggregate_repeats(rows)
    assert agg["acc"] == pytest.approx(0.6) and agg["acc"].std == pytest.approx(0.1414213562, rel=1e-6)
    assert agg["acc"].values == (0.5, 0.7) and agg["per"]["MEL"] == 0.5
    assert agg["name"] == "x" and agg["ids"] == [1]  # non-numbers: repeat 0's
    assert json.loads(json.dumps(agg["acc"])) == pytest.approx(0.6)  # a float to JSON
    assert format_value(agg["acc"]) == "0.600 ± 0.141"
    assert format_value(MeanStd([0.25])) == "0.250"  # one repeat: no ± part


def test_long_csv_lists_each_repeat_and_the_mean():
    table = Table("T", "t", ("acc",), [TableRow("r", {"acc": MeanStd([0.5, 0.7])}, {"acc": 0.65})], "d", False)
    frame = table.to_frame()
    assert list(frame["repeat"]) == ["mean", "0", "1"]
    assert list(frame["dermkit"]) == pytest.approx([0.6, 0.5, 0.7])
    assert "| r | 0.600 ± 0.141 | 0.650 |" in table.to_markdown()


def test_parse_shard_and_options():
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/2", "3/2", "1", "a/b"):
        with pytest.raises(ValueError, match="--shard must be I/N"):
            parse_shard(bad)
    with pytest.raises(ValueError, match="shard must be"):
        RunOptions(output="x", shard=(3, 2))


def test_parse_data_roots(tmp_path):
    (tmp_path / "HAM10000").mkdir()
    (tmp_path / "isic2020").mkdir()
    names = ("ham10000", "isic2020")
    assert parse_data_roots("synthetic", names) is None
    assert parse_data_roots(str(tmp_path), names) == {"ham10000": tmp_path / "HAM10000",
                                                        "isic2020": tmp_path / "isic2020"}
    assert parse_data_roots("ham10000=/a,isic2020=/b", names) == {"ham10000": tmp_path.__class__("/a"),
                                                                  "isic2020": tmp_path.__class__("/b")}
    assert parse_data_roots(str(tmp_path / "HAM10000"), ("isic2018",)) == {"isic2018": tmp_path / "HAM10000"}
    with pytest.raises(ValueError, match=r"--data names no root for \['isic2020'\]"):
        parse_data_roots("ham10000=/a", names)
    with pytest.raises(ValueError, match="--data must be 'synthetic', 'ham10000=ROOT,isic2020=ROOT'"):
        parse_data_roots("ham=/a", names)


def test_lock_is_exclusive_and_released(tmp_path):
    first, second = RowLock(tmp_path / "u.lock"), RowLock(tmp_path / "u.lock")
    assert first.acquire() and not second.acquire()
    owner = json.loads((tmp_path / "u.lock").read_text())
    assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
    first.release()
    assert not (tmp_path / "u.lock").exists() and second.acquire()
    second.release()


def test_lock_heartbeat_keeps_it_fresh(tmp_path):
    lock = RowLock(tmp_path / "u.lock", timeout=0.5, heartbeat=0.05)
    assert lock.acquire()
    old = time.time() - 10
    os.utime(lock.path, (old, old))
    time.sleep(0.3)
    assert time.time() - lock.path.stat().st_mtime < 0.5 and not lock_is_stale(lock.path, 0.5)
    lock.release()


def test_a_dead_owners_lock_is_taken_over_with_a_warning(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = tmp_path / "u.lock"
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "start": time.time()}))
    messages = []
    lock = RowLock(path, log=messages.append)
    assert lock_is_stale(path) and lock.acquire()
    assert messages and "took over the stale lock" in messages[0] and f"pid {int(dead.stdout)}" in messages[0]
    lock.release()


def test_another_hosts_lock_goes_stale_only_after_the_timeout(tmp_path):
    path = tmp_path / "u.lock"
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "start": time.time()}))
    assert not lock_is_stale(path, timeout=60) and not RowLock(path, timeout=60).acquire()
    old = time.time() - 120
    os.utime(path, (old, old))
    lock = RowLock(path, timeout=60, log=lambda m: None)
    assert lock_is_stale(path, timeout=60) and lock.acquire()
    lock.release()
