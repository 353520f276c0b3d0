"""Real spherical harmonics of the location, after Rußwurm et al. (ICLR 2024): ``meta_encoding="sphere"``
(degree 20) feeds the teacher's MLP; ``"sphere-siren"`` (degree 40, which SatCLIP's authors recommend
for data covering one region) feeds a small sinusoidal network (SIREN), as they pair them.

All ``Y_l^m`` of degree ``l <= L`` (:data:`DEGREE` = 20: 441 features, ordered ``l = 0..L`` and
within a degree ``m = -l..l``), orthonormal on the unit sphere (``∫ Y_l^m Y_l'^m' dΩ = δ δ``)::

    Y_l^m  = sqrt(2) P̄_l^|m|(sin lat) cos(m lon)   (m > 0)
    Y_l^0  =         P̄_l^0(sin lat)
    Y_l^-m = sqrt(2) P̄_l^|m|(sin lat) sin(|m| lon)

with ``P̄_l^m = sqrt((2l+1)/(4 pi) (l-m)!/(l+m)!) P_l^m``, the associated Legendre functions
without the Condon–Shortley phase (so ``Y_1^1 = sqrt(3 / 4 pi) x``, ``x`` the unit vector's first
coordinate). They come from the standard stable recursion in the degree,
in float64: ``P̄_m^m = sqrt((2m+1)/(2m)) cos(lat) P̄_{m-1}^{m-1}``, then
``P̄_l^m = a_lm (sin(lat) P̄_{l-1}^m - P̄_{l-2}^m / a_{l-1,m})``, ``a_lm = sqrt((4l²-1)/(l²-m²))``.

Smooth on the whole sphere (no seam at the antimeridian, one value at each pole). Degree ``l``
resolves wavelengths of about 40 030 km / l: 2 000 km at L = 20, a country rather than a coast.
"""

from __future__ import annotations

import math

import torch

from stssl.encoders.base import register_location_encoder

DEGREE = 20


def real_spherical_harmonics(lat: torch.Tensor, lon: torch.Tensor, degree: int) -> torch.Tensor:
    """Degrees WGS84 -> ``... x (degree + 1)²`` real orthonormal spherical harmonics, in float64."""
    phi, lam = torch.deg2rad(lat.double())[..., None], torch.deg2rad(lon.double())[..., None]
    m = torch.arange(degree + 1, dtype=torch.float64)
    steps = torch.cat(
        [torch.tensor([1 / math.sqrt(4 * math.pi)], dtype=torch.float64), torch.sqrt((2 * m[1:] + 1) / (2 * m[1:]))]
    )
    diagonal = torch.cumprod(steps, 0) * phi.cos() ** m  # P̄_m^m for m = 0..degree
    legendre = [diagonal[..., :1]]  # legendre[n][..., m] = P̄_n^m, m = 0..n
    for n in range(1, degree + 1):
        ml = m[:n]
        a = torch.sqrt((4 * n * n - 1) / (n * n - ml**2))
        b = torch.sqrt(((n - 1) ** 2 - ml**2).clamp(min=0) / (4 * (n - 1) ** 2 - 1))
        two_below = legendre[n - 2] if n >= 2 else torch.zeros_like(legendre[0])
        two_below = torch.nn.functional.pad(two_below, (0, n - two_below.shape[-1]))  # P̄_{n-2}^{n-1} = 0
        legendre.append(torch.cat([a * (phi.sin() * legendre[n - 1] - b * two_below), diagonal[..., n : n + 1]], -1))
    cos, sin = torch.cos(m * lam), torch.sin(m * lam)
    out = []
    for n, p in enumerate(legendre):
        out += [
            math.sqrt(2) * p[..., 1:].flip(-1) * sin[..., 1 : n + 1].flip(-1),
            p[..., :1],
            math.sqrt(2) * p[..., 1:] * cos[..., 1 : n + 1],
        ]
    return torch.cat(out, -1)


class SphericalHarmonics:
    def __init__(self, degree: int = DEGREE):
        self.degree, self.dim = degree, (degree + 1) ** 2

    def __call__(self, lat: torch.Tensor, lon: torch.Tensor) -> torch.Tensor:
        return real_spherical_harmonics(lat, lon, self.degree).float()


register_location_encoder("sphere", SphericalHarmonics())


class SphericalHarmonicsSiren(SphericalHarmonics):
    """Degree 40 (1 681 features), for the teacher's sinusoidal network."""

    network = "siren"

    def __init__(self):
        super().__init__(degree=40)


register_location_encoder("sphere-siren", SphericalHarmonicsSiren())
