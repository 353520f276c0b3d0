"""The paper's location features: ``[lat/90, lon/180]`` (the authors'
``semilearn/core/stssl_algorithmbase.py``, ``process_metainfo``).

Linear in degrees, so a network needs many units to resolve anything finer than a continent,
and the two sides of the antimeridian (lon = -180 and 180) are as far apart as possible.
"""

from __future__ import annotations

import torch

from stssl.encoders.base import register_location_encoder


class ScaledDegrees:
    dim = 2

    def __call__(self, lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor:
        return torch.stack([lat / 90.0, lon / 180.0], dim=-1)


register_location_encoder("paper", ScaledDegrees())
