"""The interface every SSL algorithm implements, so that "+ ST-SSL" is a wrapper, not a copy.

An algorithm turns weak-view logits (and its running state) into :class:`PseudoLabels` —
targets and per-entry weights — and provides the supervised and unsupervised losses. Who
*produces* the pseudo-labels (the network itself, or the teacher) and who *consumes* them is
decided by the step (:mod:`stssl.algorithms.steps`), never by the algorithm.

Shapes: single-label targets are class indices (B) with weights per sample (B); multi-label
targets are {0, 1} or soft (B x C) with weights per entry (B x C). Running state lives in
registered buffers, so it is checkpointed and moves with the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class PseudoLabels:
    targets: torch.Tensor
    weights: torch.Tensor


def classification_loss(logits: torch.Tensor, targets: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Element-wise loss: CE per sample (B), or BCE-with-logits per entry (B x C)."""
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    return F.cross_entropy(logits, targets.long(), reduction="none")


def probabilities(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Sigmoid per class (multi-label) or softmax over classes (single-label)."""
    return torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=-1)


class SSLAlgorithm(nn.Module):
    """Base class. Subclasses set ``name`` and override :meth:`pseudo_label` (SSL methods).

    ``progress`` is the fraction of training done (step / total steps), so that schedules
    scale with the run length in every profile.
    """

    name: ClassVar[str]
    uses_unlabelled: ClassVar[bool] = True
    supports_single_label: ClassVar[bool] = True
    supports_multilabel: ClassVar[bool] = True

    def __init__(self, multilabel: bool, lambda_u: float = 1.0):
        super().__init__()
        if multilabel and not self.supports_multilabel:
            raise ValueError(f"{self.name} does not support multi-label data")
        if not multilabel and not self.supports_single_label:
            raise ValueError(f"{self.name} is multi-label only")
        self.multilabel = multilabel
        self.lambda_u = lambda_u

    def supervised_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean CE over B_l (single-label) or mean BCE over B_l x C (multi-label)."""
        return classification_loss(logits, labels, self.multilabel).mean()

    @torch.no_grad()
    def pseudo_label(self, weak_logits: torch.Tensor, progress: float) -> PseudoLabels:
        raise NotImplementedError(f"{self.name} uses no pseudo-labels")

    def unsupervised_loss(self, strong_logits: torch.Tensor, pl: PseudoLabels) -> torch.Tensor:
        """Weighted loss, averaged over *all* entries (masked ones count in the denominator)."""
        return (classification_loss(strong_logits, pl.targets, self.multilabel) * pl.weights).mean()
