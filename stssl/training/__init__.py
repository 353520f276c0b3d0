"""Training one run: its data feed (:mod:`~stssl.training.feed`), the LightningModule
(:mod:`~stssl.training.module`), the callbacks around its steps (:mod:`~stssl.training.callbacks`)
and :func:`~stssl.training.fit.train`, which the run cache (:func:`stssl.runs.get_run`) calls."""

from stssl.training.fit import train
from stssl.training.module import DivergedError, SSLModule

__all__ = ["DivergedError", "SSLModule", "train"]
