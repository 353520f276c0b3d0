"""Paper-vs-ours tables from finished runs: one row per run, means and spreads over seeds, paired gains."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from stssl.cache import Run
from stssl.config import RunConfig
from stssl.paper import DISPLAY_NAMES, TABLE1, method_name
from stssl.report.stats import difference_cell, tally

BASELINE_METHODS: list[str] = [
    method_name(a, st) for a, st in (("supervised", False), ("fixmatch", False), ("fixmatch", True))
]
"""Supervised, FixMatch and FixMatch + ST-SSL, as the tables name them (Figure 3, Table 4)."""


def runs_frame(runs: list[Run], metric: str = "mAP") -> pd.DataFrame:
    """One row per run: method, seed, test metric of the reported network (and of the teacher),
    mean pseudo-label precision/quantity over training (teacher's for ST runs)."""
    rows = []
    for r in runs:
        h = r.history
        rows.append(
            {
                "algo": r.config.algo,
                "st": r.config.st,
                "method": method_name(r.config.algo, r.config.st),
                "seed": r.config.seed,
                f"test_{metric}": r.metrics.get(f"test_{metric}"),
                f"teacher_test_{metric}": r.metrics.get(f"teacher_test_{metric}", np.nan),
                "pl_precision": h["pl_precision"].mean() if "pl_precision" in h else np.nan,
                "pl_pos_precision": h["pl_pos_precision"].mean() if "pl_pos_precision" in h else np.nan,
                "pl_quantity": h["pl_quantity"].mean() if "pl_quantity" in h else np.nan,
                "train_seconds": r.metrics.get("train_seconds"),
            }
        )
    return pd.DataFrame(rows)


COLUMN_NAMES = {
    "test_mAP": "test mAP",
    "teacher_test_mAP": "teacher's test mAP",
    "test_acc": "test accuracy",
    "teacher_test_acc": "teacher's test accuracy",
    "pl_precision": "pseudo-label precision",
    "pl_pos_precision": "positive pseudo-label precision",
    "pl_quantity": "pseudo-label quantity",
    "train_seconds": "training time (s)",
}
"""The columns of :func:`runs_frame` as a table's header shows them."""


def means_over_seeds(frame: pd.DataFrame, by: str, columns: list[str]) -> pd.DataFrame:
    """Per ``by`` (in order of first appearance), the mean over seeds of ``columns`` of a
    :func:`runs_frame`, named as :data:`COLUMN_NAMES` says (NaN where a method has no such value:
    no teacher, no pseudo-labels; a table shows it as "–")."""
    means = frame.groupby(by, sort=False)[columns].mean()
    return means.rename(columns=COLUMN_NAMES).rename_axis(by)


def describe_runs(runs: list[Run]) -> str:
    """Markdown: which data, profile, model, label budget, steps and seeds produced ``runs``.
    A label budget or data-set parameter that differs between the runs (a page's subject, e.g.
    Table 4's numbers of labels or the context strength) is listed with all its values."""
    cfg = runs[0].config
    seeds = sorted({r.config.seed for r in runs})
    fractions = sorted({r.config.label_fraction for r in runs if not r.config.num_labels})
    counts = sorted({r.config.num_labels for r in runs if r.config.num_labels})
    labels = "; ".join(
        ([f"{', '.join(map(str, counts))} labels"] if counts else [])
        + ([f"{', '.join(f'{f:.1%}' for f in fractions)} labelled"] if fractions else [])
    )
    params = [r.config.dataset_params for r in runs]
    keys = sorted({k for p in params for k in p})
    shown = [
        f"{k}={params[0][k]!r}"
        if all(k in p and p[k] == params[0][k] for p in params)
        else f"{k} in {{{', '.join(sorted({repr(p[k]) if k in p else 'default' for p in params}))}}}"
        for k in keys
    ]
    data = cfg.dataset + (f" ({', '.join(shown)})" if shown else "")
    return (
        f"**Ours:** {data} data, `{cfg.profile}` profile: {cfg.model} at {cfg.image_size} px, {labels}, "
        f"{cfg.steps} steps of {cfg.batch_lb} labelled + {cfg.batch_ulb} unlabelled images, "
        f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}; test metric of the EMA network "
        f"that was best on validation (the EMA student, without metadata, for + ST-SSL)."
    )


def mean_std(values: pd.Series, scale: float = 100, signed: bool = False) -> str:
    """ "mean ± std" of ``values`` × ``scale`` over seeds (the mean alone for one seed, "–" for none)."""
    v = values.dropna() * scale
    if v.empty:
        return "–"
    mean = f"{v.mean():+.2f}" if signed else f"{v.mean():.2f}"
    return f"{mean} ± {v.std(ddof=1):.2f}" if len(v) > 1 else mean


def table1(runs: list[Run]) -> pd.DataFrame:
    """Table 1 layout: per method, our test mAP (mean ± std over seeds, %) and the gain of
    + ST-SSL over the same algorithm paired by seed, beside the paper's mAP and gain."""
    df = runs_frame(runs)
    rows = []
    for (algo, st), g in df.groupby(["algo", "st"], sort=False):
        paper_plain, paper_st = TABLE1.get(algo, (None, None))
        paper = paper_st if st else paper_plain
        delta, paper_delta = "–", "–"
        if st:
            delta = difference_cell(paired_gain(df, algo))
            if paper_plain is not None and paper_st is not None:
                paper_delta = f"{paper_st - paper_plain:+.2f}"
        rows.append(
            {
                "Method": method_name(algo, st),
                "ours mAP (%)": mean_std(g["test_mAP"]),
                "ours Δ (%)": delta,
                "seeds": len(g),
                "paper mAP (%)": "–" if paper is None else f"{paper:.2f}",
                "paper Δ (%)": paper_delta,
            }
        )
    return pd.DataFrame(rows).set_index("Method")


def paired_gain(df: pd.DataFrame, algo: str, metric: str = "test_mAP") -> pd.Series:
    """Per seed, + ST-SSL minus the plain algorithm, in points (seeds that have both)."""
    by_seed = {st: df[(df.algo == algo) & (df.st == st)].set_index("seed")[metric] for st in (False, True)}
    return ((by_seed[True] - by_seed[False]) * 100).dropna()


def frames_by(runs: list[Run], key: Callable[[RunConfig], Any], metric: str = "mAP") -> dict[Any, pd.DataFrame]:
    """The runs frame of each group of runs with the same ``key(config)`` (a label budget, a
    context strength, ...), in sorted key order."""
    return {
        k: runs_frame([r for r in runs if key(r.config) == k], metric) for k in sorted({key(r.config) for r in runs})
    }


def gains_by(runs: list[Run], key: Callable[[RunConfig], Any], metric: str = "mAP") -> dict[Any, pd.Series]:
    """Per group (see :func:`frames_by`), FixMatch + ST-SSL minus FixMatch per seed (points);
    groups without a pair left out."""
    gains = {k: paired_gain(df, "fixmatch", f"test_{metric}") for k, df in frames_by(runs, key, metric).items()}
    return {k: g for k, g in gains.items() if len(g)}


def st_gains(runs: list[Run], metric: str = "test_mAP") -> pd.DataFrame:
    """Per algorithm, the gain of + ST-SSL over the plain algorithm paired by seed (points)."""
    df = runs_frame(runs, metric.removeprefix("test_"))
    rows = []
    for algo in df[df.st].algo.unique():
        paired = paired_gain(df, algo, metric)
        if len(paired):
            rows.append(
                {"algo": algo, "mean": paired.mean(), "seeds": len(paired), "positive": int((paired > 0).sum())}
            )
    return pd.DataFrame(rows, columns=["algo", "mean", "seeds", "positive"])


def st_gain_summary(runs: list[Run]) -> str:
    """One sentence: for which algorithms + ST-SSL's gain holds, is contradicted or is not resolved
    at these seeds (:func:`stssl.report.stats.tally`), each with its interval and seeds ahead."""
    df = runs_frame(runs)
    gains = {DISPLAY_NAMES.get(a, a): paired_gain(df, a) for a in df[df.st].algo.unique()}
    gains = {name: g for name, g in gains.items() if len(g)}
    if not gains:
        return "No + ST-SSL runs to compare."
    counts, listing = tally(gains)
    return (
        f"**+ ST-SSL's gain in test mAP over the plain algorithm, {len(gains)} algorithms: {counts}** "
        f"(Δ in points paired by seed, its 95 % interval and the seeds where + ST-SSL was ahead): {listing}."
    )
