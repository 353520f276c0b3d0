"""DeFixMatch (the authors' ``semilearn/algorithms/defixmatch/``): FixMatch debiased by its own
confirmation bias on labelled data.

The labelled images get a strong view too. The supervised loss is averaged over both labelled
views, and the "anti" term — FixMatch's pseudo-label loss applied to the *labelled* images,
with targets and mask from the (teacher's) weak labelled logits, never the ground truth — is
subtracted: ``L = (L_sup(weak) + L_sup(strong)) / 2 + lambda_U * (L_u - L_anti)``, lambda_U 0.5.
"""

from __future__ import annotations

import torch

from stssl.algorithms.base import Logits, PseudoLabels, Role, register_algorithm
from stssl.algorithms.fixmatch import FixMatch


@register_algorithm
class DeFixMatch(FixMatch):
    name = "defixmatch"
    uses_lb_strong = True

    @torch.no_grad()
    def pseudo_label(
        self, weak_logits: torch.Tensor, progress: float, lb_logits: torch.Tensor | None = None
    ) -> PseudoLabels:
        if lb_logits is None:
            raise ValueError("defixmatch needs the weak labelled logits (lb_logits) for its anti term")
        ulb, lb = super().pseudo_label(weak_logits, progress), super().pseudo_label(lb_logits, progress)
        return PseudoLabels(ulb.targets, ulb.weights, lb.targets, lb.weights)

    def losses(
        self, z: Logits, labels: torch.Tensor, pl: PseudoLabels | None, progress: float, role: Role = "self"
    ) -> dict[str, torch.Tensor]:
        if z.lb_s is None:
            raise ValueError("defixmatch needs the strong labelled view's logits (Logits.lb_s)")
        terms = {"sup": (self.supervised_loss(z.lb, labels) + self.supervised_loss(z.lb_s, labels)) / 2}
        if pl is not None:
            terms["unsup"] = self.lambda_u * self.unsupervised_loss(z.s, pl)
            anti = PseudoLabels(pl.lb_targets, pl.lb_weights)
            terms["anti"] = -self.lambda_u * self.unsupervised_loss(z.lb_s, anti)
        return terms
