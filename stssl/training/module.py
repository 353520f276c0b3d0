"""One run's networks, their EMA copy and the algorithm's step, as a LightningModule.

One AdamW over every trained parameter (no weight decay on biases and 1-D parameters), a linear
warm-up then ``cos(7*pi/16 * t)`` decay (the authors' cosine schedule: the LR ends at ~0.195 x base).
Everything random — batch composition, augmentation, stochastic depth — is derived from
``(seed, step)``, so a killed run resumed from its last checkpoint continues exactly as if it had
not been interrupted. When to evaluate, keep the best state, stop and save is
:mod:`stssl.training.callbacks`'s business; the module computes a step and, when asked, an evaluation.
"""

from __future__ import annotations

import copy
import math
import time

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from stssl.algorithms import SSLAlgorithm, TaskContext, build_algorithm
from stssl.algorithms.steps import PlainStep, STStep, Views, backward_outside_autocast
from stssl.config import RunConfig
from stssl.core.checks import OneLineError
from stssl.data import DataSplits, registry
from stssl.data.augment import views as augmentations
from stssl.evaluate import PseudoLabelQuality, classification_metrics, selection_metric
from stssl.meta import run_meta
from stssl.models.vit import load_pretrained
from stssl.networks import build_nets, shifted_logits
from stssl.training.feed import StepBatches

DIVERGED = 1000.0  # a mean training loss this many times the first step's means the run diverged


class DivergedError(OneLineError):
    """The loss became NaN, infinite or exploded: the run cannot recover, and is never cached."""


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to 1, then cos(7*pi/16 * progress) (the authors' ``semilearn/core/utils/build.py``)."""
    if step < warmup:
        return step / warmup
    return max(0.0, math.cos(math.pi * 7 / 16 * (step - warmup) / max(1, total - warmup)))


def _step_seed(seed: int, step: int, stream: int = 0) -> int:
    return (seed * 1_000_003 + step * 7919 + stream) % (2**63)


def _reseed(seed: int, device: torch.device) -> None:
    """Seed torch's generator for ``device`` (``torch.manual_seed`` costs milliseconds on CPU
    with a CUDA build, as it queues a lazy CUDA seeding with a stack trace every call)."""
    if device.type == "cuda":
        torch.cuda.manual_seed(seed)
    torch.default_generator.manual_seed(seed)


def param_groups(nets: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in nets.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(nets: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over ``nets``' trained parameters: one fused kernel on CUDA, foreach (a few
    batched kernels) elsewhere, where fused AdamW is not faster."""
    on_cuda = next(nets.parameters()).is_cuda
    return torch.optim.AdamW(
        param_groups(nets, weight_decay), lr=lr, **({"fused": True} if on_cuda else {"foreach": True})
    )


class SSLModule(L.LightningModule):
    """One run's networks, their EMA copy, the algorithm's step, and an evaluation when asked
    (:mod:`stssl.callbacks` updates the EMA and decides when to evaluate, select, stop and save)."""

    def __init__(self, cfg: RunConfig, data: DataSplits):
        super().__init__()
        self.cfg, self.data = cfg, data
        task = data.dataset.task
        if data.dataset.pixels.shape[1] != cfg.image_size:
            raise ValueError(
                f"the data set's images are {data.dataset.pixels.shape[1]} px but the config says "
                f"image_size={cfg.image_size}: set one to match the other"
            )
        self.multilabel = task.multilabel
        algo = build_algorithm(cfg.algo, task_context(cfg, data), lambda_u=cfg.lambda_u, **cfg.algo_params)
        # with single_model both names hold one network: parameters() and the EMA count it once
        self.nets = build_nets(cfg, task.num_classes)
        self.step_fn = (
            STStep(algo, cfg.lambda_d, cfg.distill, cfg.distill_target, cfg.stop_gradient)
            if cfg.st
            else PlainStep(algo)
        )
        # ST steps back-propagate the teacher before the student's forward (STStep: half the
        # activation memory), except in fp16, whose loss Lightning scales before its backward.
        self.teacher_backward_early = cfg.st and cfg.precision != "16-mixed"
        for net in self.nets.values():
            net.grad_checkpointing = cfg.grad_checkpointing
            if cfg.pretrained:
                load_pretrained(net, cfg.pretrained)
        self.weak_view, self.strong_view = augmentations(registry.get(cfg.dataset).augmentation_for(cfg.dataset_params))
        self.meta = run_meta(cfg)  # the teacher's input
        self.ema_nets = copy.deepcopy(self.nets).requires_grad_(False)
        if cfg.compile:
            for net in set(self.nets.values()) | set(self.ema_nets.values()):
                net.compile_blocks()
        self.pl_quality = PseudoLabelQuality()
        self.history: list[dict] = []
        self.best: dict = {"value": -math.inf, "step": 0, "state": None}
        self.train_seconds = 0.0
        self._loss_sum, self._loss_n = 0.0, 0
        # the first step whose loss was not finite, and its loss terms: kept on the device,
        # looked at only when the host reads anyway (every log_every steps)
        self._bad_step = torch.tensor(-1)
        self._bad_terms: dict[str, torch.Tensor] = {}
        self._first_loss: torch.Tensor | float | None = None  # step 0's, the scale "exploded" is measured in
        self._t0 = None
        self.log_every = max(1, cfg.steps // 50)

    # ----- data -------------------------------------------------------------------------
    def train_dataloader(self):
        batches = StepBatches(
            self.data, self.cfg, self.algo.uses_unlabelled, lambda: self.global_step, pin=self.device.type == "cuda"
        )
        return DataLoader(batches, batch_size=None, num_workers=0)

    def _views(self, batch: dict) -> Views:
        ds = self.data.dataset
        lb = batch["lb"]
        x_lb = lb["pixels"].float() / 255.0
        views = Views(
            x_lb=ds.normalize(self.weak_view(x_lb)),
            y_lb=lb["label"],
            meta_lb=lb["meta"],
        )
        if self.algo.uses_lb_strong:
            views.x_lb_s = ds.normalize(self.strong_view(x_lb))
        if "ulb" in batch:
            u = batch["ulb"]["pixels"].float() / 255.0
            views.x_w, views.x_s = ds.normalize(self.weak_view(u)), ds.normalize(self.strong_view(u))
            views.meta_u = batch["ulb"]["meta"]
        return views

    # ----- optimisation -----------------------------------------------------------------
    def configure_optimizers(self):
        opt = make_optimizer(self.nets, self.cfg.lr, self.cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, self.cfg.warmup_steps, self.cfg.steps))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def optimizer_zero_grad(self, epoch: int, batch_idx: int, optimizer) -> None:
        """Lightning zeroes the gradients after ``training_step``; a step whose teacher already
        back-propagated inside it (``teacher_backward_early``) zeroes them at its start instead."""
        if not self.teacher_backward_early:
            optimizer.zero_grad()

    def training_step(self, batch: dict, batch_idx: int):
        _reseed(_step_seed(self.cfg.seed, self.global_step, 2), self.device)
        views = self._views(batch)
        early = {}
        if self.teacher_backward_early:
            self.optimizers().zero_grad()
            early["backward_teacher"] = backward_outside_autocast
        result = self.step_fn(self.nets, views, self.global_step / self.cfg.steps, self.ema_nets, **early)
        if result.pseudo is not None:
            self.pl_quality.update(
                result.pseudo.targets, result.pseudo.weights, batch["ulb"]["label"], self.multilabel, result.weak
            )
        self._loss_sum = self._loss_sum + result.loss.detach().float()  # no GPU sync per step
        self._loss_n += 1
        self._watch_finite(result)
        if self.global_step % self.log_every == 0:  # logging every step costs more than the step
            self.log("loss", result.loss.detach(), prog_bar=True)
        return result.loss

    def _watch_finite(self, result) -> None:
        """Remember the first step with a non-finite loss, without a host synchronisation."""
        terms = {"loss": result.loss.detach().float(), **{k: v.float() for k, v in result.logs.items()}}
        if self.global_step == 0:
            self._first_loss = terms["loss"]
        first = (self._bad_step.to(self.device) < 0) & ~torch.isfinite(terms["loss"])
        self._bad_step = torch.where(first, self.global_step, self._bad_step.to(self.device))
        self._bad_terms = {k: torch.where(first, v, self._bad_terms.get(k, v)) for k, v in terms.items()}

    def check_finite(self) -> None:
        """Fail (:class:`DivergedError`) if a step since the last check had a non-finite loss."""
        step = int(self._bad_step)
        if step >= 0:
            terms = ", ".join(f"{k} {float(v):.4g}" for k, v in self._bad_terms.items())
            raise DivergedError(
                f"{self.cfg.describe()}: the loss is not finite at step {step} ({terms}; lr "
                f"{self.cfg.lr * lr_factor(step, self.cfg.warmup_steps, self.cfg.steps):.3g}): the run diverged and "
                f"is not cached. Lower lr (now {self.cfg.lr:g}) or use precision='32-true'"
            )

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        if device.type == "cpu":
            return batch  # already there; Lightning's generic walk over the dict costs ~5 ms
        return {k: {n: t.to(device, non_blocking=True) for n, t in v.items()} for k, v in batch.items()}

    def on_train_start(self):
        self._t0 = time.perf_counter()

    def seconds_so_far(self) -> float:
        """Training time until now (evaluations and checkpoints not counted)."""
        return self.train_seconds + time.perf_counter() - self._t0

    # ----- evaluation -------------------------------------------------------------------
    @property
    def eval_net(self) -> nn.Module:
        """The reported network: the EMA student (ST) or the EMA model (plain)."""
        return self.ema_nets["student" if self.cfg.st else "model"]

    @property
    def algo(self) -> SSLAlgorithm:
        return self.step_fn.algo

    def predict_logits(self, net: nn.Module, split: np.ndarray, meta_fn=None) -> np.ndarray:
        """Logits of ``net`` on ``split``, as a finished run's predictor gives them
        (:func:`stssl.networks.shifted_logits`)."""
        return shifted_logits(net, self.data.dataset, split, self.cfg, self.device, meta_fn)

    def _metrics(self, split: np.ndarray, prefix: str) -> dict[str, float]:
        labels = self.data.dataset.labels[split]
        out = {
            f"{prefix}_{k}": v
            for k, v in classification_metrics(
                self.predict_logits(self.eval_net, split), labels, self.multilabel
            ).items()
        }
        if self.cfg.st and self.cfg.eval_teacher:
            logits = self.predict_logits(self.ema_nets["teacher"], split, meta_fn=self.meta)
            out.update(
                {f"teacher_{prefix}_{k}": v for k, v in classification_metrics(logits, labels, self.multilabel).items()}
            )
        return out

    @property
    def selection_key(self) -> str:
        """The validation metric the best state is selected on (mAP, or accuracy single-label)."""
        return f"val_{selection_metric(self.multilabel)}"

    def evaluation_row(self, step: int) -> dict:
        """One history row at ``step``: the EMA networks on validation, the pseudo-labels and the
        mean loss since the last row (the clock stops until :meth:`restart_clock`)."""
        self.train_seconds += time.perf_counter() - self._t0
        row = {
            "step": step,
            "lr": self.trainer.optimizers[0].param_groups[0]["lr"],
            "train_loss": float(self._loss_sum) / max(1, self._loss_n),
            **self._metrics(self.data.val, "val"),
            **self.pl_quality.summary(),
        }
        self.pl_quality.reset()
        self._loss_sum, self._loss_n = 0.0, 0
        self._check_not_exploded(row)
        return row

    def restart_clock(self) -> None:
        """Training time counts again (evaluations and checkpoints are not training)."""
        self._t0 = time.perf_counter()

    def _check_not_exploded(self, row: dict) -> None:
        """A finite loss can still have exploded (lr 1e3: 1e6 at step 10, and a model at chance level)."""
        first = None if self._first_loss is None else abs(float(self._first_loss))
        if first and row["train_loss"] > DIVERGED * first:
            raise DivergedError(
                f"{self.cfg.describe()}: the mean training loss reached {row['train_loss']:.4g} by step {row['step']}, "
                f"{row['train_loss'] / first:.3g}x the first step's {first:.4g} (lr {row['lr']:.3g}): the run diverged "
                f"and is not cached. Lower lr (now {self.cfg.lr:g})"
            )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        first = None if self._first_loss is None else float(self._first_loss)
        checkpoint["stssl"] = {
            "history": self.history,
            "best": self.best,
            "train_seconds": self.train_seconds,
            "first_loss": first,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint["stssl"]
        self.history, self.best, self.train_seconds = saved["history"], saved["best"], saved["train_seconds"]
        self._first_loss = saved.get("first_loss")

    def final_metrics(self) -> dict[str, float]:
        """Test metrics of the best EMA state on validation (loaded into ``ema_nets``)."""
        self.ema_nets.load_state_dict(self.best["state"])
        return {
            "best_step": self.best["step"],
            f"val_{selection_metric(self.multilabel)}": self.best["value"],
            **self._metrics(self.data.test, "test"),
            "steps_done": self.history[-1]["step"],
            "train_seconds": round(self.train_seconds, 2),
        }


def task_context(cfg: RunConfig, data: DataSplits) -> TaskContext:
    """What the algorithm needs from the run: the labelled class prevalence, the unlabelled batch
    size, and the model EMA as the default momentum of its running statistics."""
    task = data.dataset.task
    labels = data.dataset.labels[data.labelled]
    if task.multilabel:
        prior = labels.mean(0)
    else:
        prior = np.bincount(labels, minlength=task.num_classes) / len(labels)
    return TaskContext(
        task.multilabel,
        task.num_classes,
        torch.as_tensor(prior, dtype=torch.float32),
        cfg.batch_ulb,
        cfg.ema if cfg.ema > 0 else 0.999,
    )
