import contextlib
import copy
import math

import pytest
import torch

from stssl.algorithms import ALGORITHMS, TaskContext, build_algorithm, check_algorithm
from stssl.algorithms.fixmatch import FixMatch
from stssl.algorithms.steps import PlainStep, STStep, Views, backward_outside_autocast, distillation_loss
from stssl.config import resolve
from stssl.models import ViTSize, build_model, build_teacher_student
from stssl.models.modes import eval_mode
from stssl.training import train
from stssl.training.module import task_context

ML, SL = TaskContext(multilabel=True, num_classes=4), TaskContext(multilabel=False, num_classes=3)


def test_fixmatch_multilabel_targets_mask_and_loss():
    # 3 samples x 4 classes of weak probabilities, thresholds [0.05, 0.7]
    p = torch.tensor([[0.01, 0.60, 0.90, 0.04], [0.50, 0.06, 0.70, 0.99], [0.20, 0.80, 0.03, 0.30]])
    algo = FixMatch(ML)
    pl = algo.pseudo_label(torch.log(p / (1 - p)), progress=0.0)
    assert torch.equal(pl.targets, torch.tensor([[0.0, 1, 1, 0], [1, 0, 1, 1], [0, 1, 0, 0]]))
    assert torch.equal(pl.weights, torch.tensor([[1.0, 0, 1, 1], [0, 0, 1, 1], [0, 1, 1, 0]]))
    # strong logits all 0 -> BCE = log 2 per entry; 7 of 12 entries pass; mean over all 12
    loss = algo.unsupervised_loss(torch.zeros(3, 4), pl)
    assert loss.item() == pytest.approx(7 / 12 * math.log(2), rel=1e-6)
    # one entry with strong logit 2 and target 1: BCE = log(1 + e^-2)
    z = torch.zeros(3, 4)
    z[0, 2] = 2.0
    expected = (6 * math.log(2) + math.log(1 + math.exp(-2))) / 12
    assert algo.unsupervised_loss(z, pl).item() == pytest.approx(expected, rel=1e-6)


def test_fixmatch_multilabel_symmetric_threshold():
    algo = FixMatch(ML, threshold=0.95)
    p = torch.tensor([[0.04, 0.06, 0.95, 0.94]])
    pl = algo.pseudo_label(torch.log(p / (1 - p)), 0.0)
    assert torch.equal(pl.weights, torch.tensor([[1.0, 0.0, 1.0, 0.0]]))


def test_fixmatch_single_label_targets_mask_and_loss():
    algo = FixMatch(SL)  # tau 0.95 on the softmax max
    weak = torch.tensor([[5.0, 0.0, 0.0], [1.0, 1.2, 0.0], [0.0, 0.0, 4.0]])
    pl = algo.pseudo_label(weak, 0.0)
    # softmax max: e^5/(e^5+2) = 0.9867 (passes), 0.45 (fails), e^4/(e^4+2) = 0.9647 (passes)
    assert torch.equal(pl.targets, torch.tensor([0, 1, 2]))
    assert torch.equal(pl.weights, torch.tensor([1.0, 0.0, 1.0]))
    loss = algo.unsupervised_loss(torch.zeros(3, 3), pl)  # CE = log 3 per passing sample, mean over 3
    assert loss.item() == pytest.approx(2 / 3 * math.log(3), rel=1e-6)


def test_supervised_losses_hand_computed():
    ml = build_algorithm("supervised", TaskContext(multilabel=True, num_classes=2))
    # BCE mean over B x C: entries (z=0,y=1) log2, (z=0,y=0) log2, (z=ln3,y=1) log(4/3), (z=ln3,y=0) log 4
    z = torch.tensor([[0.0, 0.0], [math.log(3), math.log(3)]])
    y = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    expected = (2 * math.log(2) + math.log(4 / 3) + math.log(4)) / 4
    assert ml.supervised_loss(z, y).item() == pytest.approx(expected, rel=1e-6)


def test_distillation_losses():
    a, b = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    assert distillation_loss(a, b, "mse").item() == pytest.approx(0.5)
    assert distillation_loss(a, b, "mae").item() == pytest.approx(0.5)
    # cosine: sample 0 has a zero target (cos 0), sample 1 is parallel (cos 1) -> -0.5
    assert distillation_loss(a, b, "cos").item() == pytest.approx(-0.5, abs=1e-6)


def test_registry_errors_name_the_valid_algorithms():
    with pytest.raises(
        ValueError,
        match=r"unknown algorithm 'nope'; valid: supervised, fixmatch, defixmatch, "
        r"udal, softmatch, freematch, cap, cdmad$",
    ):
        check_algorithm("nope")
    with pytest.raises(
        ValueError,
        match=r"cap is multi-label only; valid for single-label data: supervised, "
        r"fixmatch, defixmatch, udal, softmatch, freematch, cdmad$",
    ):
        check_algorithm("cap", multilabel=False)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) tau for fixmatch; valid: threshold$"):
        build_algorithm("fixmatch", ML, tau=0.9)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) q for udal; valid: threshold, a_min, k, ema_p$"):
        resolve("smoke", algo="udal", algo_params={"q": 1})


TINY = ViTSize(embed_dim=16, depth=1, num_heads=2, patch_size=8)


def _views(b_l=4, b_u=6, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Views(
        x_lb=torch.randn(b_l, 3, 16, 16, generator=g),
        y_lb=(torch.rand(b_l, classes, generator=g) < 0.4).float(),
        meta_lb=torch.rand(b_l, 4, generator=g),
        x_w=torch.randn(b_u, 3, 16, 16, generator=g),
        x_s=torch.randn(b_u, 3, 16, 16, generator=g),
        meta_u=torch.rand(b_u, 4, generator=g),
    )


def _grads(module):
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in module.parameters()]


def test_distillation_never_reaches_the_teacher():
    torch.manual_seed(0)
    teacher, student = build_teacher_student(TINY, 16, num_classes=5)
    nets = torch.nn.ModuleDict({"teacher": teacher, "student": student})
    v = _views()
    grads = {}
    for lam in (0.1, 100.0):
        nets.zero_grad()
        step = STStep(FixMatch(TaskContext(True, 5)), lambda_d=lam)
        res = step(nets, v, 0.0)
        res.loss.backward()
        grads[lam] = (_grads(teacher), _grads(student))
        assert res.logs["loss_distill"] > 0
    for a, b in zip(grads[0.1][0], grads[100.0][0]):
        torch.testing.assert_close(a, b)  # the teacher's gradient ignores lambda_D entirely
    assert any(not torch.allclose(a, b) for a, b in zip(grads[0.1][1], grads[100.0][1]))


@pytest.mark.parametrize("stop_gradient", [True, False])
@pytest.mark.parametrize("bf16", [False, True])
def test_teacher_back_propagated_early_gives_the_same_gradients(stop_gradient, bf16):
    """With ``backward_teacher`` the teacher's backward runs before the student's forward (its
    activations freed first), wherever that is exact; the gradients and the loss are the same."""
    torch.manual_seed(0)
    teacher, student = build_teacher_student(TINY, 16, num_classes=5)
    nets = torch.nn.ModuleDict({"teacher": teacher, "student": student})
    algo = FixMatch(TaskContext(True, 5), threshold=(0.3, 0.5))
    step = STStep(algo, lambda_d=0.5, stop_gradient=stop_gradient)
    teacher_grads_at_student_forward = []
    student.register_forward_pre_hook(
        lambda m, args: teacher_grads_at_student_forward.append(teacher.head.weight.grad is not None)
    )
    results, grads = {}, {}
    for early in (False, True):
        nets.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            results[early] = step(nets, _views(), 0.5, backward_teacher=backward_outside_autocast if early else None)
        results[early].loss.backward()
        grads[early] = _grads(nets)
    # only when the student's loss reaches no teacher parameter (the distillation target detached)
    assert teacher_grads_at_student_forward == [False, stop_gradient]
    assert results[True].loss.item() == results[False].loss.item()
    for a, b in zip(grads[False], grads[True]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert all(g.abs().sum() > 0 for g in (_grads(teacher)[0], _grads(student)[0]))


def test_one_network_in_both_roles_is_back_propagated_once():
    """single_model: teacher and student are one network, so the teacher's loss cannot go first."""
    torch.manual_seed(0)
    net = build_model(TINY, 16, 5, extra="shared")
    nets = torch.nn.ModuleDict({"teacher": net, "student": net})
    calls = []
    STStep(FixMatch(TaskContext(True, 5)), lambda_d=0.5)(nets, _views(), 0.5, backward_teacher=calls.append)
    assert calls == []


def test_student_gets_no_metadata_and_consumes_the_teachers_targets():
    torch.manual_seed(0)
    teacher, student = build_teacher_student(TINY, 16, num_classes=5)
    nets = torch.nn.ModuleDict({"teacher": teacher, "student": student})
    seen = []
    student.register_forward_pre_hook(lambda m, args, kwargs: seen.append((args, kwargs)), with_kwargs=True)
    algo = FixMatch(TaskContext(True, 5), threshold=(0.3, 0.5))  # loose, so that entries pass at init
    v = _views()
    res = STStep(algo, lambda_d=0.0)(nets, v, 0.0)
    assert len(seen) == 1 and len(seen[0][0]) == 1 and not seen[0][1]  # image only
    # targets and mask come from the teacher's weak logits
    with torch.no_grad():
        b_l, b_u = len(v.x_lb), len(v.x_w)
        zt_w = teacher(torch.cat([v.x_lb, v.x_w, v.x_s]), torch.cat([v.meta_lb, v.meta_u, v.meta_u])).logits[
            b_l : b_l + b_u
        ]
        expected = algo.pseudo_label(zt_w, 0.0)
        zs_s = student(torch.cat([v.x_lb, v.x_s])).logits[b_l:]
    assert torch.equal(res.pseudo.targets, expected.targets) and torch.equal(res.pseudo.weights, expected.weights)
    assert res.pseudo.weights.sum() > 0
    # the student's unsupervised loss is computed with exactly those targets and weights
    assert res.logs["student_loss_unsup"].item() == pytest.approx(
        algo.unsupervised_loss(zs_s, expected).item(), rel=1e-5
    )


def test_plain_step_uses_its_own_pseudo_labels():
    torch.manual_seed(0)
    model = build_model(TINY, 16, 5)
    v = _views()
    algo = FixMatch(TaskContext(True, 5), threshold=(0.3, 0.5))
    res = PlainStep(algo)(torch.nn.ModuleDict({"model": model}), v, 0.0)
    with torch.no_grad():
        z_w = model(torch.cat([v.x_lb, v.x_w, v.x_s])).logits[len(v.x_lb) : len(v.x_lb) + len(v.x_w)]
    assert torch.equal(res.pseudo.targets, (z_w >= 0).float())
    assert res.loss.item() == pytest.approx((res.logs["loss_sup"] + res.logs["loss_unsup"]).item(), rel=1e-6)


SSL = [n for n, c in ALGORITHMS.items() if c.uses_unlabelled]


@pytest.mark.parametrize("name", SSL)
def test_st_wrapper_hands_the_student_exactly_the_teachers_targets(name):
    torch.manual_seed(0)
    classes = 5
    teacher, student = build_teacher_student(TINY, 16, num_classes=classes)
    nets = torch.nn.ModuleDict({"teacher": teacher, "student": student})
    ema_nets = copy.deepcopy(nets)
    with torch.no_grad():  # an EMA that differs from the live networks
        for p in ema_nets.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ctx = TaskContext(True, classes, label_prior=torch.tensor([0.2, 0.4, 0.1, 0.5, 0.3]), batch_ulb=6, momentum=0.9)
    params = {"debias_start": 0.0} if name == "cdmad" else {}
    algo = build_algorithm(name, ctx, **params)
    before = copy.deepcopy(algo)  # the state as the step finds it
    v = _views(classes=classes)
    if algo.uses_lb_strong:
        v.x_lb_s = torch.randn_like(v.x_lb)
    consumed = []
    losses = algo.losses
    algo.losses = lambda z, y, pl, progress, role="self": (
        consumed.append((role, pl)) or losses(z, y, pl, progress, role)
    )
    res = STStep(algo, lambda_d=0.1)(nets, v, 0.5, ema_nets)
    assert [role for role, _ in consumed] == ["teacher", "student"]
    assert consumed[0][1] is consumed[1][1] is res.pseudo
    # the teacher, with metadata (its EMA in eval mode for CAP), alone produced them
    source = ema_nets["teacher"] if algo.pl_from_ema else teacher
    with torch.no_grad(), eval_mode(source) if algo.pl_from_ema else contextlib.nullcontext():
        before.before_pseudo_label(lambda x: source(x, without_meta=True).logits, v.x_w, 0.5)
        z_w = source(v.x_w, v.meta_u).logits
    with torch.no_grad():
        lb = teacher(v.x_lb, v.meta_lb).logits if algo.uses_lb_strong else None
    expected = before.pseudo_label(z_w, 0.5, lb)
    torch.testing.assert_close(res.pseudo.targets, expected.targets)
    torch.testing.assert_close(res.pseudo.weights, expected.weights)
    for (n, b), (_, a) in zip(before.named_buffers(), algo.named_buffers()):
        if n != "p_model_student":  # UDAL's student tracks its own distribution
            torch.testing.assert_close(a, b, equal_nan=True, msg=n)  # the same single update, by the teacher
    assert torch.isfinite(res.loss) and "student_loss_sup" in res.logs


def test_teacher_without_metadata_drops_the_metatoken():
    torch.manual_seed(0)
    teacher, _ = build_teacher_student(TINY, 16, num_classes=3)
    teacher.eval()
    x = torch.randn(2, 3, 16, 16)
    out = teacher(x, without_meta=True)
    assert out.token is None
    bb = teacher.backbone
    plain = bb.norm(bb.blocks(bb.norm_pre(bb._pos_embed(bb.patch_embed(x)))))[:, 0]
    torch.testing.assert_close(out.logits, teacher.head(plain))
    with pytest.raises(ValueError, match="needs metadata"):
        teacher(x)


@pytest.mark.parametrize("name,st", [(n, False) for n in ALGORITHMS] + [(n, True) for n in SSL])
def test_every_algorithm_trains_in_the_smoke_profile(name, st):
    cfg = resolve("smoke", algo=name, st=st, steps=12, eval_every=6)
    module = train(cfg, progress=False)
    assert all(math.isfinite(row["train_loss"]) for row in module.history)
    assert math.isfinite(module.final_metrics()["test_mAP"])
    fresh = build_algorithm(name, task_context(cfg, module.data), lambda_u=cfg.lambda_u, **cfg.algo_params)
    for (n, init), (_, now) in zip(fresh.named_buffers(), module.algo.named_buffers()):
        if n not in ("p_target", "pi") and (st or n != "p_model_student"):  # fixed targets aside, running state
            assert not torch.equal(init.nan_to_num(-1), now.cpu().nan_to_num(-1)), f"{name}: {n} never updated"
