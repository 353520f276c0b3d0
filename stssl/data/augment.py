"""Weak and strong views, applied to whole batches (so they also run on the GPU).

Weak (as the authors'): random crop from a padded image (padding = size * (1 - 0.875)), horizontal
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

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

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
    coefficients, so they are one batched expression. The non-linear operations are computed
    on the whole batch and kept where drawn: picking the samples that drew them would make a GPU
    wait for the host to learn how many did.
    """
    b = len(x)
    factor = 1 + 0.9 * mag * torch.where(torch.rand(b, device=x.device) < 0.5, -1.0, 1.0)
    one, zero = torch.ones_like(factor), torch.zeros_like(factor)
    is_ = {name: op == STRONG_OPS.index(name) for name in COLOUR_OPS}
    a = torch.where(is_["brightness"] | is_["color"] | is_["contrast"], factor, one)
    bg = torch.where(is_["color"], 1 - factor, zero)
    cm = torch.where(is_["contrast"], 1 - factor, zero)
    grey = _grey(x)
    x = (
        a.view(-1, 1, 1, 1) * x
        + bg.view(-1, 1, 1, 1) * grey
        + cm.view(-1, 1, 1, 1) * grey.mean(dim=(2, 3), keepdim=True)
    )
    for name in ("autocontrast", "posterize", "solarize"):
        x = torch.where(is_[name].view(-1, 1, 1, 1), _NONLINEAR[name](x, mag.view(-1, 1, 1, 1)), x)
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


def cutout(x: torch.Tensor, max_fraction: float = 0.5, fill: float | tuple[float, ...] = 0.5) -> torch.Tensor:
    """A square of side uniform in [0, max_fraction] x width at a random centre, per sample,
    filled with ``fill`` (one value, or one per channel)."""
    b, _, h, w = x.shape
    side = (torch.rand(b, 1, 1, device=x.device) * max_fraction * w).long()
    cy = torch.randint(0, h, (b, 1, 1), device=x.device)
    cx = torch.randint(0, w, (b, 1, 1), device=x.device)
    yy = torch.arange(h, device=x.device).view(1, h, 1)
    xx = torch.arange(w, device=x.device).view(1, 1, w)
    box = ((yy - cy).abs() * 2 < side) & ((xx - cx).abs() * 2 < side)
    return torch.where(box.unsqueeze(1), torch.as_tensor(fill, dtype=x.dtype, device=x.device).view(1, -1, 1, 1), x)


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


# ---------------------------------------------------------------- the authors' pipelines
#
# GeoSynth (above) uses the fused, single-resampling views, sized for a laptop. The real data
# sets use the authors' pipelines (kornia's RandAugment for BigEarthNet, USB's for EuroSAT),
# rebuilt as batched operations that draw every random choice per sample, as the authors'
# per-image transforms do. On an accelerator each round computes every operation of the policy
# for the whole batch and keeps, per sample, the one it drew (``torch.where``; the geometric ones
# share one ``grid_sample``): nothing reads a tensor's value on the host, so the device never
# waits for it. On the CPU, where a host read is free, each operation runs on its samples only.
# Images are already at the model's size (the loaders resize once), so the authors' leading
# Resize is the identity here.


class _Op(NamedTuple):
    """One operation of a policy. ``fn(x, u)`` gets the batch and one uniform draw in [0, 1) per
    sample (the source of its magnitude, sign or threshold); a ``geometric`` operation returns its
    B x 2 x 3 pixel-space matrix from output to input pixels, any other the transformed batch."""

    name: str
    geometric: bool
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _centre(x: torch.Tensor) -> tuple[float, float]:
    """kornia's image centre in pixels (x, y), about which it rotates and shears."""
    return (x.shape[-1] - 1) / 2, (x.shape[-2] - 1) / 2


def _inverse_affine(linear: list, centre: tuple[float, float], shift=(0.0, 0.0)) -> torch.Tensor:
    """B x 2 x 3 matrix ``p -> linear (p - centre) + centre - shift`` from 2 x 2 per-sample entries."""
    (a, b), (c, d) = linear
    tx = centre[0] - a * centre[0] - b * centre[1] - shift[0]
    ty = centre[1] - c * centre[0] - d * centre[1] - shift[1]
    return torch.stack([torch.stack([a, b, tx], -1), torch.stack([c, d, ty], -1)], -2)


def _rotation(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """kornia's rotate (positive = counter-clockwise as displayed, about the image centre), inverted."""
    cos, sin = torch.cos(degrees * (math.pi / 180)), torch.sin(degrees * (math.pi / 180))
    return _inverse_affine([[cos, -sin], [sin, cos]], _centre(x))


def _shear(sx: torch.Tensor, sy: torch.Tensor, centre: tuple[float, float]) -> torch.Tensor:
    """kornia's one-axis shear ``x' = x - sx (y - cy)`` (``sy`` likewise), inverted."""
    one = torch.ones_like(sx)
    return _inverse_affine([[one, sx], [sy, one]], centre)


def _translation(dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """kornia's translate by (dx, dy) pixels, inverted."""
    one, zero = torch.ones_like(dx), torch.zeros_like(dx)
    return _inverse_affine([[one, zero], [zero, one]], (0.0, 0.0), (dx, dy))


def _warp(x: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """Bilinear resampling at ``inverse @ (col, row, 1)``, zeros outside: kornia's ``warp_affine``
    (the same in both ``align_corners`` conventions, since each maps pixels consistently)."""
    h, w = x.shape[-2:]
    cols = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, w)
    rows = torch.arange(h, device=x.device, dtype=x.dtype).view(1, h, 1)
    m = inverse.reshape(-1, 6, 1, 1)
    gx = m[:, 0] * cols + m[:, 1] * rows + m[:, 2]
    gy = m[:, 3] * cols + m[:, 4] * rows + m[:, 5]
    grid = torch.stack([gx * (2 / max(w - 1, 1)) - 1, gy * (2 / max(h - 1, 1)) - 1], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _per_sample(v: torch.Tensor) -> torch.Tensor:
    """One value per sample, broadcast over B x C x H x W."""
    return v.view(-1, 1, 1, 1)


def _equalize(x: torch.Tensor) -> torch.Tensor:
    """PIL's ``ImageOps.equalize`` of each sample's channels on their 8-bit levels, as kornia's
    ``equalize``: one 256-bin histogram per plane (scatter_add), its cumulative sum the lookup
    table; a plane whose step is 0 (one level, or almost) stays as it is."""
    planes = x.flatten(0, 1).flatten(1)
    level = (planes * 255).long()
    hist = torch.zeros(len(planes), 256, device=x.device, dtype=torch.float32)
    hist.scatter_add_(1, level, torch.ones_like(planes, dtype=torch.float32))
    last = torch.where(hist > 0, torch.arange(256, device=x.device), 0).amax(dim=1, keepdim=True)
    step = torch.div(hist.sum(1, keepdim=True) - hist.gather(1, last), 255, rounding_mode="floor")
    below = hist.cumsum(1) - hist  # pixels under each level
    lut = torch.div(below + torch.div(step, 2, rounding_mode="floor"), step.clamp_min(1), rounding_mode="floor")
    out = lut.clamp(0, 255).gather(1, level).to(x.dtype) / 255
    return torch.where(step > 0, out, planes).view_as(x)


def _posterize_bits(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """kornia's ``posterize`` for 1..7 bits, with its float steps (the 8-bit level divided by
    2^(8 - bits) and truncated back through /255 x 255), so the result is bit for bit kornia's."""
    scale = _per_sample(2.0 ** (8 - bits))
    kept = torch.floor(torch.floor(x * 255) / scale / 255 * 255)
    return kept * scale / 255


def _solarize_at(x: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Invert the values at or above each sample's threshold (kornia's and PIL's rule)."""
    return torch.where(x < _per_sample(threshold), x, 1 - x)


def _sharpness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """kornia's (PIL's) sharpness: blend with the 3 x 3 smoothed image ([1 1 1; 1 5 1; 1 1 1] / 13),
    whose one-pixel border is the image itself. The 3 x 3 sum is two passes of three shifted
    slices (a single-channel ``conv2d`` costs several times more on the CPU)."""
    rows = x[..., :, :-2] + x[..., :, 1:-1] + x[..., :, 2:]
    box = rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]
    smooth = x.clone()
    smooth[..., 1:-1, 1:-1] = ((box + 4 * x[..., 1:-1, 1:-1]) / 13).clamp(0, 1)
    return (smooth + (x - smooth) * _per_sample(factor)).clamp(0, 1)


def _kornia_autocontrast(x: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
    """kornia's per-channel min-max stretch (its epsilon, then clamped); USB's is :func:`_autocontrast`."""
    lo, hi = x.amin(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)
    return ((x - lo) / (hi - lo + 1e-6)).clamp(0, 1)


def _kornia_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """kornia's ``adjust_saturation`` (its closed form in RGB for float images), clamped."""
    hi, lo = x.amax(dim=1, keepdim=True), x.amin(dim=1, keepdim=True)
    delta = hi - lo
    saturation = (delta / torch.where(hi == 0, 1.0, hi + 1e-8) * _per_sample(factor)).clamp(0, 1)
    target = hi * saturation
    return ((x - lo) * (target / torch.where(delta == 0, 1.0, delta)) + (hi - target)).clamp(0, 1)


def _randaugment_policy(m: int) -> tuple[_Op, ...]:
    """kornia's RandAugment ``default_policy`` at magnitude ``m``, as kornia applies it
    (``kornia/augmentation/auto/rand_augment``): every operation always applies (p = 1); the
    magnitude is ``low + (high - low) m / 30`` (float32), posterize's ``high - (high - low) m / 30``
    bits truncated; rotate, shear and translate take a random sign per sample, shear's magnitude
    is x 180 degrees, translate's a fraction of the width/height; solarize_add (additions) keeps
    RandomSolarize's default threshold, uniform in [0, 1] per sample. Geometry: bilinear, zeros."""
    frac = torch.tensor(m / 30)  # kornia computes the magnitudes in float32

    def mag(low: float, high: float) -> float:
        return float(frac * float(high - low) + low)

    def signed(u: torch.Tensor, value: float) -> torch.Tensor:
        return torch.where(u > 0.5, value, -value)

    rotate, shear = mag(0, 30), float(torch.tensor(mag(0, 0.3)) * 180)

    def shear_rad(u: torch.Tensor) -> torch.Tensor:
        return torch.tan(signed(u, shear) * (math.pi / 180))

    translate, bits = mag(0, 0.1), int((1 - frac) * 4.0 + 4)
    add, factor, threshold = mag(0, 0.43), mag(0.1, 1.9), mag(0, 1)
    zero = torch.zeros_like
    return (
        _Op("auto_contrast", False, _kornia_autocontrast),
        _Op("equalize", False, lambda x, u: _equalize(x)),
        _Op("invert", False, lambda x, u: 1 - x),
        _Op("rotate", True, lambda x, u: _rotation(x, signed(u, rotate))),
        _Op("posterize", False, lambda x, u: _posterize_bits(x, torch.full_like(u, bits))),
        _Op("solarize", False, lambda x, u: _solarize_at(x, torch.full_like(u, threshold))),
        _Op("solarize_add", False, lambda x, u: _solarize_at((x + add).clamp(0, 1), u)),
        _Op("color", False, lambda x, u: _kornia_saturation(x, torch.full_like(u, factor))),
        _Op("contrast", False, lambda x, u: (x * factor).clamp(0, 1)),
        _Op("brightness", False, lambda x, u: (x + (factor - 1)).clamp(0, 1)),
        _Op("sharpness", False, lambda x, u: _sharpness(x, torch.full_like(u, factor))),
        _Op("shear_x", True, lambda x, u: _shear(shear_rad(u), zero(u), _centre(x))),
        _Op("shear_y", True, lambda x, u: _shear(zero(u), shear_rad(u), _centre(x))),
        _Op("translate_x", True, lambda x, u: _translation(signed(u, translate * x.shape[-1]), zero(u))),
        _Op("translate_y", True, lambda x, u: _translation(zero(u), signed(u, translate * x.shape[-2]))),
    )


# USB's RandAugment (``semilearn/datasets/augmentation/randaugment.py``): 14 operations, each with a
# magnitude drawn uniformly from its range per sample. The ranges are our reading of its ``augment_list``.
USB_OPS = (
    ("autocontrast", 0, 1),
    ("brightness", 0.05, 0.95),
    ("color", 0.05, 0.95),
    ("contrast", 0.05, 0.95),
    ("equalize", 0, 1),
    ("identity", 0, 1),
    ("posterize", 4, 8),
    ("rotate", -30, 30),
    ("sharpness", 0.05, 0.95),
    ("shear_x", -0.3, 0.3),
    ("shear_y", -0.3, 0.3),
    ("solarize", 0, 1),
    ("translate_x", -0.3, 0.3),
    ("translate_y", -0.3, 0.3),
)
USB_CUTOUT_FILL = (125 / 255, 123 / 255, 114 / 255)


def _blend(x: torch.Tensor, base: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """PIL's ImageEnhance: ``base + v * (x - base)`` with one factor per sample."""
    return (base + _per_sample(v) * (x - base)).clamp(0, 1)


_USB_FNS = {
    "autocontrast": _autocontrast,
    "brightness": lambda x, v: _blend(x, torch.zeros_like(x), v),
    "color": lambda x, v: _blend(x, _grey(x), v),
    "contrast": lambda x, v: _blend(x, _grey(x).mean(dim=(1, 2, 3), keepdim=True), v),
    "equalize": lambda x, v: _equalize(x),
    "identity": lambda x, v: x,
    "posterize": lambda x, v: _posterize_bits(x, v.floor()),
    "rotate": _rotation,
    "sharpness": _sharpness,
    "shear_x": lambda x, v: _shear(-v, torch.zeros_like(v), (0.0, 0.0)),  # kornia's shear: about the origin
    "shear_y": lambda x, v: _shear(torch.zeros_like(v), -v, (0.0, 0.0)),
    "solarize": _solarize_at,
    "translate_x": lambda x, v: _translation(v * x.shape[-1], torch.zeros_like(v)),
    "translate_y": lambda x, v: _translation(torch.zeros_like(v), v * x.shape[-2]),
}


def _usb_policy() -> tuple[_Op, ...]:
    """:data:`USB_OPS` with PIL semantics (the enhancements are ImageEnhance blends; equalize,
    posterize, sharpness, rotate, shear and translate as kornia's functions of the same names do
    them: bilinear, zeros outside), magnitude ``low + (high - low) u``."""

    def op(name: str, low: float, high: float) -> _Op:
        fn = _USB_FNS[name]
        return _Op(name, name in GEOMETRIC_OPS, lambda x, u: fn(x, low + (high - low) * u))

    return tuple(op(*entry) for entry in USB_OPS)


def _host_reads_are_free(device: torch.device) -> bool:
    """On the CPU nothing runs ahead of the host, so reading a value back costs nothing."""
    return device.type == "cpu"


def _apply_round(x: torch.Tensor, policy: tuple[_Op, ...], drawn: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Sample i gets ``policy[drawn[i]]`` with draw ``u[i]``: on the CPU computed only for the
    samples that drew each operation (1/len(policy) of the work), elsewhere without a host read."""
    if _host_reads_are_free(x.device):
        return _apply_indexed(x, policy, drawn, u)
    return _apply_batched(x, policy, drawn, u)


def _apply_indexed(x: torch.Tensor, policy: tuple[_Op, ...], drawn: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Each operation on the samples that drew it (``nonzero``: a host read, free on the CPU)."""
    out = torch.empty_like(x)
    for i, op in enumerate(policy):
        sel = (drawn == i).nonzero().squeeze(1)
        if not len(sel):
            continue
        if op.geometric:
            out[sel] = _warp(x[sel], op.fn(x[sel], u[sel]))
        else:
            out[sel] = op.fn(x[sel].clamp(0, 1), u[sel])
    return out


def _apply_batched(x: torch.Tensor, policy: tuple[_Op, ...], drawn: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Every operation computed for the whole batch (a fixed amount of work, no host read, so an
    accelerator's queue never drains) and kept where drawn; the geometric ones' matrices are
    selected per sample and applied with one resampling."""
    inverse = torch.eye(2, 3, device=x.device, dtype=x.dtype).expand(len(x), 2, 3)
    geometric = torch.zeros_like(drawn, dtype=torch.bool)
    clamped = x.clamp(0, 1)
    out = clamped
    for i, op in enumerate(policy):
        chosen = drawn == i
        if op.geometric:
            inverse = torch.where(chosen.view(-1, 1, 1), op.fn(x, u), inverse)
            geometric |= chosen
        else:
            out = torch.where(_per_sample(chosen), op.fn(clamped, u), out)
    return torch.where(_per_sample(geometric), _warp(x, inverse), out)


def reflect_crop_flip(x: torch.Tensor, crop_ratio: float = 0.875) -> torch.Tensor:
    """The authors' weak view (``bigearthnet.py``, ``eurosat.py``): a random crop from the image reflect-padded by
    size x (1 - crop_ratio), then horizontal and vertical flips, each drawn per sample. What
    kornia's ``RandomCrop(padding_mode="reflect")`` and flips do (the same offsets, uniform over
    every whole-pixel position, and flips), as one gather for the batch: no per-sample work or
    host synchronisation, which kornia's per-call overhead made the cost of a GPU step."""
    b, _, h, w = x.shape
    pad = int(w * (1 - crop_ratio))
    padded = (F.pad(x, (pad, pad, pad, pad), mode="reflect") if pad else x).permute(0, 2, 3, 1)
    offsets = torch.randint(0, 2 * pad + 1, (2, b, 1), device=x.device)
    rows, cols = offsets[0] + torch.arange(h, device=x.device), offsets[1] + torch.arange(w, device=x.device)
    flip = torch.rand(2, b, 1, device=x.device) < 0.5
    cols, rows = torch.where(flip[0], cols.flip(1), cols), torch.where(flip[1], rows.flip(1), rows)
    sample = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded[sample, rows.unsqueeze(2), cols.unsqueeze(1)].permute(0, 3, 1, 2).contiguous()


def bigearthnet_views(crop_ratio: float = 0.875, n: int = 3, m: int = 5) -> tuple[Callable, Callable]:
    """Spec 5.1. Weak: reflect-padded random crop, horizontal and vertical flips. Strong: weak,
    then kornia's RandAugment(n, m): each sample draws ``n`` distinct operations of kornia's
    default policy (kornia itself would draw one set per call, i.e. per sample in the authors'
    per-image pipeline), applied as kornia applies them (:func:`_randaugment_policy`). No Cutout."""
    policy = _randaugment_policy(m)
    weak = functools.partial(reflect_crop_flip, crop_ratio=crop_ratio)

    def strong(x: torch.Tensor) -> torch.Tensor:
        x = weak(x)
        drawn = torch.rand(len(x), len(policy), device=x.device).argsort(dim=1)[:, :n]
        u = torch.rand(n, len(x), device=x.device)
        for k in range(n):
            x = _apply_round(x, policy, drawn[:, k], u[k])
        return x

    return weak, strong


def eurosat_views(crop_ratio: float = 0.875, n: int = 3) -> tuple[Callable, Callable]:
    """Spec 5.2 (USB). Weak: reflect-padded random crop, horizontal and vertical flips. Strong:
    weak, then ``n`` operations of :data:`USB_OPS` drawn uniformly (with replacement) per sample,
    each with a uniform random magnitude in its range, then a Cutout of side U[0, 0.5] x width
    filled with USB's colour (125, 123, 114)."""
    policy = _usb_policy()
    weak = functools.partial(reflect_crop_flip, crop_ratio=crop_ratio)

    def strong(x: torch.Tensor) -> torch.Tensor:
        x = weak(x)
        for _ in range(n):
            drawn = torch.randint(0, len(policy), (len(x),), device=x.device)
            x = _apply_round(x, policy, drawn, torch.rand(len(x), device=x.device))
        return cutout(x, 0.5, USB_CUTOUT_FILL)

    return weak, strong


PIPELINES = ("fused", "randaugment", "usb")


@functools.cache
def views(name: str) -> tuple[Callable, Callable]:
    """The (weak, strong) batched augmentations of a pipeline: float [0, 1] B x C x H x W in and out.

    ``"fused"``: :func:`weak_view` / :func:`strong_view` (GeoSynth's; fast on a CPU);
    ``"randaugment"``: the authors' BigEarthNet kornia RandAugment n=3, m=5 (rebuilt batched, no kornia call);
    ``"usb"``: USB's, the authors' EuroSAT pipeline (``book/implementation.md``).
    A data set names its pipeline in its declaration (:mod:`stssl.data.registry`).
    """
    if name == "fused":
        return weak_view, strong_view
    if name == "randaugment":
        return bigearthnet_views()
    if name == "usb":
        return eurosat_views()
    raise ValueError(f"unknown augmentation pipeline {name!r}; valid: {', '.join(PIPELINES)}")
