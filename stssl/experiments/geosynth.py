"""The GeoSynth page (``book/geosynth.md``): figures of the embedded data set, no runs.

Its notebook draws example images per class and season and maps of the samples; the prose page
shows them. It takes the data set's size in the book's profile.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from stssl.config import PROFILES
from stssl.experiments.page import Page

SEASONS: dict[str, tuple[int, int]] = {
    # meteorological seasons as day-of-year ranges (winter wraps around the new year)
    "winter": (335, 59),
    "spring": (60, 151),
    "summer": (152, 243),
    "autumn": (244, 334),
}


def _season_mask(doy: np.ndarray, season: str) -> np.ndarray:
    lo, hi = SEASONS[season]
    return (doy >= lo) | (doy <= hi) if lo > hi else (doy >= lo) & (doy <= hi)


def plot_geosynth_examples(
    ds,
    classes: Sequence[str] | None = None,
    seasons: Sequence[str] = ("winter", "spring", "summer", "autumn"),
    seed: int = 0,
    cell: float = 1.0,
):
    """A grid of example images: one row per class, one column per season.

    For multi-label data each cell shows an image that has the class and as few other labels as
    possible (a cell stays empty when the data set has no such image in that season).
    """
    names = list(ds.task.class_names)
    classes = list(classes) if classes is not None else names
    y = ds.label_matrix()
    n_labels = y.sum(axis=1)
    doy = np.asarray(ds.doy)
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(
        len(classes), len(seasons), figsize=(cell * len(seasons) + 2.2, cell * len(classes)), squeeze=False
    )
    for r, name in enumerate(classes):
        k = names.index(name)
        for c, season in enumerate(seasons):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            cand = np.flatnonzero((y[:, k] > 0) & _season_mask(doy, season))
            if len(cand):
                fewest = cand[n_labels[cand] == n_labels[cand].min()]
                i = int(rng.choice(fewest))
                ax.imshow(ds.pixels[i], interpolation="nearest")
                if ds.task.multilabel and n_labels[i] > 1:
                    ax.set_title(f"+{int(n_labels[i]) - 1}", fontsize=6, pad=1)
            if r == 0:
                ax.set_xlabel(season, fontsize=8)
                ax.xaxis.set_label_position("top")
            if c == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
    fig.subplots_adjust(left=0.3, wspace=0.05, hspace=0.15)
    return fig


def _params(profile: str) -> dict:
    return {"n_samples": PROFILES[profile].get("dataset_params", {}).get("n_samples", 20_000)}


PAGE = Page("geosynth", None, "none", params=_params, figures_only=True)
