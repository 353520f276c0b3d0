"""`stssl plan` / `stssl sweep` over the book's pages, on the local executor and on submitit's."""

import json
import os
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import submitit
from submitit.local.local import LocalJobEnvironment

from stssl.cli import main
from stssl.config import resolve
from stssl.experiments import BY_NAME, figure6, notebook_params, page_configs, pages, table1, table2
from stssl.runs import run_dir, run_folder
from stssl.sweep import LocalExecutor, SlurmExecutor, TrainRun, plan, sweep


def test_pages_share_runs_and_plan_lists_each_once(tmp_path):
    cfgs = [
        c for name in ("table1", "table2", "figure6", "explore") for c in page_configs(BY_NAME[name], "smoke", seeds=1)
    ]
    planned = plan(cfgs, tmp_path)
    keys = [p.cfg.key() for p in planned]
    assert len(keys) == len(set(keys)) < len(cfgs)
    st_fixmatch = table1.configs("smoke", seeds=1, algo="fixmatch")[-1]
    assert (
        st_fixmatch.st
        and st_fixmatch in table2.configs("smoke", seeds=1)
        and st_fixmatch in figure6.configs("smoke", seeds=1)
    )
    assert keys.count(st_fixmatch.key()) == 1
    assert {p.status for p in planned} == {"missing"}


def test_plan_command_lists_every_page_s_runs_with_an_estimate(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STSSL_RUNS", str(tmp_path))
    main(["plan", "all", "--profile", "smoke", "--step-seconds", "0.5"])
    out = capsys.readouterr().out.splitlines()
    everything = {c.key() for c in page_configs(BY_NAME["summary"], "smoke")} | {
        c.key() for c in page_configs(BY_NAME["explore"], "smoke")
    }
    assert len(out) == len(everything) + 2  # header, one line per run, the summary
    assert out[-1].startswith(f"{len(everything)} runs: {len(everything)} missing; to train: {len(everything)}")
    assert "about" in out[-1] and "context_strength" in "\n".join(out)  # runs that differ say how


def test_paper_book_pages_take_their_data_and_geosynth_pages_keep_cpu():
    assert notebook_params(BY_NAME["table1"], "paper", "/ben", "/eurosat") == {"profile": "paper", "data_root": "/ben"}
    assert notebook_params(BY_NAME["table4"], "paper", "/ben", "/eurosat") == {
        "profile": "paper",
        "data_root": "/eurosat",
    }
    assert notebook_params(BY_NAME["context"], "paper", "/ben", "/eurosat") == {"profile": "cpu"}
    summary = notebook_params(BY_NAME["summary"], "paper", "/ben", "/eurosat", seeds=3)
    assert summary["eurosat_root"] == "/eurosat" and set(summary["seeds"].values()) == {3}
    with pytest.raises(ValueError, match="needs EuroSAT for Table 4"):
        notebook_params(BY_NAME["table4"], "paper", "/ben")
    with pytest.raises(ValueError, match="unknown page.*valid: all, geosynth"):
        pages(["tabel1"])


def _damage(cfg, root):
    final = run_dir(cfg, root)
    final.mkdir(parents=True)
    (final / "metrics.json").write_text("{")


def test_local_sweep_trains_what_is_missing_and_reports_a_failure_with_its_log(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STSSL_RUNS", str(tmp_path))
    cfgs = page_configs(BY_NAME["figure6"], "smoke", seeds=1)
    _damage(cfgs[0], tmp_path)  # this run fails; the other one must still train
    args = ["sweep", "figure6", "--profile", "smoke", "--seeds", "1", "--workers", "2"]
    with pytest.raises(SystemExit) as exit:
        main(args)
    assert exit.value.code == 1
    err = capsys.readouterr().err
    assert "1 run(s) failed" in err and "config.yaml: missing (run config)" in err
    log = tmp_path / "_logs" / f"geosynth-{cfgs[0].key()}.log"
    assert f"log: {log}" in err and "--remove-damaged" in log.read_text()
    assert run_folder(cfgs[1], tmp_path).status() == "finished"

    main(["runs", "--remove-damaged"])
    main(args)
    assert "1 already finished, 1 to train" in capsys.readouterr().err
    assert all(run_folder(c, tmp_path).status() == "finished" for c in cfgs)

    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("a finished run was trained again"))
    main(args)
    assert "2 already finished, 0 to train" in capsys.readouterr().err


def test_a_worker_that_crashes_on_its_way_out_after_writing_its_run_counts_as_done(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STSSL_RUNS", str(tmp_path))
    popen = subprocess.Popen

    def exits_134_after_training(cmd, **kwargs):
        # ``python -m stssl train ...``, which then dies at interpreter exit as an abort would
        assert cmd[1:3] == ["-m", "stssl"]
        code = (
            "import atexit, os, runpy; atexit.register(os._exit, 134); runpy.run_module('stssl', run_name='__main__')"
        )
        return popen([cmd[0], "-c", code, *cmd[3:]], **kwargs)

    monkeypatch.setattr(subprocess, "Popen", exits_134_after_training)
    cfg = resolve("smoke", algo="fixmatch", steps=10, eval_every=5)
    assert sweep([cfg], LocalExecutor(workers=1)) == []
    assert run_folder(cfg, tmp_path).status() == "finished"
    assert "its process then exited with 134" in capsys.readouterr().err

    damaged = resolve("smoke", algo="fixmatch", steps=10, eval_every=5, seed=1)
    _damage(damaged, tmp_path)  # exits non-zero without finishing: still a failure
    assert len(sweep([damaged], LocalExecutor(workers=1))) == 1


def test_slurm_executor_runs_a_job_array_through_submitit(tmp_path, capsys):
    cfgs = [resolve("smoke", algo="fixmatch", st=st, steps=10, eval_every=5) for st in (False, True)]
    assert sweep(cfgs, SlurmExecutor(cluster="local", array_parallelism=2), tmp_path) == []
    assert all(run_folder(c, tmp_path).status() == "finished" for c in cfgs)
    assert "submitted 2 job(s)" in capsys.readouterr().err
    assert sweep(cfgs, SlurmExecutor(cluster="local"), tmp_path) == []  # nothing left to submit
    assert "2 already finished, 0 to train" in capsys.readouterr().err


def test_a_pre_empted_job_is_requeued_and_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("STSSL_RUNS", str(tmp_path))
    cfg = resolve("smoke", algo="fixmatch", st=True, steps=60, eval_every=10)
    partial = run_dir(cfg, tmp_path).with_name(run_dir(cfg, tmp_path).name + ".partial")
    executor = submitit.AutoExecutor(folder=tmp_path / "_logs" / "%j", cluster="local")
    executor.update_parameters(timeout_min=10)
    job = executor.submit(TrainRun(), cfg.__dict__)
    deadline = time.time() + 240
    while not (partial / "progress.json").exists() or json.loads((partial / "progress.json").read_text())["step"] < 20:
        assert not job.done() and time.time() < deadline, job.stderr()
        time.sleep(0.2)
    # what SLURM's pre-emption signal does, sent to the job's task (the child of submitit's local controller)
    task = int(Path(f"/proc/{job._process.pid}/task/{job._process.pid}/children").read_text().split()[0])
    os.kill(task, LocalJobEnvironment._usr_sig())
    assert job.result() == str(run_dir(cfg, tmp_path))
    log = job.stderr() + job.stdout()
    assert "preempted" in log or "Requeued" in log
    assert list(pd.read_csv(run_dir(cfg, tmp_path) / "history.csv")["step"]) == list(range(10, 61, 10))


def test_local_executor_gives_each_process_one_gpu_or_a_share_of_the_cores(monkeypatch):
    from stssl.sweep import LocalExecutor

    monkeypatch.setattr("stssl.sweep.usable_cores", lambda: 16)
    gpus = LocalExecutor(gpus=["2", "5"])
    assert gpus.slots == ["gpu 2", "gpu 5"] and gpus._env("gpu 5", None)["CUDA_VISIBLE_DEVICES"] == "5"
    cpus = LocalExecutor(workers=4)
    env = cpus._env(cpus.slots[3], None)
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["OMP_NUM_THREADS"] == "4"
