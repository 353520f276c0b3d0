"""The day of year as ``K`` harmonics of the year (run option ``doy_harmonics``; the paper's is K = 1).

``[sin(k t), cos(k t) for k = 1..K]`` with ``t = 2 pi doy / 365``; leap years are ignored on
purpose, as in the authors' code (doy 366 lands just past a full turn). K = 1 is the paper's
``[sin, cos]``, a circle on which only the annual cycle can be expressed linearly; harmonic k
adds a cycle of 365 / k days (K = 4: seasons down to about three months).

Unknown days (NaN) get every feature 0, the centre of each circle: "no date" is a distinct input
that carries no seasonal information, never a silent NaN (:mod:`stssl.meta` may substitute a day
first).
"""

from __future__ import annotations

import math

import torch

DAYS_PER_CYCLE = 365
MAX_HARMONICS = DAYS_PER_CYCLE // 2  # harmonic k has a period of 365 / k days: at least two days


class DayOfYear:
    def __init__(self, harmonics: int = 1):
        if not 1 <= harmonics <= MAX_HARMONICS:
            raise ValueError(f"invalid doy_harmonics={harmonics}; valid: 1 to {MAX_HARMONICS}")
        self.harmonics, self.dim = harmonics, 2 * harmonics

    def __call__(self, doy: torch.Tensor) -> torch.Tensor:
        """``doy`` (float32, NaN = unknown) -> ``... x 2K`` float32."""
        known = (~torch.isnan(doy)).float()[..., None]
        theta = (torch.nan_to_num(doy) / DAYS_PER_CYCLE * (2 * math.pi))[..., None]
        angles = theta * torch.arange(1, self.harmonics + 1, dtype=theta.dtype)  # K = 1: theta exactly
        return torch.stack([torch.sin(angles) * known, torch.cos(angles) * known], -1).flatten(-2)
