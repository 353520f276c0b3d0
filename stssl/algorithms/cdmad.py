"""CDMAD (the authors' ``semilearn/algorithms/cdmad/``): debias pseudo-labels and predictions by
the classifier's output on a constant image.

The bias ``b`` is the pseudo-labelling network's logits for one image of ones in normalised
space, recomputed every step once a ``debias_start`` fraction of training is done (the
authors' 2 000 of 64 000 iterations; zero before). Multi-label targets are *soft*,
``t = sigmoid(z_w - b)``, with the fixed mask ``t <= 0.05 or t >= 0.95``, as the authors'.
Single-label ones are the hard ``argmax(z_w - b)`` with ``max softmax >= 0.95``, where the
authors' keep the soft ``softmax(z_w - b)``: single-label targets are class indices throughout
(``book/differences.md`` bounds the difference). At evaluation every network's logits are
debiased by its own bias, from its own classifier head.

ST-CDMAD: the bias comes from the teacher's trained head, on the constant image without a
metatoken (the authors' code reads an untrained internal head; ``book/differences.md``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from stssl.algorithms.base import FRACTION, PseudoLabels, SSLAlgorithm, TaskContext, probabilities, register_algorithm
from stssl.algorithms.fixmatch import THRESHOLD, Threshold, fixed_threshold_mask, threshold_or_default

Forward = Callable[[torch.Tensor], torch.Tensor]


def constant_image_logits(forward: Forward, like: torch.Tensor) -> torch.Tensor:
    """Logits (C) of one image of ones in normalised space, shaped like a batch element."""
    with torch.no_grad():
        return forward(torch.ones((1, *like.shape[1:]), dtype=like.dtype, device=like.device))[0].float()


@register_algorithm
class CDMAD(SSLAlgorithm):
    name = "cdmad"
    param_rules = {"threshold": THRESHOLD, "debias_start": FRACTION}

    def __init__(
        self,
        ctx: TaskContext,
        lambda_u: float = 1.0,
        threshold: Threshold | None = None,
        debias_start: float = 2000 / 64000,
    ):
        super().__init__(ctx, lambda_u)
        self.threshold = threshold_or_default(threshold, ctx.multilabel, (0.05, 0.95))
        self.debias_start = debias_start
        self.register_buffer("bias", torch.zeros(ctx.num_classes))

    def before_pseudo_label(self, forward: Forward, like: torch.Tensor, progress: float) -> None:
        if progress >= self.debias_start:
            self.bias.copy_(constant_image_logits(forward, like))
        else:
            self.bias.zero_()

    @torch.no_grad()
    def pseudo_label(
        self, weak_logits: torch.Tensor, progress: float, lb_logits: torch.Tensor | None = None
    ) -> PseudoLabels:
        probs = probabilities(weak_logits.float() - self.bias, self.multilabel)
        targets = probs if self.multilabel else probs.argmax(-1)
        return PseudoLabels(targets, fixed_threshold_mask(probs, self.threshold, self.multilabel))

    @classmethod
    def eval_logit_shift(cls, forward: Forward, like: torch.Tensor) -> torch.Tensor:
        return constant_image_logits(forward, like)
