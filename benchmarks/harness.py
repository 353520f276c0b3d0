"""What the step benchmarks share: the library's training step outside Lightning (:class:`StepTimer`),
random views (a step's cost does not depend on the pixels) and timing. The scripts run from the
repository root, the source tree on the path: ``PYTHONPATH=. python3 benchmarks/<script>.py``."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
from torch import nn

from stssl.algorithms import TaskContext, build_algorithm
from stssl.algorithms.steps import PlainStep, StepResult, STStep, Views, backward_outside_autocast
from stssl.meta import encode_meta
from stssl.models import build_model, build_teacher_student
from stssl.training.callbacks import ema_update
from stssl.training.module import make_optimizer

KINDS = ("ST-FixMatch", "FixMatch", "supervised")
LR, WEIGHT_DECAY, EMA_DECAY = 1e-4, 5e-4, 0.999


@dataclass(frozen=True)
class Shape:
    """One training step's shape."""

    name: str
    model: str
    image_size: int
    batch_lb: int
    uratio: int
    classes: int
    multilabel: bool

    @property
    def batch_ulb(self) -> int:
        return self.batch_lb * self.uratio


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device):
    """``fn()`` and its seconds up to the end of the device's work (work queued before counts too)."""
    start = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - start


def peak_rss_kib() -> int:
    """Peak resident set size (``VmHWM``) of this process since its exec (Linux): the whole process."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def build_step(kind: str, shape: Shape, algo: str = "fixmatch") -> tuple[nn.ModuleDict, nn.Module]:
    """The networks and the library's step of ``kind`` (one of :data:`KINDS`)."""
    ctx = TaskContext(
        shape.multilabel, shape.classes, torch.full((shape.classes,), 1 / shape.classes), shape.batch_ulb, EMA_DECAY
    )
    algo = build_algorithm("supervised" if kind == "supervised" else algo, ctx)
    if kind == "ST-FixMatch":
        teacher, student = build_teacher_student(shape.model, shape.image_size, shape.classes)
        return nn.ModuleDict({"teacher": teacher, "student": student}), STStep(algo, lambda_d=1.0)
    return nn.ModuleDict({"model": build_model(shape.model, shape.image_size, shape.classes)}), PlainStep(algo)


def random_views(kind: str, shape: Shape, device: torch.device) -> Views:
    """Normalised random images, valid metadata and labels: a step's cost does not depend on the pixels."""
    b_l, b_u, s = shape.batch_lb, shape.batch_ulb, shape.image_size

    def meta(n: int) -> torch.Tensor:
        lat, lon, doy = torch.rand(n) * 30 + 38, torch.rand(n) * 40 - 10, torch.randint(1, 366, (n,)).float()
        return encode_meta(lat, lon, doy).to(device)

    labels = (
        (torch.rand(b_l, shape.classes) < 0.1).float() if shape.multilabel else torch.randint(0, shape.classes, (b_l,))
    )
    views = Views(x_lb=torch.randn(b_l, 3, s, s, device=device), y_lb=labels.to(device), meta_lb=meta(b_l))
    if kind != "supervised":
        views.x_w, views.x_s = torch.randn(b_u, 3, s, s, device=device), torch.randn(b_u, 3, s, s, device=device)
        views.meta_u = meta(b_u)
    return views


class StepTimer:
    """The library's training step outside Lightning: forward under autocast as Lightning's
    bf16-mixed does, backward (an ST teacher's early, as in training), AdamW (``make_optimizer``:
    fused on CUDA) and the EMA. ``step_fn`` is called as the library's steps are,
    ``step_fn(nets, views, progress, ema_nets)``."""

    def __init__(
        self,
        nets: nn.ModuleDict,
        step_fn: nn.Module,
        views: Views,
        device: torch.device,
        bf16: bool = False,
        compiled: bool = False,
    ):
        self.nets, self.step_fn = nets.to(device).train(), step_fn.to(device)
        self.ema = copy.deepcopy(self.nets).requires_grad_(False)
        if compiled:
            for net in set(self.nets.values()) | set(self.ema.values()):
                net.compile_blocks()
        self.opt = make_optimizer(self.nets, LR, WEIGHT_DECAY)
        self.views, self.device, self.bf16 = views, device, bf16

    def step(self, i: int = 0, views: Views | None = None) -> StepResult:
        self.opt.zero_grad(set_to_none=True)
        early = {"backward_teacher": backward_outside_autocast} if isinstance(self.step_fn, STStep) else {}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            result = self.step_fn(self.nets, views or self.views, i / 1000, self.ema, **early)
        result.loss.backward()
        self.opt.step()
        ema_update(self.ema, self.nets, EMA_DECAY)
        return result


def library_timer(
    kind: str, shape: Shape, device: torch.device, bf16: bool = False, compiled: bool = False, algo: str = "fixmatch"
) -> StepTimer:
    """:class:`StepTimer` of the library's step of ``kind`` on random views, from seed 0."""
    torch.manual_seed(0)
    nets, step_fn = build_step(kind, shape, algo)
    return StepTimer(nets, step_fn, random_views(kind, shape, device), device, bf16, compiled)
