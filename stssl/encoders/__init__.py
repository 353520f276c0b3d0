"""Location and time encoders: each turns raw metadata into features and knows how many.

A *location encoder* maps latitude and longitude (degrees WGS84, tensors of one shape) to a
``... x dim`` float tensor; :mod:`stssl.meta` puts one of them, chosen by name (the run option
``meta_encoding``), beside the day-of-year harmonics (:mod:`stssl.encoders.season`, the run option
``doy_harmonics``) to make the teacher's input. ``paper`` is the paper's; the others are beyond it.
"""

from __future__ import annotations

from typing import Protocol

import torch

from stssl.encoders.fourier import MultiScaleFourier
from stssl.encoders.paper import ScaledDegrees
from stssl.encoders.sphere import SphericalHarmonics


class LocationEncoder(Protocol):
    dim: int

    def __call__(self, lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor: ...


LOCATION_ENCODERS: dict[str, LocationEncoder] = {
    "paper": ScaledDegrees(),
    "fourier": MultiScaleFourier(),
    "sphere": SphericalHarmonics(),
}
"""The location encodings a run can choose (``RunConfig.meta_encoding``); ``paper`` is the default."""
