"""The run cache on disk: a run's folder (the one place that knows its files, reads them checked,
writes them atomically and tells its status) and the finished runs read from it.

The cache root is ``$STSSL_RUNS`` if set, else ``~/.cache/stssl/runs``. Training a missing run is
:func:`stssl.runs.get_run`'s business; nothing here imports the training code, so predicting with a
finished run and the pages that read runs stay apart from it.

``<runs>/<dataset>/<key>/`` holds ``config.yaml``, ``metrics.json``, ``history.csv`` (one row per
evaluation: metrics, pseudo-label quality and quantity), ``model.pt`` (the best EMA networks),
``task.json`` (class names and pixel normalisation, for prediction), ``environment.json``
(versions, git commit, device) and ``logs/`` (Lightning's CSV log of the loss and every
evaluation, a ``version_N`` per start or resume). A run trains in ``<key>.partial/`` (where its
checkpoint ``last.ckpt`` and ``progress.json`` also live) and is renamed to ``<key>/`` only once
complete, so an interrupted run is never mistaken for a finished one; ``<key>.lock`` names the
process that trains it (:class:`~stssl.core.locks.RunLock`).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

import stssl
from stssl.config import RunConfig, run_data
from stssl.core.checks import OneLineError
from stssl.core.files import disk_error, publish_folder, save_torch_atomic, write_atomic, write_text_atomic
from stssl.core.locks import RunLock
from stssl.data import DataSplits
from stssl.data.base import MetaDataset, TaskInfo
from stssl.networks import Predictor

PARTIAL, LOCK = ".partial", ".lock"
STATUSES = ("finished", "locked", "partial", "damaged", "missing")


class DamagedRunError(OneLineError):
    """A file of the run cache that cannot be what a finished run wrote: never read as a result."""

    def __init__(self, path: Path, problem: str):
        which = "partial" if path.parent.name.endswith(PARTIAL) else "damaged"
        super().__init__(
            f"{path}: {problem}. Remove the run (`python -m stssl runs --remove-{which}`, or delete "
            f"{path.parent}) and ask for it again to retrain it"
        )
        self.path, self.problem = path, problem

    def __reduce__(self):  # raised in a worker process, re-raised in the notebook's
        return type(self), (self.path, self.problem)


def _read(path: Path, parse: Callable[[Path], object], what: str):
    try:
        return parse(path)
    except FileNotFoundError:
        raise DamagedRunError(path, f"missing ({what})") from None
    except Exception as err:  # each parser has its own errors; all mean the same here
        raise DamagedRunError(
            path, f"unreadable {what} ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
        ) from None


def _torch_file(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def _file(name: str) -> property:
    return property(lambda self: self.path / name, doc=f"``{name}`` in the run folder")


@dataclass(frozen=True)
class RunFolder:
    """The files of one run in ``path``: its finished folder ``<key>/`` or, while it trains, ``<key>.partial/``.

    ``fence``, when given, is asked before every write and raises if this process may no longer write
    the run (:meth:`stssl.core.locks.RunLock.check`: another process took the run over)."""

    path: Path
    fence: Callable[[], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of(cls, cfg: RunConfig, root: Path) -> RunFolder:
        """The finished folder of ``cfg`` in the cache at ``root``."""
        return cls(Path(root) / cfg.dataset / cfg.key())

    # ----- where things are ------------------------------------------------------------------
    @property
    def key(self) -> str:
        return self.path.name.removesuffix(PARTIAL)

    @property
    def final(self) -> RunFolder:
        return RunFolder(self.path.with_name(self.key))

    @property
    def partial(self) -> RunFolder:
        return RunFolder(self.path.with_name(self.key + PARTIAL))

    @property
    def lock(self) -> RunLock:
        return RunLock(self.path.with_name(self.key + LOCK))

    # every file a run folder holds, by name: the only place that spells them
    config_file = _file("config.yaml")
    metrics_file = _file("metrics.json")  # written last: its presence means "finished"
    history_file = _file("history.csv")
    networks_file = _file("model.pt")  # the best EMA networks
    task_file = _file("task.json")  # class names and normalisation, for prediction
    environment_file = _file("environment.json")
    progress_file = _file("progress.json")  # step and seconds so far, for a sweep's display
    checkpoint = _file("last.ckpt")  # what a killed run resumes from; removed once it is finished
    logs = _file("logs")  # Lightning's logs, a version_N per start or resume

    def has_result(self) -> bool:
        """Whether the last file of a result (``metrics.json``) is there: finished, unless damaged."""
        return self.metrics_file.exists()

    def is_run_folder(self) -> bool:
        return self.config_file.is_file()

    # ----- reading, checked ------------------------------------------------------------------
    def read(self) -> tuple[RunConfig, dict, pd.DataFrame]:
        """The config, metrics and history of a finished run, checked: every file parses, the
        stored config hashes to the folder's key, the history has its rows up to the last step,
        the networks' file loads. A :class:`DamagedRunError` names the file otherwise."""
        cfg = _read(self.config_file, lambda p: RunConfig.from_yaml(p.read_text()), "run config")
        if cfg.key() != self.key:
            raise DamagedRunError(
                self.config_file,
                f"this config hashes to {cfg.key()}, not to its folder's key "
                f"{self.key} (edited or copied from another run)",
            )
        metrics = _read(self.metrics_file, lambda p: json.loads(p.read_text()), "metrics (JSON)")
        if not isinstance(metrics, dict) or "steps_done" not in metrics:
            raise DamagedRunError(self.metrics_file, "not the metrics of a finished run (no steps_done)")
        history = _read(self.history_file, pd.read_csv, "history (CSV)")
        if (
            len(history) == 0
            or "step" not in history
            or history["step"].isna().any()
            or int(history["step"].iloc[-1]) != int(metrics["steps_done"])
        ):
            raise DamagedRunError(
                self.history_file,
                f"{len(history)} rows, not every evaluation up to step {metrics['steps_done']} (truncated?)",
            )
        self.read_networks()
        return cfg, metrics, history

    def read_networks(self) -> dict:
        """The best EMA networks' state (memory-mapped)."""
        return _read(self.networks_file, _torch_file, "networks (torch)")

    def check_checkpoint(self) -> None:
        """A checkpoint to resume from must be whole (a :class:`DamagedRunError` otherwise)."""
        if self.checkpoint.exists():
            _read(self.checkpoint, _torch_file, "checkpoint (torch)")

    def read_task(self) -> tuple[TaskInfo, tuple, tuple] | None:
        """The classes and normalisation (mean, std) a predictor needs; None for a run finished
        before ``task.json`` existed."""
        if not self.task_file.is_file():
            return None
        saved = json.loads(self.task_file.read_text())
        return (
            TaskInfo(tuple(saved["class_names"]), bool(saved["multilabel"])),
            tuple(saved["mean"]),
            tuple(saved["std"]),
        )

    def read_progress(self) -> dict | None:
        """What the run's training last reported (step, steps, seconds), if it did."""
        try:
            return json.loads(self.progress_file.read_text())
        except (OSError, ValueError):
            return None

    # ----- writing, atomically ---------------------------------------------------------------
    def _may_write(self) -> None:
        if self.fence is not None:
            self.fence()

    def write_config(self, cfg: RunConfig) -> None:
        self._may_write()
        self.path.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.config_file, cfg.to_yaml())

    def write_progress(self, step: int, steps: int, seconds: float) -> None:
        """Atomic: a sweep's display reads it while the run writes it."""
        self._may_write()
        write_text_atomic(self.progress_file, json.dumps({"step": step, "steps": steps, "seconds": round(seconds, 2)}))

    def write_result(
        self, metrics: dict, history: list[dict], networks: dict, dataset: MetaDataset, environment: dict
    ) -> None:
        """Every file of a finished run, ``metrics.json`` last (its presence means "finished")."""
        self._may_write()
        save_torch_atomic(self.networks_file, networks)
        mean, std = dataset.normalisation()
        write_text_atomic(
            self.task_file,
            json.dumps(
                {
                    "class_names": list(dataset.task.class_names),
                    "multilabel": dataset.task.multilabel,
                    "mean": list(mean),
                    "std": list(std),
                },
                indent=1,
            ),
        )
        write_atomic(self.history_file, lambda tmp: pd.DataFrame(history).to_csv(tmp, index=False))
        write_text_atomic(self.environment_file, json.dumps(environment, indent=1))
        write_text_atomic(self.metrics_file, json.dumps(metrics, indent=1))

    def publish(self) -> RunFolder:
        """This partial folder, complete, renamed to the final one (the checkpoint dropped, and any
        temporary file: this process has no write in flight, so one is what a writer killed, or
        paused and taken over, left mid-write)."""
        self._may_write()
        self.checkpoint.unlink(missing_ok=True)
        for leftover in self.path.glob("*.tmp"):
            leftover.unlink(missing_ok=True)
        publish_folder(self.path, self.final.path)
        return self.final

    # ----- status and removal ----------------------------------------------------------------
    def status(self) -> str:
        """One of :data:`STATUSES`: ``finished``, ``locked`` (being trained), ``partial``
        (resumable), ``damaged`` or ``missing``."""
        final = self.final
        if final.path.exists():
            try:
                final.read()
                return "finished"
            except DamagedRunError:
                return "damaged"
        lock = self.lock
        if lock.age() is not None and not lock.is_stale():
            return "locked"
        return "partial" if self.partial.path.exists() else "missing"

    def remove(self) -> None:
        """The finished and the partial folder and the lock; a refusal of the disk (read-only,
        immutable) is one :class:`~stssl.core.files.DiskError` line, and nothing is claimed removed."""
        try:
            for path in (self.final.path, self.partial.path):
                if path.exists():
                    shutil.rmtree(path)
            self.lock.path.unlink(missing_ok=True)
        except OSError as err:
            raise disk_error(err, action="remove") or err from None


def environment(device: str, precision: str) -> dict:
    """What a finished run was computed with: versions, host, device, precision, commit, threads."""
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(stssl.__file__).parent
            ).stdout.strip()
            or None
        )
    except OSError:
        commit = None
    return {
        "stssl": stssl.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "device": device,
        "precision": precision,  # as computed: bf16 asked on a CPU without bf16 hardware ran in fp32
        "git_commit": commit,
        "threads": torch.get_num_threads(),
    }


def folders(root: Path) -> list[RunFolder]:
    """Every run in the cache at ``root`` (finished, partial, locked or damaged), once each."""
    found = {
        p.with_name(p.name.removesuffix(PARTIAL).removesuffix(LOCK))
        for p in Path(root).glob("*/*")
        if p.parent.name != "_logs" and not p.name.endswith(".takeover")
    }
    return [RunFolder(p) for p in sorted(found)]


# ---------------------------------------------------------------------------------- the cache
def runs_root() -> Path:
    return Path(os.environ.get("STSSL_RUNS", Path.home() / ".cache" / "stssl" / "runs"))


def run_folder(cfg: RunConfig, root: Path | None = None) -> RunFolder:
    """Where ``cfg``'s finished run is (or will be) in the cache."""
    return RunFolder.of(cfg, root or runs_root())


def run_dir(cfg: RunConfig, root: Path | None = None) -> Path:
    return run_folder(cfg, root).path


@dataclass
class Run:
    config: RunConfig
    metrics: dict
    history: pd.DataFrame
    path: Path

    def predictor(self, device: str = "auto", dataset=None) -> Predictor:
        """The run's best EMA networks ready to predict (:class:`~stssl.networks.Predictor`).
        Its classes and normalisation come from the run folder's ``task.json``, or from ``dataset``
        (the run's data, when a page has it loaded anyway); a run finished before ``task.json``
        existed loads its data set once to read them."""
        folder = RunFolder(self.path)
        task = folder.read_task() if dataset is None else None
        if task is None:
            dataset = dataset if dataset is not None else self.data().dataset
            task = (dataset.task, *dataset.normalisation())
        return Predictor.from_state(self.config, folder.read_networks(), *task, device=device)

    def data(self) -> DataSplits:
        """The run's data: its data set at its image size, its split and its labelled subset."""
        return run_data(self.config)

    def load_nets(self, map_location: str = "cpu") -> torch.nn.ModuleDict:
        """The best EMA networks (``teacher``/``student`` for ST runs, ``model`` otherwise)."""
        return self.predictor(map_location).nets


def load_run(path: Path) -> Run:
    """A finished run's folder, checked (:meth:`stssl.cache.RunFolder.read`)."""
    return Run(*RunFolder(path).read(), Path(path))


def finished_runs(root: Path | None = None) -> list[Run]:
    """Every finished run in the cache (unfinished ``.partial`` folders are left out)."""
    root = root or runs_root()
    return [load_run(p) for p in sorted(root.glob("*/*")) if RunFolder(p).has_result()]


class UnknownRunError(OneLineError):
    """A run asked for by a folder or a key that holds no finished run (the message says what to give)."""


def find_run(run, root: Path | None = None):
    """A finished run from its folder, or from its 12-character key looked up as
    ``<root>/<data set>/<key>`` (``root``: :func:`runs_root`)."""
    text = str(run)
    path = Path(text).expanduser()
    if path.is_dir():
        if not RunFolder(path).is_run_folder():
            raise UnknownRunError(
                f"{path} is not a run folder (it has no config.yaml): give a finished run's folder, "
                "<runs>/<dataset>/<key>, or its key (python -m stssl runs lists them)"
            )
        return load_run(path)
    root = Path(root) if root is not None else runs_root()
    if re.fullmatch(r"[0-9a-f]{12}", text):
        found = sorted(p for p in root.glob(f"*/{text}") if p.is_dir())
        if len(found) == 1:
            return load_run(found[0])
        if found:
            raise UnknownRunError(
                f"run key {text} is in {len(found)} folders under {root} "
                f"({', '.join(p.parent.name for p in found)}): give the run's folder"
            )
        partial = sorted(root.glob(f"*/{text}.partial"))
        why = f"; {partial[0]} has not finished training" if partial else ""
        raise UnknownRunError(
            f"no finished run with key {text} under {root}{why} (python -m stssl runs lists the "
            "cache; $STSSL_RUNS moves it)"
        )
    raise UnknownRunError(
        f"no run {text!r}: neither a run folder nor a 12-character run key (python -m stssl runs "
        f"lists the finished runs under {root})"
    )
