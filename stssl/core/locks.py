"""A lock per run, safe across processes and across machines sharing one file system.

The lock is a small JSON file created with ``O_EXCL`` (atomic on local file systems and on NFS v3+)
that names its owner: host, pid, the process's start time and when it took the lock. While the
owner trains, a background thread touches the file every ``heartbeat`` seconds. A lock is *stale*,
and may be taken over, when its owner is a process of this host that no longer exists, or when its
file has not been touched for ``stale_after`` seconds (an owner on another host that died). A
take-over is itself serialised through a second ``O_EXCL`` file, so two waiters never both take it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from stssl.core.checks import OneLineError

HEARTBEAT_S = float(os.environ.get("STSSL_LOCK_HEARTBEAT", 30))
STALE_AFTER_S = float(os.environ.get("STSSL_LOCK_STALE", 300))


def _process_start(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start is None or _process_start(pid) in (None, start)


@dataclass
class Owner:
    host: str
    pid: int
    started: float
    proc_start: str | None = None

    @classmethod
    def me(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), time.time(), _process_start(os.getpid()))

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.started))}"


class TakenOverError(OneLineError):
    """This process held a run's lock, stopped (paused, hung) long enough for another to take the run over."""

    def __init__(self, owner: Owner | None, path: Path):
        who = f"pid {owner.pid} on {owner.host}" if owner else "another process (it has finished it since)"
        super().__init__(
            f"this run was taken over by {who} while this process was stopped; it continues there, and "
            f"this process wrote nothing more ({path})"
        )
        self.owner, self.path = owner, path

    def __reduce__(self):  # raised in a worker process, re-raised in the notebook's
        return type(self), (self.owner, self.path)


class RunLock:
    """:meth:`acquire` tries once (callers decide how to wait); :meth:`release` gives it back."""

    def __init__(self, path: Path, heartbeat: float = HEARTBEAT_S, stale_after: float = STALE_AFTER_S):
        self.path, self.heartbeat, self.stale_after = Path(path), heartbeat, stale_after
        self._stop: threading.Event | None = None
        self._mine: Owner | None = None  # what this process wrote into the lock file

    # ----- state of the lock file ------------------------------------------------------
    def owner(self) -> Owner | None:
        """The current owner, or None when unlocked (or while its file is being written)."""
        try:
            return Owner(**json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def age(self) -> float | None:
        """Seconds since the owner's last heartbeat; None when unlocked."""
        try:
            return time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return None

    def is_stale(self, owner: Owner | None = None) -> bool:
        owner = owner or self.owner()
        age = self.age()
        if age is None:
            return False
        if owner is None:  # unreadable: stale only once nobody could still be writing it
            return age > self.stale_after
        if owner.host == socket.gethostname() and not _alive(owner.pid, owner.proc_start):
            return True
        return age > self.stale_after

    # ----- taking and giving back ------------------------------------------------------
    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        mine = Owner.me()
        with os.fdopen(fd, "w") as f:
            json.dump(mine.__dict__, f)
            f.flush()
            os.fsync(f.fileno())
        self._mine = mine
        return True

    def held(self) -> bool:
        """Whether the lock file still names this holder (not after a take-over by another process)."""
        return self._mine is not None and self.owner() == self._mine

    def check(self) -> None:
        """Raise :class:`TakenOverError` unless this process still holds the lock: every write of a run
        asks first, so an owner that was paused (a suspended laptop, a hung node) and then taken over
        writes nothing more beside the one that continues."""
        if not self.held():
            raise TakenOverError(self.owner(), self.path)

    def acquire(self) -> bool:
        """Take the lock if it is free or stale; True if this process now holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._create() and not self._take_over():
            return False
        self._start_heartbeat()
        return True

    def _take_over(self) -> bool:
        seen = self.owner()
        if not self.is_stale(seen):
            return False
        guard = self.path.with_name(self.path.name + ".takeover")
        try:
            fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:  # a waiter that died inside the few lines below
                if time.time() - guard.stat().st_mtime > self.stale_after:
                    guard.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            return False
        os.close(fd)
        try:  # still the same stale owner? (another waiter may have taken over and finished since)
            if self.owner() == seen and self.is_stale(seen):
                self.path.unlink(missing_ok=True)
            return self._create()
        finally:
            guard.unlink(missing_ok=True)

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None
        if self.held():
            self.path.unlink(missing_ok=True)
        self._mine = None

    def _start_heartbeat(self) -> None:
        stop = self._stop = threading.Event()

        def beat():
            while not stop.wait(self.heartbeat) and self.held():  # never refresh a lock taken over
                try:
                    os.utime(self.path)
                except FileNotFoundError:
                    return

        threading.Thread(target=beat, name=f"heartbeat {self.path.name}", daemon=True).start()
