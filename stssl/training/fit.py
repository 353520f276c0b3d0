"""Training a run: Lightning's trainer around the module, its callbacks and a logger; resumable.

:func:`train` fits one run (resuming from the checkpoint in its folder, if any) and returns the
module with its best EMA state; the run cache (:func:`stssl.runs.get_run`) calls it and writes the
result files.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import lightning as L
from lightning.pytorch import loggers
from lightning.pytorch.callbacks import TQDMProgressBar

from stssl.cache import RunFolder
from stssl.config import RunConfig, run_data
from stssl.core.devices import check_device, trainer_devices, uses_bf16
from stssl.data import DataSplits
from stssl.training.callbacks import EMA, AtomicCheckpointIO, Evaluation, resume_checkpoint
from stssl.training.module import SSLModule


def resolve_precision(precision: str, device: str) -> str:
    """``precision``, except bf16 on a CPU without bf16 hardware: emulated there, a bf16 matrix
    product is several times slower than fp32 (7.3x measured on an AVX2 EPYC), so fp32 is
    used instead, with one warning."""
    if precision.startswith("bf16") and not uses_bf16(precision, device):
        warnings.warn(
            f"precision {precision!r} asked for, but this CPU has no bf16 hardware (no avx512_bf16 or "
            "amx_bf16 flag): training in fp32 ('32-true') instead",
            stacklevel=2,
        )
        return "32-true"
    return precision


LOGGERS = ("csv", "tensorboard", "wandb")


def _run_folder(workdir: RunFolder | Path | None) -> RunFolder | None:
    return workdir if workdir is None or isinstance(workdir, RunFolder) else RunFolder(workdir)


def make_logger(logger, workdir: RunFolder | Path | None):
    """A Lightning logger: one given, a name of :data:`LOGGERS` (its files in the run folder's logs,
    ``version_N`` for the N-th time the run was started or resumed, so a resume never overwrites
    what the interrupted part logged), or ``None``: CSV when there is a run folder, else none."""
    folder = _run_folder(workdir)
    if logger is None:
        logger = "csv" if folder is not None else False
    if not isinstance(logger, str):
        return logger
    if logger not in LOGGERS:
        raise ValueError(f"unknown logger {logger!r}; valid: {', '.join(LOGGERS)}, or a Lightning logger")
    if folder is None:
        raise ValueError(f"the {logger} logger writes into the run's folder: give train() a workdir")
    if logger == "wandb":
        return loggers.WandbLogger(save_dir=str(folder.logs))
    kind = {"csv": loggers.CSVLogger, "tensorboard": loggers.TensorBoardLogger}[logger]
    return kind(save_dir=str(folder.logs.parent), name=folder.logs.name)


def train(
    cfg: RunConfig,
    workdir: RunFolder | Path | None = None,
    progress: bool = True,
    data: DataSplits | None = None,
    logger=None,
    callbacks: list | None = None,
) -> SSLModule:
    """Train (or resume from the checkpoint in the run folder ``workdir``) and return the module with its
    best EMA state loaded.

    ``workdir`` (a :class:`~stssl.cache.RunFolder` or its path) receives the checkpoint, the
    progress and the logs; ``None`` keeps nothing. ``logger``: see :func:`make_logger` (CSV in the
    folder's logs by default); ``callbacks``: more Lightning callbacks, after the run's own (the
    EMA, then the evaluation). ``module.history`` holds one row per evaluation;
    ``module.final_metrics()`` the test metrics.
    """
    device = check_device(cfg.device)  # before the data are loaded
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    L.seed_everything(cfg.seed, verbose=False)
    if data is None:
        data = run_data(cfg)
    folder = _run_folder(workdir)
    if folder is not None:
        folder.path.mkdir(parents=True, exist_ok=True)
    module = SSLModule(cfg, data)
    trainer = L.Trainer(
        **trainer_devices(device),
        precision=resolve_precision(cfg.precision, device),
        max_steps=cfg.steps,
        max_epochs=-1,
        logger=make_logger(logger, folder),
        log_every_n_steps=module.log_every,
        enable_checkpointing=folder is not None,
        plugins=[AtomicCheckpointIO()],
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        enable_progress_bar=progress,
        callbacks=[
            EMA(cfg.ema),
            Evaluation(cfg.eval_every, cfg.steps, cfg.patience, module.log_every, folder),
            *(callbacks or []),
            *([TQDMProgressBar(refresh_rate=module.log_every)] if progress else []),
            *([resume_checkpoint(folder, cfg.eval_every)] if folder is not None else []),
        ],
    )
    ckpt = folder.checkpoint if folder is not None and folder.checkpoint.exists() else None
    with warnings.catch_warnings():
        # lightning's own use of a deprecated torch API, on every fit; nothing a user can act on
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
        # the run folder holds the run's other files beside its checkpoint, by design
        warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        trainer.fit(module, ckpt_path=ckpt, weights_only=True)
    return module
