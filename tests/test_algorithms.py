import math

import pytest
import torch

from stssl.algorithms import build_algorithm, check_algorithm
from stssl.algorithms.fixmatch import FixMatch
from stssl.algorithms.steps import PlainStep, STStep, Views, distillation_loss
from stssl.models import ViTSize, build_model, build_teacher_student

LOGIT = math.log  # logit(p) = log(p / (1 - p))


def logit(p):
    return LOGIT(p / (1 - p))


def test_fixmatch_multilabel_targets_mask_and_loss():
    # 3 samples x 4 classes of weak probabilities, thresholds [0.05, 0.7]
    p = torch.tensor([[0.01, 0.60, 0.90, 0.04],
                      [0.50, 0.06, 0.70, 0.99],
                      [0.20, 0.80, 0.03, 0.30]])
    algo = FixMatch(multilabel=True)
    pl = algo.pseudo_label(torch.log(p / (1 - p)), progress=0.0)
    assert torch.equal(pl.targets, torch.tensor([[0., 1, 1, 0], [1, 0, 1, 1], [0, 1, 0, 0]]))
    assert torch.equal(pl.weights, torch.tensor([[1., 0, 1, 1], [0, 0, 1, 1], [0, 1, 1, 0]]))
    # strong logits all 0 -> BCE = log 2 per entry; 7 of 12 entries pass; mean over all 12
    loss = algo.unsupervised_loss(torch.zeros(3, 4), pl)
    assert loss.item() == pytest.approx(7 / 12 * math.log(2), rel=1e-6)
    # one entry with strong logit 2 and target 1: BCE = log(1 + e^-2)
    z = torch.zeros(3, 4)
    z[0, 2] = 2.0
    expected = (6 * math.log(2) + math.log(1 + math.exp(-2))) / 12
    assert algo.unsupervised_loss(z, pl).item() == pytest.approx(expected, rel=1e-6)


def test_fixmatch_multilabel_symmetric_threshold():
    algo = FixMatch(multilabel=True, threshold=0.95)
    p = torch.tensor([[0.04, 0.06, 0.95, 0.94]])
    pl = algo.pseudo_label(torch.log(p / (1 - p)), 0.0)
    assert torch.equal(pl.weights, torch.tensor([[1.0, 0.0, 1.0, 0.0]]))


def test_fixmatch_single_label_targets_mask_and_loss():
    algo = FixMatch(multilabel=False)  # tau 0.95 on the softmax max
    weak = torch.tensor([[5.0, 0.0, 0.0], [1.0, 1.2, 0.0], [0.0, 0.0, 4.0]])
    pl = algo.pseudo_label(weak, 0.0)
    # softmax max: e^5/(e^5+2) = 0.9867 (passes), 0.45 (fails), e^4/(e^4+2) = 0.9647 (passes)
    assert torch.equal(pl.targets, torch.tensor([0, 1, 2]))
    assert torch.equal(pl.weights, torch.tensor([1.0, 0.0, 1.0]))
    loss = algo.unsupervised_loss(torch.zeros(3, 3), pl)  # CE = log 3 per passing sample, mean over 3
    assert loss.item() == pytest.approx(2 / 3 * math.log(3), rel=1e-6)


def test_supervised_losses_hand_computed():
    ml = build_algorithm("supervised", multilabel=True)
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
    with pytest.raises(ValueError, match=r"unknown algorithm 'nope'.*valid: supervised, fixmatch"):
        check_algorithm("nope")
    with pytest.raises(ValueError, match="planned"):
        check_algorithm("softmatch")


TINY = ViTSize(embed_dim=16, depth=1, num_heads=2, patch_size=8)


def _views(b_l=4, b_u=6, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Views(
        x_lb=torch.randn(b_l, 3, 16, 16, generator=g), y_lb=(torch.rand(b_l, classes, generator=g) < 0.4).float(),
        meta_lb=torch.rand(b_l, 4, generator=g), x_w=torch.randn(b_u, 3, 16, 16, generator=g),
        x_s=torch.randn(b_u, 3, 16, 16, generator=g), meta_u=torch.rand(b_u, 4, generator=g))


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
        step = STStep(FixMatch(multilabel=True), lambda_d=lam)
        res = step(nets, v, 0.0)
        res.loss.backward()
        grads[lam] = (_grads(teacher), _grads(student))
        assert res.logs["loss_distill"] > 0
    for a, b in zip(grads[0.1][0], grads[100.0][0]):
        torch.testing.assert_close(a, b)  # the teacher's gradient ignores lambda_D entirely
    assert any(not torch.allclose(a, b) for a, b in zip(grads[0.1][1], grads[100.0][1]))


def test_student_gets_no_metadata_and_consumes_the_teachers_targets():
    torch.manual_seed(0)
    teacher, student = build_teacher_student(TINY, 16, num_classes=5)
    nets = torch.nn.ModuleDict({"teacher": teacher, "student": student})
    seen = []
    student.register_forward_pre_hook(lambda m, args, kwargs: seen.append((args, kwargs)), with_kwargs=True)
    algo = FixMatch(multilabel=True, threshold=(0.3, 0.5))  # loose, so that entries pass at init
    v = _views()
    res = STStep(algo, lambda_d=0.0)(nets, v, 0.0)
    assert len(seen) == 1 and len(seen[0][0]) == 1 and not seen[0][1]  # image only
    # targets and mask come from the teacher's weak logits
    with torch.no_grad():
        b_l, b_u = len(v.x_lb), len(v.x_w)
        zt_w = teacher(torch.cat([v.x_lb, v.x_w, v.x_s]), torch.cat([v.meta_lb, v.meta_u, v.meta_u])).logits[b_l:b_l + b_u]
        expected = algo.pseudo_label(zt_w, 0.0)
        zs_s = student(torch.cat([v.x_lb, v.x_s])).logits[b_l:]
    assert torch.equal(res.pseudo.targets, expected.targets) and torch.equal(res.pseudo.weights, expected.weights)
    assert res.pseudo.weights.sum() > 0
    # the student's unsupervised loss is computed with exactly those targets and weights
    assert res.logs["student_loss_unsup"].item() == pytest.approx(algo.unsupervised_loss(zs_s, expected).item(), rel=1e-5)


def test_plain_step_uses_its_own_pseudo_labels():
    torch.manual_seed(0)
    model = build_model(TINY, 16, 5)
    v = _views()
    algo = FixMatch(multilabel=True, threshold=(0.3, 0.5))
    res = PlainStep(algo)(torch.nn.ModuleDict({"model": model}), v, 0.0)
    with torch.no_grad():
        z_w = model(torch.cat([v.x_lb, v.x_w, v.x_s])).logits[len(v.x_lb):len(v.x_lb) + len(v.x_w)]
    assert torch.equal(res.pseudo.targets, (z_w >= 0).float())
    assert res.loss.item() == pytest.approx((res.logs["loss_sup"] + res.logs["loss_unsup"]).item(), rel=1e-6)
