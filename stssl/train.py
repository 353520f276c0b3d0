"""Training: plain SSL or ST-SSL with Lightning, EMA, the authors' LR schedule, resumable.

One AdamW over every trained parameter (no weight decay on biases and 1-D parameters), a
linear warm-up then ``cos(7*pi/16 * t)`` decay (the authors' cosine schedule: the LR ends at ~0.195 x base), an
EMA of all networks evaluated every ``eval_every`` steps (the EMA and the evaluation schedule are
Lightning callbacks, :mod:`stssl.callbacks`; a logger, CSV by default, gets every evaluation). The
best EMA state on the validation split is kept and evaluated on test at the end (as the authors'
``test.py``). Everything random — batch
composition, augmentation, stochastic depth — is derived from ``(seed, step)``, so a killed
run resumed from its last checkpoint continues exactly as if it had not been interrupted.
"""

from __future__ import annotations

import atexit
import copy
import json
import logging
import math
import queue
import threading
import time
import warnings
from pathlib import Path
from typing import Iterator

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import TQDMProgressBar
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from stssl.algorithms import SSLAlgorithm, TaskContext, build_algorithm
from stssl.algorithms.steps import PlainStep, STStep, Views, backward_outside_autocast
from stssl.callbacks import CHECKPOINT, EMA, Evaluation
from stssl.checks import OneLineError
from stssl.config import RunConfig
from stssl.data import DataSplits, registry
from stssl.data.augment import views as augmentations
from stssl.devices import check_device, trainer_devices, uses_bf16
from stssl.evaluate import PseudoLabelQuality, classification_metrics, selection_metric
from stssl.files import write_text_atomic
from stssl.meta import run_meta
from stssl.models.vit import load_pretrained
from stssl.predict import build_nets, shifted_logits
from stssl.runs import run_data

PROGRESS = "progress.json"  # step, steps and seconds so far, for a sweep's display


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


class IndexStream:
    """Batches of indices drawn as consecutive random permutations (epochs), addressable by step."""

    def __init__(self, indices: np.ndarray, batch: int, seed: int, stream: int):
        self.indices, self.batch, self.seed, self.stream = np.asarray(indices), batch, seed, stream
        self._epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, self.stream, epoch])
            self._epoch, self._perm = epoch, rng.permutation(len(self.indices))
        return self._perm

    def at(self, step: int) -> np.ndarray:
        n = len(self.indices)
        pos = step * self.batch + np.arange(self.batch)
        out = np.empty(self.batch, dtype=np.int64)
        for epoch in np.unique(pos // n):
            sel = pos // n == epoch
            out[sel] = self._permutation(int(epoch))[pos[sel] % n]
        return self.indices[out]


PREFETCH = 2  # raw batches read ahead in a background thread; 0 reads them in the training loop
READER_JOIN_SECONDS = 60.0  # how long a stop waits for a read in progress (a hung file system must not hang the exit)


def prefetched(batches: Iterator, depth: int, pin: bool = False) -> Iterator:
    """``batches`` in order, read ``depth`` ahead by a background thread (pinned for a
    non-blocking copy to the GPU when ``pin``), so that reading overlaps the step. An error in
    the thread is raised here; closing the generator stops the thread and waits for it.

    The thread is also stopped and joined at interpreter exit: a daemon thread still inside
    torch's C++ code when Python finalises is killed by a forced unwind, which aborts the whole
    process ("terminate called without an active exception", exit 134) after a run that
    succeeded, in about one run in three here."""
    if depth <= 0:
        yield from batches
        return
    ready: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        """False once the consumer has gone."""
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if pin:
                    batch = {k: {n: t.pin_memory() for n, t in part.items()} for k, part in batch.items()}
                if not put(batch):
                    return
        except BaseException as err:  # handed to the training loop
            put(err)

    thread = threading.Thread(target=produce, name="stssl-prefetch", daemon=True)

    def finish() -> None:
        stop.set()
        thread.join(READER_JOIN_SECONDS)

    atexit.register(finish)
    thread.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        finish()
        atexit.unregister(finish)


class _StepBatches(IterableDataset):
    """Raw (un-augmented, uint8) batches for steps ``start(), start()+1, ...``, with the
    teacher's metadata input ``meta`` encoded here, on the host: its range checks would make a
    GPU wait if they ran on the device. Read ahead by :func:`prefetched`: every batch is a
    function of its step alone, so reading ahead changes nothing, and a resumed run starts
    its reader at the step it resumes from."""

    def __init__(self, data: DataSplits, cfg: RunConfig, uses_unlabelled: bool, start, pin: bool = False):
        self.data, self.start, self.uses_unlabelled, self.pin = data, start, uses_unlabelled, pin
        self.meta = run_meta(cfg)
        self.lb = IndexStream(data.labelled, cfg.batch_lb, cfg.seed, 0)
        self.ulb = IndexStream(data.unlabelled, cfg.batch_ulb, cfg.seed, 1)

    def _raw(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        raw = self.data.dataset.raw_batch(indices)
        raw["meta"] = self.meta(raw)
        return raw

    def _batches(self):
        step = self.start()
        while True:
            batch = {"lb": self._raw(self.lb.at(step))}
            if self.uses_unlabelled:
                batch["ulb"] = self._raw(self.ulb.at(step))
            yield batch
            step += 1

    def __iter__(self):
        return prefetched(self._batches(), PREFETCH, self.pin)


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
    return torch.optim.AdamW(param_groups(nets, weight_decay), lr=lr, **({"fused": True} if on_cuda else {"foreach": True}))


class SSLModule(L.LightningModule):
    """One run's networks, their EMA copy, the algorithm's step, and an evaluation when asked
    (:mod:`stssl.callbacks` updates the EMA and decides when to evaluate, select, stop and save)."""

    def __init__(self, cfg: RunConfig, data: DataSplits, workdir: Path | None = None):
        super().__init__()
        self.cfg, self.data, self.workdir = cfg, data, workdir
        task = data.dataset.task
        if data.dataset.pixels.shape[1] != cfg.image_size:
            raise ValueError(f"the data set's images are {data.dataset.pixels.shape[1]} px but the config says "
                             f"image_size={cfg.image_size}: set one to match the other")
        self.multilabel = task.multilabel
        algo = build_algorithm(cfg.algo, task_context(cfg, data), lambda_u=cfg.lambda_u, **cfg.algo_params)
        # with single_model both names hold one network: parameters() and the EMA count it once
        self.nets = build_nets(cfg, task.num_classes)
        self.step_fn = (STStep(algo, cfg.lambda_d, cfg.distill, cfg.distill_target, cfg.stop_gradient) if cfg.st
                        else PlainStep(algo))
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
        batches = _StepBatches(self.data, self.cfg, self.algo.uses_unlabelled, lambda: self.global_step,
                               pin=self.device.type == "cuda")
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
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: lr_factor(s, self.cfg.warmup_steps, self.cfg.steps))
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
            self.pl_quality.update(result.pseudo.targets, result.pseudo.weights, batch["ulb"]["label"], self.multilabel,
                                   result.weak)
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
                f"is not cached. Lower lr (now {self.cfg.lr:g}) or use precision='32-true'")

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        if device.type == "cpu":
            return batch  # already there; Lightning's generic walk over the dict costs ~5 ms
        return {k: {n: t.to(device, non_blocking=True) for n, t in v.items()} for k, v in batch.items()}

    def on_train_start(self):
        self._t0 = time.perf_counter()

    def write_progress(self, step: int) -> None:
        """``progress.json`` in the run folder: the step and the training time so far (a sweep shows it)."""
        if self.workdir is not None:
            seconds = self.train_seconds + time.perf_counter() - self._t0
            # atomic: a sweep's display reads it while the run writes it
            write_text_atomic(self.workdir / PROGRESS, json.dumps({"step": step, "steps": self.cfg.steps,
                                                                  "seconds": round(seconds, 2)}))

    # ----- evaluation -------------------------------------------------------------------
    @property
    def eval_net(self) -> nn.Module:
        """The reported network: the EMA student (ST) or the EMA model (plain)."""
        return self.ema_nets["student" if self.cfg.st else "model"]

    @property
    def algo(self) -> SSLAlgorithm:
        return self.step_fn.algo

    def predict_logits(self, net: nn.Module, split: np.ndarray, meta_fn=None) -> np.ndarray:
        """Logits of ``net`` on ``split``, as a finished run's predictor gives them (:func:`stssl.predict.shifted_logits`)."""
        return shifted_logits(net, self.data.dataset, split, self.cfg, self.device, meta_fn)

    def _metrics(self, split: np.ndarray, prefix: str) -> dict[str, float]:
        labels = self.data.dataset.labels[split]
        out = {f"{prefix}_{k}": v for k, v in classification_metrics(
            self.predict_logits(self.eval_net, split), labels, self.multilabel).items()}
        if self.cfg.st and self.cfg.eval_teacher:
            logits = self.predict_logits(self.ema_nets["teacher"], split, meta_fn=self.meta)
            out.update({f"teacher_{prefix}_{k}": v for k, v in classification_metrics(logits, labels, self.multilabel).items()})
        return out

    @property
    def selection_key(self) -> str:
        """The validation metric the best state is selected on (mAP, or accuracy single-label)."""
        return f"val_{selection_metric(self.multilabel)}"

    def evaluation_row(self, step: int) -> dict:
        """One history row at ``step``: the EMA networks on validation, the pseudo-labels and the
        mean loss since the last row (the clock stops until :meth:`restart_clock`)."""
        self.train_seconds += time.perf_counter() - self._t0
        row = {"step": step, "lr": self.trainer.optimizers[0].param_groups[0]["lr"],
               "train_loss": float(self._loss_sum) / max(1, self._loss_n), **self._metrics(self.data.val, "val"),
               **self.pl_quality.summary()}
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
                f"and is not cached. Lower lr (now {self.cfg.lr:g})")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        first = None if self._first_loss is None else float(self._first_loss)
        checkpoint["stssl"] = {"history": self.history, "best": self.best, "train_seconds": self.train_seconds,
                               "first_loss": first}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint["stssl"]
        self.history, self.best, self.train_seconds = saved["history"], saved["best"], saved["train_seconds"]
        self._first_loss = saved.get("first_loss")

    def final_metrics(self) -> dict[str, float]:
        """Test metrics of the best EMA state on validation (loaded into ``ema_nets``)."""
        self.ema_nets.load_state_dict(self.best["state"])
        return {"best_step": self.best["step"], f"val_{selection_metric(self.multilabel)}": self.best["value"],
                **self._metrics(self.data.test, "test"), "steps_done": self.history[-1]["step"],
                "train_seconds": round(self.train_seconds, 2)}


def task_context(cfg: RunConfig, data: DataSplits) -> TaskContext:
    """What the algorithm needs from the run: the labelled class prevalence, the unlabelled batch
    size, and the model EMA as the default momentum of its running statistics."""
    task = data.dataset.task
    labels = data.dataset.labels[data.labelled]
    if task.multilabel:
        prior = labels.mean(0)
    else:
        prior = np.bincount(labels, minlength=task.num_classes) / len(labels)
    return TaskContext(task.multilabel, task.num_classes, torch.as_tensor(prior, dtype=torch.float32),
                       cfg.batch_ulb, cfg.ema if cfg.ema > 0 else 0.999)


def resolve_precision(precision: str, device: str) -> str:
    """``precision``, except bf16 on a CPU without bf16 hardware: emulated there, a bf16 matrix
    product is several times slower than fp32 (7.3x measured on an AVX2 EPYC), so fp32 is
    used instead, with one warning."""
    if precision.startswith("bf16") and not uses_bf16(precision, device):
        warnings.warn(f"precision {precision!r} asked for, but this CPU has no bf16 hardware (no avx512_bf16 or "
                      "amx_bf16 flag): training in fp32 ('32-true') instead", stacklevel=2)
        return "32-true"
    return precision


LOGGERS = ("csv", "tensorboard", "wandb")


def make_logger(logger, workdir: Path | None):
    """A Lightning logger: one given, a name of :data:`LOGGERS` (its files under ``workdir/logs``,
    ``version_N`` for the N-th time the run was started or resumed, so a resume never overwrites
    what the interrupted part logged), or ``None``: CSV when there is a ``workdir``, else none."""
    if logger is None:
        logger = "csv" if workdir is not None else False
    if not isinstance(logger, str):
        return logger
    if logger not in LOGGERS:
        raise ValueError(f"unknown logger {logger!r}; valid: {', '.join(LOGGERS)}, or a Lightning logger")
    if workdir is None:
        raise ValueError(f"the {logger} logger writes into the run's folder: give train() a workdir")
    from lightning.pytorch import loggers

    kind = {"csv": loggers.CSVLogger, "tensorboard": loggers.TensorBoardLogger, "wandb": loggers.WandbLogger}[logger]
    if logger == "wandb":
        return kind(save_dir=str(workdir / "logs"))
    return kind(save_dir=str(workdir), name="logs")


def train(cfg: RunConfig, workdir: Path | None = None, progress: bool = True, data: DataSplits | None = None,
          logger=None, callbacks: list | None = None) -> SSLModule:
    """Train (or resume from ``workdir/last.ckpt``) and return the module with its best EMA state loaded.

    ``logger``: see :func:`make_logger` (CSV in ``workdir/logs`` by default); ``callbacks``: more
    Lightning callbacks, after the run's own (the EMA, then the evaluation).
    ``module.history`` holds one row per evaluation; ``module.final_metrics()`` the test metrics.
    """
    device = check_device(cfg.device)  # before the data are loaded
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    L.seed_everything(cfg.seed, verbose=False)
    if data is None:
        data = run_data(cfg)
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    module = SSLModule(cfg, data, workdir)
    trainer = L.Trainer(
        **trainer_devices(device), precision=resolve_precision(cfg.precision, device),
        max_steps=cfg.steps, max_epochs=-1, logger=make_logger(logger, workdir), log_every_n_steps=module.log_every,
        enable_checkpointing=False, enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
        enable_progress_bar=progress,
        callbacks=[EMA(cfg.ema), Evaluation(cfg.eval_every, cfg.steps, cfg.patience, module.log_every, workdir),
                   *(callbacks or []), *([TQDMProgressBar(refresh_rate=module.log_every)] if progress else [])],
    )
    ckpt = workdir / CHECKPOINT if workdir is not None and (workdir / CHECKPOINT).exists() else None
    with warnings.catch_warnings():
        # lightning's own use of a deprecated torch API, on every fit; nothing a user can act on
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
        trainer.fit(module, ckpt_path=ckpt, weights_only=True)
    return module
