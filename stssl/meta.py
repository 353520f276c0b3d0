"""Metadata -> the teacher's input vector: a location encoding beside day-of-year harmonics.

The paper's encoding (the authors' ``semilearn/core/stssl_algorithmbase.py``, ``process_metainfo``):
``[lat/90, lon/180, sin(2*pi*doy/365), cos(2*pi*doy/365)]``, the default :class:`MetaEncoding`.
Beyond the paper, a run may choose another location encoding (``meta_encoding``: ``fourier``,
``sphere``; :mod:`stssl.encoders`) and more harmonics of the year (``doy_harmonics``); the
teacher's MLP takes whatever size the encoding has (:attr:`MetaEncoding.dim`).

Unknown day of year (NaN, e.g. EuroSAT, whose files carry no date) is never turned into a
silent NaN feature. By default its features are all 0: the centre of the circle on
which every real date lies, so "no date" is a distinct input that carries no seasonal
information. ``unknown_doy=<day>`` instead substitutes a fixed day, e.g. ``1`` reproduces the
authors' constant dummy date for EuroSAT ("2000-1-1").

Table 2's ablations (b, c) hide one component from the teacher by making it constant, as the
authors' ``no_time``/``no_loc`` flags do (``book/implementation.md``, Table 2's ablations):
:func:`batch_meta` with ``components="location"`` gives every sample the date 1 January (doy 1),
``components="time"`` the location lat = lon = 0, before any encoding.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from stssl.encoders import LOCATION_ENCODERS
from stssl.encoders.season import DayOfYear

MISSING_METADATA = ("none", "learned")
"""What a missing place or date is: ``none``, a place must be known and a missing date is all zeros
(the centre of the day circle); ``learned``, each stays NaN in the encoding and the teacher puts a
learned embedding in its place (as Copernicus-FM and Prithvi-EO-2.0 do)."""


@dataclass(frozen=True)
class MetaEncoding:
    """A location encoding (a name in :data:`~stssl.encoders.LOCATION_ENCODERS`), the number of
    day-of-year harmonics and what a missing value is (:data:`MISSING_METADATA`); the defaults are
    the paper's."""

    location: str = "paper"
    doy_harmonics: int = 1
    missing: str = "none"

    def __post_init__(self):
        if self.location not in LOCATION_ENCODERS:
            raise ValueError(f"unknown meta_encoding {self.location!r}; valid: {', '.join(LOCATION_ENCODERS)}")
        if self.missing not in MISSING_METADATA:
            raise ValueError(f"unknown meta_missing {self.missing!r}; valid: {', '.join(MISSING_METADATA)}")
        DayOfYear(self.doy_harmonics)  # checks the count

    @classmethod
    def of(cls, cfg) -> MetaEncoding:
        """A run's encoding (its ``meta_encoding``, ``doy_harmonics`` and ``meta_missing``)."""
        return cls(cfg.meta_encoding, cfg.doy_harmonics, cfg.meta_missing)

    @property
    def parts(self) -> tuple[int, int]:
        """The sizes of the encoding's two blocks: the place's features, then the date's."""
        return LOCATION_ENCODERS[self.location].dim, 2 * self.doy_harmonics

    @property
    def dim(self) -> int:
        return sum(self.parts)

    @property
    def network(self) -> str:
        """The teacher's network on the encoding: ``mlp`` (the paper's) or ``siren`` (sinusoidal)."""
        return getattr(LOCATION_ENCODERS[self.location], "network", "mlp")


PAPER_ENCODING = MetaEncoding()
META_DIM = PAPER_ENCODING.dim


def encode_meta(
    lat: torch.Tensor | np.ndarray,
    lon: torch.Tensor | np.ndarray,
    doy: torch.Tensor | np.ndarray,
    unknown_doy: float | None = None,
    encoding: MetaEncoding = PAPER_ENCODING,
) -> torch.Tensor:
    """Encode degrees WGS84 and day of year (1..366, NaN = unknown) into a B x ``encoding.dim`` float
    tensor. With ``encoding.missing == "learned"`` a missing place (NaN lat or lon) or date leaves its
    block NaN, for the teacher's learned embeddings."""
    lat, lon, doy = (torch.as_tensor(v, dtype=torch.float32) for v in (lat, lon, doy))
    learned = encoding.missing == "learned"
    no_place = torch.isnan(lat) | torch.isnan(lon)
    if no_place.any() and not learned:
        raise ValueError("latitude/longitude contain NaN: every sample needs a location (or meta_missing='learned')")
    if learned:
        lat, lon = torch.where(no_place, 0.0, lat), torch.where(no_place, 0.0, lon)
    if (lat.abs() > 90).any() or (lon.abs() > 180).any():
        raise ValueError(
            f"location out of range: lat in [{lat.min():.2f}, {lat.max():.2f}], "
            f"lon in [{lon.min():.2f}, {lon.max():.2f}] (expected degrees WGS84)"
        )
    if unknown_doy is not None:
        doy = torch.where(torch.isnan(doy), torch.full_like(doy, float(unknown_doy)), doy)
    place = LOCATION_ENCODERS[encoding.location](lat, lon)
    date = DayOfYear(encoding.doy_harmonics)(doy)
    if learned:
        place = torch.where(no_place[..., None], torch.nan, place)
        date = torch.where(torch.isnan(doy)[..., None], torch.nan, date)
    return torch.cat([place, date], dim=-1)


METADATA_COMPONENTS = ("location+time", "location", "time")
"""What the teacher sees: both (the method), or only one of them (Table 2 b: without T, c: without G)."""


def batch_meta(raw: dict, components: str = "location+time", encoding: MetaEncoding = PAPER_ENCODING) -> torch.Tensor:
    """The teacher's input for a raw batch (``lat``, ``lon``, ``doy``), with the hidden component
    made constant: no time -> doy 1 for every sample, no location -> lat = lon = 0."""
    if components not in METADATA_COMPONENTS:
        raise ValueError(f"unknown metadata components {components!r}; valid: {', '.join(METADATA_COMPONENTS)}")
    lat, lon, doy = (torch.as_tensor(raw[k], dtype=torch.float32) for k in ("lat", "lon", "doy"))
    if "location" not in components:
        lat, lon = torch.zeros_like(lat), torch.zeros_like(lon)
    if "time" not in components:
        doy = torch.ones_like(doy)
    return encode_meta(lat, lon, doy, encoding=encoding)


def run_meta(cfg) -> Callable[[dict], torch.Tensor]:
    """A run's teacher input for a raw batch: what it sees (``metadata``), in its encoding."""
    return functools.partial(batch_meta, components=cfg.metadata, encoding=MetaEncoding.of(cfg))
