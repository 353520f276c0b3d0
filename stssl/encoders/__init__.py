"""Location and time encoders: each turns raw metadata into features and knows how many.

A *location encoder* maps latitude and longitude (degrees WGS84, tensors of one shape) to a
``... x dim`` float tensor; :mod:`stssl.meta` puts one of them, chosen by name (the run option
``meta_encoding``; each registered where it is defined), beside the day-of-year harmonics (:mod:`stssl.encoders.season`, the run option
``doy_harmonics``) to make the teacher's input. ``paper`` is the paper's; the others are beyond it.
"""

from __future__ import annotations

# each module registers its encoder, in this order: the paper's first (the default), then the others
from stssl.encoders import paper, fourier, sphere, geoclip  # noqa: F401  isort: skip
from stssl.encoders.base import LOCATION_ENCODERS, LocationEncoder, register_location_encoder

__all__ = ["LOCATION_ENCODERS", "LocationEncoder", "register_location_encoder"]
