"""The run cache under concurrency, kills and damaged files: one trainer per run, nothing broken
ever read as finished."""

import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import stssl.runs
import stssl.training.fit
from stssl.cache import DamagedRunError, RunFolder
from stssl.config import resolve
from stssl.core.locks import RunLock
from stssl.runs import get_run, load_run, run_dir
from stssl.training import DivergedError

CFG = resolve("smoke", algo="fixmatch", st=True, steps=20, eval_every=5)


def _train_process(cfg, root: Path, log: Path) -> subprocess.Popen:
    """``python -m stssl train --config`` on ``cfg`` in its own process, as a sweep or a second user would."""
    path = root / f"{cfg.key()}-{len(list(root.glob('*.yaml')))}.yaml"
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(json.loads(json.dumps(cfg.__dict__))))
    return subprocess.Popen(
        [sys.executable, "-m", "stssl", "train", "--config", str(path), "--quiet"],
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "STSSL_RUNS": str(root), "OMP_NUM_THREADS": "1"},
    )


# ----- the lock ---------------------------------------------------------------------------------
def test_lock_is_held_by_one_owner_and_named(tmp_path):
    a, b = RunLock(tmp_path / "k.lock"), RunLock(tmp_path / "k.lock")
    assert a.acquire() and not b.acquire()
    owner = b.owner()
    assert (owner.host, owner.pid) == (socket.gethostname(), os.getpid())
    a.release()
    assert a.age() is None and b.acquire()
    b.release()


def test_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "k.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "started": 0.0}))
    lock = RunLock(tmp_path / "k.lock")
    assert lock.is_stale() and lock.acquire()
    assert lock.owner().pid == os.getpid()
    lock.release()


def test_lock_of_another_host_is_taken_over_only_once_its_heartbeat_is_old(tmp_path):
    path = tmp_path / "k.lock"
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "started": 0.0}))
    lock = RunLock(path, stale_after=60)
    assert not lock.acquire()  # fresh: its owner may be training on another machine
    os.utime(path, (time.time() - 120, time.time() - 120))
    assert lock.acquire() and lock.owner().host == socket.gethostname()
    lock.release()


def test_heartbeat_keeps_the_lock_fresh(tmp_path):
    lock = RunLock(tmp_path / "k.lock", heartbeat=0.05, stale_after=0.5)
    assert lock.acquire()
    os.utime(lock.path, (time.time() - 10, time.time() - 10))
    time.sleep(0.3)
    assert lock.age() < 0.5
    lock.release()


# ----- processes racing for one run -------------------------------------------------------------
@pytest.mark.parametrize("attempt", range(3))
def test_two_processes_asking_for_one_run_train_it_once(tmp_path, attempt):
    cfg = resolve("smoke", algo="fixmatch", st=True, steps=20, eval_every=10, seed=10 + attempt)
    procs = [_train_process(cfg, tmp_path, tmp_path / f"{i}.log") for i in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0], [(tmp_path / f"{i}.log").read_text() for i in range(2)]
    logs = [(tmp_path / f"{i}.log").read_text() for i in range(2)]
    results = [json.loads(log[log.index("{") :]) for log in logs]
    assert results[0] == results[1]  # the very same result (train_seconds included): one run, read twice
    waited = [log for log in logs if "waiting for run" in log]
    assert len(waited) <= 1 and all(f"pid {p.pid}" in w for w in waited for p in procs if f"pid {p.pid}" in w)
    assert sorted(p.name for p in (tmp_path / "geosynth").iterdir()) == [cfg.key()]  # no partial, no lock left


def test_a_killed_trainer_s_run_is_taken_over_and_resumed(tmp_path, monkeypatch):
    cfg = resolve("smoke", algo="fixmatch", st=True, steps=60, eval_every=10)
    final = run_dir(cfg, tmp_path)
    partial = final.with_name(final.name + ".partial")
    proc = _train_process(cfg, tmp_path, tmp_path / "killed.log")
    deadline = time.time() + 240
    while not (partial / "last.ckpt").exists():
        assert proc.poll() is None and time.time() < deadline, (tmp_path / "killed.log").read_text()
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert RunFolder(final).status() == "partial"  # its lock names a dead pid of this host: free to take

    resumed_from = []
    original = stssl.training.fit.L.Trainer.fit

    def fit(self, module, ckpt_path=None, **kwargs):
        resumed_from.append(ckpt_path)
        return original(self, module, ckpt_path=ckpt_path, **kwargs)

    monkeypatch.setattr(stssl.training.fit.L.Trainer, "fit", fit)
    run = get_run(cfg, tmp_path, progress=False)
    assert resumed_from and resumed_from[0] is not None  # from the killed process's checkpoint, not from scratch
    assert list(run.history["step"]) == list(range(10, 61, 10))
    assert not partial.exists() and not final.with_name(final.name + ".lock").exists()
    assert json.loads((final / "environment.json").read_text())["precision"] == "32-true"  # as computed


# ----- damaged files ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("finished")
    return get_run(CFG, root, progress=False).path


def _damaged_copy(finished: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "geosynth" / finished.name
    shutil.copytree(finished, copy)
    return copy


@pytest.mark.parametrize(
    "name, damage, problem",
    [
        ("history.csv", lambda p: p.write_text(p.read_text()[:40]), "truncated"),
        ("metrics.json", lambda p: p.write_text(p.read_text()[:30]), "unreadable metrics"),
        ("model.pt", lambda p: p.write_bytes(b"garbage" * 100), "unreadable networks"),
        ("config.yaml", lambda p: p.write_text(p.read_text().replace("seed: 0", "seed: 3")), "hashes to"),
        ("metrics.json", lambda p: p.unlink(), None),  # no metrics: not finished, it retrains
    ],
)
def test_a_damaged_run_is_never_read_as_finished(finished, tmp_path, name, damage, problem):
    path = _damaged_copy(finished, tmp_path)
    damage(path / name)
    if problem is None:
        assert RunFolder(path).status() == "damaged"
        return
    with pytest.raises(DamagedRunError) as err:
        get_run(CFG, tmp_path, progress=False)
    message = str(err.value)
    assert str(path / name) in message and problem in message and "--remove-damaged" in message
    assert "\n" not in message
    assert str(pickle.loads(pickle.dumps(err.value))) == message  # as a worker process hands it back
    assert RunFolder(path).status() == "damaged"


def test_runs_command_lists_and_removes_damaged_runs(finished, tmp_path, monkeypatch, capsys):
    from stssl.cli import main

    path = _damaged_copy(finished, tmp_path)
    (path / "history.csv").write_text("step\n")
    monkeypatch.setenv("STSSL_RUNS", str(tmp_path))
    main(["runs"])
    assert f"damaged   geosynth/{path.name}" in capsys.readouterr().out
    main(["runs", "--remove-damaged"])
    assert not path.exists()


def test_a_truncated_checkpoint_names_the_file(tmp_path):
    partial = run_dir(CFG, tmp_path).with_name(run_dir(CFG, tmp_path).name + ".partial")
    partial.mkdir(parents=True)
    (partial / "last.ckpt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DamagedRunError, match=r"last\.ckpt: unreadable checkpoint.*--remove-partial"):
        get_run(CFG, tmp_path, progress=False)


def test_a_complete_partial_folder_is_renamed_not_retrained(finished, tmp_path, monkeypatch):
    partial = tmp_path / "geosynth" / f"{finished.name}.partial"
    shutil.copytree(finished, partial)
    (partial / "last.ckpt").write_bytes(b"left over")  # killed before the clean-up and the rename
    monkeypatch.setattr(stssl.runs, "train", lambda *a, **k: pytest.fail("a complete result was trained again"))
    run = get_run(CFG, tmp_path, progress=False)
    assert run.path == tmp_path / "geosynth" / finished.name and not partial.exists()
    assert not (run.path / "last.ckpt").exists()
    assert run.metrics == load_run(finished).metrics


def test_a_non_finite_loss_stops_the_run_with_one_clear_line_and_caches_nothing(tmp_path, monkeypatch):
    from stssl.algorithms.steps import STStep

    original, calls = STStep.forward, []

    def diverging(self, *args, **kwargs):  # the loss of the 8th step (step 7) and after is infinite
        result = original(self, *args, **kwargs)
        calls.append(1)
        if len(calls) > 7:
            result.loss = result.loss * float("inf")
        return result

    monkeypatch.setattr(STStep, "forward", diverging)
    with pytest.raises(DivergedError) as err:
        get_run(CFG, tmp_path, progress=False)
    message = str(err.value)
    assert (
        "not finite at step 7" in message
        and "loss inf" in message
        and "lr 0.000887" in message
        and "(now 0.001)" in message
    )
    assert "\n" not in message
    assert not run_dir(CFG, tmp_path).exists() and not (tmp_path / "geosynth" / f"{CFG.key()}.partial").exists()


def test_an_exploding_finite_loss_is_a_diverged_run_too(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"invalid lr=1000.0; valid: a number in \(0, 1\]"):
        resolve("smoke", lr=1000.0)  # AdamW at lr 1e3: the loss reaches 1e6 in 10 steps, finite
    from stssl.algorithms.steps import STStep

    original, calls = STStep.forward, []

    def exploding(self, *args, **kwargs):  # finite, but 1e5 times larger from step 3 on
        result = original(self, *args, **kwargs)
        calls.append(1)
        if len(calls) > 3:
            result.loss = result.loss * 1e5
        return result

    monkeypatch.setattr(STStep, "forward", exploding)
    with pytest.raises(DivergedError, match=r"mean training loss reached .* by step 5, .*x the first step's"):
        get_run(CFG, tmp_path, progress=False)
    assert not run_dir(CFG, tmp_path).exists()
