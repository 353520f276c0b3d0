"""Plan and train the runs of many pages: ``python -m stssl plan`` / ``python -m stssl sweep``.

A *plan* is the distinct runs some pages need, each ``finished``, ``locked`` (another process
trains it), ``partial`` (resumable) or ``missing``, with an estimated time. A *sweep* trains what
is not finished, through one of two executors:

* ``local``: one process per GPU (``gpus``) or ``workers`` CPU processes, each run in its own
  process (``python -m stssl train --config``) with its own log file;
* ``slurm``: a job array through submitit (requeued on time-out or pre-emption, resuming from the
  run's last checkpoint).

Both go through the run cache (:func:`stssl.runs.get_run`), whose lock per run makes sweeps,
notebooks and jobs on other machines safe together: a run is trained once, by one process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import submitit

from stssl.cache import RunFolder, load_run, run_folder, runs_root
from stssl.config import RunConfig, distinct, resolve
from stssl.core.devices import usable_cores
from stssl.core.signals import die_with_parent
from stssl.runs import get_run

STOP_SECONDS = 30  # how long a stopped sweep waits for a run in training to end before killing it
BENCHMARK_STEP_SECONDS = Path(__file__).resolve().parents[1] / "benchmarks" / "step-seconds.json"


# ----- plan ---------------------------------------------------------------------------------
def _kind(cfg: RunConfig) -> str:
    """What a step costs depends on the profile and on how many networks train."""
    return "supervised" if cfg.algo == "supervised" else ("st" if cfg.st else "plain")


def measured_step_seconds(root: Path | None = None) -> dict[tuple[str, str, str], float]:
    """Seconds per step (training and evaluations) by ``(profile, dataset, kind)``: the median of
    the finished runs in the cache, which were measured on this machine."""
    seen: dict[tuple[str, str, str], list[float]] = {}
    for folder in (root or runs_root()).glob("*/*"):
        if not RunFolder(folder).has_result():
            continue
        try:
            run = load_run(folder)
        except ValueError:
            continue
        steps = max(1, int(run.metrics["steps_done"]))
        seen.setdefault((run.config.profile, run.config.dataset, _kind(run.config)), []).append(
            run.metrics["train_seconds"] / steps
        )
    return {k: statistics.median(v) for k, v in seen.items()}


def benchmark_step_seconds(path: Path = BENCHMARK_STEP_SECONDS) -> dict[tuple[str, str, str], float]:
    """The per-step figures measured in ``benchmarks/`` (``{"profile/dataset/kind": seconds}``)."""
    if not path.exists():
        return {}
    return {tuple(k.split("/")): float(v["seconds_per_step"]) for k, v in json.loads(path.read_text()).items()}


@dataclass
class Planned:
    cfg: RunConfig
    status: str
    step: int = 0  # steps done so far (partial or locked runs)
    seconds_per_step: float | None = None

    @property
    def steps_left(self) -> int:
        return 0 if self.status == "finished" else max(0, self.cfg.steps - self.step)

    @property
    def seconds_left(self) -> float | None:
        return None if self.seconds_per_step is None else self.steps_left * self.seconds_per_step


def progress_of(cfg: RunConfig, root: Path | None = None) -> dict | None:
    """What the run's training last reported (step, steps, seconds), if it is partial."""
    return run_folder(cfg, root).partial.read_progress()


def plan(cfgs: list[RunConfig], root: Path | None = None, step_seconds: float | None = None) -> list[Planned]:
    """Each distinct run of ``cfgs`` with its status and estimated seconds per step: ``step_seconds``
    if given, else the cache's own finished runs of that kind, else ``benchmarks/step-seconds.json``."""
    measured, bench = measured_step_seconds(root), benchmark_step_seconds()
    out = []
    for cfg in distinct(cfgs):
        status = run_folder(cfg, root).status()
        key = (cfg.profile, cfg.dataset, _kind(cfg))
        per_step = step_seconds or measured.get(key) or bench.get(key)
        out.append(Planned(cfg, status, (progress_of(cfg, root) or {}).get("step", 0), per_step))
    return out


def describe(cfg: RunConfig) -> str:
    """``cfg.describe()`` plus the settings that set it apart from its method's plain run in the
    profile (an ablation, a context strength, a split), so every line of a plan is a different run."""
    base = resolve(
        cfg.profile,
        dataset=cfg.dataset,
        algo=cfg.algo,
        st=cfg.st,
        seed=cfg.seed,
        data_root=cfg.data_root,
        label_fraction=cfg.label_fraction,
        num_labels=cfg.num_labels,
    )
    extras = [
        f"{f.name}={getattr(cfg, f.name)}"
        for f in dataclasses.fields(cfg)
        if f.name not in ("device",) and getattr(cfg, f.name) != getattr(base, f.name)
    ]
    return cfg.describe() + (f" [{', '.join(extras)}]" if extras else "")


def format_duration(seconds: float | None) -> str:
    """ "1:02:03"-style hours, minutes and seconds; "?" when unknown."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def format_plan(planned: list[Planned], slots: int = 1) -> str:
    """A table of the runs and a last line with the counts and the estimated time on ``slots``."""
    lines = [f"{'status':9} {'key':12}  {'steps':>13}  {'est.':>8}  run"]
    for p in planned:
        steps = f"{p.step}/{p.cfg.steps}" if p.status in ("partial", "locked") else str(p.cfg.steps)
        lines.append(
            f"{p.status:9} {p.cfg.key():12}  {steps:>13}  {format_duration(p.seconds_left):>8}  {describe(p.cfg)}"
        )
    counts = {s: sum(p.status == s for p in planned) for s in ("finished", "partial", "locked", "missing", "damaged")}
    todo = [p for p in planned if p.status != "finished"]
    unknown = sum(p.seconds_left is None for p in todo)
    total = sum(p.seconds_left or 0 for p in todo)
    summary = (
        f"{len(planned)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + f"; to train: {len(todo)}"
    )
    if len(todo) > unknown:
        summary += f", about {format_duration(total / max(1, slots))} on {slots} worker(s)"
    if unknown:
        summary += (
            f"{' plus' if len(todo) > unknown else ','} {unknown} run(s) with no measured step time "
            "(give --step-seconds, or finish one run of that kind first)"
        )
    return "\n".join(lines + [summary])


# ----- sweep: the display -------------------------------------------------------------------
@dataclass
class Board:
    """What a sweep shows: counts, the running runs with their step, and an ETA."""

    planned: list[Planned]
    slots: int
    title: str = "sweep"  # the head line's first word (the book shows the page's name)
    tty: bool = field(default_factory=lambda: sys.stderr.isatty())
    started: float = field(default_factory=time.time)
    _drawn: int = 0
    _last_plain: float = 0.0
    _last_text: str = ""

    @property
    def finished_before(self) -> int:
        """Runs that were finished before the sweep started."""
        return sum(p.status == "finished" for p in self.planned)

    def render(self, running: dict[str, RunConfig], done: int, failed: int, root: Path | None) -> str:
        """The counts, one line per running run with its step, and an ETA: from the runs this
        sweep finished (their throughput, process start-up included) once there are some, else
        from the plan's seconds per step."""
        lines = []
        for label, cfg in running.items():
            prog = progress_of(cfg, root) or {}
            step = prog.get("step", 0)
            lines.append(f"  [{label}] {describe(cfg)}: step {step}/{cfg.steps}")
        total = len(self.planned)
        queued = max(0, total - done - failed - len(running))
        elapsed = time.time() - self.started
        if done > self.finished_before:  # runs per second of this sweep, all slots together
            eta = (queued + len(running) / 2) * elapsed / (done - self.finished_before)
        else:
            left = [p.seconds_left for p in self.planned if p.status != "finished"]
            eta = sum(left) / max(1, self.slots) if left and None not in left else None
        head = (
            f"{self.title}: {done}/{total} done, {len(running)} running, {failed} failed, {queued} queued; "
            f"elapsed {format_duration(elapsed)}, ETA {format_duration(eta)}"
        )
        return "\n".join([head] + lines)

    def show(self, text: str, force: bool = False) -> None:
        """Redraw in place on a terminal; elsewhere (logs, notebooks) print when it changed, at most every 30 s."""
        if self.tty:
            sys.stderr.write((f"\x1b[{self._drawn}F\x1b[J" if self._drawn else "") + text + "\n")
            sys.stderr.flush()
            self._drawn = text.count("\n") + 1
        elif force or (text.split(";")[0] != self._last_text and time.time() - self._last_plain >= 30):
            print(text, file=sys.stderr, flush=True)
            self._last_plain, self._last_text = time.time(), text.split(";")[0]

    def note(self, line: str) -> None:
        """A line that stays (a run finished or failed) above the redrawn block."""
        if self.tty and self._drawn:
            sys.stderr.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0
        print(line, file=sys.stderr, flush=True)


# ----- sweep: executors ---------------------------------------------------------------------
def logs_dir(root: Path | None = None) -> Path:
    return (root or runs_root()) / "_logs"


def _config_file(cfg: RunConfig, root: Path | None) -> Path:
    path = logs_dir(root) / f"{cfg.dataset}-{cfg.key()}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cfg.to_yaml())
    return path


@dataclass
class LocalExecutor:
    """One run per process: ``gpus`` (each process sees one GPU) or ``workers`` CPU processes."""

    gpus: list[str] = field(default_factory=list)
    workers: int = 1

    @property
    def slots(self) -> list[str]:
        return [f"gpu {g}" for g in self.gpus] if self.gpus else [f"cpu {i}" for i in range(self.workers)]

    def _env(self, slot: str, root: Path | None) -> dict:
        env = dict(os.environ)
        if slot.startswith("gpu "):
            env["CUDA_VISIBLE_DEVICES"] = slot.split()[1]
        else:  # an equal share of the cores each, and no GPU
            env["CUDA_VISIBLE_DEVICES"] = ""
            env["OMP_NUM_THREADS"] = str(max(1, usable_cores() // len(self.slots)))
        env["STSSL_RUNS"] = str(root or runs_root())
        return env

    def run(self, todo: list[RunConfig], board: Board, root: Path | None = None, poll: float = 1.0) -> list[str]:
        """Train ``todo``; returns one line per failed run (its log file), the others never stop.
        Stopped (SIGINT, SIGTERM), it ends the runs in training (each resumes from its last
        checkpoint) before it returns; its processes also end if it is killed outright."""
        running: dict = {}
        try:
            return self._run(todo, board, root, poll, running)
        finally:
            for _, proc, _, _ in running.values():
                proc.terminate()
            for _, proc, handle, _ in running.values():
                try:
                    proc.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    proc.kill()
                handle.close()

    def _run(self, todo, board: Board, root: Path | None, poll: float, running: dict) -> list[str]:
        queue, failures, done = list(todo), [], 0
        free = list(self.slots)
        while queue or running:
            while queue and free:
                cfg, slot = queue.pop(0), free.pop(0)
                log = logs_dir(root) / f"{cfg.dataset}-{cfg.key()}.log"
                cmd = [sys.executable, "-m", "stssl", "train", "--config", str(_config_file(cfg, root)), "--quiet"]
                handle = open(log, "a")
                proc = subprocess.Popen(
                    cmd,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self._env(slot, root),
                    preexec_fn=die_with_parent,
                )
                running[slot] = (cfg, proc, handle, log)
            for slot, (cfg, proc, handle, log) in list(running.items()):
                if proc.poll() is None:
                    continue
                handle.close()
                del running[slot]
                free.append(slot)
                if proc.returncode == 0:
                    done += 1
                    board.note(f"done    {describe(cfg)}")
                elif _finished_anyway(cfg, root):
                    done += 1
                    board.note(
                        f"done    {describe(cfg)}; its process then exited with {proc.returncode} "
                        f"({_last_line(log)}), the run is complete"
                    )
                else:
                    last = _last_line(log)
                    failures.append(f"FAILED  {describe(cfg)} (exit {proc.returncode}): {last}\n        log: {log}")
                    board.note(failures[-1])
            board.show(
                board.render({s: r[0] for s, r in running.items()}, board.finished_before + done, len(failures), root)
            )
            if running:
                time.sleep(poll)
        return failures


def _finished_anyway(cfg: RunConfig, root: Path | None) -> bool:
    """Whether a run whose process failed is finished in the cache all the same: a process can
    crash on its way out (a library's threads or the GPU driver at interpreter exit) after the
    run was written, and that run is not to be trained again or reported lost."""
    return run_folder(cfg, root).status() == "finished"


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()] if log.exists() else []
    return lines[-1][:300] if lines else "(no output)"


class TrainRun(submitit.helpers.Checkpointable):
    """One array job: the run through the cache (locked, resumable). On time-out or pre-emption
    submitit calls ``checkpoint`` and requeues the job with the same run, which then resumes from
    its last checkpoint in the cache's partial folder."""

    def __call__(self, cfg_fields: dict) -> str:
        return str(get_run(RunConfig(**cfg_fields), progress=False).path)


@dataclass
class SlurmExecutor:
    """A submitit job array; ``cluster="local"`` runs it with submitit's local executor (tests)."""

    partition: str | None = None
    time_min: int = 120
    gpus_per_job: int = 1
    cpus_per_job: int = 8
    array_parallelism: int = 16
    sbatch: dict = field(default_factory=dict)  # extra sbatch options, e.g. {"account": "proj", "qos": "high"}
    cluster: str | None = None  # None: SLURM (submitit's auto-detection); "local" for tests

    @property
    def slots(self) -> list[str]:
        return [f"job {i}" for i in range(self.array_parallelism)]

    def run(self, todo: list[RunConfig], board: Board, root: Path | None = None, poll: float = 5.0) -> list[str]:
        executor = submitit.AutoExecutor(folder=logs_dir(root) / "slurm" / "%j", cluster=self.cluster)
        params = dict(
            timeout_min=self.time_min, cpus_per_task=self.cpus_per_job, slurm_array_parallelism=self.array_parallelism
        )
        if self.cluster != "local":
            params.update(
                gpus_per_node=self.gpus_per_job, slurm_partition=self.partition, slurm_additional_parameters=self.sbatch
            )
        executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
        if root is not None:
            os.environ["STSSL_RUNS"] = str(root)  # the jobs inherit this process's environment
        jobs = executor.map_array(TrainRun(), [dataclasses.asdict(c) for c in todo])
        board.note(
            f"submitted {len(jobs)} job(s): {', '.join(j.job_id for j in jobs[:3])}"
            f"{' ...' if len(jobs) > 3 else ''}; logs in {logs_dir(root) / 'slurm'}"
        )
        failures, pending, done = [], dict(zip(jobs, todo)), 0
        while pending:
            for job, cfg in list(pending.items()):
                if not job.done():
                    continue
                del pending[job]
                try:
                    job.result()
                    done += 1
                    board.note(f"done    {describe(cfg)}")
                except Exception as err:  # submitit re-raises the job's error with its traceback
                    if _finished_anyway(cfg, root):
                        done += 1
                        board.note(f"done    {describe(cfg)}; its job {job.job_id} then failed, the run is complete")
                        continue
                    failures.append(
                        f"FAILED  {describe(cfg)} (job {job.job_id}): {str(err).strip().splitlines()[-1][:300]}"
                        f"\n        log: {job.paths.stderr}"
                    )
                    board.note(failures[-1])
            running = {f"job {j.job_id}": c for j, c in pending.items() if run_folder(c, root).status() == "locked"}
            board.show(board.render(running, board.finished_before + done, len(failures), root))
            if pending:
                time.sleep(poll)
        return failures


def sweep(cfgs: list[RunConfig], executor, root: Path | None = None, step_seconds: float | None = None) -> list[str]:
    """Train every run of ``cfgs`` that is not finished; the failures, one line each (empty: all done)."""
    planned = plan(cfgs, root, step_seconds)
    board = Board(planned, len(executor.slots))
    todo = [p.cfg for p in planned if p.status != "finished"]
    board.note(
        f"sweep: {len(planned)} runs, {len(planned) - len(todo)} already finished, {len(todo)} to train "
        f"on {len(executor.slots)} {type(executor).__name__.removesuffix('Executor').lower()} worker(s)"
    )
    if not todo:
        return []
    failures = executor.run(todo, board, root)
    board.show(board.render({}, board.finished_before + len(todo) - len(failures), len(failures), root), force=True)
    return failures
