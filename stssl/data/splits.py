"""Labelled / unlabelled selection inside a training split."""

from __future__ import annotations

import numpy as np


def labelled_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Positions (into ``labels``) of a seeded labelled subset of ``fraction`` of the samples.

    ``labels`` is an N x C {0, 1} matrix. Every class with positives keeps at least one
    labelled positive (a class absent from the labelled set would make prevalence-based
    algorithms divide by zero: ``book/implementation.md``, bugs); otherwise the choice is uniform at random.
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


def stratified_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Positions of a seeded labelled subset of ``fraction`` of a multi-label set (BigEarthNet).

    Iterative stratification (Sechidis et al., 2011, via ``iterative-stratification``) keeps
    every class's prevalence in the subset close to the whole set's, which a uniform draw of
    1 % would not for the rarest classes (paper section 4.1: "stratified").
    """
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    if not 0 < fraction < 1:
        raise ValueError(f"label fraction must be in (0, 1), got {fraction}")
    labels = np.asarray(labels)
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    _, chosen = next(splitter.split(np.zeros(len(labels)), labels))
    return np.sort(chosen)


def per_class_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Positions of ``per_class`` seeded labelled samples of every class (single-label; EuroSAT).

    The USB convention (the authors' ``semilearn/datasets/utils.py``): exactly the same number of labels for every class
    (10/20/40/80 labels over EuroSAT's 10 classes = 1/2/4/8 per class).
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} training samples, fewer than {per_class} labels per class")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))
