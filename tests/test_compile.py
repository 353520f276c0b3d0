"""The ``compile`` run option: compiled transformer blocks give eager's numbers up to rounding,
a compiled run resumes like an eager one, and the option is not part of a run's identity."""

import dataclasses

import pytest

from stssl.config import resolve
from stssl.data import load_data
from stssl.training import SSLModule, train

CFG = resolve("smoke", algo="fixmatch", st=True, steps=8, eval_every=4)
# Inductor fuses and reorders the blocks' arithmetic: per-step losses differ from eager's in the
# last bits, and the difference can grow over steps. Measured on this config on an AVX-512 CPU
# (AMD EPYC): identical numbers.
RTOL = 1e-4


@pytest.fixture(scope="module")
def smoke_data():
    return load_data(CFG.dataset, None, CFG.dataset_params, CFG.label_fraction, CFG.seed)


def test_compile_is_not_part_of_the_run_key():
    assert dataclasses.replace(CFG, compile=True).key() == CFG.key()


def _numbers(module: SSLModule) -> list[float]:
    return [row[k] for row in module.history for k in ("step", "train_loss", "val_mAP", "teacher_val_mAP")]


def test_compiled_run_matches_eager_and_resumes(smoke_data, tmp_path, crash_after_evaluation):
    eager = train(CFG, progress=False, data=smoke_data)
    compiled_cfg = dataclasses.replace(CFG, compile=True)
    compiled = train(compiled_cfg, progress=False, data=smoke_data)
    nets = [*compiled.nets.values(), *compiled.ema_nets.values()]
    assert all(block._compiled_call_impl is not None for net in nets for block in net.backbone.blocks)
    assert not any(block._compiled_call_impl is not None for block in eager.nets["teacher"].backbone.blocks)
    assert _numbers(compiled) == pytest.approx(_numbers(eager), rel=RTOL)

    crash_after_evaluation(4)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(compiled_cfg, tmp_path, progress=False, data=smoke_data)
    crash_after_evaluation.disarm()
    resumed = train(compiled_cfg, tmp_path, progress=False, data=smoke_data)
    assert _numbers(resumed) == pytest.approx(_numbers(compiled), rel=RTOL)
    assert resumed.final_metrics()["test_mAP"] == pytest.approx(compiled.final_metrics()["test_mAP"], rel=RTOL)
