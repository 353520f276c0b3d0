"""Stopping on SIGINT and SIGTERM without orphans or half-written runs.

Python turns SIGINT into ``KeyboardInterrupt``, but SIGTERM (what ``kill``, a cluster's scheduler
and ``make``'s process group receive) ends a process on the spot, without running a ``finally``:
locks stay taken and worker processes go on training. :func:`stop_on_signals` makes SIGTERM raise
:class:`Stopped` too, so that every ``finally`` runs (each run's lock released, its checkpoint left
to resume from, worker processes ended). A worker process calls :func:`as_worker` first: it stops
with its parent (even one killed outright) and never starts another run once told to stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Iterator

received: signal.Signals | None = None
"""The stop signal this process received, if any (the command line reports it)."""


class Stopped(KeyboardInterrupt):
    """SIGTERM received: raised where the main thread is, like SIGINT's ``KeyboardInterrupt``."""


def _stop(signum: int, frame) -> None:
    global received
    received = signal.Signals(signum)
    for s in (signal.SIGTERM, signal.SIGINT):  # the unwinding that follows is not to be interrupted in turn
        signal.signal(s, signal.SIG_IGN)
    raise Stopped(f"stopped by {received.name}")


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within: SIGTERM raises :class:`Stopped` (and SIGINT ``KeyboardInterrupt``, noted in
    :data:`received`) in the main thread. Elsewhere than in the main thread it changes nothing."""
    try:
        previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not the main thread: signals are the main thread's business
        yield
        return
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """SIGTERM to this process when its parent dies (Linux; elsewhere nothing): for a child process,
    before it runs anything (``subprocess.Popen(preexec_fn=die_with_parent)``)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


_busy = False  # a worker inside a task (stopped, it unwinds it: locks released); idle, it just exits


def _stop_worker(signum: int, frame) -> None:
    if _busy:
        _stop(signum, frame)
    os._exit(128 + signum)


@contextlib.contextmanager
def task() -> Iterator[None]:
    """A worker's task: a stop signal raises inside it (so its ``finally`` blocks run) and ends the
    process after it, instead of letting the worker take another one."""
    global _busy
    _busy = True
    try:
        yield
    except (KeyboardInterrupt, SystemExit):  # Lightning turns a stop in training into SystemExit
        if received is None:
            raise
        os._exit(128 + received)
    finally:
        _busy = False


def as_worker(parent: int) -> None:
    """In a worker process of ``parent`` (its pid): SIGTERM when the parent dies (Linux); SIGTERM or
    SIGINT end it, inside a :func:`task` by raising there."""
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, _stop_worker)
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above
        os.kill(os.getpid(), signal.SIGTERM)
