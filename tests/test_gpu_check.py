"""`make gpu-check`: its FLOP count against the model, and its CPU miniature end to end (so that
the script a GPU session runs cannot rot between GPU sessions)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from stssl.models import build_model, build_teacher_student


@pytest.fixture(scope="module")
def gpu_check():
    """The script, loaded by path; it imports ``benchmarks.harness`` from the repository root, on
    the path as ``PYTHONPATH=.`` puts it when the script runs."""
    root = str(Path(__file__).resolve().parents[1])
    sys.path.insert(0, root)
    spec = importlib.util.spec_from_file_location("gpu_check", Path(root) / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(root)
    yield module
    del sys.modules["gpu_check"]


@pytest.mark.parametrize(
    "model, size, extra",
    [("vit_small_patch16", 128, True), ("vit_small_patch16", 128, False), ("vit_tiny_patch8", 32, True)],
)
def test_analytic_flops_match_the_networks_counted_by_torch(gpu_check, model, size, extra):
    """The MFU's numerator: torch's own count of the forward (matrix products and attention)."""
    torch.manual_seed(0)
    if extra:
        net, _ = build_teacher_student(model, size, 43)
        args = (torch.randn(1, 3, size, size), torch.zeros(1, 4))
    else:
        net, args = build_model(model, size, 43), (torch.randn(1, 3, size, size),)
    for block in net.backbone.blocks:
        block.attn.fused_attn = False  # torch's counter does not count the CPU's fused attention kernel
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net.eval()(*args)
    assert gpu_check.forward_flops(model, size, 43, extra) == pytest.approx(counter.get_total_flops(), rel=0.01)


def test_the_issues_arithmetic(gpu_check):
    """ViT-S/16 at 66 tokens ~2.9 GFLOP per image, an ST step at 64 + 448 ~10 TFLOP, a 64k-step
    run ~650 PFLOP, i.e. ~240 TFLOP/s for 45 minutes."""
    shape = gpu_check.SIZES["gpu"].bigearthnet
    assert gpu_check.forward_flops(shape.model, 128, 43, True) == pytest.approx(2.9e9, rel=0.01)
    step = gpu_check.step_flops("ST-FixMatch", shape)
    assert step == pytest.approx(10.3e12, rel=0.01)
    assert 64_000 * step / (45 * 60) == pytest.approx(244e12, rel=0.01)


def test_cpu_miniature_runs_every_stage_and_writes_its_report(gpu_check, tmp_path):
    out = tmp_path / "report.md"
    results = gpu_check.main(["--size", "tiny", "--device", "cpu", "--out", str(out), "--workdir", str(tmp_path)])
    assert set(results["errors"]) <= {"bf16"}, results["errors"]
    assert results["c"]["passed"], results["c"]["checks"]
    assert 0 <= results["c"]["data_wait_ms"] < 1e3 * results["c"]["step_s"]  # the reader thread was timed
    assert len(results["c"]["eval_s"]) == len(results["c"]["history"])  # every evaluation was timed
    measured = {(r["shape"], r["kind"]) for r in results["a"]}
    assert {(results["shapes"][d], k) for d in ("bigearthnet", "eurosat") for k in gpu_check.KINDS} <= measured
    assert all(r["finite"] and r["seconds"] > 0 for r in results["a"])
    assert results["b"]["raw_images_per_s"] > 0 and results["b"]["randaugment_views_per_s"] > 0
    assert results["d"]["bigearthnet ST-FixMatch"]["total_s"] > results["d"]["bigearthnet ST-FixMatch"]["train_s"]
    text = out.read_text()
    assert "CPU MINIATURE" in text and "10.28 TFLOP" in text
    assert all(f"## {stage}." in text for stage in "abcd")
    assert json.loads(out.with_suffix(".json").read_text())["c"]["passed"]
    assert not list(tmp_path.glob("gpu-check-*"))  # the data set and the run are cleaned up


def test_past_its_time_budget_only_the_core_stages_run(gpu_check, tmp_path):
    """A GPU lease is minutes long: the data, the paper-profile run and the projections come first."""
    out = tmp_path / "report.md"
    results = gpu_check.main(["--size", "tiny", "--device", "cpu", "--out", str(out), "--budget", "0"])
    assert results["c"]["passed"] and not results["errors"]
    assert {"b: data pipeline", "e: bf16 against fp32", "a: supervised fp32"} <= set(results["skipped"])
    assert {r["kind"] for r in results["a"]} == {"ST-FixMatch", "FixMatch"}
    assert "Skipped, past the time budget (0 s): b: data pipeline" in out.read_text()
