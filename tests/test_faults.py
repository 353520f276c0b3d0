"""Nothing lost, nothing foreign: a paused owner taken over, a full or read-only disk, a stop signal,
failures before anything trains and bad YAML each end in one clear line, with the cache intact.

The disk cases mount a small tmpfs (the tests run as root in CI); where mounting is not allowed they
are skipped, saying so.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import papermill as pm
import pytest

from stssl.cache import RunFolder
from stssl.cli import main
from stssl.config import resolve
from stssl.core.files import DiskError
from stssl.runs import get_run, run_folder

ROOT = Path(__file__).resolve().parents[1]
CFG = resolve("smoke", algo="fixmatch", st=True, steps=20, eval_every=5)


def _config_file(cfg, where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{cfg.key()}.yaml"
    path.write_text(cfg.to_yaml())
    return path


def _stssl(*args, runs: Path, env: dict | None = None, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "stssl", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "STSSL_RUNS": str(runs), "OMP_NUM_THREADS": "1", **(env or {})},
        **popen,
    )


def _wait_for(condition, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while not condition():
        if time.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# ----- a paused owner taken over -------------------------------------------------------------------
def test_a_paused_owner_that_was_taken_over_stops_without_writing(tmp_path):
    cfg = resolve("smoke", algo="fixmatch", st=True, steps=600, eval_every=10)
    runs, config = tmp_path / "runs", _config_file(cfg, tmp_path / "configs")
    quick = {"STSSL_LOCK_HEARTBEAT": "0.2", "STSSL_LOCK_STALE": "1.5"}
    partial = run_folder(cfg, runs).partial
    first = _stssl("train", "--config", config, "--quiet", runs=runs, env=quick)
    try:
        _wait_for(lambda: (partial.read_progress() or {}).get("step", 0) >= 30, 120, "the first owner's step 30")
        first.send_signal(signal.SIGSTOP)  # a suspended laptop, a hung node
        time.sleep(2.5)  # its lock goes stale
        second = _stssl("train", "--config", config, "--quiet", runs=runs, env=quick)
        said, _ = second.communicate(timeout=300)
        assert second.returncode == 0, said
    finally:
        first.send_signal(signal.SIGCONT)
    told, _ = first.communicate(timeout=120)
    assert first.returncode == 1, told
    line = told.strip().splitlines()[-1]
    assert line.startswith("stssl train: error: this run was taken over by ") and "it continues there" in line
    final = run_folder(cfg, runs)
    assert final.status() == "finished" and not partial.path.exists()
    assert not list(runs.rglob("*.tmp")) and not final.lock.path.exists()
    # the run's files are the new owner's: as if it had never been interrupted
    history = pd.read_csv(final.history_file)
    assert list(history.step) == list(range(10, 601, 10))
    alone = get_run(cfg, tmp_path / "alone", progress=False)
    pd.testing.assert_frame_equal(history, alone.history)


# ----- a full or read-only disk --------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 160 KiB: room for a run's config and lock, not for its checkpoint."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.decode().strip()}): run the tests as root to test a "
            "full or read-only disk"
        )
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_leaves_no_temporary_file_and_a_retry_resumes(small_disk):
    config = _config_file(CFG, small_disk.parent / "configs")
    full = _stssl("train", "--config", config, "--quiet", runs=small_disk / "runs")
    said, _ = full.communicate(timeout=300)
    assert full.returncode == 1, said
    line = said.strip().splitlines()[-1]
    assert line.startswith("stssl train: error: cannot write ") and "No space left on device" in line
    assert "free some space there" in line and "it resumes from its last checkpoint" in line
    assert not list((small_disk / "runs").rglob("*.tmp"))
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)  # space freed
    again = _stssl("train", "--config", config, "--quiet", runs=small_disk / "runs")
    said, _ = again.communicate(timeout=300)
    assert again.returncode == 0, said
    assert run_folder(CFG, small_disk / "runs").status() == "finished"


def test_a_read_only_cache_is_one_line_and_removal_says_what_it_could_not_remove(small_disk, tmp_path):
    runs = small_disk / "runs"
    damaged = run_folder(CFG, runs)
    damaged.path.mkdir(parents=True)
    (damaged.metrics_file).write_text("{not json")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    other = resolve("smoke", algo="fixmatch", st=True, steps=20, eval_every=5, seed=1)
    new = _stssl("train", "--config", _config_file(other, tmp_path / "configs"), "--quiet", runs=runs)
    said, _ = new.communicate(timeout=300)
    assert new.returncode == 1 and len(said.strip().splitlines()) == 1, said
    assert said.startswith("stssl train: error: cannot write ") and "Read-only file system" in said
    removal = _stssl("runs", "--remove-damaged", runs=runs)
    said, _ = removal.communicate(timeout=300)
    assert removal.returncode == 1, said
    lines = said.strip().splitlines()
    assert "(not removed: cannot remove " in lines[0] and "(removed)" not in said
    assert lines[-1] == f"stssl runs: error: 1 run(s) could not be removed (geosynth/{CFG.key()}): see the lines above"
    assert damaged.path.exists()


# ----- a stop signal -------------------------------------------------------------------------------
def _group_alive(pgid: int) -> list[str]:
    ps = subprocess.run(["ps", "-o", "pid=,args=", "-g", str(pgid)], capture_output=True, text=True)
    return [line for line in ps.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "command",
    [
        ["sweep", "table1", "--profile", "smoke", "--seeds", "1", "--workers", "2"],
        ["book", "--profile", "smoke", "--seeds", "1", "--pages", "table1"],
    ],
    ids=["sweep", "book"],
)
def test_a_stop_signal_ends_every_process_and_says_how_to_continue(tmp_path, command):
    runs = tmp_path / "runs"
    extra = ["--out", tmp_path / "results"] if command[0] == "book" else []
    proc = _stssl(*command, *extra, runs=runs, env={"STSSL_WORKERS": "2"}, start_new_session=True, cwd=ROOT)
    _wait_for(
        lambda: any(p.name.endswith(".partial") and (p / "last.ckpt").exists() for p in runs.glob("*/*")),
        240,
        "a run's first checkpoint",
    )
    os.killpg(proc.pid, signal.SIGTERM)  # what `kill -TERM -<pgid>` (or a scheduler) does to the command's group
    said, _ = proc.communicate(timeout=60)
    _wait_for(lambda: not _group_alive(proc.pid), 20, "every process of the group to end")
    assert proc.returncode == 128 + signal.SIGTERM, said
    assert said.strip().splitlines()[-1].startswith(f"stssl {command[0]}: stopped by SIGTERM; finished runs are kept")
    assert f"run `python -m stssl {command[0]} " in said
    partial = [RunFolder(p) for p in runs.glob("*/*.partial")]
    assert partial and all(p.final.status() == "partial" for p in partial)  # resumable: no lock left held
    assert all(p.checkpoint.exists() or not p.config_file.exists() for p in partial)


# ----- failures before anything trains -------------------------------------------------------------
def test_a_page_that_cannot_run_fails_in_its_first_cells_and_leaves_no_folder(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.setenv("STSSL_RUNS", str(runs))
    cases = [
        ({"algo": "cap", "dataset": "eurosat", "data_root": str(tmp_path)}, "cap is multi-label only"),
        ({"algo": "fixmatch", "dataset": "eurosat"}, "no data_root is given"),
        ({"algo": "fixmatch", "dataset": "eurosat", "data_root": str(tmp_path / "nowhere")}, "does not exist"),
    ]
    for params, message in cases:
        started = time.perf_counter()
        with pytest.raises(pm.PapermillExecutionError) as err:
            pm.execute_notebook(
                str(ROOT / "notebooks" / "table1.ipynb"),
                str(tmp_path / "out.ipynb"),
                parameters={"profile": "smoke", "seeds": 1, **params},
                cwd=str(ROOT / "notebooks"),
                progress_bar=False,
            )
        assert message in str(err.value.evalue) and "\n" not in err.value.evalue
        assert err.value.ename in ("ConfigError", "DataError") and time.perf_counter() - started < 60
        assert not runs.exists() or not list(runs.rglob("*"))


def test_a_run_that_fails_before_its_first_step_leaves_no_folder(tmp_path, monkeypatch):
    import stssl.training.fit

    def no_data(cfg):
        raise OSError(28, "No space left on device", str(tmp_path / "somewhere"))

    monkeypatch.setattr(stssl.training.fit, "run_data", no_data)
    with pytest.raises(DiskError, match="cannot write .*somewhere: No space left on device"):
        get_run(CFG, tmp_path / "runs", progress=False)
    assert not list((tmp_path / "runs").rglob("*.partial")) and not list((tmp_path / "runs").rglob("*.lock"))


# ----- YAML -----------------------------------------------------------------------------------------
def test_yaml_errors_and_tags_are_one_line_naming_the_file_and_the_line(tmp_path, capsys):
    evil = tmp_path / "evil.yaml"
    evil.write_text('profile: smoke\nseed: !!python/object/apply:os.system ["touch PWNED"]\n')
    broken = tmp_path / "broken.yaml"
    broken.write_text("profile: smoke\nseed: [1, 2\n")
    cases = [
        (
            ["train", "--config", evil],
            f"{evil}, line 2, column 7: not valid YAML (could not determine a "
            "constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system')",
        ),
        (["train", "--config", broken], f"{broken}, line 3, column 1: not valid YAML"),
        (
            ["train", "--profile", "smoke", "--set", 'seed=!!python/object/apply:os.system ["touch PWNED"]'],
            "--set seed=!!python/object/apply:os.system",
        ),
        (["train", "--profile", "smoke", "--set", "steps=[1"], "--set steps=[1, line 1, column 3: not valid YAML"),
    ]
    for args, message in cases:
        with pytest.raises(SystemExit) as exit_:
            main(list(map(str, args)))
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert not (Path.cwd() / "PWNED").exists() and not (tmp_path / "PWNED").exists()  # nothing ran
