"""Labelled / unlabelled selection inside a training split."""

from __future__ import annotations

import numpy as np


def labelled_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Positions (into ``labels``) of a seeded labelled subset of ``fraction`` of the samples.

    ``labels`` is an N x C {0, 1} matrix. Every class with positives keeps at least one
    labelled positive (a class absent from the labelled set would make prevalence-based
    algorithms divide by zero, spec 8.2.6); otherwise the choice is uniform at random.
    """
    n = len(labels)
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    k = max(1, int(round(fraction * n)))
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    chosen = list(order[:k])
    for c in np.flatnonzero(labels.sum(0) > 0):
        if not labels[chosen, c].any():
            candidates = order[k:][labels[order[k:], c] > 0]
            chosen.append(candidates[0])
    return np.sort(np.array(chosen))
