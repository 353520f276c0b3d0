"""Runs asked for by their config: a run is fully determined by its config, and is never trained twice.

:func:`get_run` reads a finished run from the cache (:mod:`stssl.cache`: ``<runs>/<dataset>/<key>/``)
or trains it there. It trains in ``<key>.partial/`` and is renamed to ``<key>/`` only once complete,
so an interrupted run is never mistaken for a finished one; asking for it again resumes from its
last checkpoint. One process trains a given run at a time, under the run's lock; others wait and
then read it. :func:`get_runs` trains the missing runs of a list in parallel worker processes.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from stssl.cache import DamagedRunError, Run, RunFolder, environment, load_run, run_dir, run_folder, runs_root
from stssl.config import RunConfig
from stssl.core import signals
from stssl.core.devices import check_device, resolve_device, usable_cores
from stssl.core.files import disk_error
from stssl.core.locks import TakenOverError
from stssl.core.workers import in_workers
from stssl.data import DataError, registry
from stssl.training import DivergedError, train

__all__ = ["Run", "default_workers", "get_run", "get_runs", "load_run", "run_dir", "runs_root"]


def _finish(cfg: RunConfig, partial: RunFolder, progress: bool) -> None:
    """Train (or resume) ``cfg`` in ``partial`` and write its result files."""
    partial.write_config(cfg)
    partial.check_checkpoint()  # resuming: the checkpoint must be whole
    try:
        module = train(cfg, partial, progress=progress)
    except DivergedError:
        shutil.rmtree(partial.path, ignore_errors=True)  # resuming would diverge again: nothing to keep
        raise
    metrics = module.final_metrics()
    partial.write_result(
        metrics,
        module.history,
        module.ema_nets.state_dict(),
        module.data.dataset,
        environment(check_device(cfg.device), module.trainer.precision),
    )


def get_run(cfg: RunConfig, root: Path | None = None, progress: bool = True, poll: float = 2.0) -> Run:
    """The finished run for ``cfg``: read from the cache, or trained (resumed) and cached.

    One process trains a given run at a time (:class:`~stssl.core.locks.RunLock`); another asking for
    it meanwhile waits, saying who trains it, and then reads the result. Every write of the run
    asks the lock first, so an owner that was paused and taken over stops at once, writing nothing
    (:class:`~stssl.core.locks.TakenOverError`). A partial folder that already holds a complete
    result (a process killed just before the final rename) is renamed, not retrained. A disk that
    refuses a write is one line (:class:`~stssl.core.files.DiskError`); a run that fails before its
    first checkpoint leaves no folder behind, one that fails later resumes from its checkpoint."""
    final = run_folder(cfg, root)
    if final.has_result():
        return load_run(final.path)
    check_device(cfg.device)
    try:
        return _train_once(cfg, final, progress, poll)
    except OSError as err:
        refused = disk_error(err, "ask for the run again once it can be written: it resumes from its last checkpoint")
        if refused is None:
            raise
        raise refused from None


def _train_once(cfg: RunConfig, final: RunFolder, progress: bool, poll: float) -> Run:
    lock = final.lock
    waiting = False
    while not lock.acquire():
        if final.has_result():
            return load_run(final.path)
        if not waiting:
            owner = lock.owner()
            print(
                f"waiting for run {final.key} ({cfg.describe()}): trained by "
                f"{owner.describe() if owner else 'another process'}",
                file=sys.stderr,
                flush=True,
            )
            waiting = True
        time.sleep(poll)
    try:
        if not final.has_result():
            partial = RunFolder(final.partial.path, fence=lock.check)
            fresh = not partial.path.exists()
            partial.path.mkdir(parents=True, exist_ok=True)
            try:
                try:
                    partial.read()
                except DamagedRunError:  # not complete: train what is missing
                    _finish(cfg, partial, progress)
                partial.publish()
            except BaseException as err:
                if not lock.held():  # taken over: whatever failed since (a logger writing into a folder the new
                    # owner has renamed), the run's files are the new owner's now
                    raise err if isinstance(err, TakenOverError) else TakenOverError(lock.owner(), lock.path) from err
                if fresh and not partial.checkpoint.exists():  # nothing worth resuming: no folder left behind
                    shutil.rmtree(partial.path, ignore_errors=True)
                raise
    finally:
        lock.release()
    return load_run(final.path)


def default_workers(cfgs: list[RunConfig]) -> int:
    """How many runs to train at once: one per core on a CPU-only machine (``$STSSL_WORKERS``
    overrides), one otherwise. A tiny ViT cannot keep two cores busy: two one-thread runs side by
    side finish ~1.45x sooner than the same two runs one after the other with two threads each."""
    if "STSSL_WORKERS" in os.environ:
        return max(1, int(os.environ["STSSL_WORKERS"]))
    if any(resolve_device(c.device) != "cpu" for c in cfgs):
        return 1
    return usable_cores()


def _train_in_worker(job: tuple[RunConfig, Path | None]) -> Path:
    cfg, root = job
    return get_run(cfg, root, progress=False).path


def check_data_roots(cfgs: list[RunConfig]) -> None:
    """Before anything trains: every run whose data set lives in a folder names one that exists (one
    line naming the first that does not), so that a page or a sweep fails at once, not in each worker."""
    for cfg in cfgs:
        if cfg.data_root is not None and Path(cfg.data_root).exists():
            continue
        if cfg.data_root is not None or registry.get(cfg.dataset).needs_root:
            where = f"data_root {cfg.data_root} does not exist" if cfg.data_root else "no data_root is given"
            raise DataError(
                f"{cfg.describe()}: {where}; give the folder its data set was downloaded to "
                f"(python -m stssl download {cfg.dataset} --root DIR; see the book's data page)"
            )


def get_runs(
    cfgs: list[RunConfig], root: Path | None = None, progress: bool = True, workers: int | None = None
) -> list[Run]:
    """Several runs in order, with one progress bar over them. Cached ones are read, not trained;
    the missing ones are trained ``workers`` at a time (default :func:`default_workers`), each in
    its own process with an equal share of the cores. A run is the same whichever process trains it.
    SIGINT or SIGTERM end every worker within a step (each run keeps its last checkpoint, to resume
    from) and say how many runs finished. The workers are spawned: a script calling this must keep
    its top level under ``if __name__ == "__main__":`` (notebooks need nothing)."""
    missing = list({run_dir(c, root): c for c in cfgs if not run_folder(c, root).has_result()}.values())
    check_data_roots(missing)
    workers = min(workers or default_workers(missing), len(missing)) if missing else 1
    bar = tqdm(total=len(cfgs), desc="runs", disable=not progress)
    bar.update(len(cfgs) - len([c for c in cfgs if c in missing]))
    done = 0
    try:
        with signals.stop_on_signals():
            if workers > 1:

                def finished(path: Path) -> None:
                    nonlocal done
                    done += 1
                    bar.update(sum(run_dir(c, root) == path for c in cfgs))

                threads = max(1, torch.get_num_threads() // workers)
                in_workers(_train_in_worker, [(c, root) for c in missing], workers, threads, finished)
            else:
                for cfg in missing:
                    bar.set_postfix_str(f"{cfg.algo}{'+ST' if cfg.st else ''} seed {cfg.seed}")
                    get_run(cfg, root, progress=False)
                    done += 1
                    bar.update(sum(c == cfg for c in cfgs))
    except KeyboardInterrupt:
        print(
            f"stopped: {done} of the {len(missing)} missing runs finished; the others resume from their last "
            "checkpoint when asked for again",
            file=sys.stderr,
            flush=True,
        )
        raise
    finally:
        bar.close()
    return [load_run(run_dir(c, root)) for c in cfgs]
