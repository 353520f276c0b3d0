"""SoftMatch (the authors' ``semilearn/algorithms/softmatch/``): every pseudo-label counts,
weighted by a truncated Gaussian of its confidence after distribution alignment.

Alignment moves the weak probabilities from the model's running mean ``p_model`` towards the
target ``pi``: per class as a Bernoulli (multi-label, ``pi`` = labelled prevalence), or
``p * pi / p_model`` renormalised (single-label, ``pi`` uniform as in USB). The confidence
(``max(p~, 1-p~)`` per entry, or ``max_c p~`` per sample) is compared with running mean ``mu``
and variance ``var`` (EMA of the batch mean and unbiased variance, updated first): weight 1
above ``mu``, ``exp(-(c - mu)^2 / (2 var / n_sigma^2))`` below.

The alignment only sets the weights: the targets come from the *un-aligned* weak logits,
``1[z_w >= 0]`` (multi-label) or ``argmax z_w`` (single-label), as in the authors' code and USB's
``softmatch.py``, whose single-label step hands the raw logits to its pseudo-labelling hook. A
sample can thus be weighted by the confidence of one class and trained towards another.
"""

from __future__ import annotations

import torch

from stssl.algorithms.base import (
    MOMENTUM,
    PseudoLabels,
    SSLAlgorithm,
    TaskContext,
    ema_,
    probabilities,
    register_algorithm,
    unseen,
)
from stssl.core.checks import Number

EPS = 1e-6


@register_algorithm
class SoftMatch(SSLAlgorithm):
    name = "softmatch"
    param_rules = {"n_sigma": Number(0, open_low=True), "ema_p": MOMENTUM}

    def __init__(self, ctx: TaskContext, lambda_u: float = 1.0, n_sigma: float = 2.0, ema_p: float | None = None):
        super().__init__(ctx, lambda_u)
        self.n_sigma = n_sigma
        self.ema_p = ctx.momentum if ema_p is None else ema_p
        c = ctx.num_classes
        self.register_buffer("p_target", ctx.prior() if ctx.multilabel else torch.full((c,), 1 / c))
        self.register_buffer("p_model", unseen(c))
        # Confidence statistics: per class (multi-label), one scalar (single-label).
        self.register_buffer("mu", torch.full((c,), 0.5) if ctx.multilabel else torch.tensor(1 / c))
        self.register_buffer("var", torch.ones(c) if ctx.multilabel else torch.tensor(1.0))

    def align(self, probs: torch.Tensor) -> torch.Tensor:
        pi, pm = self.p_target, self.p_model
        if self.multilabel:
            pos = probs * (pi + EPS) / (pm + EPS)
            neg = (1 - probs) * (1 - pi + EPS) / (1 - pm + EPS)
            return pos / (pos + neg)
        aligned = probs * (pi + EPS) / (pm + EPS)
        return aligned / aligned.sum(-1, keepdim=True)

    @torch.no_grad()
    def pseudo_label(
        self, weak_logits: torch.Tensor, progress: float, lb_logits: torch.Tensor | None = None
    ) -> PseudoLabels:
        probs = probabilities(weak_logits.float(), self.multilabel)
        ema_(self.p_model, probs.mean(0), self.ema_p)
        aligned = self.align(probs)
        if self.multilabel:
            conf, targets = torch.maximum(aligned, 1 - aligned), (weak_logits >= 0).float()
            batch_mu, batch_var = conf.mean(0), conf.var(0, unbiased=True)
        else:
            conf, targets = aligned.max(-1).values, weak_logits.argmax(-1)
            batch_mu, batch_var = conf.mean(), conf.var(unbiased=True)
        ema_(self.mu, batch_mu, self.ema_p)
        if len(conf) > 1:  # the unbiased variance of one sample is undefined
            ema_(self.var, batch_var, self.ema_p)
        below = (conf - self.mu).clamp(max=0)
        weights = torch.exp(-(below**2) / (2 * self.var / self.n_sigma**2))
        return PseudoLabels(targets, weights)
