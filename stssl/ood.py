"""Out-of-distribution metadata for the teacher (paper Table 3 c, d).

The paper overwrites every test sample's location (c) or acquisition time (d) with one of five
fixed values outside the training support and reports the teacher's mAP over the five; the
values themselves are only in its supplementary (``book/implementation.md``, Table 2's
ablations). Ours are chosen here, from the *training* split's metadata (labelled and unlabelled:
everything the teacher saw):

Locations
    :data:`OOD_LOCATIONS`: five fixed places on other continents and an ocean, in every
    direction from Europe. :func:`ood_locations` checks that each lies at least
    :data:`MIN_DISTANCE_KM` (great-circle, haversine) from every training sample and fails,
    naming the place, if one does not (e.g. for data outside Europe: pass your own candidates).
Days of year
    The teacher sees the day through ``sin/cos(2 pi doy / 365)``, a circle of 365 days (day 366
    is day 1). :func:`ood_days` picks days absent from the training dates, greedily: each next day
    is the one farthest (on the circle) from every training day *and* every day already picked,
    so the first is the centre of the widest gap and the others spread over the gaps. Each day is
    reported with its distance to the nearest training day: BigEarthNet (June 2017 - May 2018)
    covers most of the year, so the paper notes there is "little space" for far OOD days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from stssl.data.geo import nearest_km
from stssl.encoders.season import DAYS_PER_CYCLE
from stssl.evaluate import MetaFn
from stssl.meta import PAPER_ENCODING, MetaEncoding, batch_meta

MIN_DISTANCE_KM = 1000.0
"""How far (great-circle) an OOD location must be from every training sample: well beyond the
few hundred km over which land cover is coherent, so the teacher cannot lean on a nearby sample."""

OOD_LOCATIONS: tuple[tuple[str, float, float], ...] = (
    # (place, lat, lon): ocean, desert, boreal Asia, another continent, the southern hemisphere
    ("North Atlantic Ocean", 40.0, -40.0),
    ("Sahara, Algeria", 25.0, 3.0),
    ("West Siberia, Russia", 61.0, 75.0),
    ("Great Plains, USA", 39.0, -98.0),
    ("Central Australia", -25.0, 134.0),
)


def ood_locations(
    train_lat: np.ndarray,
    train_lon: np.ndarray,
    candidates: tuple[tuple[str, float, float], ...] = OOD_LOCATIONS,
    min_km: float = MIN_DISTANCE_KM,
) -> pd.DataFrame:
    """The candidate places with ``nearest_km``, their distance to the nearest training sample;
    raises ``ValueError`` if any is closer than ``min_km``."""
    train_lat, train_lon = np.asarray(train_lat, dtype=np.float64), np.asarray(train_lon, dtype=np.float64)
    if not len(train_lat):
        raise ValueError("no training locations to measure the OOD locations against")
    rows = []
    for place, lat, lon in candidates:
        nearest = float(nearest_km([lat], [lon], train_lat, train_lon)[0])
        if nearest < min_km:
            raise ValueError(
                f"OOD location {place!r} ({lat}, {lon}) is only {nearest:.0f} km from a training "
                f"sample, less than min_km={min_km:.0f}: choose candidates outside the training region"
            )
        rows.append({"place": place, "lat": lat, "lon": lon, "nearest_km": nearest})
    return pd.DataFrame(rows)


def day_distance(a, b) -> np.ndarray:
    """Distance in days on the 365-day circle of the encoding (366 and 1 coincide)."""
    d = np.mod(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), DAYS_PER_CYCLE)
    return np.minimum(d, DAYS_PER_CYCLE - d)


def ood_days(train_doy: np.ndarray, n: int = 5) -> pd.DataFrame:
    """``n`` days of year absent from the training dates, spread over the gaps (greedy farthest
    point, ties to the earliest day), with ``nearest_days``: the distance to the nearest training
    day. Raises ``ValueError`` if the training split has no dates or fewer than ``n`` free days."""
    doy = np.asarray(train_doy, dtype=np.float64)
    doy = np.unique(np.round(doy[~np.isnan(doy)]))
    if not len(doy):
        raise ValueError("the training split has no acquisition dates (all day-of-year values are unknown)")
    days = np.arange(1, DAYS_PER_CYCLE + 1)
    to_train = day_distance(days[:, None], doy[None, :]).min(1)
    if (to_train > 0).sum() < n:
        raise ValueError(
            f"only {(to_train > 0).sum()} days of year are absent from the training dates; "
            f"{n} out-of-distribution days were asked for"
        )
    score, picked = to_train.copy(), []
    for _ in range(n):
        i = int(np.argmax(score))  # first maximum: the earliest day among ties
        picked.append(i)
        score = np.minimum(score, day_distance(days, days[i]))
    return pd.DataFrame({"doy": days[picked], "nearest_days": to_train[picked]})


def overwrite_meta(
    lat: float | None = None,
    lon: float | None = None,
    doy: float | None = None,
    components: str = "location+time",
    encoding: MetaEncoding = PAPER_ENCODING,
) -> MetaFn:
    """A ``meta_fn`` for :func:`stssl.evaluate.predict`: the teacher's real metadata input, with
    the given fields replaced by one fixed value for every sample (``None`` keeps the real one).
    ``components`` is what the run's teacher saw (``RunConfig.metadata``), ``encoding`` how
    (:meth:`stssl.meta.MetaEncoding.of` the run's config): the values are replaced before encoding."""
    fixed = {k: v for k, v in (("lat", lat), ("lon", lon), ("doy", doy)) if v is not None}
    if not fixed:
        raise ValueError("overwrite_meta needs at least one of lat, lon, doy")

    def meta_fn(raw: dict[str, torch.Tensor]) -> torch.Tensor:
        like = torch.as_tensor(raw["lat"], dtype=torch.float32)
        return batch_meta(
            {**raw, **{k: torch.full_like(like, float(v)) for k, v in fixed.items()}}, components, encoding
        )

    return meta_fn
