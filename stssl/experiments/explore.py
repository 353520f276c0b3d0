"""Looking at one finished run: which runs the cache holds, and what a run's networks predict
for test samples (the ``explore`` notebook).

The predictions are those the run was evaluated with: the best EMA networks, through the
training module's own prediction (so an algorithm's evaluation shift, CDMAD's, is applied);
for + ST-SSL runs both the student (image only, the reported network) and the teacher with
the sample's metadata as the run feeds it.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from stssl.cache import Run, RunFolder, load_run, runs_root
from stssl.cartography import map_region
from stssl.config import RunConfig
from stssl.data.base import MetaDataset
from stssl.experiments import table1
from stssl.experiments.page import Page
from stssl.report.maps import plot_sample_map
from stssl.report.tables import runs_frame


def table1_config(
    profile: str = "cpu",
    dataset: str | None = None,
    data_root: str | None = None,
    seed: int = 0,
    device: str = "auto",
    algo: str = "fixmatch",
    st: bool = True,
    config: dict | None = None,
) -> RunConfig:
    """The Table 1 run with these settings (``config``: Table 1's overrides): one of ``table1.configs``,
    so the same cache key, not a near-copy."""
    cfgs = [
        c
        for c in table1.configs(profile, dataset, data_root, [seed], device, algo, config=config)
        if c.algo == algo and c.st == st
    ]
    if not cfgs:
        raise ValueError(f"Table 1 has no run {algo!r} with st={st}: the supervised baseline has no + ST-SSL form")
    return cfgs[0]


def open_run(path: str | Path) -> Run:
    """A finished run from its folder, with an error naming the folder when it is not one."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"run_dir {str(path)!r} does not exist (runs live in {runs_root()}/<dataset>/<key>)")
    if not RunFolder(path).has_result():
        state = " (an unfinished run: ask for it again to resume)" if path.name.endswith(".partial") else ""
        raise FileNotFoundError(f"run_dir {str(path)!r} holds no finished run: no metrics.json{state}")
    return load_run(path)


def runs_overview(runs: list[Run]) -> pd.DataFrame:
    """One row per run: method, data set, profile, seed, steps, test mAP (%) and cache key."""
    df = runs_frame(runs)
    return pd.DataFrame(
        {
            "method": df["method"],
            "data set": [r.config.dataset for r in runs],
            "profile": [r.config.profile for r in runs],
            "seed": df["seed"],
            "steps": [r.config.steps for r in runs],
            "test mAP (%)": df["test_mAP"] * 100,
            "key": [r.config.key() for r in runs],
        }
    )


def doy_to_date(doy: float) -> str:
    """Day of year as a calendar day ("12 Mar"; leap years ignored) or "no date" when unknown."""
    if not np.isfinite(doy):
        return "no date"
    day = datetime.date(2001, 1, 1) + datetime.timedelta(days=int(doy) - 1)
    return f"{day.day} {day:%b}"


def place(lat: float, lon: float) -> str:
    """Degrees WGS84 as "42.07°N 8.37°W"."""
    return f"{abs(lat):.2f}°{'N' if lat >= 0 else 'S'} {abs(lon):.2f}°{'E' if lon >= 0 else 'W'}"


def live_frontend() -> bool:
    """Whether this kernel was started by a Jupyter front end that shows widgets (JupyterLab,
    Notebook, VS Code set ``JPY_SESSION_NAME``); papermill and the book's build do not."""
    return bool(os.environ.get("JPY_SESSION_NAME"))


def sample_picker(pred: Predictions, show, sample: int = 0, class_name: str | None = None):
    """The JupyterLab picker: ``show(sample, class_name)`` re-drawn from a slider over the
    predicted samples and a drop-down of the classes (an ``ipywidgets.interactive``)."""
    import ipywidgets as widgets

    return widgets.interactive(
        show,
        sample=widgets.IntSlider(sample, 0, len(pred.indices) - 1, continuous_update=False),
        class_name=widgets.Dropdown(options=pred.class_names, value=class_name or pred.default_class()),
    )


@dataclass
class Predictions:
    """Class probabilities of a run's networks for some test samples.

    ``probs`` maps a network's display name to an ``len(indices) x C`` array (sigmoid for
    multi-label, softmax for single-label); ``indices`` index ``dataset``.
    """

    run: Run
    dataset: MetaDataset
    indices: np.ndarray
    probs: dict[str, np.ndarray]

    @property
    def class_names(self) -> list[str]:
        return list(self.dataset.task.class_names)

    def true_classes(self, i: int) -> list[int]:
        """Classes present in sample ``i`` (a position in ``indices``)."""
        return [int(c) for c in np.flatnonzero(_label_row(self.dataset, self.indices[i]))]

    def default_class(self) -> str:
        """ "Sea and ocean" (the class of the paper's Figure 4) when the data set has it, else the first."""
        return "Sea and ocean" if "Sea and ocean" in self.class_names else self.class_names[0]

    def top1_hits(self) -> dict[str, int]:
        """Per network, on how many of the samples the most probable class is a true label."""
        truth = np.stack([_label_row(self.dataset, j) for j in self.indices])
        return {net: int(truth[np.arange(len(p)), p.argmax(1)].sum()) for net, p in self.probs.items()}

    def top(self, i: int, k: int = 3) -> dict[str, list[tuple[str, float, bool]]]:
        """Per network, the ``k`` most probable classes of sample ``i``: (name, probability, is a true label)."""
        true = set(self.true_classes(i))
        return {
            net: [(self.class_names[c], float(p[i, c]), c in true) for c in np.argsort(-p[i])[:k]]
            for net, p in self.probs.items()
        }


def _label_row(dataset, index: int) -> np.ndarray:
    label = np.asarray(dataset.labels[index])
    if dataset.task.multilabel:
        return label > 0
    return np.arange(dataset.task.num_classes) == int(label)


def predict_test(run: Run, n: int = 2000, seed: int = 0, device: str = "auto") -> Predictions:
    """Probabilities of the run's networks for ``n`` test samples drawn at random (all if fewer)."""
    data = run.data()
    predictor = run.predictor(device, data.dataset)
    rng = np.random.default_rng(seed)
    indices = np.asarray(data.test)[rng.permutation(len(data.test))[:n]]
    nets = {("student (image only)" if run.config.st else "model"): None}
    if "teacher" in predictor.networks:  # with the metadata the run gives it (all of it, unless ablated)
        nets = {"teacher (with metadata)": "teacher", **nets}
    probs = {
        name: predictor.probabilities(predictor.dataset_logits(data.dataset, indices, network))
        for name, network in nets.items()
    }
    return Predictions(run, data.dataset, indices, probs)


def _caption(pred: Predictions, i: int) -> str:
    ds, idx = pred.dataset, pred.indices[i]
    return f"{place(float(ds.lat[idx]), float(ds.lon[idx]))}, {doy_to_date(float(ds.doy[idx]))}"


def plot_samples(pred: Predictions, n: int = 8, k: int = 3, columns: int = 2):
    """A grid of the first ``n`` samples: image, metadata, true labels and each network's top ``k``
    classes (✓ marks a true label)."""
    n = min(n, len(pred.indices))
    rows = -(-n // columns)
    height = max(1.6, 0.13 * (2 + len(pred.probs) * (k + 1)))  # inches per row: the text's lines
    fig, axes = plt.subplots(rows, columns, figsize=(5.6 * columns, height * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in zip(range(n), axes.flat):
        # image in the unit square, text to its right, in the same axes
        ax.imshow(pred.dataset.pixels[pred.indices[i]], extent=(0, 1, 0, 1), interpolation="nearest")
        ax.set_xlim(0, 5.6 / height)
        ax.set_ylim(0, 1)
        ax.set_anchor("W")
        ax.text(0.5, 1.02, f"#{pred.indices[i]}", ha="center", va="bottom", fontsize=8)
        true = ", ".join(pred.class_names[c] for c in pred.true_classes(i)) or "none"
        lines = [_caption(pred, i), f"true: {true}"]
        for net, top in pred.top(i, k).items():
            lines.append(f"{net}:")
            lines += [f"  {'✓' if hit else '·'} {name} {p:.2f}" for name, p, hit in top]
        ax.text(1.08, 1, "\n".join(lines), va="top", ha="left", fontsize=7.5, linespacing=1.25)
    fig.tight_layout(h_pad=1.2)
    return fig


def plot_sample(pred: Predictions, i: int = 0):
    """One sample: the image with its metadata, and every class's probability per network
    (true labels marked ●)."""
    names, true = pred.class_names, set(pred.true_classes(i))
    fig, (img_ax, bar_ax) = plt.subplots(
        1, 2, figsize=(10, 0.28 * len(names) + 1.2), gridspec_kw={"width_ratios": [1, 2.2]}
    )
    img_ax.imshow(pred.dataset.pixels[pred.indices[i]], interpolation="nearest")
    img_ax.set_title(f"test sample #{pred.indices[i]}\n{_caption(pred, i)}", fontsize=9)
    img_ax.axis("off")
    y, height = np.arange(len(names)), 0.8 / len(pred.probs)
    for j, (net, p) in enumerate(pred.probs.items()):
        bar_ax.barh(y + j * height - 0.4 + height / 2, p[i], height=height, label=net)
    bar_ax.set_yticks(y, [("● " if c in true else "") + name for c, name in enumerate(names)], fontsize=8)
    bar_ax.invert_yaxis()
    bar_ax.set_xlim(0, 1)
    bar_ax.set_xlabel("probability")
    bar_ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_class_maps(pred: Predictions, cls: str, mark: int | None = None):
    """Where class ``cls`` is, on a map of the predicted test samples: the truth, then each
    network's probability; ``mark`` (a position in ``indices``) is starred."""
    import cartopy.crs as ccrs

    if cls not in pred.class_names:
        raise ValueError(f"unknown class {cls!r}; valid: {', '.join(pred.class_names)}")
    c = pred.class_names.index(cls)
    ds, idx = pred.dataset, pred.indices
    truth = np.array([_label_row(ds, j)[c] for j in idx], dtype=float)
    panels = [("truth", truth, "present (1) or absent (0)")]
    panels += [(net, p[:, c], "probability") for net, p in pred.probs.items()]
    region = map_region(ds.lat[idx], ds.lon[idx])
    fig = plt.figure(figsize=(4.6 * len(panels), 4.6))
    for n, (title, values, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), n + 1, projection=region.projection())
        order = np.argsort(values, kind="stable")  # the highest values drawn last, on top
        plot_sample_map(
            ds.lat[idx][order],
            ds.lon[idx][order],
            values[order],
            ax=ax,
            s=5,
            vmin=0,
            vmax=1,
            title=f"{cls}\n{title}",
            label=label,
        )
        if mark is not None:
            ax.scatter(
                [ds.lon[idx[mark]]],
                [ds.lat[idx[mark]]],
                marker="*",
                s=160,
                c="red",
                edgecolors="black",
                transform=ccrs.PlateCarree(),
                zorder=3,
            )
    fig.tight_layout()
    return fig


def _configs(profile: str, dataset: str | None, data_root: str | None, seeds, device: str) -> list[RunConfig]:
    """The run the page opens by default: Table 1's FixMatch + ST-SSL, seed 0."""
    return [table1_config(profile, dataset, data_root, 0, device)]


PAGE = Page("explore", None, configs=_configs)
