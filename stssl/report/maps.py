"""Maps of samples: any per-sample value, and Figures 4 and 5's outcomes and confidences.

Each ``plot_*`` function draws on the axes it is given (a cartopy ``GeoAxes`` in a
:class:`stssl.cartography.MapRegion`'s projection for maps) and returns them; :func:`map_panels` makes such
axes, and :func:`figure4` / :func:`figure5` lay the panels out as in the paper. Samples are small
dots so that dense regions stay readable.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D

from stssl.cartography import EUROPE, MapRegion, base_map, map_region

OUTCOME_STYLE: dict[str, dict] = {
    # drawn in this order: the errors last, on top
    "TN": {"color": "#bdbdbd", "alpha": 0.25, "label": "true negative"},
    "TP": {"color": "#1a9641", "alpha": 0.9, "label": "true positive"},
    "FN": {"color": "#2c7bb6", "alpha": 0.9, "label": "false negative"},
    "FP": {"color": "#d7191c", "alpha": 0.9, "label": "false positive"},
}
CONFIDENCE_CMAP = "viridis"


def _transform():
    import cartopy.crs as ccrs

    return ccrs.PlateCarree()


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
                ax.scatter(
                    lon[m],
                    lat[m],
                    s=s,
                    color=colours(i % colours.N),
                    alpha=alpha,
                    transform=transform,
                    linewidths=0,
                    zorder=2,
                    label=str(cat),
                )
            ax.legend(
                loc="lower right",
                fontsize=7,
                markerscale=4 / max(s, 0.5) * 1.5,
                frameon=True,
                title=label,
                title_fontsize=7,
            )
        else:
            sc = ax.scatter(
                lon,
                lat,
                s=s,
                c=values,
                cmap=cmap,
                vmin=vmin,
                vmax=vmax,
                alpha=alpha,
                transform=transform,
                linewidths=0,
                zorder=2,
            )
            # the axes' own figure, not pyplot's current one: in a widget's redraw the current figure
            # is another (an empty one is made), and the colour bar lands there (explore's class maps)
            ax.figure.colorbar(sc, ax=ax, shrink=0.7, label=label)
    if title:
        ax.set_title(title)
    return ax


def map_panels(n: int, ncols: int | None = None, size: float = 3.6, region: MapRegion = EUROPE):
    """A figure with ``n`` maps of ``region`` (equal-area projection) in a row, or ``ncols`` per row."""
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(size * ncols, size * 1.1 * nrows),
        squeeze=False,
        subplot_kw={"projection": region.projection()},
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, [base_map(ax, region) for ax in axes.flat[:n]]


def _legend(ax, entries: list[tuple[str, str]], title: str | None = None) -> None:
    handles = [Line2D([], [], ls="", marker="o", ms=4, color=c, label=t) for t, c in entries]
    ax.legend(handles=handles, loc="lower right", fontsize=6, title=title, title_fontsize=6, framealpha=0.85)


def outcomes(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Per sample "TP", "FP", "FN" or "TN"."""
    truth, predicted = np.asarray(truth, bool), np.asarray(predicted, bool)
    return np.select([truth & predicted, ~truth & predicted, truth & ~predicted], ["TP", "FP", "FN"], "TN")


def plot_outcome_map(ax, lat, lon, outcome, title: str | None = None, s: float = 3.0, show_tn: bool = True):
    """Samples coloured by outcome (TP / FP / FN; TN faint, or left out with ``show_tn=False``),
    false positives on top; the legend gives each count."""
    lat, lon, outcome = np.asarray(lat), np.asarray(lon), np.asarray(outcome)
    entries = []
    for name, style in OUTCOME_STYLE.items():
        m = outcome == name
        if name == "TN" and not show_tn:
            continue
        ax.scatter(
            lon[m],
            lat[m],
            s=s,
            color=style["color"],
            alpha=style["alpha"],
            linewidths=0,
            transform=_transform(),
            zorder=2 + (name != "TN"),
        )
        entries.append((f"{style['label']} ({int(m.sum())})", style["color"]))
    _legend(ax, entries[::-1])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_truth_map(ax, lat, lon, truth, class_name: str, title: str | None = None, s: float = 3.0):
    """Samples that have the class (dark) and those that do not (faint)."""
    lat, lon, truth = np.asarray(lat), np.asarray(lon), np.asarray(truth, bool)
    ax.scatter(
        lon[~truth],
        lat[~truth],
        s=s,
        color=OUTCOME_STYLE["TN"]["color"],
        alpha=0.25,
        linewidths=0,
        transform=_transform(),
        zorder=2,
    )
    ax.scatter(lon[truth], lat[truth], s=s, color="#08306b", linewidths=0, transform=_transform(), zorder=3)
    _legend(ax, [(f"{class_name} ({int(truth.sum())})", "#08306b"), (f"other ({int((~truth).sum())})", "#bdbdbd")])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_confidence_map(
    ax,
    lat,
    lon,
    confidence,
    grid=None,
    title: str | None = None,
    s: float = 1.5,
    cmap: str = CONFIDENCE_CMAP,
    colorbar: bool = True,
):
    """Confidence at the samples (dots), over an optional ``grid`` (regularly spaced cell centres
    ``lon``, ``lat`` and an H x W ``confidence``, drawn paler underneath, below the coastlines).
    Both share one colour scale spanning their values (the colour bar says which)."""
    values = [np.asarray(confidence, float).ravel()] + ([np.asarray(grid.confidence, float).ravel()] if grid else [])
    values = np.concatenate(values)
    lo, hi = (float(np.nanmin(values)), float(np.nanmax(values))) if values.size else (0.0, 1.0)
    norm = Normalize(lo, hi if hi > lo else lo + 1e-6)
    if grid is not None:
        half_lon, half_lat = np.diff(grid.lon[:2]).sum() / 2, np.diff(grid.lat[:2]).sum() / 2
        extent = (grid.lon[0] - half_lon, grid.lon[-1] + half_lon, grid.lat[0] - half_lat, grid.lat[-1] + half_lat)
        # one reprojected image (no seams between cells), under the coastlines (zorder 1)
        ax.imshow(
            grid.confidence,
            origin="lower",
            extent=extent,
            transform=_transform(),
            cmap=cmap,
            norm=norm,
            alpha=0.45,
            interpolation="nearest",
            zorder=0.5,
        )
    sc = ax.scatter(
        np.asarray(lon),
        np.asarray(lat),
        c=np.asarray(confidence),
        s=s,
        cmap=cmap,
        norm=norm,
        linewidths=0,
        transform=_transform(),
        zorder=3,
    )
    if colorbar:
        ax.figure.colorbar(
            sc,
            ax=ax,
            orientation="horizontal",
            fraction=0.05,
            pad=0.03,
            label=f"confidence (colour scale {lo:.3f} to {hi:.3f})",
        )
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_confidence_by_doy(ax, doy, confidence, truth=None, class_name: str = "class", s: float = 1.5):
    """Confidence against day of year, samples with the class apart from the others."""
    doy, confidence = np.asarray(doy), np.asarray(confidence)
    groups = (
        [(np.ones(len(doy), bool), "#444444", "samples")]
        if truth is None
        else [
            (~np.asarray(truth, bool), "#969696", f"without {class_name}"),
            (np.asarray(truth, bool), "#08306b", f"with {class_name}"),
        ]
    )
    for m, colour, label in groups:
        ax.scatter(doy[m], confidence[m], s=s, color=colour, alpha=0.5, linewidths=0, label=f"{label} ({int(m.sum())})")
    ax.set_xlim(1, 366)
    ax.set_ylim(0, max(float(np.nanmax(confidence)) * 1.05, 0.05) if len(confidence) else 1)
    ax.set_xlabel("day of year")
    ax.set_ylabel("confidence")
    ax.legend(fontsize=7, markerscale=4, loc="best")
    return ax


def figure4(frame, models, threshold: float, class_name: str):
    """Paper layout: (a) FixMatch, (b) teacher, (c) student outcomes, (d) the ground truth."""
    fig, axes = map_panels(len(models) + 1, ncols=2, region=map_region(frame.lat, frame.lon))
    for ax, letter, name in zip(axes, "abc", models):
        plot_outcome_map(
            ax, frame.lat, frame.lon, outcomes(frame.truth, frame[name] > threshold), title=f"({letter}) {name}"
        )
    plot_truth_map(
        axes[-1], frame.lat, frame.lon, frame.truth, class_name, title=f"({'abcd'[len(models)]}) ground truth"
    )
    fig.suptitle(f'"{class_name}" on the test set (predicted positive: probability > {threshold})', fontsize=10)
    fig.tight_layout()
    return fig


def figure5(prior):
    """(a) the grey-image prior on the map, samples over the grid; (b) against day of year."""
    fig = plt.figure(figsize=(12, 5.4))
    spec = fig.add_gridspec(1, 2, width_ratios=(1.25, 1))
    ax_map = base_map(fig.add_subplot(spec[0], projection=EUROPE.projection()))  # the prior's grid is Europe's
    plot_confidence_map(
        ax_map,
        prior.samples.lat,
        prior.samples.lon,
        prior.samples.confidence,
        grid=prior.grid,
        title=f"(a) grey image + each sample's metadata (dots); grid on day {prior.grid.doy:g} (pale)",
    )
    ax_doy = fig.add_subplot(spec[1], box_aspect=0.8)
    plot_confidence_by_doy(ax_doy, prior.samples.doy, prior.samples.confidence, prior.samples.truth, prior.class_name)
    ax_doy.set_title("(b) grey image + each sample's metadata, by day of year", fontsize=9)
    fig.suptitle(
        f'Teacher\'s confidence for "{prior.class_name}" on a uniform grey image '
        f"({prior.grey:g} of the pixel range before normalisation)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
