"""Figure 6: pseudo-label quality and quantity over training, FixMatch vs FixMatch + ST-SSL.

No runs of its own: the histories of Table 1's FixMatch runs, which record at every evaluation,
over the unlabelled images since the previous one, the pseudo-labels of the network that makes
them (for + ST-SSL: the teacher, with metadata): the precision of the entries that passed the
mask, the precision, recall and F1 of the positive ones, the macro AP of the weak-view scores they
come from, and the fraction that passed (:class:`stssl.evaluate.PseudoLabelQuality`). Curves are
the mean over seeds, smoothed as TensorBoard does (the paper's are "smoothed for visualization"
without saying how).

Which is the paper's "quality"? Its caption defines quantity as "the fraction of samples passing
FixMatch's confidence threshold", SoftMatch's term (its reference [3]), whose quality is the
correctness of the pseudo-labels that pass. Applied per class entry, as the multi-label mask is,
that is the entry precision, ``pl_precision``: the most plausible reading, and the one dominated
by easy negatives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stssl.cache import Run
from stssl.config import RunConfig
from stssl.experiments import table1
from stssl.experiments.page import Page
from stssl.report.curves import run_histories
from stssl.report.stats import compare, verdict_text

METRICS: dict[str, str] = {
    "pl_precision": "quality: precision",
    "pl_pos_precision": "precision of positives",
    "pl_pos_recall": "recall of positives",
    "pl_pos_f1": "F1 of positives",
    "pl_mAP": "mAP of weak scores",
    "pl_quantity": "quantity: fraction passing the mask",
}
POSITIVE_METRICS = ("pl_pos_recall", "pl_pos_f1", "pl_mAP")
"""Not in the histories of runs trained before they were recorded."""
SMOOTHING = 0.3
"""Default weight of the previous smoothed value (0: no smoothing)."""

ALMOST_IDENTICAL = 0.05
"""Quantities within this relative difference are called almost identical."""


def configs(
    profile: str = "cpu",
    dataset: str | None = None,
    data_root: str | None = None,
    seeds=3,
    device: str = "auto",
    config: dict | None = None,
) -> list[RunConfig]:
    """Table 1's FixMatch and FixMatch + ST-SSL runs (its supervised baseline has no pseudo-labels)."""
    return [
        c
        for c in table1.configs(profile, dataset, data_root, seeds, device, algo="fixmatch", config=config)
        if c.algo == "fixmatch"
    ]


def smooth(values, weight: float = SMOOTHING) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average that starts at the first value
    (debiased), ``s_t = weight * s_{t-1} + (1 - weight) * x_t``. NaNs stay NaN and are skipped."""
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must lie in [0, 1), got {weight!r}")
    out, last, n = np.full(len(values), np.nan), 0.0, 0
    for i, x in enumerate(np.asarray(values, dtype=float)):
        if np.isnan(x):
            continue
        last, n = weight * last + (1 - weight) * x, n + 1
        out[i] = last / (1 - weight**n)
    return out


def predating(runs: list[Run]) -> str:
    """A note naming the runs trained before the positive pseudo-label metrics were recorded
    (their curves leave them out), or "" when every run has them."""
    old = [r for r in runs if not set(POSITIVE_METRICS) <= set(r.history.columns)]
    if not old:
        return ""
    paths = " ".join(str(r.path) for r in old)
    return (
        f"{len(old)} of {len(runs)} runs predate the positive pseudo-label metrics ({', '.join(POSITIVE_METRICS)}), "
        f"so those curves leave them out. To include them, delete them (`rm -r {paths}`) and run this page "
        "again: it retrains them."
    )


def curves(runs: list[Run], weight: float = SMOOTHING) -> pd.DataFrame:
    """Long frame: per method, metric and evaluation step, the mean over seeds (``mean``, NaN
    seeds left out), its smoothed curve (``smoothed``) and the number of seeds with a value."""
    df = run_histories(runs)
    rows = []
    for metric in (m for m in METRICS if m in df and df[m].notna().any()):
        stats = df.groupby(["method", "step"], sort=False)[metric].agg(["mean", "count"]).reset_index()
        stats = stats.sort_values(["method", "step"], kind="stable")
        stats["smoothed"] = stats.groupby("method", sort=False)["mean"].transform(
            lambda v: smooth(v.to_numpy(), weight)
        )
        rows.append(stats.assign(metric=metric))
    return pd.concat(rows, ignore_index=True)[["method", "metric", "step", "mean", "smoothed", "count"]]


def means(runs: list[Run]) -> pd.DataFrame:
    """Per method and seed, each pseudo-label metric averaged over training (unsmoothed)."""
    df = run_histories(runs)
    return df.groupby(["method", "seed"], sort=False)[[m for m in METRICS if m in df]].mean()


def summary(runs: list[Run]) -> str:
    """A sentence comparing + ST-SSL's (teacher's) pseudo-labels with FixMatch's over training,
    as the paper does (higher quality, almost identical quantity)."""
    per_seed = means(runs)
    methods = per_seed.index.get_level_values("method").unique()
    plain, st = "FixMatch", "FixMatch + ST-SSL"
    if plain not in methods or st not in methods:
        return "Both FixMatch and FixMatch + ST-SSL runs are needed for the comparison."
    a, b = per_seed.loc[plain], per_seed.loc[st]
    paired = (b - a).dropna(how="all")

    def compared(metric: str) -> str:
        c = compare(paired[metric])
        word = "higher" if c.mean > 0 else "lower" if c.mean < 0 else "equal"
        return (
            f"{word} ({b[metric].mean():.3f} vs {a[metric].mean():.3f}; paired by seed {c.describe()}: "
            f"{verdict_text(c, +1)})"
        )

    text = f"**Over training, the pseudo-labels of FixMatch + ST-SSL (the teacher's) had {compared('pl_precision')} precision"
    for metric, name in (
        ("pl_pos_precision", "the precision of the positive ones"),
        ("pl_pos_recall", "their recall"),
        ("pl_pos_f1", "their F1"),
        ("pl_mAP", "the mAP of the weak scores they come from"),
    ):
        if metric in paired and paired[metric].notna().any():
            text += f"; {name} was {compared(metric)}"
    band = ALMOST_IDENTICAL * 100
    rel = compare((b["pl_quantity"] - a["pl_quantity"]) / a["pl_quantity"] * 100)
    word = "almost identical" if abs(rel.mean) <= band else "higher" if rel.mean > 0 else "lower"
    text += (
        f"; their quantity was {word}** ({b['pl_quantity'].mean():.3g} vs {a['pl_quantity'].mean():.3g} "
        f"passing the mask; paired by seed {rel.describe(unit=' % relative')}; 'almost identical', within "
        f"±{band:.0f} %: {verdict_text(rel, within=band)}). Means over all evaluations, unsmoothed; a claim holds "
        "where its 95 % interval over seeds excludes 0 (lies within the band) on the paper's side. "
        "The paper: higher quality, almost identical quantity."
    )
    return text


PAGE = Page("figure6", 3, configs=configs)
