"""Figures over training and over a setting: curves per method with their seed-to-seed spread.

Each function takes finished runs (or a frame of one row per run) and returns a matplotlib figure
(or the axes it drew on).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd

from stssl.paper import method_name


def run_histories(runs) -> pd.DataFrame:
    """Every run's history in one frame, labelled with its algorithm, ST flag, method and seed."""
    return pd.concat(
        [
            r.history.assign(
                algo=r.config.algo, st=r.config.st, seed=r.config.seed, method=method_name(r.config.algo, r.config.st)
            )
            for r in runs
        ],
        ignore_index=True,
    )


def plot_training_curves(runs, metrics: Sequence[str] = ("val_mAP", "pl_precision", "pl_quantity")):
    """Per method, the mean (line) and seed-to-seed spread (band) of ``metrics`` over training.

    ``pl_*`` are the pseudo-labels of the network that produces them: the teacher for + ST-SSL.
    """
    import seaborn as sns

    df = run_histories(runs)
    metrics = [m for m in metrics if m in df and df[m].notna().any()]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        sns.lineplot(data=df, x="step", y=metric, hue="method", errorbar="sd", ax=ax, legend=ax is axes[0][-1])
        ax.set_title(metric.replace("_", " "))
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    fig.tight_layout()
    return fig


def plot_curves_by_algorithm(runs, metric: str = "val_mAP", columns: int = 4):
    """One panel per algorithm: ``metric`` over training, plain vs + ST-SSL (mean and seed spread),
    with the supervised baseline as a grey reference."""
    import seaborn as sns

    df = run_histories(runs)
    algos = [a for a in df.algo.unique() if a != "supervised"]
    rows = -(-len(algos) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.8 * rows), sharey=True, squeeze=False)
    baseline = df[df.algo == "supervised"]
    for ax, algo in zip(axes.flat, algos):
        if len(baseline):
            sns.lineplot(data=baseline, x="step", y=metric, color="0.6", errorbar=None, ax=ax, label="Supervised only")
        sub = df[df.algo == algo]
        sns.lineplot(data=sub, x="step", y=metric, hue="st", hue_order=[False, True], errorbar="sd", ax=ax)
        handles, _ = ax.get_legend_handles_labels()
        ax.legend(handles, (["Supervised only"] if len(baseline) else []) + ["plain", "+ ST-SSL"], fontsize=7)
        ax.set_title(method_name(algo, False))
        ax.set_ylabel(metric.replace("_", " "))
    for ax in list(axes.flat)[len(algos) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_mean_band(
    df,
    x: str,
    y: str,
    hue: str | None = None,
    ax=None,
    logx: bool = False,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    zero_line: bool = False,
):
    """``y`` against ``x`` from one row per run: the mean over seeds (line and markers) and the
    seed-to-seed standard deviation (band), one line per ``hue`` in order of appearance."""
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.8))
    order = list(dict.fromkeys(df[hue])) if hue else None
    sns.lineplot(data=df, x=x, y=y, hue=hue, hue_order=order, errorbar="sd", marker="o", ax=ax)
    if logx:
        ax.set_xscale("log")
        ticks = sorted(df[x].unique())
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
    if zero_line:
        ax.axhline(0, color="0.5", linewidth=0.8, linestyle="--")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title)
    if hue and ax.get_legend() is not None:
        ax.legend(title=None, fontsize=8)
    return ax


def plot_smoothed_curves(curves, titles: dict[str, str] | None = None):
    """One panel per metric (stacked): per method the mean over seeds (faint) and its smoothed
    curve (bold), as TensorBoard draws them. ``curves`` has columns method, metric, step, mean, smoothed."""
    metrics = list(dict.fromkeys(curves["metric"]))
    methods = list(dict.fromkeys(curves["method"]))
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(len(metrics), 1, figsize=(6.5, 2.6 * len(metrics)), sharex=True, squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        for i, method in enumerate(methods):
            c = curves[(curves.metric == metric) & (curves.method == method)]
            ax.plot(c.step, c["mean"], color=colours(i), alpha=0.25, linewidth=1)
            ax.plot(c.step, c.smoothed, color=colours(i), linewidth=2, marker="o", markersize=3, label=method)
        ax.set_ylabel((titles or {}).get(metric, metric), fontsize=9)
    axes[0, 0].legend(fontsize=8)
    axes[-1, 0].set_xlabel("training step")
    fig.tight_layout()
    return fig
