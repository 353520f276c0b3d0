"""Multi-scale sinusoids of the location's 3-D unit vector (``meta_encoding="fourier"``).

Features ``sin(w_s * u)`` and ``cos(w_s * u)`` of each coordinate of the unit vector
``u = (cos lat cos lon, cos lat sin lon, sin lat)``, at :data:`SCALES` = 16 angular frequencies
``w_s`` spaced geometrically so that their wavelengths on the Earth, ``2 pi R / w_s`` with
R = 6371 km, run from 40 030 km (the whole globe: ``w_0 = 1``) down to 10 km (``w_15`` = 4003);
consecutive wavelengths differ by a factor of about 1.74 (40 030, 23 027, 13 246, ..., 17.4, 10 km).
That is the multi-scale idea of Space2Vec (Mai et al., ICLR 2020) and of NeRF's positional
encoding, applied to ``u`` rather than to (lat, lon): ``u`` is continuous everywhere on the sphere,
so the features are too, across the antimeridian and at the poles (where every longitude gives
the same ``u``). 96 features, ordered ``[sin(w_s u_i) for s, i] + [cos(w_s u_i) for s, i]``
(scale-major, then x, y, z).
"""

from __future__ import annotations

import math

import torch

from stssl.encoders.base import register_location_encoder

EARTH_RADIUS_KM = 6371.0
SCALES = 16
LONGEST_KM = 2 * math.pi * EARTH_RADIUS_KM  # one wavelength around the globe
SHORTEST_KM = 10.0


def unit_vector(lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor:
    """Degrees WGS84 -> ``... x 3`` points on the unit sphere, in float64."""
    phi, lam = torch.deg2rad(lat.double()), torch.deg2rad(lon.double())
    return torch.stack([phi.cos() * lam.cos(), phi.cos() * lam.sin(), phi.sin()], dim=-1)


class MultiScaleFourier:
    def __init__(self, scales: int = SCALES, longest_km: float = LONGEST_KM, shortest_km: float = SHORTEST_KM):
        wavelengths = torch.logspace(math.log10(longest_km), math.log10(shortest_km), scales, dtype=torch.float64)
        self.frequencies = 2 * math.pi * EARTH_RADIUS_KM / wavelengths
        self.dim = 2 * 3 * scales

    def __call__(self, lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor:
        phases = (self.frequencies[:, None] * unit_vector(lat, lon)[..., None, :]).flatten(-2)
        return torch.cat([phases.sin(), phases.cos()], dim=-1).float()


register_location_encoder("fourier", MultiScaleFourier())
