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
from typing import Callable

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
    x = (a.view(-1, 1, 1, 1) * x + bg.view(-1, 1, 1, 1) * grey
         + cm.view(-1, 1, 1, 1) * grey.mean(dim=(2, 3), keepdim=True))
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


# ---------------------------------------------------------------- the authors' pipelines (kornia)
#
# GeoSynth (above) uses the fused, single-resampling views, sized for a laptop. The real data
# sets use the authors' pipelines, rebuilt from batched operations (the weak view's own, the
# strong operations kornia's) so that they run on whole batches (and on the GPU) while still
# drawing every random choice per sample, as the authors' per-sample transforms do. Images are already at the model's size (the loaders resize once),
# so the authors' leading Resize is the identity here.

# USB's RandAugment (``semilearn/datasets/augmentation/randaugment.py``): 14 operations, each with a
# magnitude drawn uniformly from its range per sample. The ranges are our reading of its ``augment_list``.
USB_OPS = (("autocontrast", 0, 1), ("brightness", 0.05, 0.95), ("color", 0.05, 0.95), ("contrast", 0.05, 0.95),
           ("equalize", 0, 1), ("identity", 0, 1), ("posterize", 4, 8), ("rotate", -30, 30),
           ("sharpness", 0.05, 0.95), ("shear_x", -0.3, 0.3), ("shear_y", -0.3, 0.3), ("solarize", 0, 1),
           ("translate_x", -0.3, 0.3), ("translate_y", -0.3, 0.3))
USB_CUTOUT_FILL = (125 / 255, 123 / 255, 114 / 255)


def _blend(x: torch.Tensor, base: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """PIL's ImageEnhance: ``base + v * (x - base)`` with one factor per sample."""
    return (base + v.view(-1, 1, 1, 1) * (x - base)).clamp(0, 1)


def _usb_op(name: str, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """One of :data:`USB_OPS` on a sub-batch, ``v`` = each sample's magnitude (PIL semantics)."""
    import kornia

    geo = kornia.geometry.transform
    size = torch.tensor([x.shape[-1], x.shape[-2]], dtype=x.dtype, device=x.device)
    if name == "autocontrast":
        return _autocontrast(x, v)
    if name == "brightness":
        return _blend(x, torch.zeros_like(x), v)
    if name == "color":
        return _blend(x, _grey(x).expand_as(x), v)
    if name == "contrast":
        return _blend(x, _grey(x).mean(dim=(1, 2, 3), keepdim=True).expand_as(x), v)
    if name == "equalize":
        return kornia.enhance.equalize(x)
    if name == "posterize":
        return kornia.enhance.posterize(x, v.floor().to(torch.int64))
    if name == "rotate":
        return geo.rotate(x, v)
    if name == "sharpness":
        return kornia.enhance.sharpness(x, v)
    if name in ("shear_x", "shear_y"):
        shear = torch.stack([v, torch.zeros_like(v)] if name == "shear_x" else [torch.zeros_like(v), v], dim=1)
        return geo.shear(x, shear)
    if name == "solarize":
        return kornia.enhance.solarize(x, v)
    if name in ("translate_x", "translate_y"):
        axis = torch.tensor([1.0, 0.0] if name == "translate_x" else [0.0, 1.0], device=x.device)
        return geo.translate(x, v.view(-1, 1) * axis * size)
    return x  # identity


def _per_sample(x: torch.Tensor, choice: torch.Tensor, ops: list) -> torch.Tensor:
    """Apply ``ops[choice[i]]`` to sample i, one call per operation on the samples that drew it."""
    out = x.clone()
    for j, op in enumerate(ops):
        sel = (choice == j).nonzero().squeeze(1)
        if len(sel):
            out[sel] = op(x[sel], sel)
    return out


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
    per-image pipeline), applied with kornia's own operation and magnitude ``m``. No Cutout."""
    from kornia.augmentation.auto import RandAugment
    from kornia.augmentation.auto.rand_augment.rand_augment import default_policy

    single = [RandAugment(n=1, m=m, policy=[entry]) for entry in default_policy]
    ops = [lambda x, _, op=op: op(x) for op in single]
    weak = functools.partial(reflect_crop_flip, crop_ratio=crop_ratio)

    def strong(x: torch.Tensor) -> torch.Tensor:
        x = weak(x)
        drawn = torch.rand(len(x), len(single), device=x.device).argsort(dim=1)[:, :n]
        for k in range(n):
            x = _per_sample(x, drawn[:, k], ops)
        return x

    return weak, strong


def eurosat_views(crop_ratio: float = 0.875, n: int = 3) -> tuple[Callable, Callable]:
    """Spec 5.2 (USB). Weak: reflect-padded random crop, horizontal and vertical flips. Strong:
    weak, then ``n`` operations of :data:`USB_OPS` drawn uniformly (with replacement) per sample,
    each with a uniform random magnitude in its range, then a Cutout of side U[0, 0.5] x width
    filled with USB's colour (125, 123, 114)."""
    weak = functools.partial(reflect_crop_flip, crop_ratio=crop_ratio)

    def strong(x: torch.Tensor) -> torch.Tensor:
        x = weak(x)
        for _ in range(n):
            choice = torch.randint(0, len(USB_OPS), (len(x),), device=x.device)
            u = torch.rand(len(x), device=x.device)
            mags = {name: lo + (hi - lo) * u for name, lo, hi in USB_OPS}
            ops = [lambda xs, sel, name=name: _usb_op(name, xs, mags[name][sel]) for name, _, _ in USB_OPS]
            x = _per_sample(x, choice, ops)
        return cutout(x, 0.5, USB_CUTOUT_FILL)

    return weak, strong


PIPELINES = ("geosynth", "bigearthnet", "eurosat")


@functools.lru_cache(maxsize=None)
def views(name: str) -> tuple[Callable, Callable]:
    """The (weak, strong) batched augmentations of a data set: float [0, 1] B x C x H x W in and out.

    ``"geosynth"``: :func:`weak_view` / :func:`strong_view` (fused, fast on a CPU);
    ``"bigearthnet"``: the authors' kornia RandAugment n=3, m=5; ``"eurosat"``: USB's (``book/implementation.md``).
    """
    if name == "geosynth":
        return weak_view, strong_view
    if name == "bigearthnet":
        return bigearthnet_views()
    if name == "eurosat":
        return eurosat_views()
    raise ValueError(f"unknown augmentation pipeline {name!r}; valid: {', '.join(PIPELINES)}")
