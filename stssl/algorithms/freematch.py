"""FreeMatch (the authors' ``semilearn/algorithms/freematch/``): self-adaptive thresholds and a class-fairness term.

Running state (EMA of batch means, updated before masking, also during the warm-up): the
global confidence level ``time_p``, the mean probability ``p_model`` and the histogram of
predictions ``label_hist``. Multi-label, per class with confidence ``max(p, 1-p)``: an entry
passes if its confidence reaches ``time_p_c`` scaled by ``p_model_c / max(p_model_c, 1-p_model_c)``
(predicted positive) or ``(1 - p_model_c) / max(...)`` (predicted negative). Single-label: USB's
self-adaptive threshold ``time_p * p_model[yhat] / max(p_model)``.

The fairness term (weight ``lambda_e`` 0.001) is the *negative* cross-entropy between the
model's normalised class distribution ``p_model / label_hist`` and the same quantity over the
masked strong predictions, as in the FreeMatch paper; multi-label, a Bernoulli one per class,
summed over the classes that have masked entries (the authors' code divides 0/0 into NaN for a
class without any; ``book/differences.md``). Training is supervised only for the first ``warmup`` of
the run (the authors' 2 000 of 64 000 iterations), without unlabelled or distillation loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stssl.algorithms.base import (
    FRACTION,
    MOMENTUM,
    Logits,
    PseudoLabels,
    Role,
    SSLAlgorithm,
    TaskContext,
    ema_,
    probabilities,
    register_algorithm,
)
from stssl.algorithms.fixmatch import hard_labels
from stssl.core.checks import Number

LOG_EPS = 1e-12


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` with division by zero giving 0 (the authors' inf -> 0 rule), and a zero
    gradient there (``nan_to_num`` after dividing would back-propagate 0 * inf = NaN)."""
    zero = den == 0
    return torch.where(zero, torch.zeros_like(num), num / torch.where(zero, torch.ones_like(den), den))


def _bernoulli_balance(p1: torch.Tensor, hist: torch.Tensor, p0: torch.Tensor) -> torch.Tensor:
    """Per class ``(p1/h) / (p1/h + p0/(1-h))``: the positive rate corrected by the histogram."""
    pos, neg = _ratio(p1, hist), _ratio(p0, 1 - hist)
    return _ratio(pos, pos + neg)


@register_algorithm
class FreeMatch(SSLAlgorithm):
    name = "freematch"
    param_rules = {"lambda_e": Number(0), "warmup": FRACTION, "ema_p": MOMENTUM}

    def __init__(
        self,
        ctx: TaskContext,
        lambda_u: float = 1.0,
        lambda_e: float = 0.001,
        warmup: float = 2000 / 64000,
        ema_p: float | None = None,
    ):
        super().__init__(ctx, lambda_u)
        self.lambda_e, self.warmup = lambda_e, warmup
        self.ema_p = ctx.momentum if ema_p is None else ema_p
        c = ctx.num_classes
        init = 0.5 if ctx.multilabel else 1 / c
        self.register_buffer("time_p", torch.full((c,), init) if ctx.multilabel else torch.tensor(init))
        self.register_buffer("p_model", torch.full((c,), init))
        self.register_buffer("label_hist", torch.full((c,), init))

    def unsupervised_active(self, progress: float) -> bool:
        return progress >= self.warmup

    @torch.no_grad()
    def pseudo_label(
        self, weak_logits: torch.Tensor, progress: float, lb_logits: torch.Tensor | None = None
    ) -> PseudoLabels:
        probs = probabilities(weak_logits.float(), self.multilabel)
        yhat = hard_labels(weak_logits, self.multilabel)
        if self.multilabel:
            conf = torch.maximum(probs, 1 - probs)
            ema_(self.time_p, conf.mean(0), self.ema_p)
            ema_(self.p_model, probs.mean(0), self.ema_p)
            ema_(self.label_hist, yhat.mean(0), self.ema_p)
            pm = self.p_model
            scale = torch.where(yhat.bool(), pm, 1 - pm) / torch.maximum(pm, 1 - pm)
            mask = conf >= self.time_p * scale
        else:
            conf = probs.max(-1).values
            ema_(self.time_p, conf.mean(), self.ema_p)
            ema_(self.p_model, probs.mean(0), self.ema_p)
            # one-hot counts, not bincount: bincount's output size depends on the values (a GPU sync)
            counts = F.one_hot(yhat, len(self.p_model)).sum(0).float()
            ema_(self.label_hist, counts / len(yhat), self.ema_p)
            mask = conf >= self.time_p * self.p_model[yhat] / self.p_model.max()
        return PseudoLabels(yhat, mask.float())

    def fairness_loss(self, strong_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Negative cross-entropy of normalised class distributions, model vs masked batch."""
        q = probabilities(strong_logits.float(), self.multilabel)
        if self.multilabel:
            n = mask.sum(0)
            count = n.clamp_min(1)  # means over each class's masked entries (sums first: a rate of 1 stays 1)
            hist = (mask * (q >= 0.5)).sum(0) / count
            batch = _bernoulli_balance((mask * q).sum(0) / count, hist, (mask * (1 - q)).sum(0) / count)
            model = _bernoulli_balance(self.p_model, self.label_hist, 1 - self.p_model)
            terms = model * torch.log(batch + LOG_EPS) + (1 - model) * torch.log(1 - batch + LOG_EPS)
            return (terms * (n > 0)).sum()
        n = mask.sum()
        count = n.clamp_min(1)
        hist = (mask.unsqueeze(1) * F.one_hot(q.argmax(-1), q.shape[1])).sum(0) / count
        batch = _ratio((mask.unsqueeze(1) * q).sum(0) / count, hist)
        model = _ratio(self.p_model, self.label_hist)
        batch, model = batch / batch.sum().clamp_min(LOG_EPS), model / model.sum()
        return (model * torch.log(batch + LOG_EPS)).sum() * (n > 0)

    def losses(
        self, z: Logits, labels: torch.Tensor, pl: PseudoLabels | None, progress: float, role: Role = "self"
    ) -> dict[str, torch.Tensor]:
        terms = super().losses(z, labels, pl, progress, role)
        if "unsup" in terms:
            terms["fairness"] = self.lambda_e * self.fairness_loss(z.s, pl.weights)
        return terms
