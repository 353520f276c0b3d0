"""Metadata -> the teacher's input vector.

The paper's encoding (the authors' ``semilearn/core/stssl_algorithmbase.py``, ``process_metainfo``):
``[lat/90, lon/180, sin(2*pi*doy/365), cos(2*pi*doy/365)]``.
Leap years are ignored on purpose, as in the authors' code (doy 366 lands just past 2*pi).

Unknown day of year (NaN, e.g. EuroSAT, whose files carry no date) is never turned into a
silent NaN feature. By default it is encoded as ``sin = cos = 0``: the centre of the circle on
which every real date lies, so "no date" is a distinct input that carries no seasonal
information. ``unknown_doy=<day>`` instead substitutes a fixed day, e.g. ``1`` reproduces the
authors' constant dummy date for EuroSAT ("2000-1-1").

Table 2's ablations (b, c) hide one component from the teacher by making it constant, as the
authors' ``no_time``/``no_loc`` flags do (``book/implementation.md``, Table 2's ablations):
:func:`batch_meta` with ``components="location"`` gives every sample the date 1 January (doy 1),
``components="time"`` the location lat = lon = 0.
"""

from __future__ import annotations

import math

import numpy as np
import torch

META_DIM = 4


def encode_meta(
    lat: torch.Tensor | np.ndarray,
    lon: torch.Tensor | np.ndarray,
    doy: torch.Tensor | np.ndarray,
    unknown_doy: float | None = None,
) -> torch.Tensor:
    """Encode degrees WGS84 and day of year (1..366, NaN = unknown) into a B x 4 float tensor."""
    lat, lon, doy = (torch.as_tensor(v, dtype=torch.float32) for v in (lat, lon, doy))
    if torch.isnan(lat).any() or torch.isnan(lon).any():
        raise ValueError("latitude/longitude contain NaN: every sample needs a location")
    if (lat.abs() > 90).any() or (lon.abs() > 180).any():
        raise ValueError(
            f"location out of range: lat in [{lat.min():.2f}, {lat.max():.2f}], "
            f"lon in [{lon.min():.2f}, {lon.max():.2f}] (expected degrees WGS84)"
        )
    unknown = torch.isnan(doy)
    if unknown_doy is not None:
        doy = torch.where(unknown, torch.full_like(doy, float(unknown_doy)), doy)
        unknown = torch.zeros_like(unknown)
    theta = torch.nan_to_num(doy) / 365.0 * (2 * math.pi)
    known = (~unknown).float()
    return torch.stack([lat / 90.0, lon / 180.0, torch.sin(theta) * known, torch.cos(theta) * known], dim=-1)


METADATA_COMPONENTS = ("location+time", "location", "time")
"""What the teacher sees: both (the method), or only one of them (Table 2 b: without T, c: without G)."""


def batch_meta(raw: dict, components: str = "location+time") -> torch.Tensor:
    """The teacher's input for a raw batch (``lat``, ``lon``, ``doy``), with the hidden component
    made constant: no time -> doy 1 for every sample, no location -> lat = lon = 0."""
    if components not in METADATA_COMPONENTS:
        raise ValueError(f"unknown metadata components {components!r}; valid: {', '.join(METADATA_COMPONENTS)}")
    lat, lon, doy = (torch.as_tensor(raw[k], dtype=torch.float32) for k in ("lat", "lon", "doy"))
    if "location" not in components:
        lat, lon = torch.zeros_like(lat), torch.zeros_like(lon)
    if "time" not in components:
        doy = torch.ones_like(doy)
    return encode_meta(lat, lon, doy)
