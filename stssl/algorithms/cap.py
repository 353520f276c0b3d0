"""CAP (the authors' ``semilearn/algorithms/cap/``), multi-label only: class-aware pseudo-labels from the EMA network.

The EMA (teacher) network's weak-view probabilities are pushed into a FIFO queue; per class,
its empirical quantiles set the thresholds: label 1 above ``Q_c(1 - pi_c)``, so that each
class's predicted positive rate matches its labelled prevalence ``pi_c``; the mask keeps
entries above ``Q_c(1 - pos_per * pi_c)`` or below ``Q_c(neg_per * (1 - pi_c))`` (with the
paper's ``pos_per = neg_per = 1`` the mask is all ones). Both losses are the asymmetric loss
(ASL: gamma_neg 4, gamma_pos 1, negative-probability shift 0.05, focusing weights without
gradient); the unsupervised one averaged over the masked entries.

The paper's queue holds 64 000 rows, i.e. 64 000 / 448 = 143 steps of unlabelled batches; by
default we keep those 143 steps' worth at any batch size, so the queue spans the same number
of recent steps in every profile. The EMA network predicts in eval mode (the authors' runs in
train mode, with stochastic depth on; ``book/differences.md``).
"""

from __future__ import annotations

import torch

from stssl.algorithms.base import PseudoLabels, Role, SSLAlgorithm, TaskContext, register_algorithm
from stssl.core.checks import Number

PAPER_QUEUE_STEPS = 64_000 / 448


def asymmetric_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma_neg: float = 4.0,
    gamma_pos: float = 1.0,
    clip: float = 0.05,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Element-wise ASL: ``-[y log(p) (1-p)^g+ + (1-y) log(p_-) (1-p_-)^g-]``, ``p_- = min(1-p+clip, 1)``."""
    p = torch.sigmoid(logits.float())
    y = targets.float()
    p_neg = (1 - p + clip).clamp(max=1)
    log_lik = y * torch.log(p.clamp(min=eps)) + (1 - y) * torch.log(p_neg.clamp(min=eps))
    with torch.no_grad():
        p_true = y * p + (1 - y) * p_neg
        focus = (1 - p_true) ** (y * gamma_pos + (1 - y) * gamma_neg)
    return -log_lik * focus


@register_algorithm
class CAP(SSLAlgorithm):
    name = "cap"
    param_rules = {
        "gamma_neg": Number(0),
        "gamma_pos": Number(0),
        "clip": Number(0, 1),
        "eps": Number(0, open_low=True),
        "pos_per": Number(0),
        "neg_per": Number(0),
        "queue_size": Number(1, integer=True, optional=True),
    }
    supports_single_label = False
    pl_from_ema = True

    def __init__(
        self,
        ctx: TaskContext,
        lambda_u: float = 1.0,
        gamma_neg: float = 4.0,
        gamma_pos: float = 1.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        pos_per: float = 1.0,
        neg_per: float = 1.0,
        queue_size: int | None = None,
    ):
        super().__init__(ctx, lambda_u)
        self.asl = dict(gamma_neg=gamma_neg, gamma_pos=gamma_pos, clip=clip, eps=eps)
        self.pos_per, self.neg_per = pos_per, neg_per
        size = queue_size if queue_size is not None else round(PAPER_QUEUE_STEPS * ctx.batch_ulb)
        self.register_buffer("pi", ctx.prior())
        self.register_buffer("queue", torch.full((size, ctx.num_classes), float("nan")))  # NaN = empty slot
        self.register_buffer("queue_pos", torch.zeros((), dtype=torch.long))

    def push(self, probs: torch.Tensor) -> None:
        rows = (self.queue_pos + torch.arange(len(probs), device=probs.device)) % len(self.queue)
        self.queue[rows] = probs
        self.queue_pos.copy_((self.queue_pos + len(probs)) % len(self.queue))

    def quantiles(self, *qs: torch.Tensor) -> list[torch.Tensor]:
        """Per class and per ``q`` (C), the sorted queue column at ``floor(n q)`` clamped to
        [0, n-1], n = filled rows. One sort serves every ``q``."""
        column_sorted = self.queue.t().sort(dim=1).values  # C x rows; NaN (empty slots) sort last
        n = (~self.queue[:, 0].isnan()).sum()
        index = torch.stack([(n * q).floor().long().clamp(min=0).minimum(n - 1) for q in qs], dim=1)
        return list(column_sorted.gather(1, index).unbind(1))

    @torch.no_grad()
    def pseudo_label(
        self, weak_logits: torch.Tensor, progress: float, lb_logits: torch.Tensor | None = None
    ) -> PseudoLabels:
        probs = torch.sigmoid(weak_logits.float())
        self.push(probs)
        label_thr, pos_thr, neg_thr = self.quantiles(
            1 - self.pi, 1 - self.pos_per * self.pi, self.neg_per * (1 - self.pi)
        )
        targets = (probs >= label_thr).float()
        weights = ((probs >= pos_thr) | (probs <= neg_thr)).float()
        return PseudoLabels(targets, weights)

    def supervised_loss(self, logits: torch.Tensor, labels: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
        return asymmetric_loss(logits, labels, **self.asl).mean()

    def unsupervised_loss(
        self, strong_logits: torch.Tensor, pl: PseudoLabels, progress: float = 0.0, role: Role = "self"
    ) -> torch.Tensor:
        return (asymmetric_loss(strong_logits, pl.targets, **self.asl) * pl.weights).sum() / (pl.weights.sum() + 1e-8)
