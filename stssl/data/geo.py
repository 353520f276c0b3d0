"""Reading georeferenced rasters: bands, locations in WGS84, dates, and 8-bit RGB.

Shared by the EuroSAT and BigEarthNet readers so that both convert coordinates, report bad
files and quantise pixels the same way. Every error names the file and the offending value.
"""

from __future__ import annotations

import contextlib
import functools
import json
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from stssl.core.checks import OneLineError


class DataError(OneLineError):
    """A data set on disk is missing, incomplete or unreadable (the message says what to do)."""


@functools.lru_cache(maxsize=64)
def _transformers(crs_text: str):
    from pyproj import CRS, Transformer

    crs, wgs84 = CRS.from_user_input(crs_text), CRS.from_epsg(4326)
    return Transformer.from_crs(crs, wgs84, always_xy=True), Transformer.from_crs(wgs84, crs, always_xy=True)


def to_wgs84(x: float, y: float, crs: str, source: Path | str) -> tuple[float, float]:
    """(lat, lon) in degrees WGS84 of the point (x, y) given in ``crs`` (WKT, EPSG code, ...).

    Projections wrap coordinates far outside their zone silently (a UTM northing of 1e12 comes
    back as a valid-looking latitude), so the point is projected back and must land within a metre.
    """
    try:
        to_geo, from_geo = _transformers(str(crs))
        lon, lat = to_geo.transform(x, y)
        x2, y2 = from_geo.transform(lon, lat)
    except Exception as err:  # pyproj raises several types for a bad CRS
        raise DataError(f"{source}: cannot convert ({x}, {y}) from CRS {str(crs)[:80]!r} to WGS84: {err}") from err
    if not np.hypot(x2 - x, y2 - y) < 1.0:  # also catches NaN/inf
        raise DataError(f"{source}: coordinates ({x}, {y}) are out of range for CRS {str(crs)[:60]!r}")
    return check_location(lat, lon, source)


def check_location(lat: float, lon: float, source: Path | str) -> tuple[float, float]:
    """``(lat, lon)`` as floats, or a :class:`DataError` naming ``source`` when out of range."""
    lat, lon = float(lat), float(lon)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # also rejects NaN and inf
        raise DataError(f"{source}: location out of range: lat={lat}, lon={lon} (expected degrees WGS84)")
    return lat, lon


def day_of_year(date: str, source: Path | str) -> float:
    """Day of year (1..366) of a ``YYYY-MM-DD HH:MM:SS`` (or ``YYYY-MM-DD``) date string."""
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return float(datetime.strptime(str(date).strip(), fmt).timetuple().tm_yday)
        except ValueError:
            continue
    raise DataError(f"{source}: cannot parse the date {date!r} (expected YYYY-MM-DD HH:MM:SS)")


def read_json(path: Path) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read the JSON file {path}: {err}") from err


@contextlib.contextmanager
def open_geotiff(path: Path):
    """An open rasterio data set; any read failure becomes a :class:`DataError` naming the file."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            yield src
    except (rasterio.errors.RasterioError, IndexError) as err:
        raise DataError(f"cannot read the GeoTIFF {path}: {err}") from err


def read_bands(path: Path, bands: tuple[int, ...] = (1,)) -> np.ndarray:
    """Bands (1-based indices) of a GeoTIFF as float32, bands x H x W."""
    with open_geotiff(path) as src:
        return src.read(list(bands)).astype(np.float32)


def raster_centre(path: Path) -> tuple[float, float]:
    """(lat, lon) WGS84 of the centre of a GeoTIFF, from its CRS and affine transform."""
    with open_geotiff(path) as src:
        if src.crs is None:
            raise DataError(f"{path}: the GeoTIFF has no CRS, so its location is unknown")
        x, y = src.transform @ (src.width / 2, src.height / 2)
        crs = src.crs.to_wkt()
    return to_wgs84(x, y, crs, path)


def resize(x: np.ndarray, size: int) -> np.ndarray:
    """C x H x W floats -> C x ``size`` x ``size`` (bilinear; antialiased when shrinking)."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]
    if tuple(t.shape[-2:]) != (size, size):
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=size < t.shape[-1])
    return t[0].numpy()


def to_rgb8(x01: np.ndarray, size: int | None) -> np.ndarray:
    """3 x H x W values in [0, 1] -> uint8 ``size`` x ``size`` x 3 (``None``: keep the size).

    Resizing happens on the [0, 1] floats, before the 8-bit quantisation, as the authors'
    pipelines resize float images.
    """
    x = resize(x01, size) if size is not None else np.asarray(x01, dtype=np.float32)
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)


EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)


def nearest_km(lat, lon, to_lat, to_lon) -> np.ndarray:
    """Great-circle (haversine) distance in km from each point (lat, lon) to the nearest of the
    points (to_lat, to_lon), all in degrees; a ball tree keeps it fast for large sets."""
    from sklearn.neighbors import BallTree

    tree = BallTree(np.radians(np.column_stack([np.ravel(to_lat), np.ravel(to_lon)])), metric="haversine")
    dist, _ = tree.query(np.radians(np.column_stack([np.ravel(lat), np.ravel(lon)])), k=1)
    return dist[:, 0] * EARTH_RADIUS_KM
