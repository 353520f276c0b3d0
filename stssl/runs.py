"""The run cache: a run is fully determined by its config, and is never trained twice.

``<runs>/<dataset>/<key>/`` holds ``config.yaml``, ``metrics.json``, ``history.csv`` (one row
per evaluation: metrics, pseudo-label quality and quantity), ``model.pt`` (the best EMA
networks) and ``environment.json`` (versions, git commit, device). A run trains in
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
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import yaml
from tqdm.auto import tqdm

import stssl
from stssl.config import RunConfig


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

    def load_module(self, map_location: str = "cpu"):
        """The run's :class:`~stssl.train.SSLModule` (its data, algorithm and metadata encoding)
        with the best EMA networks loaded: what evaluating the run needs, with the data loaded once."""
        from stssl.train import SSLModule, load_run_data

        module = SSLModule(self.config, load_run_data(self.config))
        module.ema_nets.load_state_dict(torch.load(self.path / "model.pt", map_location=map_location))
        module.ema_nets.eval()
        return module

    def load_nets(self, map_location: str = "cpu") -> torch.nn.ModuleDict:
        """The best EMA networks (``teacher``/``student`` for ST runs, ``model`` otherwise)."""
        return self.load_module(map_location).ema_nets


def _environment(device: str) -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(stssl.__file__).parent).stdout.strip() or None
    except OSError:
        commit = None
    return {"stssl": stssl.__version__, "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "device": device, "git_commit": commit,
            "threads": torch.get_num_threads()}


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_run(path: Path) -> Run:
    cfg = RunConfig(**yaml.safe_load((path / "config.yaml").read_text()))
    return Run(cfg, json.loads((path / "metrics.json").read_text()), pd.read_csv(path / "history.csv"), path)


def get_run(cfg: RunConfig, root: Path | None = None, progress: bool = True) -> Run:
    """The finished run for ``cfg``: read from the cache, or trained (resumed) and cached."""
    final = run_dir(cfg, root)
    if (final / "metrics.json").exists():
        return load_run(final)
    from stssl.train import resolve_device, train

    partial = final.with_name(final.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    _write(partial / "config.yaml", yaml.safe_dump(json.loads(json.dumps(dataclasses.asdict(cfg))), sort_keys=False))
    module = train(cfg, partial, progress=progress)
    metrics = module.final_metrics()
    torch.save(module.ema_nets.state_dict(), partial / "model.pt")
    pd.DataFrame(module.history).to_csv(partial / "history.csv", index=False)
    _write(partial / "environment.json", json.dumps(_environment(resolve_device(cfg.device)), indent=1))
    _write(partial / "metrics.json", json.dumps(metrics, indent=1))
    (partial / "last.ckpt").unlink(missing_ok=True)
    if final.exists():  # a concurrent request finished the same run first: keep theirs
        shutil.rmtree(partial)
    else:
        os.replace(partial, final)
    return load_run(final)


def default_workers(cfgs: list[RunConfig]) -> int:
    """How many runs to train at once: one per core on a CPU-only machine (``$STSSL_WORKERS``
    overrides), one otherwise. A tiny ViT cannot keep two cores busy: two one-thread runs side by
    side finish ~1.45x sooner than the same two runs one after the other with two threads each."""
    if "STSSL_WORKERS" in os.environ:
        return max(1, int(os.environ["STSSL_WORKERS"]))
    from stssl.train import resolve_device

    if any(resolve_device(c.device) != "cpu" for c in cfgs):
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


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
