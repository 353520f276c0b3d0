"""Weak and strong views, applied to whole batches (so they also run on the GPU).

Weak (spec 5.1/5.2): random crop from a padded image (padding = size * (1 - 0.875)), horizontal
and vertical flips. Strong: the weak geometry plus ``n_ops`` RandAugment-style operations drawn
per sample, each with a random magnitude, then an optional Cutout. Inputs and outputs are pixels
in [0, 1] (B x C x H x W); normalisation comes after.

All geometry of a view (crop offset, flips, rotation, shear, translation) is composed into one
affine matrix per sample and applied with a single ``grid_sample`` (border handling: reflection),
so a view costs one resampling whatever the operations drawn. Randomness comes from torch's
global generator, which training re-seeds at every step so that a resumed run continues
identically.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

GEOMETRIC_OPS = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
COLOUR_OPS = ("autocontrast", "brightness", "color", "contrast", "posterize", "solarize")
STRONG_OPS = ("identity",) + COLOUR_OPS + GEOMETRIC_OPS


def _crop_flip(b: int, size: int, crop_ratio: float, device) -> torch.Tensor:
    """B x 3 x 3 affine (normalised coordinates): integer-pixel random shift and random flips."""
    pad = int(size * (1 - crop_ratio))
    theta = torch.eye(3, device=device).repeat(b, 1, 1)
    flips = torch.where(torch.rand(b, 2, device=device) < 0.5, -1.0, 1.0)
    theta[:, 0, 0], theta[:, 1, 1] = flips[:, 0], flips[:, 1]
    shift = torch.randint(-pad, pad + 1, (b, 2), device=device).float() * (2.0 / size)
    theta[:, 0, 2], theta[:, 1, 2] = shift[:, 0], shift[:, 1]
    return theta


def _resample(x: torch.Tensor, theta: torch.Tensor, mode: str) -> torch.Tensor:
    grid = F.affine_grid(theta[:, :2], list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode="reflection", align_corners=False)


def weak_view(x: torch.Tensor, crop_ratio: float = 0.875) -> torch.Tensor:
    """Random shift within the padding and flips; nearest sampling keeps pixel values exact."""
    return _resample(x, _crop_flip(len(x), x.shape[-1], crop_ratio, x.device), "nearest")


def _geometry(op: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    """The affine of each sample's geometric operation (identity for colour operations)."""
    b = len(op)
    signed = mag * torch.where(torch.rand(b, device=mag.device) < 0.5, -1.0, 1.0)
    theta = torch.eye(3, device=mag.device).repeat(b, 1, 1)
    angle = torch.where(op == STRONG_OPS.index("rotate"), signed * math.radians(30), 0.0)
    theta[:, 0, 0], theta[:, 0, 1] = angle.cos(), -angle.sin()
    theta[:, 1, 0], theta[:, 1, 1] = angle.sin(), angle.cos()
    theta[:, 0, 1] += torch.where(op == STRONG_OPS.index("shear_x"), signed * 0.3, 0.0)
    theta[:, 1, 0] += torch.where(op == STRONG_OPS.index("shear_y"), signed * 0.3, 0.0)
    # affine_grid spans [-1, 1]: a shift of 0.6 is 30 % of the image
    theta[:, 0, 2] = torch.where(op == STRONG_OPS.index("translate_x"), signed * 0.6, 0.0)
    theta[:, 1, 2] = torch.where(op == STRONG_OPS.index("translate_y"), signed * 0.6, 0.0)
    return theta


def _grey(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] != 3:
        return x.mean(dim=1, keepdim=True)
    return 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def _colour(x: torch.Tensor, op: torch.Tensor, mag: torch.Tensor) -> torch.Tensor:
    """Apply each sample's colour operation.

    Brightness, colour and contrast are all ``a*x + b*grey + c*mean(grey)`` with per-sample
    coefficients, so they are one batched expression; the non-linear operations run on the
    samples that drew them only.
    """
    b = len(x)
    factor = 1 + 0.9 * mag * torch.where(torch.rand(b, device=x.device) < 0.5, -1.0, 1.0)
    one, zero = torch.ones_like(factor), torch.zeros_like(factor)
    is_ = {name: op == STRONG_OPS.index(name) for name in COLOUR_OPS}
    a = torch.where(is_["brightness"] | is_["color"] | is_["contrast"], factor, one)
    bg = torch.where(is_["color"], 1 - factor, zero)
    cm = torch.where(is_["contrast"], 1 - factor, zero)
    grey = _grey(x)
    x = (a.view(-1, 1, 1, 1) * x + bg.view(-1, 1, 1, 1) * grey
         + cm.view(-1, 1, 1, 1) * grey.mean(dim=(2, 3), keepdim=True))
    for name in ("autocontrast", "posterize", "solarize"):
        sel = is_[name].nonzero().squeeze(1)
        if len(sel):
            x = x.index_copy(0, sel, _NONLINEAR[name](x[sel], mag[sel].view(-1, 1, 1, 1)))
    return x.clamp(0, 1)


def _autocontrast(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    lo, hi = x.amin(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)
    return (x - lo) / (hi - lo).clamp_min(1e-3)


def _posterize(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    levels = 2 ** (8 - torch.round(m * 4))  # keep 8 down to 4 bits
    return torch.floor(x * levels) / levels


def _solarize(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 1 - m, 1 - x, x)


_NONLINEAR = {"autocontrast": _autocontrast, "posterize": _posterize, "solarize": _solarize}


def cutout(x: torch.Tensor, max_fraction: float = 0.5, fill: float = 0.5) -> torch.Tensor:
    """A grey square of side uniform in [0, max_fraction] x width at a random centre, per sample."""
    b, _, h, w = x.shape
    side = (torch.rand(b, 1, 1, device=x.device) * max_fraction * w).long()
    cy = torch.randint(0, h, (b, 1, 1), device=x.device)
    cx = torch.randint(0, w, (b, 1, 1), device=x.device)
    yy = torch.arange(h, device=x.device).view(1, h, 1)
    xx = torch.arange(w, device=x.device).view(1, 1, w)
    box = ((yy - cy).abs() * 2 < side) & ((xx - cx).abs() * 2 < side)
    return torch.where(box.unsqueeze(1), torch.full_like(x, fill), x)


def strong_view(x: torch.Tensor, n_ops: int = 2, use_cutout: bool = True, crop_ratio: float = 0.875) -> torch.Tensor:
    """Weak geometry, ``n_ops`` operations per sample drawn uniformly from ``STRONG_OPS`` with a
    uniform magnitude in [0, 1] each (geometry composed into one resampling), then Cutout."""
    b = len(x)
    ops = torch.randint(0, len(STRONG_OPS), (n_ops, b), device=x.device)
    mags = torch.rand(n_ops, b, device=x.device)
    theta = _crop_flip(b, x.shape[-1], crop_ratio, x.device)
    for op, mag in zip(ops, mags):
        theta = theta @ _geometry(op, mag)
    x = _resample(x, theta, "bilinear")
    for op, mag in zip(ops, mags):
        x = _colour(x, op, mag)
    return cutout(x) if use_cutout else x
