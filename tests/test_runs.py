import pandas as pd
import pytest

import stssl.train
from stssl.config import resolve
from stssl.runs import get_run, run_dir
from stssl.train import SSLModule

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

    monkeypatch.setattr(stssl.train, "train", no_training)
    again = get_run(CFG, root=tmp_path, progress=False)
    assert again.metrics == first.metrics and again.config == CFG
    pd.testing.assert_frame_equal(again.history, first.history)
    nets = again.load_nets()
    assert set(nets) == {"teacher", "student"}


def test_interrupted_run_is_not_finished_and_resumes_identically(tmp_path, monkeypatch):
    reference = get_run(CFG, root=tmp_path / "reference", progress=False)

    original = SSLModule._evaluate

    def crash_after_second_evaluation(self, step):
        original(self, step)
        if step == 10:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(SSLModule, "_evaluate", crash_after_second_evaluation)
    with pytest.raises(RuntimeError, match="simulated crash"):
        get_run(CFG, root=tmp_path / "crashy", progress=False)
    final = run_dir(CFG, tmp_path / "crashy")
    assert not final.exists()  # never mistaken for a finished run
    assert (final.with_name(final.name + ".partial") / "last.ckpt").exists()

    monkeypatch.setattr(SSLModule, "_evaluate", original)
    resumed = get_run(CFG, root=tmp_path / "crashy", progress=False)
    expected, got = dict(reference.metrics), dict(resumed.metrics)
    expected.pop("train_seconds"), got.pop("train_seconds")
    assert got == expected
    pd.testing.assert_frame_equal(resumed.history, reference.history)
