import pandas as pd
import pytest

import stssl.runs
from stssl.config import resolve
from stssl.runs import get_run, run_dir

CFG = resolve("smoke", algo="fixmatch", st=True, steps=20, eval_every=5)


def test_config_key_ignores_device_and_changes_with_content():
    assert CFG.key() == resolve("smoke", algo="fixmatch", st=True, steps=20, eval_every=5, device="cpu").key()
    assert CFG.key() != resolve("smoke", algo="fixmatch", st=True, steps=20, eval_every=5, seed=1).key()


def test_second_request_reads_the_cache(tmp_path, monkeypatch):
    first = get_run(CFG, root=tmp_path, progress=False)
    assert (first.path / "model.pt").exists() and not (first.path / "last.ckpt").exists()
    assert list(first.history["step"]) == [5, 10, 15, 20]

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(stssl.runs, "train", no_training)
    again = get_run(CFG, root=tmp_path, progress=False)
    assert again.metrics == first.metrics and again.config == CFG
    pd.testing.assert_frame_equal(again.history, first.history)
    nets = again.load_nets()
    assert set(nets) == {"teacher", "student"}


def test_interrupted_run_is_not_finished_and_resumes_identically(tmp_path, crash_after_evaluation):
    reference = get_run(CFG, root=tmp_path / "reference", progress=False)

    crash_after_evaluation(10)
    with pytest.raises(RuntimeError, match="simulated crash"):
        get_run(CFG, root=tmp_path / "crashy", progress=False)
    final = run_dir(CFG, tmp_path / "crashy")
    assert not final.exists()  # never mistaken for a finished run
    partial = final.with_name(final.name + ".partial")
    assert (partial / "last.ckpt").exists()
    (partial / "last.ckpt.99999.tmp").write_bytes(b"half a checkpoint")  # a writer killed mid-write left it

    crash_after_evaluation.disarm()
    resumed = get_run(CFG, root=tmp_path / "crashy", progress=False)
    expected, got = dict(reference.metrics), dict(resumed.metrics)
    expected.pop("train_seconds"), got.pop("train_seconds")
    assert got == expected
    pd.testing.assert_frame_equal(resumed.history, reference.history)
    assert not list(final.glob("*.tmp"))


def test_parallel_workers_train_each_missing_run_once_and_keep_order(tmp_path, monkeypatch):
    import torch

    from stssl.runs import get_runs

    a, b = CFG, resolve("smoke", algo="fixmatch", st=False, steps=20, eval_every=5)
    runs = get_runs([a, b, a], root=tmp_path / "parallel", progress=False, workers=2)
    assert [r.config for r in runs] == [a, b, a]
    # the same run trained here, one thread, as each of the two workers had: the same numbers
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial = get_run(b, root=tmp_path / "serial", progress=False)
    finally:
        torch.set_num_threads(threads)
    assert serial.metrics["test_mAP"] == runs[1].metrics["test_mAP"]
    monkeypatch.setattr(stssl.runs, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained again")))
    assert get_runs([b, a], root=tmp_path / "parallel", progress=False, workers=2)[0].metrics == runs[1].metrics


def test_a_new_option_at_its_default_keeps_cached_runs_valid():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class NextVersionConfig(type(CFG)):
        new_option: str = "old behaviour"

    later = NextVersionConfig(**dataclasses.asdict(CFG))
    assert later.key() == CFG.key()
    assert dataclasses.replace(later, new_option="new behaviour").key() != CFG.key()


def test_describe_runs_lists_what_differs_between_runs(tmp_path):
    from stssl.report.tables import describe_runs
    from stssl.runs import Run

    def run(**overrides):
        return Run(resolve("smoke", st=True, **overrides), {}, pd.DataFrame(), tmp_path)

    runs = [
        run(num_labels=n, seed=s, dataset_params={"n_samples": 2000, "multilabel": False, "context_strength": c})
        for n, s, c in ((10, 0, 0.5), (20, 1, 0.0), (20, 0, 0.5))
    ]
    runs.append(run(num_labels=20, dataset_params={"n_samples": 2000, "multilabel": False}))  # strength at its default
    text = describe_runs(runs)
    assert "10, 20 labels," in text and "seeds 0, 1;" in text
    assert "(context_strength in {0.0, 0.5, default}, multilabel=False, n_samples=2000)" in text


def test_a_data_set_default_spelled_out_is_the_same_run():
    assert resolve("smoke", dataset_params={"n_samples": 2000, "context_strength": 1.0}) == resolve("smoke")
    assert resolve("smoke", dataset_params={"n_samples": 2000, "context_strength": 0.5}) != resolve("smoke")
