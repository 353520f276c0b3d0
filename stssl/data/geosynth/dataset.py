"""GeoSynth's configuration and data set class, its generation, on-disk cache and splits.

``context_strength`` (0..1, default 1)
    With probability ``1 - context_strength`` a sample's labels *and* image are generated from the
    context (place and day) of another, random sample of the data set, while it keeps its own
    metadata.  At 1 the metadata is fully informative; at 0 labels and appearance are
    independent of the sample's own metadata (every sample's label probabilities are the
    population averages), yet the images are just as hard, so it is a clean control.

Everything is deterministic given the :class:`GeoSynthConfig` (the "world", i.e. the smooth
random fields, is fixed by :data:`~stssl.data.geosynth.labels.WORLD_SEED`; ``seed`` draws the
samples).  20 000 images of 32x32 take a few seconds; :func:`load_geosynth` caches them on disk.
:func:`label_probabilities` (which takes a config, hence here) is the generator's metadata-only
probability.  At its end the module declares the data set to the registry (:mod:`stssl.data.registry`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from stssl.core.checks import BOOL, Number
from stssl.core.files import write_atomic
from stssl.data.base import MetaDataset, TaskInfo
from stssl.data.geosynth.geography import COUNTRIES, _sample_locations
from stssl.data.geosynth.labels import (
    MULTILABEL_CLASSES,
    SINGLELABEL_CLASSES,
    _context,
    _context_probs,
    _label_probs_raw,
    _population_mean,
    _sample_labels,
    _single_probs_raw,
    _take,
)
from stssl.data.geosynth.render import _finish, _render_multilabel, _render_singlelabel
from stssl.data.registry import DatasetSpec, register

GENERATOR_VERSION: int = 1
"""Bump when the generator changes: it is part of the cache key."""

# Per-channel statistics of pixels in [0, 1], measured once on the default (multi-label, 20 000
# samples) data set and used for every config, so that normalisation never depends on the data.
MEAN: tuple[float, float, float] = (0.275, 0.327, 0.236)
STD: tuple[float, float, float] = (0.180, 0.137, 0.127)

_CHUNK = 1000


@dataclass(frozen=True)
class GeoSynthConfig:
    """Everything that determines a GeoSynth data set (its hash is the cache key)."""

    n_samples: int = 20_000
    image_size: int = 32
    multilabel: bool = True
    context_strength: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise ValueError("n_samples must be positive")
        if self.image_size < 8:
            raise ValueError("image_size must be at least 8")
        if not 0.0 <= self.context_strength <= 1.0:
            raise ValueError("context_strength must be in [0, 1]")

    def key(self) -> str:
        """Content hash of the config and the generator version."""
        blob = json.dumps({"generator_version": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class GeoSynth(MetaDataset):
    """A generated GeoSynth data set: a :class:`MetaDataset` plus per-sample ``country``
    (str array), ``is_sea`` (bool array: the location is at sea) and its ``config``."""

    def __init__(
        self,
        pixels: np.ndarray,
        labels: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
        doy: np.ndarray,
        ids: np.ndarray,
        country: np.ndarray,
        is_sea: np.ndarray,
        config: GeoSynthConfig,
    ) -> None:
        classes = MULTILABEL_CLASSES if config.multilabel else SINGLELABEL_CLASSES
        super().__init__(pixels, labels, lat, lon, doy, ids, TaskInfo(classes, config.multilabel), MEAN, STD)
        self.country = np.asarray(country).astype(str)
        self.is_sea = np.asarray(is_sea, dtype=bool)
        self.config = config

    def __repr__(self) -> str:
        return f"GeoSynth({self.config}, n={len(self)})"


def label_probabilities(lat, lon, doy, config: GeoSynthConfig = GeoSynthConfig()) -> np.ndarray:
    """The probability of each label given the metadata only, as the generator defines it.

    Multi-label: N x 13 marginal probabilities; single-label: N x 10 categorical probabilities.
    It mixes ``context_strength * p(place) + (1 - context_strength) * population mean``.
    Locations outside the ten countries are treated as belonging to the nearest one.
    """
    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    doy = np.broadcast_to(np.asarray(doy, dtype=np.float64), lat.shape)
    p = _context_probs(_context(lat, lon, doy), config.multilabel)
    s = config.context_strength
    if s < 1.0:
        p = s * p + (1.0 - s) * _population_mean(config.multilabel)[None, :]
    return p.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# generation, caching, splits
# ----------------------------------------------------------------------------------------------
def generate_geosynth(config: GeoSynthConfig = GeoSynthConfig()) -> GeoSynth:
    """Generate a GeoSynth data set in memory (pure: no disk access besides map data)."""
    rng = np.random.default_rng([config.seed, GENERATOR_VERSION])
    n, size = config.n_samples, config.image_size
    country, is_sea, lon, lat, doy = _sample_locations(n, rng)
    ctx = _context(lat, lon, doy)
    ctx["country"] = country  # the sampled country (identical to the located one)
    ctx["is_sea"] = is_sea
    # context_strength: with probability 1 - s a sample's content comes from a random donor's context
    own = rng.random(n) < config.context_strength
    donor = np.where(own, np.arange(n), rng.integers(0, n, n))
    dctx = _take(ctx, donor)
    p_ml = _label_probs_raw(dctx)
    if config.multilabel:
        labels = _sample_labels(rng, p_ml, True)
    else:
        labels = _sample_labels(rng, _single_probs_raw(dctx, p_ml), False)
    pixels = np.empty((n, size, size, 3), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(start + _CHUNK, n))
        ph = _take(dctx, np.arange(sl.start, sl.stop))
        if config.multilabel:
            img = _render_multilabel(rng, ph, labels[sl], size)
        else:
            img = _render_singlelabel(rng, ph, labels[sl], p_ml[sl], size)
        pixels[sl] = _finish(rng, img, ph["illum"])
    ids = np.array([f"geosynth-{i:06d}" for i in range(n)])
    return GeoSynth(
        pixels,
        labels,
        lat.astype(np.float32),
        lon.astype(np.float32),
        doy.astype(np.float32),
        ids,
        np.asarray(COUNTRIES)[country],
        is_sea,
        config,
    )


def default_cache_dir() -> Path:
    """``$STSSL_CACHE`` if set, else ``~/.cache/stssl/geosynth``."""
    env = os.environ.get("STSSL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "stssl" / "geosynth"


def cache_path(config: GeoSynthConfig, cache_dir: str | Path | None = None) -> Path:
    """Where :func:`load_geosynth` keeps a config's data set."""
    return Path(cache_dir if cache_dir is not None else default_cache_dir()) / f"geosynth-{config.key()}.npz"


def load_geosynth(
    config: GeoSynthConfig = GeoSynthConfig(), cache_dir: str | Path | None = None, progress: bool = False
) -> GeoSynth:
    """The data set of ``config``, generated once and then read from the on-disk cache."""
    path = cache_path(config, cache_dir)
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                stored = json.loads(str(z["config"]))
                if stored == {"generator_version": GENERATOR_VERSION, **asdict(config)}:
                    if progress:
                        print(f"GeoSynth: read {path}")
                    return GeoSynth(
                        z["pixels"],
                        z["labels"],
                        z["lat"],
                        z["lon"],
                        z["doy"],
                        z["ids"],
                        z["country"],
                        z["is_sea"],
                        config,
                    )
        except (OSError, ValueError, KeyError):
            pass  # unreadable or foreign file: regenerate and overwrite
    t0 = time.perf_counter()
    ds = generate_geosynth(config)
    if progress:
        print(f"GeoSynth: generated {len(ds)} samples in {time.perf_counter() - t0:.1f} s -> {path}")
    path.parent.mkdir(parents=True, exist_ok=True)

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to the name
            np.savez(
                f,
                pixels=ds.pixels,
                labels=ds.labels,
                lat=ds.lat,
                lon=ds.lon,
                doy=ds.doy,
                ids=ds.ids,
                country=ds.country,
                is_sea=ds.is_sea,
                config=np.array(json.dumps({"generator_version": GENERATOR_VERSION, **asdict(config)})),
            )

    write_atomic(path, save)
    return ds


def geosynth_splits(
    ds: GeoSynth, seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2
) -> dict[str, np.ndarray]:
    """Random train/val/test index arrays (sorted, disjoint, covering)."""
    n = len(ds)
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    n_val = int(round(val_fraction * n))
    return {
        "train": np.sort(perm[n_test + n_val :]),
        "val": np.sort(perm[n_test : n_test + n_val]),
        "test": np.sort(perm[:n_test]),
    }


def geographic_split(
    ds: GeoSynth, held_out: tuple[str, ...] = ("Portugal", "Ireland"), seed: int = 0, val_fraction: float = 0.1
) -> dict[str, np.ndarray]:
    """All samples of the held-out countries are the test set; the rest is split into train/val."""
    unknown = set(held_out) - set(COUNTRIES)
    if unknown:
        raise ValueError(f"unknown countries: {sorted(unknown)}")
    out = np.isin(ds.country, list(held_out))
    rest = np.flatnonzero(~out)
    perm = np.random.default_rng(seed).permutation(rest)
    n_val = int(round(val_fraction * len(rest)))
    return {"train": np.sort(perm[n_val:]), "val": np.sort(perm[:n_val]), "test": np.flatnonzero(out)}


# ----------------------------------------------------------------------------------------------
# the registry's declaration
# ----------------------------------------------------------------------------------------------
def _open_geosynth(root, params, split):
    ds = load_geosynth(GeoSynthConfig(**params), cache_dir=root)
    return ds, geographic_split(ds) if split == "geographic" else geosynth_splits(ds)


register(
    DatasetSpec(
        "geosynth",
        _open_geosynth,
        description="GeoSynth, generated on the spot (the cpu study's data; book page 'geosynth')",
        params=dict(
            n_samples=Number(1, integer=True),
            image_size=Number(8, integer=True),
            multilabel=BOOL,
            context_strength=Number(0, 1),
            seed=Number(0, integer=True),
        ),
        augmentation="fused",
        needs_root=False,
        splits=("standard", "geographic"),
        single_label={"multilabel": False},
        multilabel=lambda params: params.get("multilabel", True),
        context_param="context_strength",
        default_params=lambda: asdict(GeoSynthConfig()),
    )
)
