"""The run cache: a run is fully determined by its config, and is never trained twice.

``<runs>/<dataset>/<key>/`` holds ``config.yaml``, ``metrics.json``, ``history.csv`` (one row
per evaluation: metrics, pseudo-label quality and quantity), ``model.pt`` (the best EMA
networks), ``task.json`` (class names and pixel normalisation, for prediction),
``environment.json`` (versions, git commit, device) and ``logs/`` (Lightning's CSV log of the
loss and every evaluation, a ``version_N`` per start or resume). A run trains in
``<key>.partial/`` and is renamed to ``<key>/`` only once complete, so an interrupted run is
never mistaken for a finished one; asking for it again resumes from its last checkpoint.

The cache root is ``$STSSL_RUNS`` if set, else ``~/.cache/stssl/runs``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import yaml
from tqdm.auto import tqdm

import stssl
from stssl.checks import OneLineError
from stssl.config import RunConfig
from stssl.data import DataSplits, load_data
from stssl.devices import check_device, resolve_device, usable_cores
from stssl.files import fsync_dir, write_atomic, write_text_atomic
from stssl.locks import RunLock


def runs_root() -> Path:
    return Path(os.environ.get("STSSL_RUNS", Path.home() / ".cache" / "stssl" / "runs"))


def run_dir(cfg: RunConfig, root: Path | None = None) -> Path:
    return (root or runs_root()) / cfg.dataset / cfg.key()


@dataclass
class Run:
    config: RunConfig
    metrics: dict
    history: pd.DataFrame
    path: Path

    def predictor(self, device: str = "auto", dataset=None):
        """The run's best EMA networks ready to predict (:class:`stssl.predict.Predictor`); ``dataset``:
        its data set, when already loaded (its classes and normalisation)."""
        from stssl.predict import Predictor

        return Predictor.from_run(self, device, dataset)

    def data(self) -> DataSplits:
        """The run's data: its data set at its image size, its split and its labelled subset."""
        return run_data(self.config)

    def load_nets(self, map_location: str = "cpu") -> torch.nn.ModuleDict:
        """The best EMA networks (``teacher``/``student`` for ST runs, ``model`` otherwise)."""
        return self.predictor(map_location).nets


def run_data(cfg: RunConfig) -> DataSplits:
    """A run's data: its data set at the run's image size, its split and its labelled subset."""
    params = {"image_size": cfg.image_size, **cfg.dataset_params}
    return load_data(cfg.dataset, cfg.data_root, params, cfg.label_fraction, cfg.seed,
                     split=cfg.split, num_labels=cfg.num_labels)


class DamagedRunError(OneLineError):
    """A file of the run cache that cannot be what a finished run wrote: never read as a result."""

    def __init__(self, path: Path, problem: str):
        which = "partial" if path.parent.name.endswith(".partial") else "damaged"
        super().__init__(f"{path}: {problem}. Remove the run (`python -m stssl runs --remove-{which}`, or delete "
                         f"{path.parent}) and ask for it again to retrain it")
        self.path, self.problem = path, problem

    def __reduce__(self):  # raised in a worker process, re-raised in the notebook's
        return type(self), (self.path, self.problem)


def _environment(device: str, precision: str) -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(stssl.__file__).parent).stdout.strip() or None
    except OSError:
        commit = None
    return {"stssl": stssl.__version__, "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "host": socket.gethostname(), "device": device,
            "precision": precision,  # as computed: bf16 asked on a CPU without bf16 hardware ran in fp32
            "git_commit": commit, "threads": torch.get_num_threads()}


def _read(path: Path, parse, what: str):
    try:
        return parse(path)
    except FileNotFoundError:
        raise DamagedRunError(path, f"missing ({what})") from None
    except Exception as err:  # each parser has its own errors; all mean the same here
        raise DamagedRunError(path, f"unreadable {what} ({type(err).__name__}: {str(err).splitlines()[0][:120]})") from None


def _config(path: Path) -> RunConfig:
    fields = yaml.safe_load(path.read_text())
    if not isinstance(fields, dict):
        raise ValueError("not a mapping of config fields")
    return RunConfig(**fields)


def load_run(path: Path) -> Run:
    """A finished run's folder, checked: every file parses, the stored config hashes to the
    folder's key, the history has its rows up to the last step, the networks' file loads."""
    path = Path(path)
    key = path.name.removesuffix(".partial")
    cfg = _read(path / "config.yaml", _config, "run config")
    if cfg.key() != key:
        raise DamagedRunError(path / "config.yaml", f"this config hashes to {cfg.key()}, not to its folder's key {key} "
                              "(edited or copied from another run)")
    metrics = _read(path / "metrics.json", lambda p: json.loads(p.read_text()), "metrics (JSON)")
    if not isinstance(metrics, dict) or "steps_done" not in metrics:
        raise DamagedRunError(path / "metrics.json", "not the metrics of a finished run (no steps_done)")
    history = _read(path / "history.csv", pd.read_csv, "history (CSV)")
    if len(history) == 0 or "step" not in history or history["step"].isna().any() \
            or int(history["step"].iloc[-1]) != int(metrics["steps_done"]):
        raise DamagedRunError(path / "history.csv", f"{len(history)} rows, not every evaluation up to step "
                              f"{metrics['steps_done']} (truncated?)")
    _read(path / "model.pt", lambda p: torch.load(p, map_location="cpu", weights_only=True, mmap=True), "networks (torch)")
    return Run(cfg, metrics, history, path)


def run_status(final: Path) -> str:
    """``finished``, ``locked`` (being trained), ``partial`` (resumable), ``damaged`` or ``missing``."""
    lock = RunLock(final.with_name(final.name + ".lock"))
    if final.exists():
        try:
            load_run(final)
            return "finished"
        except DamagedRunError:
            return "damaged"
    if lock.age() is not None and not lock.is_stale():
        return "locked"
    return "partial" if final.with_name(final.name + ".partial").exists() else "missing"


def _finish(cfg: RunConfig, partial: Path, progress: bool) -> None:
    """Train (or resume) ``cfg`` in ``partial`` and write its result files, ``metrics.json`` last."""
    from stssl.callbacks import CHECKPOINT
    from stssl.predict import TASK_FILE, task_json
    from stssl.train import DivergedError, train

    write_text_atomic(partial / "config.yaml", yaml.safe_dump(json.loads(json.dumps(dataclasses.asdict(cfg))), sort_keys=False))
    if (partial / CHECKPOINT).exists():  # resuming: the checkpoint must be whole
        _read(partial / CHECKPOINT, lambda p: torch.load(p, map_location="cpu", weights_only=True, mmap=True),
              "checkpoint (torch)")
    try:
        module = train(cfg, partial, progress=progress)
    except DivergedError:
        shutil.rmtree(partial, ignore_errors=True)  # resuming would diverge again: nothing to keep
        raise
    metrics = module.final_metrics()
    write_atomic(partial / "model.pt", lambda tmp: torch.save(module.ema_nets.state_dict(), tmp))
    write_text_atomic(partial / TASK_FILE, task_json(module.data.dataset))
    write_atomic(partial / "history.csv", lambda tmp: pd.DataFrame(module.history).to_csv(tmp, index=False))
    device = check_device(cfg.device)
    environment = _environment(device, module.trainer.precision)
    write_text_atomic(partial / "environment.json", json.dumps(environment, indent=1))
    write_text_atomic(partial / "metrics.json", json.dumps(metrics, indent=1))


def get_run(cfg: RunConfig, root: Path | None = None, progress: bool = True, poll: float = 2.0) -> Run:
    """The finished run for ``cfg``: read from the cache, or trained (resumed) and cached.

    One process trains a given run at a time (:class:`~stssl.locks.RunLock`); another asking for
    it meanwhile waits, saying who trains it, and then reads the result. A partial folder that
    already holds a complete result (a process killed just before the final rename) is renamed,
    not retrained."""
    final = run_dir(cfg, root)
    if (final / "metrics.json").exists():
        return load_run(final)
    check_device(cfg.device)
    lock = RunLock(final.with_name(final.name + ".lock"))
    waiting = False
    while not lock.acquire():
        if (final / "metrics.json").exists():
            return load_run(final)
        if not waiting:
            owner = lock.owner()
            print(f"waiting for run {final.name} ({cfg.describe()}): trained by "
                  f"{owner.describe() if owner else 'another process'}", file=sys.stderr, flush=True)
            waiting = True
        time.sleep(poll)
    try:
        if not (final / "metrics.json").exists():
            from stssl.callbacks import CHECKPOINT

            partial = final.with_name(final.name + ".partial")
            partial.mkdir(parents=True, exist_ok=True)
            try:
                load_run(partial)
            except DamagedRunError:  # not complete: train what is missing
                _finish(cfg, partial, progress)
            (partial / CHECKPOINT).unlink(missing_ok=True)
            shutil.rmtree(final, ignore_errors=True)  # a damaged earlier result, if any
            os.replace(partial, final)
            fsync_dir(final.parent)
    finally:
        lock.release()
    return load_run(final)


def default_workers(cfgs: list[RunConfig]) -> int:
    """How many runs to train at once: one per core on a CPU-only machine (``$STSSL_WORKERS``
    overrides), one otherwise. A tiny ViT cannot keep two cores busy: two one-thread runs side by
    side finish ~1.45x sooner than the same two runs one after the other with two threads each."""
    if "STSSL_WORKERS" in os.environ:
        return max(1, int(os.environ["STSSL_WORKERS"]))
    if any(resolve_device(c.device) != "cpu" for c in cfgs):
        return 1
    return usable_cores()


def _train_in_worker(cfg: RunConfig, root: Path | None, threads: int) -> Path:
    torch.set_num_threads(threads)
    return get_run(cfg, root, progress=False).path


def get_runs(cfgs: list[RunConfig], root: Path | None = None, progress: bool = True,
             workers: int | None = None) -> list[Run]:
    """Several runs in order, with one progress bar over them. Cached ones are read, not trained;
    the missing ones are trained ``workers`` at a time (default :func:`default_workers`), each in
    its own process with an equal share of the cores. A run is the same whichever process trains it.
    The workers are spawned: a script calling this must keep its top level under
    ``if __name__ == "__main__":`` (notebooks need nothing)."""
    missing = list({run_dir(c, root): c for c in cfgs if not (run_dir(c, root) / "metrics.json").exists()}.values())
    workers = min(workers or default_workers(missing), len(missing)) if missing else 1
    bar = tqdm(total=len(cfgs), desc="runs", disable=not progress)
    bar.update(len(cfgs) - len([c for c in cfgs if c in missing]))
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        threads = max(1, torch.get_num_threads() // workers)
        # spawn, not fork: forking a process in which torch has run threads can deadlock
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_train_in_worker, c, root, threads): c for c in missing}
            for future in as_completed(futures):
                future.result()
                bar.update(sum(c == futures[future] for c in cfgs))
    else:
        for cfg in missing:
            bar.set_postfix_str(f"{cfg.algo}{'+ST' if cfg.st else ''} seed {cfg.seed}")
            get_run(cfg, root, progress=False)
            bar.update(sum(c == cfg for c in cfgs))
    bar.close()
    return [load_run(run_dir(c, root)) for c in cfgs]
