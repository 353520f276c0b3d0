"""FixMatch (the authors' ``semilearn/algorithms/fixmatch/``), single- and multi-label.

Single-label: hard label argmax(p_w), mask 1[max p_w >= tau] (tau 0.95).
Multi-label: hard label 1[z_w >= 0] per class; mask 1[p <= tau_neg] or 1[p >= tau_pos]
(``threshold=(0.05, 0.7)`` on BigEarthNet), or the symmetric 1[max(p, 1-p) >= tau] when
``threshold`` is a single number.
"""

from __future__ import annotations

import torch

from stssl.algorithms.base import PseudoLabels, SSLAlgorithm, TaskContext, probabilities, register_algorithm
from stssl.core.checks import Number, NumberOrPair

Threshold = float | tuple[float, float]
THRESHOLD = NumberOrPair(Number(0, 1))  # a probability, or (negative, positive) for multi-label data


def fixed_threshold_mask(probs: torch.Tensor, threshold: Threshold, multilabel: bool) -> torch.Tensor:
    if not multilabel:
        return (probs.max(dim=-1).values >= threshold).float()
    if isinstance(threshold, (tuple, list)):
        tau_neg, tau_pos = threshold
        return ((probs <= tau_neg) | (probs >= tau_pos)).float()
    return (torch.maximum(probs, 1 - probs) >= threshold).float()


def hard_labels(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    return (logits >= 0).float() if multilabel else logits.argmax(dim=-1)


def threshold_or_default(
    threshold: Threshold | list | None,
    multilabel: bool,
    multilabel_default: Threshold,
    single_label_default: float = 0.95,
) -> Threshold:
    """A config's threshold (YAML gives lists) or the algorithm's default for the task."""
    if threshold is None:
        return multilabel_default if multilabel else single_label_default
    return tuple(threshold) if isinstance(threshold, list) else threshold


@register_algorithm
class FixMatch(SSLAlgorithm):
    name = "fixmatch"
    param_rules = {"threshold": THRESHOLD}

    def __init__(self, ctx: TaskContext, lambda_u: float = 1.0, threshold: Threshold | None = None):
        super().__init__(ctx, lambda_u)
        self.threshold = threshold_or_default(threshold, ctx.multilabel, (0.05, 0.7))

    @torch.no_grad()
    def pseudo_label(
        self, weak_logits: torch.Tensor, progress: float, lb_logits: torch.Tensor | None = None
    ) -> PseudoLabels:
        probs = probabilities(weak_logits.float(), self.multilabel)
        return PseudoLabels(
            hard_labels(weak_logits, self.multilabel), fixed_threshold_mask(probs, self.threshold, self.multilabel)
        )
