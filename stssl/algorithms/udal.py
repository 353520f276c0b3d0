"""UDAL (the authors' ``semilearn/algorithms/udal/``): logit adjustment towards a prior tempered over training.

``pi`` is the labelled class prevalence; the tempered target is ``pi^f / (pi^f + (1-pi)^f)``
per class (multi-label) or ``pi^f / sum(pi^f)`` (single-label), with
``f(t) = 1 - (1 - a_min) * t^k`` and ``t`` the fraction of training done (the paper's
``it / 64 000``). The supervised logits are shifted by ``log(pi / target)``, the strong
unlabelled logits by ``log(p_model / target)``, where ``p_model`` is an EMA of the mean weak
probability, updated before the losses. Mask: symmetric 0.95 (the authors' configs set none,
so the argparse default applies).

ST-UDAL: the teacher's ``p_model`` drives the teacher; the student adjusts with its *own*
``p_model`` (EMA of its strong-view probabilities). The authors' code reads the teacher's by
mistake (``book/differences.md``).
"""

from __future__ import annotations

import torch

from stssl.algorithms.base import (
    MOMENTUM,
    PseudoLabels,
    Role,
    SSLAlgorithm,
    TaskContext,
    classification_loss,
    ema_,
    probabilities,
    register_algorithm,
    unseen,
)
from stssl.algorithms.fixmatch import THRESHOLD, Threshold, fixed_threshold_mask, hard_labels, threshold_or_default
from stssl.core.checks import Number

EPS = 1e-9


@register_algorithm
class UDAL(SSLAlgorithm):
    name = "udal"
    param_rules = {"threshold": THRESHOLD, "a_min": Number(0, 1), "k": Number(0, open_low=True), "ema_p": MOMENTUM}

    def __init__(
        self,
        ctx: TaskContext,
        lambda_u: float = 1.0,
        threshold: Threshold | None = None,
        a_min: float = 0.5,
        k: float = 2.0,
        ema_p: float | None = None,
    ):
        super().__init__(ctx, lambda_u)
        self.threshold = threshold_or_default(threshold, ctx.multilabel, 0.95)
        self.a_min, self.k = a_min, k
        self.ema_p = ctx.momentum if ema_p is None else ema_p
        self.register_buffer("p_target", ctx.prior())
        self.register_buffer("p_model", unseen(ctx.num_classes))
        self.register_buffer("p_model_student", unseen(ctx.num_classes))

    def tempered_target(self, progress: float) -> torch.Tensor:
        f = 1 - (1 - self.a_min) * progress**self.k
        pf = self.p_target**f
        return pf / (pf + (1 - self.p_target) ** f) if self.multilabel else pf / pf.sum()

    def adjustment(self, distribution: torch.Tensor, progress: float) -> torch.Tensor:
        """``log(q / target)``; ``q`` floored at 1e-9, so a class absent from the labelled split
        gets a large negative shift instead of the authors' ``log 0 = -inf`` (``book/differences.md``)."""
        return torch.log(distribution.clamp_min(EPS)) - torch.log(self.tempered_target(progress) + EPS)

    def supervised_loss(self, logits: torch.Tensor, labels: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
        adjusted = logits + self.adjustment(self.p_target, progress).to(logits.dtype)
        return classification_loss(adjusted, labels, self.multilabel).mean()

    @torch.no_grad()
    def pseudo_label(
        self, weak_logits: torch.Tensor, progress: float, lb_logits: torch.Tensor | None = None
    ) -> PseudoLabels:
        probs = probabilities(weak_logits.float(), self.multilabel)
        ema_(self.p_model, probs.mean(0), self.ema_p)
        return PseudoLabels(
            hard_labels(weak_logits, self.multilabel), fixed_threshold_mask(probs, self.threshold, self.multilabel)
        )

    def unsupervised_loss(
        self, strong_logits: torch.Tensor, pl: PseudoLabels, progress: float = 0.0, role: Role = "self"
    ) -> torch.Tensor:
        if role == "student":
            with torch.no_grad():
                ema_(self.p_model_student, probabilities(strong_logits.float(), self.multilabel).mean(0), self.ema_p)
            distribution = self.p_model_student
        else:
            distribution = self.p_model
        adjusted = strong_logits + self.adjustment(distribution, progress).to(strong_logits.dtype)
        return (classification_loss(adjusted, pl.targets, self.multilabel) * pl.weights).mean()
