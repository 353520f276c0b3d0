"""Metrics, prediction over a split, and pseudo-label quality.

mAP is the paper's metric: macro average precision over classes, exactly scikit-learn's
``average_precision_score(y, scores, average="macro")`` (the authors' ``evaluate``). Top-1 accuracy is the
single-label metric. Pseudo-label *quality* is the (weighted) precision of the entries that
pass the mask, against the hidden true labels of the unlabelled images; *quantity* is the
(weighted) fraction of entries that pass (paper Figure 6).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from sklearn.metrics import average_precision_score

from stssl.data.base import MetaDataset
from stssl.meta import batch_meta
from stssl.models.modes import eval_mode

MetaFn = Callable[[dict[str, torch.Tensor]], torch.Tensor]


def mean_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Macro AP over the classes that have at least one positive (a class without any is undefined)."""
    present = labels.sum(0) > 0
    return float(average_precision_score(labels[:, present], scores[:, present], average="macro"))


def classification_metrics(logits: np.ndarray, labels: np.ndarray, multilabel: bool) -> dict[str, float]:
    """``mAP`` for both tasks (one-vs-rest for single-label) and ``acc`` (top-1) for single-label."""
    logits = np.asarray(logits, dtype=np.float64)
    if multilabel:
        scores = 1 / (1 + np.exp(-logits))
        return {"mAP": mean_average_precision(np.asarray(labels), scores)}
    onehot = np.eye(logits.shape[1])[np.asarray(labels)]
    return {"acc": float((logits.argmax(1) == np.asarray(labels)).mean()), "mAP": mean_average_precision(onehot, logits)}


def selection_metric(multilabel: bool) -> str:
    """The metric used to pick the best checkpoint: mAP (multi-label) or top-1 accuracy."""
    return "mAP" if multilabel else "acc"


def real_meta(raw: dict[str, torch.Tensor]) -> torch.Tensor:
    return batch_meta(raw)


@torch.no_grad()
def predict(
    net: torch.nn.Module,
    dataset: MetaDataset,
    indices: np.ndarray,
    *,
    meta_fn: MetaFn | None = None,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Logits (N x C) of ``net`` in eval mode; ``meta_fn`` builds the teacher's metadata input.

    ``meta_fn=None`` feeds no metadata (students, plain models). Pass :func:`real_meta` for the
    teacher with its real metadata, or any function of the raw batch for out-of-distribution
    metadata.
    """
    out = []
    with eval_mode(net):
        for start in range(0, len(indices), batch_size):
            raw = dataset.raw_batch(indices[start:start + batch_size])
            x = dataset.normalize(raw["pixels"].to(device).float() / 255.0)
            meta = meta_fn(raw).to(device) if meta_fn is not None else None
            out.append(net(x, meta).logits.float().cpu() if meta is not None else net(x).logits.float().cpu())
    return torch.cat(out).numpy()


class PseudoLabelQuality:
    """Accumulates pseudo-label precision and quantity over training steps between evaluations."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.passed = self.correct = self.pos_passed = self.pos_correct = torch.zeros(())
        self.total = 0
        self.multilabel = False

    @torch.no_grad()
    def update(self, targets: torch.Tensor, weights: torch.Tensor, true: torch.Tensor, multilabel: bool) -> None:
        """Accumulate as tensors (no device synchronisation per training step)."""
        weights = weights.float()
        if multilabel:
            correct = ((targets >= 0.5) == (true.to(targets.device) >= 0.5)).float()
            positive = (targets >= 0.5).float()
            self.pos_passed = self.pos_passed + (weights * positive).sum()
            self.pos_correct = self.pos_correct + (weights * positive * correct).sum()
        else:
            correct = (targets == true.to(targets.device)).float()
        self.passed = self.passed + weights.sum()
        self.correct = self.correct + (weights * correct).sum()
        self.total += weights.numel()
        self.multilabel = multilabel

    def summary(self) -> dict[str, float]:
        """``pl_precision``, ``pl_quantity`` (and, multi-label, ``pl_pos_precision``); NaN when undefined."""
        nan = float("nan")
        passed, correct = float(self.passed), float(self.correct)
        out = {
            "pl_precision": correct / passed if passed else nan,
            "pl_quantity": passed / self.total if self.total else nan,
        }
        if self.multilabel:
            pos_passed = float(self.pos_passed)
            out["pl_pos_precision"] = float(self.pos_correct) / pos_passed if pos_passed else nan
        return out
