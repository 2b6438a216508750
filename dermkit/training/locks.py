"""Lock files that let several processes share one run folder (shards on several machines, two runs on one).

A lock is a small JSON file (host, pid, start time) created atomically with ``O_CREAT | O_EXCL``; while held,
a daemon thread refreshes its modification time (a heartbeat). A lock is *stale* — and is taken over with a
warning — when its pid is dead on this host, or when its heartbeat is older than ``timeout`` seconds (a
process on another host that died). No TensorFlow.
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

__all__ = ["RowLock", "LockHeld", "read_lock", "lock_is_stale", "DEFAULT_LOCK_TIMEOUT"]

#: Seconds without a heartbeat after which a lock held on another host counts as abandoned.
DEFAULT_LOCK_TIMEOUT = 600.0


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
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_is_stale(path: str | os.PathLike, timeout: float = DEFAULT_LOCK_TIMEOUT) -> bool:
    """True when the lock at ``path`` exists and its owner is dead on this host or silent for ``timeout`` s."""
    path = Path(path)
    owner = read_lock(path)
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if owner is None:  # unreadable: a writer between create and write, or garbage left by a crash
        return age > min(timeout, 60.0)
    if owner.get("host") == socket.gethostname() and not _pid_alive(int(owner.get("pid", -1))):
        return True
    return age > timeout


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
        record = {"host": socket.gethostname(), "pid": os.getpid(), "start": time.time()}
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
                self.log(f"waiting for {what or self.path.name}: held by {describe_owner(self.owner())}")
                told = True
            time.sleep(poll)
        try:
            yield self
        finally:
            self.release()
