"""One training step: plain SSL, or the generic "+ ST-SSL" wrapper (the authors'
``semilearn/algorithms/*/stssl_*.py``; ``book/implementation.md``, One training step).

Plain: one network produces the pseudo-labels from its own weak logits (or its EMA's, for
algorithms with ``pl_from_ema``) and consumes them on its strong logits. ST-SSL: the teacher
(with metadata) alone produces targets and weights (and drives the algorithm's running state);
*both* networks consume them through the same :meth:`SSLAlgorithm.losses`. The student, which
sees no metadata, is also pulled towards the teacher's metatoken output, which is detached
(stop-gradient): the distillation loss never reaches the teacher (unless the ablation
``stop_gradient=False`` says otherwise).

Forwards are fused: every view that needs a gradient goes through a network in one concatenated
batch (``[x_lb; x_lb_s; x_s]``). The weak unlabelled view only yields detached pseudo-labels, so
it is forwarded separately under ``no_grad``: the same numbers as one ``[x_lb; x_w; x_s]`` batch
(no layer mixes samples), without storing its activations or back-propagating zeros through them
(on ViT-S at 128 px this is ~25 % faster and lighter than the authors' single batch; see
``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from stssl.algorithms.base import Logits, PseudoLabels, SSLAlgorithm
from stssl.models.modes import eval_mode

Distill = Literal["mse", "mae", "cos"]
DISTILL_LOSSES = ("mse", "mae", "cos")
DISTILL_TARGETS = ("meta", "cls")


@dataclass
class Views:
    """A batch after augmentation: normalised images and encoded metadata."""

    x_lb: torch.Tensor  # labelled, weak view
    y_lb: torch.Tensor
    meta_lb: torch.Tensor
    x_w: torch.Tensor | None = None  # unlabelled, weak view
    x_s: torch.Tensor | None = None  # unlabelled, strong view
    meta_u: torch.Tensor | None = None
    x_lb_s: torch.Tensor | None = None  # labelled, strong view (DeFixMatch)

    def with_grad(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The views forwarded with gradient, in order, and their metadata."""
        images, metas = [self.x_lb], [self.meta_lb]
        if self.x_lb_s is not None:
            images.append(self.x_lb_s), metas.append(self.meta_lb)
        if self.x_s is not None:
            images.append(self.x_s), metas.append(self.meta_u)
        return images, metas

    def split(self, out: torch.Tensor) -> Logits:
        """Cut a fused forward's output back into its views."""
        parts = list(out.split([len(x) for x in self.with_grad()[0]]))
        lb = parts.pop(0)
        lb_s = parts.pop(0) if self.x_lb_s is not None else None
        return Logits(lb=lb, s=parts.pop(0) if parts else None, lb_s=lb_s)


@dataclass
class StepResult:
    loss: torch.Tensor
    logs: dict[str, torch.Tensor] = field(default_factory=dict)
    pseudo: PseudoLabels | None = None
    weak: torch.Tensor | None = None  # the pseudo-labelling network's weak unlabelled logits, for their quality


def distillation_loss(student: torch.Tensor, target: torch.Tensor, kind: Distill) -> torch.Tensor:
    """MSE / MAE over all B x D elements, or minus the mean per-sample cosine similarity."""
    if kind == "mse":
        return F.mse_loss(student, target)
    if kind == "mae":
        return F.l1_loss(student, target)
    if kind == "cos":
        return -F.cosine_similarity(student, target, dim=-1).mean()
    raise ValueError(f"unknown distillation loss {kind!r}; valid: mse, mae, cos")


def backward_outside_autocast(loss: torch.Tensor) -> None:
    """``loss.backward()`` from inside a step that runs under autocast: the backward computes in
    the dtypes autocast chose for the forward, as it does when a trainer calls it afterwards
    (on the CPU the backward runs on the calling thread, where autocast would also apply)."""
    with torch.autocast(loss.device.type, enabled=False):
        loss.backward()


def _pseudo_label_source(
    algo: SSLAlgorithm, nets: nn.ModuleDict, ema_nets: nn.ModuleDict | None, name: str
) -> nn.Module:
    if not algo.pl_from_ema:
        return nets[name]
    if ema_nets is None:
        raise ValueError(f"{algo.name} pseudo-labels with the EMA network: pass ema_nets to the step")
    return ema_nets[name]


def _weak_logits(algo: SSLAlgorithm, source: nn.Module, v: Views, progress: float, meta: bool) -> torch.Tensor:
    """The pseudo-labelling network's weak unlabelled logits (no gradient). Runs the
    algorithm's pre-hook with the network's metadata-free forward first (CDMAD's bias)."""
    # An EMA network predicts, it is not trained: no stochastic depth.
    with torch.no_grad(), eval_mode(source) if algo.pl_from_ema else nullcontext():
        algo.before_pseudo_label(lambda x: source(x, without_meta=True).logits, v.x_w, progress)
        return source(v.x_w, v.meta_u).logits if meta else source(v.x_w).logits


def _prefixed(terms: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}loss_{k}": t.detach() for k, t in terms.items()}


class PlainStep(nn.Module):
    """The network produces and consumes its own pseudo-labels."""

    def __init__(self, algo: SSLAlgorithm):
        super().__init__()
        self.algo = algo

    def forward(
        self, nets: nn.ModuleDict, v: Views, progress: float, ema_nets: nn.ModuleDict | None = None
    ) -> StepResult:
        algo, model = self.algo, nets["model"]
        pl = z_w = None
        if algo.uses_unlabelled:
            z_w = _weak_logits(algo, _pseudo_label_source(algo, nets, ema_nets, "model"), v, progress, meta=False)
        z = v.split(model(torch.cat(v.with_grad()[0])).logits)
        if algo.uses_unlabelled:
            pl = algo.pseudo_label(z_w, progress, z.lb.detach() if algo.uses_lb_strong else None)
        terms = algo.losses(z, v.y_lb, pl, progress)
        return StepResult(sum(terms.values()), _prefixed(terms, ""), pl, z_w)


class STStep(nn.Module):
    """ "+ ST-SSL" around any algorithm: teacher targets feed teacher and student."""

    def __init__(
        self,
        algo: SSLAlgorithm,
        lambda_d: float = 1.0,
        distill: Distill = "mse",
        target: str = "meta",
        stop_gradient: bool = True,
    ):
        """``target="cls"`` distils the teacher's CLS output instead of its metatoken output, and
        ``stop_gradient=False`` lets the distillation loss train the teacher too (Table 2 i, j)."""
        super().__init__()
        if not algo.uses_unlabelled:
            raise ValueError(f"+ST-SSL needs an SSL algorithm; {algo.name} uses no unlabelled data")
        distillation_loss(torch.zeros(1, 1), torch.zeros(1, 1), distill)  # validate the name early
        if target not in DISTILL_TARGETS:
            raise ValueError(f"unknown distillation target {target!r}; valid: {', '.join(DISTILL_TARGETS)}")
        self.algo, self.lambda_d, self.distill = algo, lambda_d, distill
        self.target, self.stop_gradient = target, stop_gradient

    def forward(
        self,
        nets: nn.ModuleDict,
        v: Views,
        progress: float,
        ema_nets: nn.ModuleDict | None = None,
        backward_teacher: Callable[[torch.Tensor], None] | None = None,
    ) -> StepResult:
        """One step's losses. With ``backward_teacher`` (e.g. ``Tensor.backward``), the teacher's
        loss is back-propagated as soon as it is known, before the student's forward, wherever
        the student's loss reaches no teacher parameter (two networks, stop-gradient): the
        teacher's saved activations are freed before the student's are made, which halves the
        step's activation peak for the same gradients. The returned loss then carries only the
        student's graph; its value is still the total."""
        algo, teacher, student = self.algo, nets["teacher"], nets["student"]
        z_w = _weak_logits(algo, _pseudo_label_source(algo, nets, ema_nets, "teacher"), v, progress, meta=True)
        images, metas = v.with_grad()
        x = torch.cat(images)
        t = teacher(x, torch.cat(metas))
        zt = v.split(t.logits)
        pl = algo.pseudo_label(z_w, progress, zt.lb.detach() if algo.uses_lb_strong else None)
        terms_t = algo.losses(zt, v.y_lb, pl, progress, "teacher")
        loss_t = sum(terms_t.values())
        distill_target = t.token if self.target == "meta" else t.cls
        separable = self.stop_gradient and teacher is not student
        if backward_teacher is not None and separable:
            backward_teacher(loss_t)
            loss_t, distill_target = loss_t.detach(), distill_target.detach()
        s = student(x)
        zs = v.split(s.logits)
        terms_s = algo.losses(zs, v.y_lb, pl, progress, "student")
        logs = {**_prefixed(terms_t, ""), **_prefixed(terms_s, "student_")}
        loss = loss_t + sum(terms_s.values())
        if s.token is not None and self.lambda_d > 0 and algo.unsupervised_active(progress):
            # Distillation views: every view both networks saw, the same tensors.
            dist = distillation_loss(
                s.token, distill_target.detach() if self.stop_gradient else distill_target, self.distill
            )
            loss = loss + self.lambda_d * dist
            logs["loss_distill"] = dist.detach()
        return StepResult(loss, logs, pl, z_w)
