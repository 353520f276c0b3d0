"""What happens around the training steps, where Lightning expects it: callbacks.

:class:`~stssl.training.module.SSLModule` computes a step and, when asked, an evaluation; these
callbacks decide the rest. :class:`EMA` moves the EMA networks towards the trained ones after every
optimiser step. :class:`Evaluation` evaluates every ``eval_every`` steps and at the last one, keeps
the best state on validation, stops early after ``patience`` steps without a better one and hands
the evaluation's row to the trainer's logger. :func:`resume_checkpoint` is Lightning's
``ModelCheckpoint`` writing the checkpoint a killed run resumes from, after the evaluation, through
:class:`AtomicCheckpointIO` (a partial file is never read as a checkpoint). The EMA runs first: an
evaluation sees the networks of the step it follows. The state they change (history, best state,
training time) lives on the module, so it travels in the module's checkpoint.

Evaluation, best state and early stopping are ours, not Lightning's validation loop,
``EarlyStopping`` and a monitoring ``ModelCheckpoint``: the authors evaluate right after the step's
EMA update, every ``eval_every`` steps *and* at the last one, and count patience in steps; Lightning
validates after every callback of the step (a callback of one's own could no longer see the step's
evaluation), skips a last step that is no multiple, counts patience in evaluations, and a monitoring
checkpoint would write the whole training state (~1.3 GB at paper scale) at every improvement where
the EMA weights are all the run reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins import TorchCheckpointIO
from torch import nn
from torch.optim.swa_utils import get_ema_multi_avg_fn

from stssl.cache import RunFolder
from stssl.core.files import save_torch_atomic


@torch.no_grad()
def ema_update(ema_nets: nn.Module, nets: nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * live`` over every parameter in one foreach kernel
    (torch's own EMA rule of ``swa_utils``; a copy when ``decay`` is 0); buffers are copied."""
    ema_params = list(ema_nets.parameters())
    params = [p.detach() for p in nets.parameters()]
    if decay > 0:
        get_ema_multi_avg_fn(decay)(ema_params, params, None)
    else:  # the supervised baseline keeps no average (the authors' ema_m: 0): lerp by 1 is not an exact copy
        for e, p in zip(ema_params, params):
            e.copy_(p)
    for b_ema, b in zip(ema_nets.buffers(), nets.buffers()):
        b_ema.copy_(b)


class EMA(L.Callback):
    """``module.ema_nets`` follow ``module.nets`` with ``decay`` after every optimiser step."""

    def __init__(self, decay: float):
        self.decay = decay

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        ema_update(module.ema_nets, module.nets, self.decay)


class Evaluation(L.Callback):
    """Every ``eval_every`` steps and at step ``steps``: the module's evaluation row (its EMA
    networks on validation, the pseudo-labels since the last one), the best state kept, early
    stopping, the row to the logger. Every ``log_every`` steps the module checks its loss is finite
    and the run ``folder`` gets the progress (one host read, not one per step)."""

    def __init__(self, eval_every: int, steps: int, patience: int | None, log_every: int, folder: RunFolder | None):
        self.eval_every, self.steps, self.patience = eval_every, steps, patience
        self.log_every, self.folder = log_every, folder

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        due = step % self.eval_every == 0 or step >= self.steps
        if due or step % self.log_every == 0:
            module.check_finite()
            if self.folder is not None:
                self.folder.write_progress(step, self.steps, module.seconds_so_far())
        if due:
            self.evaluate(trainer, module, step)

    def evaluate(self, trainer, module, step: int) -> None:
        row = module.evaluation_row(step)
        module.history.append(row)
        key = module.selection_key
        if row[key] > module.best["value"]:
            state = {k: v.detach().cpu().clone() for k, v in module.ema_nets.state_dict().items()}
            module.best = {"value": row[key], "step": step, "state": state}
        if self.patience is not None and step - module.best["step"] >= self.patience:
            trainer.should_stop = True
        if trainer.logger is not None:
            trainer.logger.log_metrics({k: v for k, v in row.items() if k != "step"}, step)
        module.restart_clock()


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer through the one atomic write: flushed to disk, then renamed."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any = None) -> None:
        save_torch_atomic(Path(path), checkpoint)


def resume_checkpoint(folder: RunFolder, eval_every: int) -> ModelCheckpoint:
    """The checkpoint a killed run resumes from, rewritten in place after every evaluation (Lightning
    runs checkpoint callbacks after the others, so it holds that evaluation)."""
    return ModelCheckpoint(
        dirpath=folder.checkpoint.parent,
        filename=folder.checkpoint.stem,
        every_n_train_steps=eval_every,
        save_top_k=1,
        enable_version_counter=False,
    )
