"""What a location encoder is, and the registry by name a run chooses from (``meta_encoding``)."""

from __future__ import annotations

from typing import Protocol

import torch


class LocationEncoder(Protocol):
    """Latitude and longitude (degrees WGS84, tensors of one shape) -> a ``... x dim`` float tensor.
    ``network``, when an encoder has it, names the teacher's network on its features (``"siren"``:
    sinusoidal activations); otherwise it is the paper's MLP. ``requires``, when it has it, names the
    package it needs (an optional extra), checked with a run's config."""

    dim: int

    def __call__(self, lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor: ...


LOCATION_ENCODERS: dict[str, LocationEncoder] = {}
"""The location encodings a run can choose (``RunConfig.meta_encoding``); ``paper`` is the default."""


def register_location_encoder(name: str, encoder: LocationEncoder) -> LocationEncoder:
    """Make ``encoder`` a run's ``meta_encoding=name`` (a taken name fails)."""
    if name in LOCATION_ENCODERS:
        raise ValueError(f"a location encoder named {name!r} is already registered")
    LOCATION_ENCODERS[name] = encoder
    return encoder
