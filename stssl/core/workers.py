"""Tasks in worker processes that end with their parent: the pool :func:`stssl.runs.get_runs` trains
in, and the one the book executes its pages in."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch

from stssl.core import signals


def in_workers(task: Callable, jobs: Iterable, workers: int, threads: int, done: Callable) -> None:
    """``task(job)`` for every job in ``workers`` processes (``threads`` torch threads each), calling
    ``done(result)`` here as each finishes.

    The workers are spawned, not forked (forking a process in which torch has run threads can
    deadlock), so ``task`` must be importable and a script calling this must keep its top level under
    ``if __name__ == "__main__":``. A failed task, a worker that dies, or a stop (SIGINT, or SIGTERM
    within :func:`~stssl.core.signals.stop_on_signals`) starts no queued job and ends the running
    ones, each unwinding its ``finally`` blocks (a run keeps its checkpoint), then raises here."""
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"), _start_worker, (os.getpid(), threads))
    try:
        for future in as_completed([pool.submit(_task, task, job) for job in jobs]):
            done(future.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in set(multiprocessing.active_children()) - before:
            worker.terminate()  # SIGTERM: each stops where it is, through its finally blocks
        raise
    finally:
        pool.shutdown(wait=True)


def _start_worker(parent: int, threads: int) -> None:
    signals.as_worker(parent)  # stops with its parent, and at SIGTERM
    torch.set_num_threads(threads)


def _task(task: Callable, job):
    with signals.task():
        return task(job)
