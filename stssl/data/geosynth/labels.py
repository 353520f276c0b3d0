"""What GeoSynth's labels depend on: the context of a place and day, and the label probabilities.

Every class has a probability that is a smooth function of the place: a per-country base rate,
climate-like terms (north, the Alps, the Mediterranean south of Portugal, the Finnish lake
district), distance to the coast and to Natural Earth lakes, big cities, and one fixed smooth
random field per class (land cover is spatially coherent at 100-400 km; the fields are fixed by
:data:`WORLD_SEED`).  "Sea and ocean" is present iff the point is at sea or within ~2 km of the
coast.  Labels do not depend on the day of year; the day tells the model how the classes *look*
(and, through the acquisition windows, which country it probably is).
:func:`~stssl.data.geosynth.dataset.label_probabilities` returns the exact metadata-only
probability the generator samples from: an honest ceiling for any model that sees metadata only.

The context (:func:`_context`) is everything the generator derives from (lat, lon, doy): the place
features above and a small climate model that the renderers (:mod:`~stssl.data.geosynth.render`)
colour the classes with.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from stssl.data.geosynth.geography import COASTAL_SEA_FRACTION, COUNTRIES, _geography, _sample_locations

WORLD_SEED: int = 20_231_024
"""Seed of the fixed smooth random fields (the same world for every config)."""

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
# the sea); the smooth terms of _label_probs_raw move it around inside the country.
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
