"""One training step: plain SSL, or the generic "+ ST-SSL" wrapper (spec 3.2, 3.4).

Plain: one network produces the pseudo-labels from its own weak logits and consumes them on its
strong logits. ST-SSL: the teacher (with metadata) alone produces targets and weights (and drives
the algorithm's running state); *both* networks consume them. The student, which sees no
metadata, is also pulled towards the teacher's metatoken output, which is detached
(stop-gradient): the distillation loss never reaches the teacher.

Forwards are fused: every view that needs a gradient goes through a network in one concatenated
batch (``[x_lb; x_s]``). The weak unlabelled view only yields detached pseudo-labels, so it is
forwarded separately under ``no_grad``: the same numbers as one ``[x_lb; x_w; x_s]`` batch (no
layer mixes samples), without storing its activations or back-propagating zeros through them
(on ViT-S at 128 px this is ~25 % faster and lighter than the authors' single batch; see
``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from stssl.algorithms.base import PseudoLabels, SSLAlgorithm

Distill = Literal["mse", "mae", "cos"]


@dataclass
class Views:
    """A batch after augmentation: normalised images and encoded metadata."""

    x_lb: torch.Tensor  # labelled, weak view
    y_lb: torch.Tensor
    meta_lb: torch.Tensor
    x_w: torch.Tensor | None = None  # unlabelled, weak view
    x_s: torch.Tensor | None = None  # unlabelled, strong view
    meta_u: torch.Tensor | None = None


@dataclass
class StepResult:
    loss: torch.Tensor
    logs: dict[str, torch.Tensor] = field(default_factory=dict)
    pseudo: PseudoLabels | None = None


def distillation_loss(student: torch.Tensor, target: torch.Tensor, kind: Distill) -> torch.Tensor:
    """MSE / MAE over all B x D elements, or minus the mean per-sample cosine similarity."""
    if kind == "mse":
        return F.mse_loss(student, target)
    if kind == "mae":
        return F.l1_loss(student, target)
    if kind == "cos":
        return -F.cosine_similarity(student, target, dim=-1).mean()
    raise ValueError(f"unknown distillation loss {kind!r}; valid: mse, mae, cos")


class PlainStep(nn.Module):
    """The network produces and consumes its own pseudo-labels."""

    def __init__(self, algo: SSLAlgorithm):
        super().__init__()
        self.algo = algo

    def forward(self, nets: nn.ModuleDict, v: Views, progress: float) -> StepResult:
        algo, model = self.algo, nets["model"]
        if not algo.uses_unlabelled:
            sup = algo.supervised_loss(model(v.x_lb).logits, v.y_lb)
            return StepResult(sup, {"loss_sup": sup.detach()})
        with torch.no_grad():
            pl = algo.pseudo_label(model(v.x_w).logits, progress)
        z_lb, z_s = model(torch.cat([v.x_lb, v.x_s])).logits.split([len(v.x_lb), len(v.x_s)])
        sup = algo.supervised_loss(z_lb, v.y_lb)
        unsup = algo.unsupervised_loss(z_s, pl)
        loss = sup + algo.lambda_u * unsup
        return StepResult(loss, {"loss_sup": sup.detach(), "loss_unsup": unsup.detach()}, pl)


class STStep(nn.Module):
    """"+ ST-SSL" around any algorithm: teacher targets feed teacher and student."""

    def __init__(self, algo: SSLAlgorithm, lambda_d: float = 1.0, distill: Distill = "mse"):
        super().__init__()
        if not algo.uses_unlabelled:
            raise ValueError(f"+ST-SSL needs an SSL algorithm; {algo.name} uses no unlabelled data")
        distillation_loss(torch.zeros(1, 1), torch.zeros(1, 1), distill)  # validate the name early
        self.algo, self.lambda_d, self.distill = algo, lambda_d, distill

    def forward(self, nets: nn.ModuleDict, v: Views, progress: float) -> StepResult:
        algo, teacher, student = self.algo, nets["teacher"], nets["student"]
        b_l, b_u = len(v.x_lb), len(v.x_s)
        with torch.no_grad():
            pl = algo.pseudo_label(teacher(v.x_w, v.meta_u).logits, progress)
        x = torch.cat([v.x_lb, v.x_s])
        t, s = teacher(x, torch.cat([v.meta_lb, v.meta_u])), student(x)
        zt_lb, zt_s = t.logits.split([b_l, b_u])
        zs_lb, zs_s = s.logits.split([b_l, b_u])

        sup_t, unsup_t = algo.supervised_loss(zt_lb, v.y_lb), algo.unsupervised_loss(zt_s, pl)
        sup_s, unsup_s = algo.supervised_loss(zs_lb, v.y_lb), algo.unsupervised_loss(zs_s, pl)
        logs = {"loss_sup": sup_t.detach(), "loss_unsup": unsup_t.detach(),
                "student_loss_sup": sup_s.detach(), "student_loss_unsup": unsup_s.detach()}
        loss = sup_t + algo.lambda_u * unsup_t + sup_s + algo.lambda_u * unsup_s
        if s.token is not None and self.lambda_d > 0:
            # Distillation views: labelled weak + unlabelled strong, the same tensors both saw.
            target = t.token.detach()
            dist = distillation_loss(s.token, target, self.distill)
            loss = loss + self.lambda_d * dist
            logs["loss_distill"] = dist.detach()
        return StepResult(loss, logs, pl)
