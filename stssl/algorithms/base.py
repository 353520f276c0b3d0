"""The interface every SSL algorithm implements, so that "+ ST-SSL" is a wrapper, not a copy.

An algorithm turns the weak-view logits of the *pseudo-labelling network* (and its running
state) into :class:`PseudoLabels` — targets and per-entry weights — and turns the logits of a
*consuming network* into named loss terms (:meth:`SSLAlgorithm.losses`). Who produces the
pseudo-labels (the network itself, its EMA, or the teacher) and who consumes them is decided
by the step (:mod:`stssl.algorithms.steps`), never by the algorithm.

Shapes: single-label targets are class indices (B) with weights per sample (B); multi-label
targets are {0, 1} or soft (B x C) with weights per entry (B x C). Running state lives in
registered buffers, so it is checkpointed and moves with the device.

Schedules read ``progress`` = step / total steps, so that an iteration count of the paper
(e.g. FreeMatch's 2 000 warm-up iterations of 64 000) becomes the same *fraction* of any run,
and means the same thing in the ``cpu`` and ``smoke`` profiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from stssl.core.checks import Number, Rule

FRACTION = Number(0, 1)  # a point of the run, as step / total steps (``progress``)
MOMENTUM = Number(0, 1, open_high=True, optional=True)  # an EMA momentum; None: the run's model EMA

Role = Literal["self", "teacher", "student"]
"""Who consumes the pseudo-labels: a plain network its own ("self"), or the ST teacher/student."""


@dataclass
class PseudoLabels:
    targets: torch.Tensor
    weights: torch.Tensor
    lb_targets: torch.Tensor | None = None  # DeFixMatch: on the labelled weak view
    lb_weights: torch.Tensor | None = None


@dataclass
class Logits:
    """A consuming network's logits on the views that carry a gradient."""

    lb: torch.Tensor  # labelled, weak
    s: torch.Tensor  # unlabelled, strong
    lb_s: torch.Tensor | None = None  # labelled, strong (algorithms with ``uses_lb_strong``)


@dataclass(frozen=True)
class TaskContext:
    """What an algorithm needs to know about the task to size and initialise its state.

    ``label_prior``: positive rate per class in the labelled split (multi-label) or class
    frequencies (single-label) — the "gt" target distribution of the authors' UDAL, SoftMatch and CAP.
    ``momentum``: default EMA momentum of running state (the authors' ``ema_p`` 0.999 = the model EMA
    of the paper profile; the training module passes the run's model EMA, so state and model
    average over the same horizon in every profile).
    """

    multilabel: bool
    num_classes: int
    label_prior: torch.Tensor | None = None
    batch_ulb: int = 1
    momentum: float = 0.999

    def prior(self) -> torch.Tensor:
        if self.label_prior is None:
            raise ValueError("this algorithm needs the labelled class prevalence (TaskContext.label_prior)")
        return torch.as_tensor(self.label_prior, dtype=torch.float32)


def classification_loss(logits: torch.Tensor, targets: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Element-wise loss: CE per sample (B), or BCE-with-logits per entry (B x C)."""
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    return F.cross_entropy(logits, targets.long(), reduction="none")


def probabilities(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Sigmoid per class (multi-label) or softmax over classes (single-label)."""
    return torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=-1)


def ema_(state: torch.Tensor, value: torch.Tensor, momentum: float) -> None:
    """In place: ``state = momentum * state + (1 - momentum) * value``; a NaN state (not yet
    seen, see :func:`unseen`) takes the first value as it is. No host synchronisation."""
    value = value.to(state.dtype)
    state.copy_(torch.where(state.isnan(), value, momentum * state + (1 - momentum) * value))


def unseen(*shape: int) -> torch.Tensor:
    """A running statistic initialised "to the first batch" (as the authors' UDAL and SoftMatch): NaN until then."""
    return torch.full(shape, float("nan"))


class SSLAlgorithm(nn.Module):
    """Base class: the supervised loss plus, for SSL methods, the pseudo-label loss.

    Subclasses set ``name`` and override :meth:`pseudo_label`; the class flags tell the step
    which views and which network the algorithm needs.
    """

    name: ClassVar[str]
    uses_unlabelled: ClassVar[bool] = True
    supports_single_label: ClassVar[bool] = True
    supports_multilabel: ClassVar[bool] = True
    uses_lb_strong: ClassVar[bool] = False  # needs a strong view of the labelled images too
    pl_from_ema: ClassVar[bool] = False  # pseudo-labels from the EMA network instead of the live one
    param_rules: ClassVar[dict[str, Rule]] = {}  # the valid values of each hyper-parameter (``algo_params``)

    def __init__(self, ctx: TaskContext, lambda_u: float = 1.0):
        super().__init__()
        if ctx.multilabel and not self.supports_multilabel:
            raise ValueError(f"{self.name} does not support multi-label data")
        if not ctx.multilabel and not self.supports_single_label:
            raise ValueError(f"{self.name} is multi-label only")
        self.multilabel, self.lambda_u = ctx.multilabel, lambda_u

    def supervised_loss(self, logits: torch.Tensor, labels: torch.Tensor, progress: float = 0.0) -> torch.Tensor:
        """Mean CE over B_l (single-label) or mean BCE over B_l x C (multi-label)."""
        return classification_loss(logits, labels, self.multilabel).mean()

    def before_pseudo_label(
        self, forward: Callable[[torch.Tensor], torch.Tensor], like: torch.Tensor, progress: float
    ) -> None:
        """Hook with the pseudo-labelling network's metadata-free forward (CDMAD's bias)."""

    @torch.no_grad()
    def pseudo_label(
        self, weak_logits: torch.Tensor, progress: float, lb_logits: torch.Tensor | None = None
    ) -> PseudoLabels:
        """Targets and weights from weak unlabelled logits (and, for DeFixMatch, weak labelled
        logits); updates the running state."""
        raise NotImplementedError(f"{self.name} uses no pseudo-labels")

    def unsupervised_active(self, progress: float) -> bool:
        """False during a supervised-only warm-up (FreeMatch): no unlabelled or distillation loss."""
        return True

    def unsupervised_loss(
        self, strong_logits: torch.Tensor, pl: PseudoLabels, progress: float = 0.0, role: Role = "self"
    ) -> torch.Tensor:
        """Weighted loss, averaged over *all* entries (masked ones count in the denominator)."""
        return (classification_loss(strong_logits, pl.targets, self.multilabel) * pl.weights).mean()

    def losses(
        self, z: Logits, labels: torch.Tensor, pl: PseudoLabels | None, progress: float, role: Role = "self"
    ) -> dict[str, torch.Tensor]:
        """Named, already weighted loss terms of one consuming network; the loss is their sum."""
        terms = {"sup": self.supervised_loss(z.lb, labels, progress)}
        if pl is not None and self.unsupervised_active(progress):
            terms["unsup"] = self.lambda_u * self.unsupervised_loss(z.s, pl, progress, role)
        return terms

    @classmethod
    def eval_logit_shift(
        cls, forward: Callable[[torch.Tensor], torch.Tensor], like: torch.Tensor
    ) -> torch.Tensor | None:
        """A per-class shift subtracted from the evaluated network's logits (CDMAD), or None: a
        function of the network alone, so that a finished run predicts without the algorithm's state."""
        return None


ALGORITHMS: dict[str, type[SSLAlgorithm]] = {}
"""Every algorithm by name, in the order their modules are imported (:mod:`stssl.algorithms`: the paper's Table 1)."""


def register_algorithm(cls: type[SSLAlgorithm]) -> type[SSLAlgorithm]:
    """Class decorator: make ``cls`` known by its ``name`` (a taken name fails)."""
    if cls.name in ALGORITHMS:
        raise ValueError(f"an algorithm named {cls.name!r} is already registered ({ALGORITHMS[cls.name].__qualname__})")
    ALGORITHMS[cls.name] = cls
    return cls
