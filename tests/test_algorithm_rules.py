"""Each algorithm's targets, weights, losses and state update on small tensors, against numbers
worked out here with plain ``math`` (``book/implementation.md``, section "The SSL algorithms"), in
multi-label and single-label form."""

import math

import pytest
import torch

from stssl.algorithms import Logits, PseudoLabels, TaskContext, build_algorithm
from stssl.algorithms.cap import asymmetric_loss

PRIOR = [0.25, 0.5, 0.1, 0.75]
M = 0.9  # state momentum in these tests
ML = TaskContext(multilabel=True, num_classes=4, label_prior=torch.tensor(PRIOR), batch_ulb=3, momentum=M)
SL = TaskContext(multilabel=False, num_classes=3, label_prior=torch.tensor([0.5, 0.3, 0.2]), batch_ulb=3, momentum=M)


def sig(z):
    return 1 / (1 + math.exp(-z))


def logit(p):
    return math.log(p / (1 - p))


def bce(z, y):
    """BCE with logits, by hand, for a (possibly soft) target y."""
    p = sig(z)
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def ce(z, k):
    return -z[k] + math.log(sum(math.exp(v) for v in z))


def softmax(z):
    e = [math.exp(v) for v in z]
    return [v / sum(e) for v in e]


def logits_of(probs):
    return torch.tensor([[logit(p) for p in row] for row in probs], dtype=torch.float32)


P_WEAK = [[0.01, 0.60, 0.90, 0.04], [0.50, 0.06, 0.97, 0.99], [0.20, 0.80, 0.03, 0.30]]


# ----- DeFixMatch -------------------------------------------------------------------------


def test_defixmatch_multilabel_anti_term_and_averaged_supervision():
    algo = build_algorithm("defixmatch", ML, lambda_u=0.5)
    lb_weak = [[0.9, 0.02, 0.5, 0.8]]  # -> targets 1,0,1,1; mask [.05,.7]: 1,1,0,1
    pl = algo.pseudo_label(logits_of(P_WEAK), 0.0, lb_logits=logits_of(lb_weak))
    assert torch.equal(pl.lb_targets, torch.tensor([[1.0, 0, 1, 1]]))
    assert torch.equal(pl.lb_weights, torch.tensor([[1.0, 1, 0, 1]]))
    assert torch.equal(pl.weights, torch.tensor([[1.0, 0, 1, 1], [0, 0, 1, 1], [0, 1, 1, 0]]))  # 0.06 > 0.05
    y = [[1.0, 0, 0, 1]]
    z_lb, z_lb_s = [[0.5, -1.0, 0.0, 2.0]], [[1.0, 0.0, -2.0, 0.5]]
    z = Logits(lb=torch.tensor(z_lb), s=torch.zeros(3, 4), lb_s=torch.tensor(z_lb_s))
    terms = algo.losses(z, torch.tensor(y), pl, 0.0)
    sup_w = sum(bce(z_lb[0][c], y[0][c]) for c in range(4)) / 4
    sup_s = sum(bce(z_lb_s[0][c], y[0][c]) for c in range(4)) / 4
    assert terms["sup"].item() == pytest.approx((sup_w + sup_s) / 2, rel=1e-6)
    assert terms["unsup"].item() == pytest.approx(0.5 * 7 / 12 * math.log(2), rel=1e-6)  # 7 of 12 pass, BCE(0)=log 2
    anti = sum(m * bce(z_lb_s[0][c], t) for c, (t, m) in enumerate(zip([1, 0, 1, 1], [1, 1, 0, 1]))) / 4
    assert terms["anti"].item() == pytest.approx(-0.5 * anti, rel=1e-6)


def test_defixmatch_single_label():
    algo = build_algorithm("defixmatch", SL, lambda_u=0.5)
    weak_lb = [[4.0, 0.0, 0.0], [0.0, 0.5, 0.0]]  # softmax max 0.9647 passes, 0.45 fails
    pl = algo.pseudo_label(torch.zeros(2, 3), 0.0, lb_logits=torch.tensor(weak_lb))
    assert pl.lb_targets.tolist() == [0, 1] and pl.lb_weights.tolist() == [1.0, 0.0]
    z_lb_s = [[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]]
    z = Logits(lb=torch.zeros(2, 3), s=torch.zeros(2, 3), lb_s=torch.tensor(z_lb_s))
    terms = algo.losses(z, torch.tensor([2, 1]), pl, 0.0)
    assert terms["sup"].item() == pytest.approx((math.log(3) + (ce(z_lb_s[0], 2) + ce(z_lb_s[1], 1)) / 2) / 2, rel=1e-6)
    assert terms["anti"].item() == pytest.approx(-0.5 * ce(z_lb_s[0], 0) / 2, rel=1e-6)


# ----- UDAL -------------------------------------------------------------------------------


def test_udal_multilabel_tempered_adjustment_state_and_student_distribution():
    algo = build_algorithm("udal", ML)
    progress = 0.5
    f = 1 - 0.5 * progress**2  # 0.875
    target = [p**f / (p**f + (1 - p) ** f) for p in PRIOR]
    # supervised: logits shifted by log(pi / target)
    y, z = [1.0, 0, 0, 1], [0.3, -0.2, 1.0, 0.0]
    sup = sum(bce(z[c] + math.log(PRIOR[c]) - math.log(target[c] + 1e-9), y[c]) for c in range(4)) / 4
    assert algo.supervised_loss(torch.tensor([z]), torch.tensor([y]), progress).item() == pytest.approx(sup, rel=1e-5)
    # p_model starts at the first batch mean, then EMA; symmetric 0.95 mask
    pl = algo.pseudo_label(logits_of(P_WEAK), progress)
    mean1 = [sum(r[c] for r in P_WEAK) / 3 for c in range(4)]
    assert algo.p_model.tolist() == pytest.approx(mean1, rel=1e-5)
    assert torch.equal(pl.weights, torch.tensor([[1.0, 0, 0, 1], [0, 0, 1, 1], [0, 0, 1, 0]]))
    assert torch.equal(pl.targets, torch.tensor([[0.0, 1, 1, 0], [1, 0, 1, 1], [0, 1, 0, 0]]))
    second = [[0.5] * 4, [0.7] * 4, [0.9] * 4]
    algo.pseudo_label(logits_of(second), progress)
    p_model = [M * mean1[c] + (1 - M) * 0.7 for c in range(4)]
    assert algo.p_model.tolist() == pytest.approx(p_model, rel=1e-5)
    # unlabelled: strong logits 0 shifted by log(p_model / target), weighted, mean over 12
    expected = (
        sum(
            pl.weights[i, c].item() * bce(math.log(p_model[c]) - math.log(target[c] + 1e-9), pl.targets[i, c].item())
            for i in range(3)
            for c in range(4)
        )
        / 12
    )
    assert algo.unsupervised_loss(torch.zeros(3, 4), pl, progress, "teacher").item() == pytest.approx(
        expected, rel=1e-5
    )
    # the student adjusts with its own p_model, from its strong probabilities (sigmoid 0 = 0.5)
    student = (
        sum(
            pl.weights[i, c].item() * bce(math.log(0.5) - math.log(target[c] + 1e-9), pl.targets[i, c].item())
            for i in range(3)
            for c in range(4)
        )
        / 12
    )
    assert algo.unsupervised_loss(torch.zeros(3, 4), pl, progress, "student").item() == pytest.approx(student, rel=1e-5)
    assert algo.p_model_student.tolist() == pytest.approx([0.5] * 4)
    assert algo.p_model.tolist() == pytest.approx(p_model, rel=1e-5)  # untouched by the student


def test_udal_single_label_target_and_absent_class_stays_finite():
    algo = build_algorithm("udal", SL)
    f = 1 - 0.5 * 1.0**2
    pf = [p**f for p in (0.5, 0.3, 0.2)]
    target = [v / sum(pf) for v in pf]
    z = [0.0, 1.0, -1.0]
    shifted = [z[c] + math.log((0.5, 0.3, 0.2)[c]) - math.log(target[c] + 1e-9) for c in range(3)]
    assert algo.supervised_loss(torch.tensor([z]), torch.tensor([1]), 1.0).item() == pytest.approx(
        ce(shifted, 1), rel=1e-5
    )
    empty = build_algorithm("udal", TaskContext(True, 2, label_prior=torch.tensor([0.0, 0.5]), momentum=M))
    loss = empty.supervised_loss(torch.zeros(2, 2), torch.tensor([[0.0, 1], [0, 0]]), 0.3)
    assert torch.isfinite(loss)


# ----- SoftMatch --------------------------------------------------------------------------


def test_softmatch_multilabel_alignment_gaussian_weights_and_state():
    algo = build_algorithm("softmatch", ML, n_sigma=2.0)
    pl = algo.pseudo_label(logits_of(P_WEAK), 0.0)
    p_model = [sum(r[c] for r in P_WEAK) / 3 for c in range(4)]  # first batch
    eps = 1e-6

    def aligned(p, c):
        pos = p * (PRIOR[c] + eps) / (p_model[c] + eps)
        neg = (1 - p) * (1 - PRIOR[c] + eps) / (1 - p_model[c] + eps)
        return pos / (pos + neg)

    conf = [[max(aligned(P_WEAK[i][c], c), 1 - aligned(P_WEAK[i][c], c)) for c in range(4)] for i in range(3)]
    mu, var = [], []
    for c in range(4):
        col = [conf[i][c] for i in range(3)]
        m = sum(col) / 3
        v = sum((x - m) ** 2 for x in col) / 2  # unbiased
        mu.append(M * 0.5 + (1 - M) * m)
        var.append(M * 1.0 + (1 - M) * v)
    assert algo.mu.tolist() == pytest.approx(mu, rel=1e-5)
    assert algo.var.tolist() == pytest.approx(var, rel=1e-5)
    w = [[math.exp(-(min(conf[i][c] - mu[c], 0) ** 2) / (2 * var[c] / 4)) for c in range(4)] for i in range(3)]
    assert pl.weights.tolist() == [pytest.approx(r, rel=1e-5) for r in w]
    assert torch.equal(pl.targets, torch.tensor([[0.0, 1, 1, 0], [1, 0, 1, 1], [0, 1, 0, 0]]))  # un-aligned
    loss = sum(w[i][c] * math.log(2) for i in range(3) for c in range(4)) / 12
    assert algo.unsupervised_loss(torch.zeros(3, 4), pl).item() == pytest.approx(loss, rel=1e-5)


def test_softmatch_single_label_uniform_target_weights_raw_argmax_targets():
    algo = build_algorithm("softmatch", SL)
    z = [[1.0, 0.9, -2.0], [3.0, 0.0, 0.0]]
    pl = algo.pseudo_label(torch.tensor(z), 0.0)
    probs = [softmax(r) for r in z]
    p_model = [(probs[0][c] + probs[1][c]) / 2 for c in range(3)]
    eps = 1e-6
    al = []
    for p in probs:
        a = [p[c] * (1 / 3 + eps) / (p_model[c] + eps) for c in range(3)]
        al.append([v / sum(a) for v in a])
    conf = [max(a) for a in al]
    m = sum(conf) / 2
    mu = M / 3 + (1 - M) * m
    var = M * 1.0 + (1 - M) * sum((x - m) ** 2 for x in conf)  # unbiased over 2 samples
    assert algo.mu.item() == pytest.approx(mu, rel=1e-5) and algo.var.item() == pytest.approx(var, rel=1e-5)
    w = [math.exp(-(min(c - mu, 0) ** 2) / (2 * var / 4)) for c in conf]
    assert pl.weights.tolist() == pytest.approx(w, rel=1e-5)
    # the alignment moves sample 0 to class 1 (.56 vs .22), but the targets are the raw argmax
    assert [max(range(3), key=lambda c: a[c]) for a in al] == [1, 0]
    assert pl.targets.tolist() == [0, 0]


# ----- FreeMatch --------------------------------------------------------------------------


def test_freematch_multilabel_adaptive_mask_state_and_fairness():
    algo = build_algorithm("freematch", ML, lambda_e=0.001, warmup=0.1)
    pl = algo.pseudo_label(logits_of(P_WEAK), 0.5)
    mean = lambda col: sum(col) / len(col)  # noqa: E731
    time_p = [M * 0.5 + (1 - M) * mean([max(r[c], 1 - r[c]) for r in P_WEAK]) for c in range(4)]
    p_model = [M * 0.5 + (1 - M) * mean([r[c] for r in P_WEAK]) for c in range(4)]
    hist = [M * 0.5 + (1 - M) * mean([float(r[c] >= 0.5) for r in P_WEAK]) for c in range(4)]
    assert algo.time_p.tolist() == pytest.approx(time_p, rel=1e-5)
    assert algo.p_model.tolist() == pytest.approx(p_model, rel=1e-5)
    assert algo.label_hist.tolist() == pytest.approx(hist, rel=1e-5)
    mask = []
    for r in P_WEAK:
        row = []
        for c, p in enumerate(r):
            pm = p_model[c]
            scale = (pm if p >= 0.5 else 1 - pm) / max(pm, 1 - pm)
            row.append(float(max(p, 1 - p) >= time_p[c] * scale))
        mask.append(row)
    assert pl.weights.tolist() == mask
    # fairness on strong logits: classes with no masked entry are left out, not NaN
    q = [[0.7, 0.2, 0.6, 0.4], [0.3, 0.9, 0.8, 0.1], [0.6, 0.5, 0.2, 0.7]]
    m = [[1.0, 0, 0, 0], [1, 0, 1, 0], [1, 0, 1, 0]]  # class 1 and 3: none masked
    loss = algo.fairness_loss(logits_of(q), torch.tensor(m))
    expected = 0.0
    for c in (0, 2):
        idx = [i for i in range(3) if m[i][c]]
        h = mean([float(q[i][c] >= 0.5) for i in idx])
        q1, q0 = mean([q[i][c] for i in idx]), mean([1 - q[i][c] for i in idx])
        s = (q1 / h) / (q1 / h + q0 / (1 - h))
        r = (p_model[c] / hist[c]) / (p_model[c] / hist[c] + (1 - p_model[c]) / (1 - hist[c]))
        expected += r * math.log(s + 1e-12) + (1 - r) * math.log(1 - s + 1e-12)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    z = Logits(lb=torch.zeros(1, 4), s=logits_of(q).requires_grad_())
    terms = algo.losses(z, torch.zeros(1, 4), PseudoLabels(torch.zeros(3, 4), torch.tensor(m)), 0.5)
    assert terms["fairness"].item() == pytest.approx(0.001 * expected, rel=1e-5)
    sum(terms.values()).backward()
    assert torch.isfinite(z.s.grad).all()
    # supervised-only warm-up: the first tenth of the run here
    assert set(algo.losses(z, torch.zeros(1, 4), pl, 0.05)) == {"sup"}
    assert not algo.unsupervised_active(0.05) and algo.unsupervised_active(0.1)


def test_freematch_single_label_self_adaptive_threshold():
    algo = build_algorithm("freematch", SL)
    z = [[3.0, 0.0, 0.0], [0.0, 0.2, 0.0], [0.0, 0.0, 1.0]]
    pl = algo.pseudo_label(torch.tensor(z), 0.5)
    probs = [softmax(r) for r in z]
    time_p = M / 3 + (1 - M) * sum(max(p) for p in probs) / 3
    p_model = [M / 3 + (1 - M) * sum(p[c] for p in probs) / 3 for c in range(3)]
    assert algo.time_p.item() == pytest.approx(time_p, rel=1e-5)
    assert algo.label_hist.tolist() == pytest.approx([M / 3 + (1 - M) / 3] * 3, rel=1e-5)  # one argmax per class
    mask = [float(max(p) >= time_p * p_model[p.index(max(p))] / max(p_model)) for p in probs]
    assert pl.weights.tolist() == mask and pl.targets.tolist() == [0, 1, 2]


# ----- CAP --------------------------------------------------------------------------------


def test_cap_queue_quantile_thresholds_and_asl():
    ctx = TaskContext(True, 2, label_prior=torch.tensor([0.5, 0.25]), batch_ulb=2, momentum=M)
    algo = build_algorithm("cap", ctx, queue_size=4, pos_per=0.5, neg_per=1.0)
    algo.pseudo_label(logits_of([[0.1, 0.2], [0.3, 0.4]]), 0.0)
    pl = algo.pseudo_label(logits_of([[0.5, 0.6], [0.7, 0.05]]), 0.0)
    # queue (4 rows, full): class 0 sorted [.1 .3 .5 .7], class 1 sorted [.05 .2 .4 .6]
    # label thr: Q(1 - pi) -> index floor(4 * .5) = 2 -> .5 ; floor(4 * .75) = 3 -> .6
    assert pl.targets.tolist() == [[1.0, 1.0], [1.0, 0.0]]
    # pos thr Q(1 - .5 pi): floor(4 * .75)=3 -> .7 ; floor(4 * .875)=3 -> .6
    # neg thr Q(1 - pi): .5 ; .6  -> mask p >= pos or p <= neg
    assert pl.weights.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    third = algo.pseudo_label(logits_of([[0.65, 0.3], [0.15, 0.45]]), 0.0)  # FIFO drops the first batch
    # class 0 queue [.5 .7 .65 .15] sorted [.15 .5 .65 .7]: label thr idx 2 -> .65, pos idx 3 -> .7, neg idx 2 -> .65
    assert third.targets[:, 0].tolist() == [1.0, 0.0] and third.weights[:, 0].tolist() == [1.0, 1.0]
    # ASL by hand: y=1, p=sig(0.5): -log(p) (1-p)^1 ; y=0, p=sig(1): p_- = 1-p+.05, -log(p_-) (1-p_-)^4
    p1, p0 = sig(0.5), sig(1.0)
    pn = 1 - p0 + 0.05
    expected = [-math.log(p1) * (1 - p1), -math.log(pn) * (1 - pn) ** 4]
    got = asymmetric_loss(torch.tensor([0.5, 1.0]), torch.tensor([1.0, 0.0]))
    assert got.tolist() == pytest.approx(expected, rel=1e-5)
    # unsupervised: sum(mask * ASL) / sum(mask)
    unsup = algo.unsupervised_loss(
        torch.tensor([[0.5, 1.0]]), PseudoLabels(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
    )
    assert unsup.item() == pytest.approx(expected[0], rel=1e-5)


def test_cap_default_queue_is_the_papers_143_steps():
    assert build_algorithm(
        "cap", TaskContext(True, 2, label_prior=torch.tensor([0.5, 0.5]), batch_ulb=448)
    ).queue.shape == (64000, 2)
    assert build_algorithm(
        "cap", TaskContext(True, 2, label_prior=torch.tensor([0.5, 0.5]), batch_ulb=48)
    ).queue.shape == (6857, 2)


# ----- CDMAD ------------------------------------------------------------------------------


def test_cdmad_bias_soft_targets_mask_and_evaluation_shift():
    algo = build_algorithm("cdmad", ML, debias_start=0.25)
    bias = torch.tensor([1.0, -1.0, 0.0, 2.0])
    seen = []

    def forward(x):
        seen.append(x)
        return bias.unsqueeze(0).expand(len(x), -1)

    like = torch.zeros(5, 3, 8, 8)
    algo.before_pseudo_label(forward, like, 0.2)  # before the start: no bias, no forward needed
    assert algo.bias.tolist() == [0.0] * 4
    algo.before_pseudo_label(forward, like, 0.25)
    assert torch.equal(seen[-1], torch.ones(1, 3, 8, 8))  # one constant image of ones, normalised space
    assert algo.bias.tolist() == bias.tolist()
    z = [[4.0, -4.0, 0.0, 4.0], [-2.0, 2.0, 3.0, 6.0]]
    pl = algo.pseudo_label(torch.tensor(z), 0.25)
    t = [[sig(z[i][c] - bias[c].item()) for c in range(4)] for i in range(2)]
    assert pl.targets.tolist() == [pytest.approx(r, rel=1e-5) for r in t]
    assert pl.weights.tolist() == [[float(v <= 0.05 or v >= 0.95) for v in r] for r in t]
    loss = sum(pl.weights[i, c].item() * bce(0.0, t[i][c]) for i in range(2) for c in range(4)) / 8
    assert algo.unsupervised_loss(torch.zeros(2, 4), pl).item() == pytest.approx(loss, rel=1e-5)
    assert algo.eval_logit_shift(forward, like).tolist() == bias.tolist()


def test_cdmad_single_label_debiased_argmax():
    algo = build_algorithm("cdmad", SL, debias_start=0.0)
    algo.before_pseudo_label(lambda x: torch.tensor([[3.0, 0.0, 0.0]]), torch.zeros(1, 3, 4, 4), 0.0)
    pl = algo.pseudo_label(torch.tensor([[5.0, 4.0, 0.0], [9.0, 0.0, 0.0]]), 0.0)
    # debiased [2, 4, 0] -> class 1, softmax max .867 fails .95; [6, 0, 0] -> class 0, .995 passes
    assert pl.targets.tolist() == [1, 0] and pl.weights.tolist() == [0.0, 1.0]
