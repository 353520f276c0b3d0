"""Metrics, prediction over a split, and pseudo-label quality.

mAP is the paper's metric: macro average precision over classes, exactly scikit-learn's
``average_precision_score(y, scores, average="macro")`` (the authors' ``evaluate``). Top-1 accuracy is the
single-label metric. Pseudo-label *quality* is the (weighted) precision of the entries that
pass the mask, against the hidden true labels of the unlabelled images; *quantity* is the
(weighted) fraction of entries that pass (paper Figure 6). Beside them, the precision, recall and
F1 of the positive pseudo-labels and the mAP of the scores they come from tell teachers apart
where the entry precision, dominated by easy negatives, cannot.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics import average_precision_score

from stssl.data.base import MetaDataset
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
    return {
        "acc": float((logits.argmax(1) == np.asarray(labels)).mean()),
        "mAP": mean_average_precision(onehot, logits),
    }


def selection_metric(multilabel: bool) -> str:
    """The metric used to pick the best checkpoint: mAP (multi-label) or top-1 accuracy."""
    return "mAP" if multilabel else "acc"


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

    ``meta_fn=None`` feeds no metadata (students, plain models). Pass the run's own encoder
    (``module.meta``, :func:`stssl.meta.run_meta`) for the teacher with its real metadata, or any
    function of the raw batch for out-of-distribution metadata.
    """
    out = []
    with eval_mode(net):
        for start in range(0, len(indices), batch_size):
            raw = dataset.raw_batch(indices[start : start + batch_size])
            x = dataset.normalize(raw["pixels"].to(device).float() / 255.0)
            meta = meta_fn(raw).to(device) if meta_fn is not None else None
            out.append(net(x, meta).logits.float().cpu() if meta is not None else net(x).logits.float().cpu())
    return torch.cat(out).numpy()


class PseudoLabelQuality:
    """Pseudo-label quality and quantity since the last evaluation, accumulated on the device
    (no host synchronisation per training step; read once per evaluation).

    Entries are weighted as in the loss (a hard mask's weights are 0 or 1, so its weighted counts
    are counts). *Positive* pseudo-labels, which the many easy negatives cannot dominate:
    multi-label, the entries with target >= 0.5; single-label, each sample's target class (one
    positive per sample, so its positive precision is ``pl_precision`` and its recall is the
    weighted fraction of samples whose pseudo-label is right). Their recall is over the true
    positives of every unlabelled image seen, used or not.

    ``pl_mAP`` ranks the pseudo-labelling network's weak-view logits, before any mask or per-class
    adjustment (per-class shifts leave each class's AP unchanged): macro AP as :func:`classification_metrics`
    computes it (single-label: one-vs-rest, not top-1, whose choice is already in the positive
    precision). It keeps only the latest :data:`SCORED_ROWS` or so unlabelled images (whole batches),
    so memory stays bounded however long the evaluation interval.
    """

    SCORED_ROWS = 8192

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.passed = self.correct = self.pos_passed = self.pos_correct = self.positives = torch.zeros(())
        self.total = 0
        self.multilabel = False
        self.scored: deque[tuple[torch.Tensor, torch.Tensor]] = deque()
        self.scored_rows = 0

    @torch.no_grad()
    def update(
        self,
        targets: torch.Tensor,
        weights: torch.Tensor,
        true: torch.Tensor,
        multilabel: bool,
        weak_logits: torch.Tensor | None = None,
    ) -> None:
        """Accumulate as tensors; ``true`` are the hidden labels of the unlabelled images and
        ``weak_logits`` the scores the pseudo-labels were made from."""
        weights, true = weights.float(), true.to(targets.device)
        if multilabel:
            positive, true_positive = (targets >= 0.5).float(), (true >= 0.5).float()
            correct = (positive == true_positive).float()
            self.pos_passed = self.pos_passed + (weights * positive).sum()
            self.pos_correct = self.pos_correct + (weights * positive * true_positive).sum()
            self.positives = self.positives + true_positive.sum()
        else:
            correct = (targets == true).float()
            self.pos_passed = self.pos_passed + weights.sum()
            self.pos_correct = self.pos_correct + (weights * correct).sum()
            self.positives = self.positives + len(true)
        self.passed = self.passed + weights.sum()
        self.correct = self.correct + (weights * correct).sum()
        self.total += weights.numel()
        self.multilabel = multilabel
        if weak_logits is not None:
            self.scored.append((weak_logits.detach().float(), true))
            self.scored_rows += len(true)
            while self.scored_rows - len(self.scored[0][1]) >= self.SCORED_ROWS:
                self.scored_rows -= len(self.scored.popleft()[1])

    def summary(self) -> dict[str, float]:
        """``pl_precision``, ``pl_quantity``, ``pl_pos_precision``, ``pl_pos_recall``, ``pl_pos_f1``
        and, when weak logits were given, ``pl_mAP``; NaN when undefined."""
        nan = float("nan")
        passed, correct = float(self.passed), float(self.correct)
        pos_passed, pos_correct, positives = float(self.pos_passed), float(self.pos_correct), float(self.positives)
        out = {
            "pl_precision": correct / passed if passed else nan,
            "pl_quantity": passed / self.total if self.total else nan,
            "pl_pos_precision": pos_correct / pos_passed if pos_passed else nan,
            "pl_pos_recall": pos_correct / positives if positives else nan,
            # 2PR / (P + R) written as 2 TP / (predicted + true positives): 0, not undefined, when TP = 0
            "pl_pos_f1": 2 * pos_correct / (pos_passed + positives) if pos_passed + positives else nan,
        }
        if self.scored:
            out["pl_mAP"] = self._score_map()
        return out

    def _score_map(self) -> float:
        logits = torch.cat([s for s, _ in self.scored]).cpu().numpy()
        labels = torch.cat([t for _, t in self.scored]).cpu().numpy()
        if self.multilabel and not labels.any():
            return float("nan")  # no class has a positive: AP undefined
        return classification_metrics(logits, labels, self.multilabel)["mAP"]
