"""Lock rules (issue 17): a lock is never taken from a live process — same host: only when its pid is gone
(``--lock-timeout 0`` included); another host: only when its heartbeat is older than the timeout; a 0-byte or
unreadable lock only when older than both the timeout and 10 s, with a message naming the file to delete;
``--overwrite`` refused while a live process holds a lock in the folder. Unit rules on ``RowLock`` /
``lock_is_stale`` (no TensorFlow), then the engine through ``reproduce`` / the CLI on the tiny paper."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dermkit.training.locks import UNREADABLE_GRACE, RowLock, _process_start, lock_is_stale, waiting_message

HERE = Path(__file__).parent


@pytest.fixture
def sleeper():
    """A live process on this host (a lock owner that is not us)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    time.sleep(0.1)
    yield proc
    proc.kill()
    proc.wait()


def _write_lock(path: Path, *, age: float = 0.0, **owner) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(owner) if owner else "")
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def _here(pid: int, **extra) -> dict:
    return {"host": socket.gethostname(), "pid": pid, "proc_start": _process_start(pid), "start": time.time(),
            **extra}


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


# -- the rules ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("timeout", [0.0, 600.0])
def test_a_live_same_host_owner_is_never_stale_whatever_the_timeout(tmp_path, sleeper, timeout):
    lock = _write_lock(tmp_path / "a.lock", age=10_000, **_here(sleeper.pid, heartbeat=0.05))
    assert not lock_is_stale(lock, timeout)  # silent for hours, but alive
    assert RowLock(lock, timeout=timeout).acquire() is False
    assert json.loads(lock.read_text())["pid"] == sleeper.pid  # untouched
    mine = _write_lock(tmp_path / "b.lock", age=10_000, **_here(os.getpid()))
    assert not lock_is_stale(mine, timeout)


def test_a_lock_held_by_a_running_process_is_never_taken_with_timeout_zero(tmp_path):
    path = tmp_path / "held.lock"
    code = ("import sys, time; from dermkit.training.locks import RowLock; "
            f"lock = RowLock({str(path)!r}, timeout=0); assert lock.acquire(); print('held', flush=True); "
            "time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "held"
        contender = RowLock(path, timeout=0, log=lambda m: None)
        for _ in range(5):  # across several of the holder's heartbeats (0.05 s)
            assert contender.acquire() is False
            time.sleep(0.1)
        assert json.loads(path.read_text())["pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()
    assert contender.acquire() is True  # its pid gone: stale at once
    contender.release()
    assert not path.exists()


def test_a_same_host_lock_is_stale_when_its_pid_is_gone_or_reused(tmp_path, sleeper):
    assert lock_is_stale(_write_lock(tmp_path / "dead.lock", **_here(_dead_pid())), 600)
    start = _process_start(sleeper.pid)
    if start is None:
        pytest.skip("no /proc start ticks on this platform")
    reused = _write_lock(tmp_path / "reused.lock", **{**_here(sleeper.pid), "proc_start": start - 1})
    assert lock_is_stale(reused, 600)  # the pid now belongs to a younger process


def test_another_hosts_lock_is_kept_while_its_heartbeat_is_fresh(tmp_path):
    owner = {"host": "other-node.example", "pid": 1, "start": time.time(), "heartbeat": 5.0}
    fresh = _write_lock(tmp_path / "fresh.lock", age=100, **owner)
    assert not lock_is_stale(fresh, 600)
    old = _write_lock(tmp_path / "old.lock", age=700, **owner)
    assert lock_is_stale(old, 600)
    assert RowLock(old, timeout=600, log=lambda m: None).acquire() is True


def test_another_hosts_lock_needs_three_silent_heartbeats(tmp_path):
    owner = {"host": "other-node.example", "pid": 1, "start": time.time(), "heartbeat": 30.0}
    assert not lock_is_stale(_write_lock(tmp_path / "a.lock", age=60, **owner), 0)  # < 3 × 30 s
    assert lock_is_stale(_write_lock(tmp_path / "b.lock", age=100, **owner), 0)


@pytest.mark.parametrize("content", [b"", b'{"host": "x", "pi'], ids=["empty", "half-written"])
def test_an_unreadable_lock_is_stale_only_after_the_timeout_and_ten_seconds(tmp_path, content):
    assert UNREADABLE_GRACE == 10.0
    path = tmp_path / "u.lock"

    def aged(age):
        path.write_bytes(content)
        os.utime(path, (time.time() - age, time.time() - age))
        return path

    assert not lock_is_stale(aged(0), 0)  # may be being written right now
    assert not lock_is_stale(aged(8), 0)
    assert lock_is_stale(aged(11), 0)
    assert not lock_is_stale(aged(11), 600)
    assert lock_is_stale(aged(601), 600)
    message = waiting_message(aged(0), "row_a.r0", 0)
    assert f"its lock file {path} is empty or unreadable" in message
    assert f"If in doubt and no dermkit process uses this folder, delete {path}" in message


def test_release_removes_only_our_own_lock(tmp_path):
    lock = RowLock(tmp_path / "r.lock", timeout=1)
    assert lock.acquire()
    assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    lock.path.write_text(json.dumps({"host": "other-node.example", "pid": 1}))  # taken over meanwhile
    lock.release()
    assert lock.path.exists()


# -- through the engine -------------------------------------------------------------------------------------
needs_tf = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="the engine trains with TF")
sys.path.insert(0, str(HERE))
import _tiny_paper as tiny  # noqa: E402

from dermkit.cli import main  # noqa: E402
from dermkit.training.options import RunOptions  # noqa: E402
from dermkit.training.runner import reproduce  # noqa: E402


@pytest.fixture(autouse=True)
def _reset_calls():
    tiny.CALLS.clear()
    tiny.FAIL_AT_EPOCH.clear()


def _release_later(proc_or_path, seconds: float, seen: list) -> threading.Thread:
    """After ``seconds``, note which rows ran meanwhile, then end the owner (kill it / delete the file)."""

    def run():
        time.sleep(seconds)
        seen.append(list(tiny.CALLS))
        if isinstance(proc_or_path, Path):
            proc_or_path.unlink(missing_ok=True)
        else:
            proc_or_path.kill()
            proc_or_path.wait()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@needs_tf
def test_lock_timeout_zero_never_takes_a_live_processs_row(tmp_path, sleeper, capsys):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, rows=("row_b",), verbose=0))
    lock = _write_lock(out / "locks" / "row_a.r0.lock", age=10_000, **_here(sleeper.pid, heartbeat=0.05))
    seen: list = []
    _release_later(sleeper, 2.0, seen).join(0)
    assert main(["reproduce", "_tiny_paper", "--rows", "row_a", "--lock-timeout", "0", "--quiet",
                 "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert seen == [["row_b"]]  # row_a did not run while its owner lived
    assert f"row_a: running in pid {sleeper.pid}" in printed and f"took over the stale lock {lock}" in printed
    assert tiny.CALLS == ["row_b", "row_a"]
    history = (out / "work" / "row_a.r0" / "fit" / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["0", "1", "2"]  # trained once, not 0,1,2,1,2


@needs_tf
def test_another_hosts_row_is_waited_for_until_its_heartbeat_is_older_than_the_timeout(tmp_path, capsys):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, rows=("row_b",), verbose=0))
    lock = _write_lock(out / "locks" / "row_a.r0.lock", host="other-node.example", pid=1, start=time.time(),
                       heartbeat=0.5)
    started = time.time()
    capsys.readouterr()
    reproduce(tiny, RunOptions(output=out, rows=("row_a",), lock_timeout=2.0, poll=0.2, verbose=0))
    printed = capsys.readouterr().out
    assert "row_a: running in pid 1 on other-node.example" in printed
    assert f"took over the stale lock {lock} of pid 1 on other-node.example" in printed
    assert time.time() - started >= 2.0 and tiny.CALLS == ["row_b", "row_a"]


@needs_tf
def test_an_empty_lock_is_waited_for_with_the_file_to_delete_then_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, rows=("row_b",), verbose=0))
    lock = _write_lock(out / "locks" / "row_a.r0.lock", age=UNREADABLE_GRACE - 2)
    started = time.time()
    capsys.readouterr()
    reproduce(tiny, RunOptions(output=out, rows=("row_a",), lock_timeout=0, poll=0.2, verbose=0))
    printed = capsys.readouterr().out
    assert f"If in doubt and no dermkit process uses this folder, delete {lock}" in printed
    assert f"took over the stale lock {lock}" in printed and tiny.CALLS == ["row_b", "row_a"]
    assert time.time() - started >= 1.5  # not before the 10 s grace since its last change


@needs_tf
def test_overwrite_is_refused_while_a_live_process_holds_a_lock(tmp_path, sleeper, capsys):
    out = tmp_path / "run"
    reproduce(tiny, RunOptions(output=out, rows=("row_b",), verbose=0))
    lock = _write_lock(out / "locks" / "row_a.r0.lock", **_here(sleeper.pid))
    argv = ["reproduce", "_tiny_paper", "--rows", "row_b", "--overwrite", "--quiet", "--output", str(out)]
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"--overwrite refused: another process is working in {out} (it holds {lock} (pid {sleeper.pid}" in err
    assert (out / "rows" / "row_b.r0.json").is_file() and lock.is_file()  # nothing deleted
    sleeper.kill()
    sleeper.wait()
    assert main(argv) == 0  # the owner gone: --overwrite starts afresh
    assert tiny.CALLS == ["row_b", "row_b"]
