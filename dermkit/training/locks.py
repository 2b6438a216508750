"""Lock files that let several processes share one run folder (shards on several machines, two runs on one).

A lock is a small JSON file (host, pid, the process's start tick, start time, heartbeat interval) created
atomically with ``O_CREAT | O_EXCL``; while held, a daemon thread refreshes its modification time (a
heartbeat). A lock is never taken over from a live process. It is *stale* — and is taken over with a warning —

* on this host: only when its pid is gone (or the pid now belongs to a younger process: a reused pid);
  the timeout plays no part, so ``--lock-timeout 0`` cannot take a running row away;
* on another host: only when its heartbeat is older than ``timeout`` seconds and than three of the owner's
  heartbeat intervals;
* unreadable or empty (being written, or left by a crash): only when its modification time is older than
  both ``timeout`` and :data:`UNREADABLE_GRACE` seconds.

No TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["RowLock", "LockHeld", "read_lock", "lock_is_stale", "waiting_message", "DEFAULT_LOCK_TIMEOUT",
           "UNREADABLE_GRACE"]

#: Seconds without a heartbeat after which a lock held on another host counts as abandoned.
DEFAULT_LOCK_TIMEOUT = 600.0
#: Seconds an unreadable (empty, half-written) lock file is always given before it may count as abandoned.
UNREADABLE_GRACE = 10.0


def _process_start(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (Linux ``/proc``), None where unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        return int(text.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


class LockHeld(RuntimeError):
    """The lock is held by a live process (``.owner`` says which)."""

    def __init__(self, path: Path, owner: dict[str, Any]):
        super().__init__(f"{path} is held by {describe_owner(owner)}")
        self.path = path
        self.owner = owner


def describe_owner(owner: dict[str, Any] | None) -> str:
    if not owner:
        return "an unknown process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner.get("start", 0)))
    return f"pid {owner.get('pid')} on {owner.get('host')} (since {started})"


def read_lock(path: str | os.PathLike) -> dict[str, Any] | None:
    """The lock's owner record, or None when there is no lock (or it is unreadable: being written)."""
    try:
        owner = json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    except OSError:  # a folder, a permission problem: unreadable
        return None
    return owner if isinstance(owner, dict) else None


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def _owner_alive_here(owner: dict[str, Any]) -> bool:
    try:
        pid = int(owner.get("pid", -1))
    except (TypeError, ValueError):
        return False
    if not _pid_alive(pid):
        return False
    recorded, now = owner.get("proc_start"), _process_start(pid)
    return recorded is None or now is None or int(recorded) == now  # another start tick: the pid was reused


def lock_is_stale(path: str | os.PathLike, timeout: float = DEFAULT_LOCK_TIMEOUT) -> bool:
    """True when the lock at ``path`` exists and may be taken over (see the module docstring): its owner's pid
    is gone on this host; another host's owner is silent for ``timeout`` s (and 3 of its heartbeats); an
    unreadable file is older than both ``timeout`` and :data:`UNREADABLE_GRACE`."""
    path = Path(path)
    owner = read_lock(path)
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if owner is None:  # unreadable: a writer between create and write, or garbage left by a crash
        return age > max(float(timeout), UNREADABLE_GRACE)
    if owner.get("host") == socket.gethostname():
        return not _owner_alive_here(owner)
    try:
        beat = float(owner.get("heartbeat") or 0.0)
    except (TypeError, ValueError):
        beat = 0.0
    return age > max(float(timeout), 3 * beat)


def waiting_message(path: str | os.PathLike, what: str | None = None, timeout: float = DEFAULT_LOCK_TIMEOUT) -> str:
    """What a process waiting for the lock at ``path`` tells the user: who holds it — or, for an unreadable
    lock file, that it may be being written and which file to delete if no process is using the folder."""
    path = Path(path)
    owner = read_lock(path)
    if owner is None and path.exists():
        wait = max(float(timeout), UNREADABLE_GRACE)
        return (f"waiting for {what or path.name}: its lock file {path} is empty or unreadable (being written, or "
                f"left by a killed process); it counts as abandoned {wait:.0f} s after its last change. If in "
                f"doubt and no dermkit process uses this folder, delete {path}")
    return f"waiting for {what or path.name}: held by {describe_owner(owner)}"


class RowLock:
    """An exclusive, heartbeat-refreshed lock file.

    Use :meth:`acquire` (non-blocking: returns False when a live process holds it) and :meth:`release`, or
    :meth:`hold` as a context manager that waits (polling) until the lock is free.

    Args:
        path: the lock file (``<run>/locks/<unit>.lock``).
        timeout: seconds without a heartbeat after which another host's lock is stale (default 600).
        heartbeat: seconds between heartbeats (default ``timeout / 10``, at most 30).
        log: where take-over and waiting messages go (default: ``warnings.warn``).
    """

    def __init__(self, path: str | os.PathLike, *, timeout: float = DEFAULT_LOCK_TIMEOUT,
                 heartbeat: float | None = None, log: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.timeout = float(timeout)
        self.heartbeat = float(heartbeat) if heartbeat else min(30.0, max(0.05, self.timeout / 10))
        self.log = log or (lambda message: warnings.warn(message, stacklevel=3))
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._thread is not None

    def owner(self) -> dict[str, Any] | None:
        return read_lock(self.path)

    def acquire(self) -> bool:
        """Take the lock if it is free or stale (stale: taken over with a warning). False if held by a live process."""
        if self.held:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"host": socket.gethostname(), "pid": os.getpid(), "proc_start": _process_start(os.getpid()),
                  "start": time.time(), "heartbeat": self.heartbeat}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not lock_is_stale(self.path, self.timeout):
                    return False
                owner = read_lock(self.path)
                aside = self.path.with_name(f"{self.path.name}.stale-{os.getpid()}-{time.time_ns()}")
                try:
                    os.rename(self.path, aside)  # only one contender wins this rename
                except FileNotFoundError:
                    continue
                aside.unlink(missing_ok=True)
                self.log(f"took over the stale lock {self.path} of {describe_owner(owner)}")
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
            self._start_heartbeat()
            return True
        return False

    def _start_heartbeat(self) -> None:
        stop = threading.Event()

        def beat():
            while not stop.wait(self.heartbeat):
                with contextlib.suppress(FileNotFoundError):
                    os.utime(self.path)

        self._stop = stop
        self._thread = threading.Thread(target=beat, name=f"dermkit-lock-{self.path.name}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop the heartbeat and remove the lock file (only if this process still owns it)."""
        if not self.held:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._thread = self._stop = None
        owner = read_lock(self.path)
        if owner and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
            self.path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def hold(self, *, poll: float = 1.0, what: str | None = None) -> Iterator[RowLock]:
        """Wait until the lock is ours, hold it for the body, release it."""
        told = False
        while not self.acquire():
            if not told:
                self.log(waiting_message(self.path, what, self.timeout))
                told = True
            time.sleep(poll)
        try:
            yield self
        finally:
            self.release()
