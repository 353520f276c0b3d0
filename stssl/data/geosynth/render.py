"""What GeoSynth's images look like: one texture renderer per class, painted over a partition.

Each present class is painted as a texture over one region of a smooth random partition of the
image.  Colours follow a small climate model (temperature from latitude, continentality, the Alps
and day of year; computed with the context in :mod:`~stssl.data.geosynth.labels`): green-up in
spring, ripening and harvest of arable land in summer, summer drought in Portugal, leaf-off (and
autumn colours) of broad-leaved forest, snow in cold winters, and a lower sun in the north and in
winter.  Pairs that are hard from pixels alone but easy with metadata (weak but real pixel
evidence, by design): sea vs inland water, pastures vs green arable land in spring, the three
forest types in summer, peatbogs vs moors.  One pair is pixel-identical on purpose ("Moors and
heathland" vs "Sclerophyllous vegetation": the same renderer, different places), so that it shows
what a student that never sees metadata *cannot* learn.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from stssl.data.geosynth.labels import (
    ARA,
    BRD,
    CON,
    MIX,
    MOR,
    MULTILABEL_CLASSES,
    OLI,
    PAS,
    PEA,
    S_CROP,
    S_FOREST,
    S_HERB,
    S_HIGHWAY,
    S_INDUSTRIAL,
    S_PASTURE,
    S_PERM,
    S_RESID,
    S_SEALAKE,
    SCL,
    SEA,
    SINGLELABEL_CLASSES,
    TRA,
    URB,
    WAT,
    _sigmoid,
    _take,
)

_SNOW = np.array([0.88, 0.90, 0.95], dtype=np.float32)
_COL = {
    k: np.array(v, dtype=np.float32)
    for k, v in {
        "lake": (0.10, 0.16, 0.245),
        "sea": (0.10, 0.18, 0.27),
        "pasture_green": (0.27, 0.45, 0.20),
        "pasture_dry": (0.56, 0.50, 0.33),
        "crop_green": (0.29, 0.46, 0.19),
        "crop_bare": (0.46, 0.36, 0.27),
        "crop_ripe": (0.70, 0.62, 0.36),
        "crop_stubble": (0.62, 0.54, 0.40),
        "conifer": (0.10, 0.22, 0.12),
        "broad_on": (0.14, 0.28, 0.13),
        "broad_off": (0.36, 0.31, 0.25),
        "broad_autumn": (0.50, 0.36, 0.14),
        "heath": (0.36, 0.33, 0.25),
        "heath_green": (0.30, 0.36, 0.22),
        "shrub_green": (0.30, 0.42, 0.21),
        "shrub_dry": (0.48, 0.43, 0.31),
        "soil": (0.52, 0.45, 0.35),
        "peat": (0.33, 0.30, 0.21),
        "peat_green": (0.31, 0.35, 0.21),
        "pool": (0.13, 0.16, 0.19),
        "olive_soil": (0.62, 0.55, 0.42),
        "olive_soil_wet": (0.45, 0.42, 0.30),
        "olive_tree": (0.18, 0.25, 0.15),
        "orchard_grass": (0.38, 0.47, 0.26),
        "orchard_tree": (0.16, 0.30, 0.14),
        "urban": (0.47, 0.45, 0.44),
        "roof_red": (0.58, 0.33, 0.27),
        "roof_grey": (0.64, 0.63, 0.62),
        "roof_dark": (0.30, 0.30, 0.33),
        "road": (0.55, 0.55, 0.56),
        "asphalt": (0.30, 0.30, 0.31),
        "bright": (0.78, 0.78, 0.79),
    }.items()
}


@lru_cache(maxsize=16)
def _upsampler(size: int, res: int) -> np.ndarray:
    """Bilinear interpolation matrix (size x res)."""
    t = np.clip((np.arange(size) + 0.5) * res / size - 0.5, 0, res - 1)
    i0 = np.floor(t).astype(int)
    i1 = np.minimum(i0 + 1, res - 1)
    w = t - i0
    u = np.zeros((size, res), dtype=np.float32)
    u[np.arange(size), i0] += 1 - w
    u[np.arange(size), i1] += w
    return u


def _smooth(rng: np.random.Generator, shape: tuple[int, ...], size: int, res: int) -> np.ndarray:
    """Smooth random fields of shape (*shape, size, size), roughly unit variance."""
    u = _upsampler(size, res)
    z = rng.standard_normal((*shape, res, res), dtype=np.float32)
    return (u @ z @ u.T) * np.float32(1.6)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return yy, xx


def _col(*pairs) -> np.ndarray:
    """Sum of weight (m,) x colour (3,) pairs -> (m, 1, 1, 3)."""
    out = 0.0
    for w, c in pairs:
        out = out + np.asarray(w, dtype=np.float32)[:, None] * c[None, :]
    return out[:, None, None, :]


def _snow(img: np.ndarray, snow: np.ndarray, cover: float | np.ndarray) -> np.ndarray:
    s = (np.asarray(snow, dtype=np.float32)[:, None, None, None] * np.float32(1.0)) * cover
    return img * (1 - s) + _SNOW * s


def _r_water(rng, ph, size, kind):
    m = len(ph["lat"])
    img = np.broadcast_to(_col((np.ones(m), _COL[kind])), (m, size, size, 3)).copy()
    img += 0.012 * _smooth(rng, (m,), size, 4)[..., None]
    if kind == "sea":  # faint swell
        yy, xx = _grid(size)
        th = rng.uniform(0, np.pi, m).astype(np.float32)[:, None, None]
        img += 0.008 * np.sin(2 * np.pi * (xx * np.cos(th) + yy * np.sin(th)) / 3.0)[..., None]
    return img


def _r_pasture(rng, ph, size):
    m = len(ph["lat"])
    g = ph["green"]
    img = _col((g, _COL["pasture_green"]), (1 - g, _COL["pasture_dry"])) + 0.02 * _smooth(rng, (m,), size, 5)[..., None]
    return _snow(img, ph["snow"], 0.85)


def _crop_colour(rel: np.ndarray, grow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    post = _sigmoid(rel / 4.0)
    plough = post * _sigmoid((rel - 50.0) / 10.0)
    stubble = post - plough
    pre = 1 - post
    ripe = pre * _sigmoid((rel + 30.0) / 5.0)
    veg = pre - ripe
    green = veg * grow
    bare = veg * (1 - grow) + plough
    col = _col(
        (green, _COL["crop_green"]),
        (ripe, _COL["crop_ripe"]),
        (stubble, _COL["crop_stubble"]),
        (bare, _COL["crop_bare"]),
    )
    stripe = 0.02 * green + 0.05 * ripe + 0.06 * (stubble + bare)
    return col, stripe.astype(np.float32)


def _r_arable(rng, ph, size):
    """A patchwork of two fields, each at its own crop stage, with row stripes."""
    m = len(ph["lat"])
    yy, xx = _grid(size)
    parts = _smooth(rng, (m,), size, 3) > 0
    img = np.empty((m, size, size, 3), dtype=np.float32)
    for half in (parts, ~parts):
        rel = ph["crop_rel"] + rng.uniform(-12, 12, m)
        col, amp = _crop_colour(rel, ph["grow"])
        th = rng.uniform(0, np.pi, m).astype(np.float32)[:, None, None]
        per = rng.uniform(2.5, 4.0, m).astype(np.float32)[:, None, None]
        stripes = np.sin(2 * np.pi * (xx * np.cos(th) + yy * np.sin(th)) / per)
        field = col + (amp[:, None, None] * stripes)[..., None]
        img = np.where(half[..., None], field, img)
    return _snow(img, ph["snow"], 0.75)  # furrows still show through the snow


def _speckle(rng, m, size, cell):
    """Per-pixel (cell 1) or blocky (cell 2) noise."""
    small = (size + cell - 1) // cell
    z = rng.standard_normal((m, small, small), dtype=np.float32)
    if cell > 1:
        z = np.repeat(np.repeat(z, cell, axis=1), cell, axis=2)[:, :size, :size]
    return z


def _broadleaf_colour(ph):
    leaf, autumn = ph["leaf"], ph["autumn"]
    on = leaf * (1 - autumn)
    return _col((on, _COL["broad_on"]), (leaf * autumn, _COL["broad_autumn"]), (1 - leaf, _COL["broad_off"]))


def _r_conifer(rng, ph, size):
    m = len(ph["lat"])
    img = _col((np.ones(m), _COL["conifer"])) + 0.035 * _speckle(rng, m, size, 1)[..., None]
    img = img + 0.015 * _smooth(rng, (m,), size, 4)[..., None]
    cover = 0.35 * (_speckle(rng, m, size, 1) > 0)[..., None]
    return _snow(img, ph["snow"], cover)


def _r_broadleaf(rng, ph, size):
    m = len(ph["lat"])
    img = _broadleaf_colour(ph) + 0.035 * _speckle(rng, m, size, 2)[..., None]
    img = img + 0.015 * _smooth(rng, (m,), size, 4)[..., None]
    return _snow(img, ph["snow"], 0.7 * (1 - ph["leaf"])[:, None, None, None])


def _r_mixed(rng, ph, size):
    m = len(ph["lat"])
    mix = (_speckle(rng, m, size, 2) > 0)[..., None]
    con = _col((np.ones(m), _COL["conifer"]))
    img = np.where(mix, _broadleaf_colour(ph), con) + 0.03 * _speckle(rng, m, size, 1)[..., None]
    cover = np.where(mix, 0.7 * (1 - ph["leaf"])[:, None, None, None], 0.3)
    return _snow(img, ph["snow"], cover)


def _r_heath(rng, ph, size):
    """Moors and heathland *and* sclerophyllous vegetation: one renderer, on purpose."""
    m = len(ph["lat"])
    g = ph["green"]
    img = _col((g, _COL["heath_green"]), (1 - g, _COL["heath"])) + 0.03 * _speckle(rng, m, size, 2)[..., None]
    img = img + 0.02 * _smooth(rng, (m,), size, 5)[..., None]
    return _snow(img, ph["snow"], 0.8)


def _r_transitional(rng, ph, size):
    m = len(ph["lat"])
    g = ph["green"]
    img = _col((g, _COL["shrub_green"]), (1 - g, _COL["shrub_dry"])) + 0.03 * _smooth(rng, (m,), size, 6)[..., None]
    soil = (_smooth(rng, (m,), size, 6) > 0.9)[..., None]
    img = np.where(soil, _col((np.ones(m), _COL["soil"])), img)
    trees = (rng.random((m, size, size)) < 0.12)[..., None]
    img = np.where(trees, _col((np.ones(m), _COL["conifer"])), img) + 0.02 * _speckle(rng, m, size, 1)[..., None]
    return _snow(img, ph["snow"], 0.75)


def _r_peat(rng, ph, size):
    m = len(ph["lat"])
    g = ph["green"]
    img = _col((g, _COL["peat_green"]), (1 - g, _COL["peat"])) + 0.025 * _smooth(rng, (m,), size, 6)[..., None]
    pools = (_smooth(rng, (m,), size, 8) > 1.5)[..., None]
    img = np.where(pools, _col((np.ones(m), _COL["pool"])), img) + 0.02 * _speckle(rng, m, size, 1)[..., None]
    return _snow(img, ph["snow"], 0.8)


def _tree_grid(rng, m, size, spacing):
    yy, xx = _grid(size)
    sp = rng.uniform(*spacing, m).astype(np.float32)[:, None, None]
    ox = rng.uniform(0, 4, m).astype(np.float32)[:, None, None]
    oy = rng.uniform(0, 4, m).astype(np.float32)[:, None, None]
    return (((xx + ox) % sp) < 1.2) & (((yy + oy) % sp) < 1.2)


def _r_olive(rng, ph, size):
    m = len(ph["lat"])
    wet = 1 - ph["dry"]
    soil = _col((ph["dry"], _COL["olive_soil"]), (wet, _COL["olive_soil_wet"]))
    trees = _tree_grid(rng, m, size, (3.0, 4.0))[..., None]
    img = np.where(trees, _col((np.ones(m), _COL["olive_tree"])), soil) + 0.025 * _speckle(rng, m, size, 1)[..., None]
    return _snow(img, ph["snow"], 0.9)


def _r_orchard(rng, ph, size):
    m = len(ph["lat"])
    g = ph["green"]
    grass = _col((g, _COL["orchard_grass"]), (1 - g, _COL["pasture_dry"]))
    trees = _tree_grid(rng, m, size, (2.5, 3.5))[..., None]
    tree = _col((ph["leaf"], _COL["orchard_tree"]), (1 - ph["leaf"], _COL["broad_off"]))
    img = np.where(trees, tree, grass) + 0.025 * _speckle(rng, m, size, 1)[..., None]
    return _snow(img, ph["snow"], 0.8)


def _r_urban(rng, ph, size, density=0.6):
    m = len(ph["lat"])
    g = ph["green"]
    garden = _col((g, _COL["pasture_green"]), (1 - g, _COL["pasture_dry"]))
    img = np.broadcast_to(_col((np.ones(m), _COL["urban"])), (m, size, size, 3)).copy()
    img = np.where((_speckle(rng, m, size, 3) > 0.5)[..., None], garden, img)
    kind = rng.random((m, (size + 1) // 2, (size + 1) // 2))
    kind = np.repeat(np.repeat(kind, 2, 1), 2, 2)[:, :size, :size, None]
    houses = kind < density
    roof = np.where(
        kind < density * 0.45, _COL["roof_red"], np.where(kind < density * 0.8, _COL["roof_grey"], _COL["roof_dark"])
    )
    img = np.where(houses, roof, img) + 0.02 * _speckle(rng, m, size, 1)[..., None]
    return _snow(img, ph["snow"], 0.6)


def _r_industrial(rng, ph, size):
    m = len(ph["lat"])
    img = np.broadcast_to(_col((np.ones(m), _COL["asphalt"])), (m, size, size, 3)).copy()
    kind = rng.random((m, (size + 5) // 6, (size + 5) // 6))
    kind = np.repeat(np.repeat(kind, 6, 1), 6, 2)[:, :size, :size, None]
    img = np.where(kind < 0.45, _COL["bright"], np.where(kind < 0.7, _COL["roof_grey"], img))
    img = img + 0.02 * _speckle(rng, m, size, 1)[..., None]
    return _snow(img, ph["snow"], 0.5)


def _band(rng, m, size, width, wiggle):
    """A (possibly sinuous) band across the image (bool m x S x S)."""
    yy, xx = _grid(size)
    th = rng.uniform(0, np.pi, m).astype(np.float32)[:, None, None]
    off = rng.uniform(-size / 5, size / 5, m).astype(np.float32)[:, None, None]
    c = (size - 1) / 2
    u = (xx - c) * np.cos(th) + (yy - c) * np.sin(th)
    v = -(xx - c) * np.sin(th) + (yy - c) * np.cos(th)
    ph = rng.uniform(0, 2 * np.pi, m).astype(np.float32)[:, None, None]
    centre = off + wiggle * np.sin(2 * np.pi * u / size * 1.3 + ph)
    w = rng.uniform(*width, m).astype(np.float32)[:, None, None]
    return np.abs(v - centre) < w / 2


_RENDERERS = {
    URB: _r_urban,
    ARA: _r_arable,
    OLI: _r_olive,
    PAS: _r_pasture,
    BRD: _r_broadleaf,
    CON: _r_conifer,
    MIX: _r_mixed,
    MOR: _r_heath,
    SCL: _r_heath,
    TRA: _r_transitional,
    PEA: _r_peat,
    WAT: lambda r, p, s: _r_water(r, p, s, "lake"),
    SEA: lambda r, p, s: _r_water(r, p, s, "sea"),
}


def _region_map(rng, present: np.ndarray, weight: np.ndarray, size: int, min_pixels: int) -> np.ndarray:
    """Smooth random partition of each image into one region per present class (m x S x S).

    Each present class gets a smooth random score field plus a bias from its area weight; every
    pixel goes to the class with the highest score.  Classes left with fewer than ``min_pixels``
    pixels have their bias raised until they show (at most 8 rounds).
    """
    m, c = present.shape
    k = max(1, int(present.sum(axis=1).max()))
    order = np.argsort(~present, axis=1, kind="stable")[:, :k]  # slot -> class, present first
    valid = np.take_along_axis(present, order, axis=1)
    w = np.take_along_axis(weight, order, axis=1)
    res = max(3, size // 6)
    score = _smooth(rng, (m, k), size, res) + _smooth(rng, (m, k), size, 2) * np.float32(0.6)
    score = np.ascontiguousarray(score.transpose(0, 2, 3, 1))  # m x S x S x k
    bias = np.where(valid, 1.3 * np.log(np.maximum(w, 1e-6)), -np.inf).astype(np.float32)
    slot = np.argmax(score + bias[:, None, None, :], axis=-1).reshape(m, -1)
    rows = np.arange(m)
    for _ in range(8):
        counts = np.bincount((slot[rows] + k * np.arange(len(rows))[:, None]).ravel(), minlength=len(rows) * k).reshape(
            len(rows), k
        )
        short = valid[rows] & (counts < min_pixels)
        keep = short.any(axis=1)
        rows, short = rows[keep], short[keep]
        if not len(rows):
            break
        bias[rows] += np.where(short, 0.6, 0.0).astype(np.float32)
        slot[rows] = np.argmax(score[rows] + bias[rows, None, None, :], axis=-1).reshape(len(rows), -1)
    return np.take_along_axis(order, slot, axis=1).reshape(m, size, size)


def _finish(rng, img: np.ndarray, illum: np.ndarray) -> np.ndarray:
    """Illumination, per-image brightness/colour jitter, haze and sensor noise -> uint8."""
    m = img.shape[0]
    gain = (illum * rng.normal(1.0, 0.08, m)).astype(np.float32)[:, None, None, None]
    cast = rng.normal(0.0, 0.015, (m, 1, 1, 3)).astype(np.float32)
    haze = (rng.uniform(0.0, 0.12, m) * (rng.random(m) < 0.3)).astype(np.float32)[:, None, None, None]
    out = img * gain + cast
    out = out * (1 - haze) + haze * np.array([0.75, 0.77, 0.80], dtype=np.float32)
    out = out + rng.normal(0.0, 0.02, out.shape).astype(np.float32)
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def _render_multilabel(rng, ph, labels: np.ndarray, size: int) -> np.ndarray:
    m, c = labels.shape
    present = labels > 0.5
    weight = rng.gamma(2.0, 1.0, (m, c))
    weight[:, SEA] *= np.where(ph["is_sea"], 8.0, 1.0)  # open sea fills the image
    region = _region_map(rng, present, weight, size, max(4, size * size // 25))
    img = np.zeros((m, size, size, 3), dtype=np.float32)
    for k in range(c):
        idx = np.flatnonzero(present[:, k])
        if len(idx):
            tex = _RENDERERS[k](rng, _take(ph, idx), size)
            img[idx] = np.where((region[idx] == k)[..., None], tex, img[idx])
    return img


def _render_singlelabel(rng, ph, y: np.ndarray, p_ml: np.ndarray, size: int) -> np.ndarray:
    """A dominant class over most of the image, on a background of location-typical land cover."""
    m = len(y)
    # background: up to two land-cover classes drawn from the location's multi-label probabilities
    land = [ARA, PAS, BRD, CON, MIX, MOR, TRA, PEA]
    q = p_ml[:, land] + 1e-3
    bg = np.zeros((m, len(MULTILABEL_CLASSES)), dtype=bool)
    for _ in range(2):
        cum = np.cumsum(q / q.sum(1, keepdims=True), axis=1)
        pick = (rng.random((m, 1)) > cum).sum(1).clip(0, len(land) - 1)
        bg[np.arange(m), np.asarray(land)[pick]] = True
    weight = rng.gamma(2.0, 1.0, bg.shape)
    region = _region_map(rng, bg, weight, size, 1)
    img = np.zeros((m, size, size, 3), dtype=np.float32)
    for k in land:
        idx = np.flatnonzero(bg[:, k])
        if len(idx):
            img[idx] = np.where((region[idx] == k)[..., None], _RENDERERS[k](rng, _take(ph, idx), size), img[idx])

    # the dominant class: a blob covering 70-100 % of the image, or a band (highway, river)
    yy_field = _smooth(rng, (m,), size, 3)
    share = rng.uniform(0.7, 1.0, m)
    ranked = np.sort(yy_field.reshape(m, -1), axis=1)
    thresh = ranked[np.arange(m), ((1 - share) * size * size).astype(int)]
    blob = yy_field >= thresh[:, None, None]
    forest = np.stack([p_ml[:, BRD], p_ml[:, CON], p_ml[:, MIX]], 1) + 1e-3
    fpick = np.asarray([BRD, CON, MIX])[
        (rng.random((m, 1)) > np.cumsum(forest / forest.sum(1, keepdims=True), 1)).sum(1).clip(0, 2)
    ]
    herb = np.where(rng.random(m) < 0.5, MOR, TRA)
    water = np.where(p_ml[:, SEA] > p_ml[:, WAT], SEA, WAT)
    for cls in range(len(SINGLELABEL_CLASSES)):
        idx = np.flatnonzero(y == cls)
        if not len(idx):
            continue
        sub = _take(ph, idx)
        mask = blob[idx]
        if cls == S_CROP:
            tex = _r_arable(rng, sub, size)
        elif cls == S_PASTURE:
            tex = _r_pasture(rng, sub, size)
        elif cls == S_RESID:
            tex = _r_urban(rng, sub, size, density=0.75)
        elif cls == S_INDUSTRIAL:
            tex = _r_industrial(rng, sub, size)
        elif cls == S_PERM:
            tex = _r_orchard(rng, sub, size)
        elif cls == S_FOREST or cls == S_HERB or cls == S_SEALAKE:
            choice = {S_FOREST: fpick, S_HERB: herb, S_SEALAKE: water}[cls][idx]
            tex = np.empty((len(idx), size, size, 3), dtype=np.float32)
            for k in np.unique(choice):
                j = np.flatnonzero(choice == k)
                tex[j] = _RENDERERS[int(k)](rng, _take(sub, j), size)
        elif cls == S_HIGHWAY:
            mask = _band(rng, len(idx), size, (3.0, 5.0), 0.0)
            tex = np.broadcast_to(_col((np.ones(len(idx)), _COL["road"])), (len(idx), size, size, 3)).copy()
            verge = _band(rng, len(idx), size, (1.0, 1.0), 0.0)  # a faint lane mark
            tex = tex + 0.04 * verge[..., None] + 0.02 * _speckle(rng, len(idx), size, 1)[..., None]
            tex = _snow(tex, sub["snow"], 0.2)
        else:  # S_RIVER
            mask = _band(rng, len(idx), size, (3.0, 6.0), size / 8)
            tex = _r_water(rng, sub, size, "lake")
        img[idx] = np.where(mask[..., None], tex, img[idx])
    return img
