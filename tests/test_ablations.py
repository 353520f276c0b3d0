"""Table 2's ablation options: each changes what it claims to, and nothing else."""

import math

import pytest
import torch
import torch.nn.functional as F

from stssl.algorithms import TaskContext, build_algorithm
from stssl.algorithms.steps import STStep, Views
from stssl.config import resolve, run_data
from stssl.meta import batch_meta, encode_meta
from stssl.models import ViTSize, build_teacher_student
from stssl.training import SSLModule, train

TINY = ViTSize(16, 1, 2, 8, mlp_ratio=2.0)
RAW = {
    "lat": torch.tensor([38.7, 53.3, 60.2]),
    "lon": torch.tensor([-9.1, -6.3, 24.9]),
    "doy": torch.tensor([15.0, 200.0, 300.0]),
}


def _sequence_lengths(net) -> list[int]:
    seen = []
    net.backbone.blocks[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[1]))
    return seen


def test_without_time_or_location_makes_that_component_constant():
    full = batch_meta(RAW)
    no_time, no_loc = batch_meta(RAW, "location"), batch_meta(RAW, "time")
    assert torch.equal(no_time[:, :2], full[:, :2]) and torch.equal(no_loc[:, 2:], full[:, 2:])
    # without T: every date is 1 January; without G: lat = lon = 0
    day1 = [math.sin(2 * math.pi / 365), math.cos(2 * math.pi / 365)]
    assert torch.allclose(no_time[:, 2:], torch.tensor([day1] * 3))
    assert torch.equal(no_loc[:, :2], torch.zeros(3, 2))
    with pytest.raises(ValueError, match="valid: location\\+time, location, time"):
        batch_meta(RAW, "place")


def test_without_location_reaches_the_teacher_in_training_and_evaluation():
    cfg = resolve("smoke", st=True, metadata="time")
    module = SSLModule(cfg, run_data(cfg))
    batch = next(iter(module.train_dataloader()))
    views = module._views(batch)
    for meta, raw in ((views.meta_lb, batch["lb"]), (views.meta_u, batch["ulb"])):
        assert torch.equal(meta[:, :2], torch.zeros(len(meta), 2))  # constant location features
        real = encode_meta(raw["lat"], raw["lon"], raw["doy"])
        assert torch.equal(meta[:, 2:], real[:, 2:]) and real[:, :2].std(0).min() > 0
    assert torch.equal(module.meta(batch["lb"]), views.meta_lb)  # the teacher's evaluation input too


def test_late_fusion_adds_encoded_metadata_to_cls_with_no_metatoken():
    teacher, student = build_teacher_student(TINY, 16, 5, fusion="late")
    lengths = _sequence_lengths(teacher)
    x, meta = torch.randn(3, 3, 16, 16), batch_meta(RAW)
    teacher.eval()
    out = teacher(x, meta)
    assert lengths == [1 + 4] == [teacher.num_tokens]  # CLS + 4 patches, no metatoken
    encoded = teacher.meta_mlp(meta)
    assert torch.allclose(out.logits, teacher.head(out.cls + encoded), atol=1e-6)
    assert torch.allclose(out.token, encoded)  # the distillation target: the encoded metadata
    other = teacher(x, batch_meta(RAW, "time"))
    assert torch.equal(other.cls, out.cls) and not torch.allclose(other.logits, out.logits)
    assert student.extra == "distill" and torch.equal(student.backbone.pos_embed, teacher.backbone.pos_embed)


def test_single_model_is_one_network_in_two_roles():
    cfg = resolve("smoke", st=True, single_model=True)
    module = SSLModule(cfg, run_data(cfg))
    net = module.nets["teacher"]
    assert module.nets["student"] is net and module.ema_nets["student"] is module.ema_nets["teacher"]
    separate = SSLModule(resolve("smoke", st=True), run_data(cfg))
    n_single = sum(p.numel() for p in module.nets.parameters())
    assert n_single == sum(p.numel() for p in separate.nets["teacher"].parameters()) + net.distill_embed.numel()
    lengths = _sequence_lengths(net)
    x = torch.randn(2, 3, 32, 32)
    net.eval()
    with_meta, without = net(x, batch_meta({k: v[:2] for k, v in RAW.items()})), net(x)
    assert lengths == [net.num_tokens] * 2  # the metatoken (teacher role) or the distillation token (student)
    assert not torch.allclose(with_meta.token, without.token) and not torch.allclose(with_meta.logits, without.logits)
    with pytest.raises(ValueError, match="fusion='early'"):
        resolve("smoke", st=True, single_model=True, fusion="late")


def _views() -> Views:
    g = torch.Generator().manual_seed(1)
    meta = encode_meta(
        torch.rand(6, generator=g) * 20 + 40, torch.rand(6, generator=g) * 20, torch.rand(6, generator=g) * 365
    )
    return Views(
        x_lb=torch.randn(2, 3, 16, 16, generator=g),
        y_lb=(torch.rand(2, 4, generator=g) > 0.5).float(),
        meta_lb=meta[:2],
        x_w=torch.randn(4, 3, 16, 16, generator=g),
        x_s=torch.randn(4, 3, 16, 16, generator=g),
        meta_u=meta[2:],
    )


def _step_and_grads(target="meta", stop_gradient=True, lambda_d=1.0):
    torch.manual_seed(0)
    teacher, student = build_teacher_student(TINY, 16, 4)
    nets = torch.nn.ModuleDict({"teacher": teacher, "student": student}).eval()
    algo = build_algorithm("fixmatch", TaskContext(multilabel=True, num_classes=4))
    result = STStep(algo, lambda_d, "mse", target, stop_gradient)(nets, _views(), 0.5)
    result.loss.backward()
    return result, nets, [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in teacher.parameters()]


def test_stop_gradient_keeps_distillation_out_of_the_teacher_and_its_ablation_does_not():
    _, _, without_distill = _step_and_grads(lambda_d=0.0)
    _, _, stopped = _step_and_grads()
    _, _, flowing = _step_and_grads(stop_gradient=False)
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(stopped, without_distill))
    assert any(not torch.allclose(a, b, atol=1e-6) for a, b in zip(flowing, stopped))


def test_cls_token_distillation_targets_the_teacher_cls_output():
    result, nets, _ = _step_and_grads(target="cls")
    v = _views()  # the fused forward of the views with gradient: [x_lb; x_s]
    with torch.no_grad():
        x = torch.cat([v.x_lb, v.x_s])
        t, s = nets["teacher"](x, torch.cat([v.meta_lb, v.meta_u])), nets["student"](x)
    assert result.logs["loss_distill"].item() == pytest.approx(F.mse_loss(s.token, t.cls).item(), rel=1e-5)
    assert result.logs["loss_distill"].item() != pytest.approx(F.mse_loss(s.token, t.token).item(), rel=1e-3)


def test_ablation_options_need_st_and_valid_values():
    with pytest.raises(ValueError, match="need st=True"):
        resolve("smoke", stop_gradient=False)
    with pytest.raises(ValueError, match="valid: meta, cls"):
        resolve("smoke", st=True, distill_target="patch")
    with pytest.raises(ValueError, match="valid: early, late"):
        resolve("smoke", st=True, fusion="middle")


@pytest.mark.parametrize("option", [{"fusion": "late"}, {"single_model": True}, {"metadata": "location"}])
def test_ablated_models_train_and_evaluate(option):
    module = train(resolve("smoke", st=True, **option), progress=False)
    metrics = module.final_metrics()
    assert 0 < metrics["test_mAP"] <= 1 and 0 < metrics["teacher_test_mAP"] <= 1


def test_table2_rows_share_table1_runs_and_the_notebook_runs(tmp_path):
    from pathlib import Path

    import nbformat
    import papermill as pm

    from stssl.experiments import table1, table2

    rows = table2.rows("smoke", seeds=2)
    assert rows["a"] == [c for c in table1.configs("smoke", seeds=2, algo="fixmatch") if c.st]
    assert rows["k"] == rows["a"]  # the smoke profile's lambda_D is 0.1: row k is row a, trained once
    with_steps = table2.rows("smoke", seeds=1, config={"steps": 10})
    assert with_steps["a"] == [
        c for c in table1.configs("smoke", seeds=1, algo="fixmatch", config={"steps": 10}) if c.st
    ]
    assert with_steps["f"][0].steps == 10 and with_steps["f"][0].lambda_d == 0.0
    assert len(table2.configs("smoke", seeds=2)) == 2 * (len(rows) - 1)
    assert {c.dataset for c in table2.configs("paper", data_root="/data")} == {"bigearthnet"}
    with pytest.raises(ValueError, match="unknown Table 2 row"):
        table2.rows(only=["z"])
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    out = tmp_path / "table2.ipynb"
    pm.execute_notebook(
        str(notebooks / "table2.ipynb"),
        str(out),
        parameters={"profile": "smoke", "seeds": 1},
        cwd=str(notebooks),
        progress_bar=False,
    )
    text = "\n".join(
        str(o.get("data", o.get("text", "")))
        for c in nbformat.read(out, as_version=4).cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    for expected in (
        "late fusion",
        "single model",
        "46.12",
        "42.89",
        "(= row a)",
        "ours, 12 rows: 0 hold, 0 contradicted, 12 not resolved",
        "(a − p)",
    ):
        assert expected in text
