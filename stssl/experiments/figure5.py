"""Figure 5: the teacher's spatiotemporal prior, read with an image that shows nothing.

The paper feeds one monochrome grey image with every metadata instance of the data set into the
ST-SSL teacher: whatever its confidence for "Sea and ocean" varies by, it can only be the
metadata. We use mid-grey (every channel at :data:`GREY` of the [0, 1] range, before the data
set's normalisation) and the FixMatch + ST-SSL run of Figure 4 / Table 1 (first seed). To show
that the prior means nothing outside the training support, the same image is also scored on a
regular lat/lon grid over the map, on one day (:data:`GRID_DOY`), and each grid point is marked
as inside or outside the support (within :data:`SUPPORT_KM` of a sample) and as land or sea
(Natural Earth 50 m land).

:func:`measures` turns the paper's two claims into numbers: the prior is high in coastal and
maritime regions and low inland on the training data (the samples' mean confidence near the sea
against inland, :data:`INLAND_KM`), and useless at out-of-distribution places (how well the grid's
confidence tells sea from land, as an AUC, outside the support against inside).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from stssl.cache import Run
from stssl.cartography import EUROPE_EXTENT, on_land
from stssl.config import RunConfig
from stssl.data.base import MetaDataset
from stssl.data.geo import nearest_km
from stssl.experiments import figure4
from stssl.experiments.figure4 import SEA_AND_OCEAN, class_index, class_probability, has_class
from stssl.experiments.page import Page
from stssl.meta import PAPER_ENCODING, MetaEncoding, batch_meta
from stssl.models.modes import eval_mode

GREY = 0.5
"""Mid-grey: every channel at 0.5 of [0, 1] (uint8 ~128) before normalisation."""
GRID_DOY = 196
"""Day of year of the grid (15 July, inside most GeoSynth countries' summer windows)."""
GRID_STEP = 0.5
"""Grid spacing in degrees of latitude and longitude."""
SUPPORT_KM = 100.0
"""A grid point farther than this from every sample lies outside the training support."""
INLAND_KM = 100.0
"""A sample farther than this from every sea point of the grid is inland; nearer, coastal or maritime."""


def configs(
    profile: str = "cpu",
    dataset: str | None = None,
    data_root: str | None = None,
    seeds=3,
    device: str = "auto",
    config: dict | None = None,
) -> list[RunConfig]:
    """The FixMatch + ST-SSL run of Figure 4 (Table 1's, first of ``seeds``)."""
    return [c for c in figure4.configs(profile, dataset, data_root, seeds, device, config) if c.st]


def grey_image(dataset: MetaDataset, grey: float = GREY) -> torch.Tensor:
    """One normalised 1 x C x H x W image, every pixel at ``grey`` (in [0, 1]) in every channel."""
    if not 0.0 <= grey <= 1.0:
        raise ValueError(f"grey={grey} must lie in [0, 1] (the pixel range before normalisation)")
    _, h, w, c = dataset.pixels.shape
    return dataset.normalize(torch.full((1, c, h, w), float(grey)))


@torch.no_grad()
def grey_prior(
    teacher: torch.nn.Module,
    dataset: MetaDataset,
    lat,
    lon,
    doy,
    k: int,
    grey: float = GREY,
    batch_size: int = 512,
    device: str = "cpu",
    components: str = "location+time",
    encoding: MetaEncoding = PAPER_ENCODING,
) -> np.ndarray:
    """The teacher's probability of class ``k`` for the one grey image paired with each
    (lat, lon, doy): the image is the same for every row, only the metadata differ.
    ``components``: what the teacher was trained to see (the run's ``metadata``); ``encoding``: how
    (:meth:`stssl.meta.MetaEncoding.of` the run's config)."""
    lat, lon, doy = (np.asarray(v, dtype=np.float32).ravel() for v in (lat, lon, doy))
    image = grey_image(dataset, grey).to(device)
    out = []
    with eval_mode(teacher):
        for s in range(0, len(lat), batch_size):
            rows = {"lat": lat[s : s + batch_size], "lon": lon[s : s + batch_size], "doy": doy[s : s + batch_size]}
            meta = batch_meta(rows, components, encoding).to(device)
            out.append(teacher(image.expand(len(meta), -1, -1, -1), meta).logits.float().cpu())
    logits = torch.cat(out).numpy() if out else np.zeros((0, dataset.task.num_classes))
    return class_probability(logits, dataset.task.multilabel, k)


@dataclass
class Grid:
    """The prior on a regular grid: cell centres ``lon`` (W) and ``lat`` (H), ``confidence``,
    ``in_support`` and ``is_land`` (H x W), all on day ``doy``."""

    lon: np.ndarray
    lat: np.ndarray
    confidence: np.ndarray
    in_support: np.ndarray
    is_land: np.ndarray
    doy: float


@dataclass
class Prior:
    """What Figure 5 draws: the prior at every sample (``samples``: lat, lon, doy, truth,
    confidence, and is_sea where known) and on the grid."""

    samples: pd.DataFrame
    grid: Grid
    class_name: str
    grey: float
    support_km: float


def prior(
    run: Run,
    class_name: str = SEA_AND_OCEAN,
    grid_doy: float = GRID_DOY,
    grid_step: float = GRID_STEP,
    grey: float = GREY,
    support_km: float = SUPPORT_KM,
    extent=EUROPE_EXTENT,
    device: str = "auto",
) -> Prior:
    """The teacher of ``run`` scored on the grey image with every sample's metadata and on the grid."""
    if not run.config.st:
        raise ValueError(f"Figure 5 needs a + ST-SSL run (a teacher), got {run.config.describe()}")
    ds = run.data().dataset
    predictor = run.predictor(device, ds)
    k = class_index(ds.task, class_name)
    teacher = predictor.network("teacher")
    score = dict(
        dataset=ds,
        k=k,
        grey=grey,
        batch_size=run.config.eval_batch_size,
        device=predictor.device,
        components=run.config.metadata,
        encoding=MetaEncoding.of(run.config),
    )
    samples = pd.DataFrame({"lat": ds.lat, "lon": ds.lon, "doy": ds.doy, "truth": has_class(ds.labels, ds.task, k)})
    if hasattr(ds, "is_sea"):
        samples["is_sea"] = np.asarray(ds.is_sea)
    samples["confidence"] = grey_prior(teacher, lat=ds.lat, lon=ds.lon, doy=ds.doy, **score)
    lon0, lon1, lat0, lat1 = extent
    glon = np.arange(lon0 + grid_step / 2, lon1, grid_step)
    glat = np.arange(lat0 + grid_step / 2, lat1, grid_step)
    LON, LAT = np.meshgrid(glon, glat)
    conf = grey_prior(teacher, lat=LAT, lon=LON, doy=np.full(LAT.size, grid_doy), **score).reshape(LAT.shape)
    in_support = (nearest_km(LAT, LON, ds.lat, ds.lon) <= support_km).reshape(LAT.shape)
    grid = Grid(glon, glat, conf, in_support, on_land(LAT, LON).reshape(LAT.shape), grid_doy)
    return Prior(samples, grid, class_name, grey, support_km)


def support_table(p: Prior) -> pd.DataFrame:
    """Mean grid confidence on land and at sea, inside and outside the training support (with
    the number of grid points)."""
    g = p.grid
    rows = {}
    for where, mask in (("inside the support", g.in_support), ("outside the support", ~g.in_support)):
        row = {}
        for surface, m in (("land", mask & g.is_land), ("sea", mask & ~g.is_land)):
            row[f"mean confidence, {surface}"] = float(g.confidence[m].mean()) if m.any() else np.nan
            row[f"grid points, {surface}"] = int(m.sum())
        rows[where] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _auc(truth: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for ``truth`` (NaN when one of the two classes is absent)."""
    from sklearn.metrics import roc_auc_score

    truth = np.asarray(truth, dtype=bool)
    return float(roc_auc_score(truth, score)) if 0 < truth.sum() < truth.size else float("nan")


def sea_km(p: Prior) -> np.ndarray:
    """Each sample's distance (km) to the nearest sea point of the grid (inf without one)."""
    g = p.grid
    LON, LAT = np.meshgrid(g.lon, g.lat)
    sea = ~np.asarray(g.is_land, dtype=bool)
    if not sea.any():
        return np.full(len(p.samples), np.inf)
    return nearest_km(p.samples.lat, p.samples.lon, LAT[sea], LON[sea])


def measures(p: Prior, inland_km: float = INLAND_KM) -> dict[str, float]:
    """The numbers that test the paper's Figure 5 claims (NaN where a group is empty):

    * ``coastal − inland``: the samples' mean confidence within ``inland_km`` of the grid's sea
      (coastal and maritime) minus farther (inland): the paper's "high confidences ... in coastal
      and maritime regions and low confidences in inland regions on the training dataset";
    * ``sample AUC``: how well the samples' confidence ranks those with the class above those without;
    * ``grid AUC inside`` / ``grid AUC outside``: how well the grid's confidence ranks sea points
      above land points within the training support and outside it: "the prior is clearly useless
      on out-of-distribution locations" means outside below inside (0.5: no better than chance).
    """
    s = p.samples
    near = sea_km(p) < inland_km
    conf = s.confidence.to_numpy()
    coastal = conf[near].mean() if near.any() else np.nan
    inland = conf[~near].mean() if (~near).any() else np.nan
    g = p.grid
    sea = ~np.asarray(g.is_land, dtype=bool)
    inside = np.asarray(g.in_support, dtype=bool)
    return {
        "coastal − inland": float(coastal - inland),
        "sample AUC": _auc(s.truth.to_numpy(), conf),
        "grid AUC inside": _auc(sea[inside], g.confidence[inside]),
        "grid AUC outside": _auc(sea[~inside], g.confidence[~inside]),
    }


def measures_by_seed(runs: list[Run], device: str = "auto") -> pd.DataFrame:
    """:func:`measures` of the prior of each FixMatch + ST-SSL teacher among ``runs`` (Table 1's,
    say), one row per seed: the figure's claims repeated on every seed, for the summary's verdict."""
    teachers = [r for r in runs if r.config.algo == "fixmatch" and r.config.st]
    return pd.DataFrame({r.config.seed: measures(prior(r, device=device)) for r in teachers}).T.sort_index()


def summary(p: Prior) -> str:
    """Sentences computed from the prior: how well it separates samples with and without the
    class, near the sea and inland, and how its grid values tell sea from land inside and outside
    the support (:func:`measures`)."""
    s = p.samples
    m = measures(p)
    pos, neg = s.loc[s.truth, "confidence"], s.loc[~s.truth, "confidence"]
    text = (
        f'Fed only the grey image, the teacher gives the {len(pos)} samples that have "{p.class_name}" '
        f"a mean confidence of {pos.mean():.3f} and the {len(neg)} without it {neg.mean():.3f}"
    )
    if len(pos) and len(neg):
        text += f" (AUC {m['sample AUC']:.3f}: 0.5 is no better than chance, 1 a perfect ranking)"
    near = sea_km(p) < INLAND_KM
    if near.any() and (~near).any():
        text += (
            f"; the {int(near.sum())} samples within {INLAND_KM:g} km of the sea (coastal and maritime) get "
            f"{s.confidence[near].mean():.3f} on average, the {int((~near).sum())} inland "
            f"{s.confidence[~near].mean():.3f} (the paper: high near the sea, low inland)"
        )
    text += ". "
    t = support_table(p)

    def gap(where: str) -> str:
        r = t.loc[where]
        if np.isnan(r["mean confidence, land"]) or np.isnan(r["mean confidence, sea"]):
            return f"{where} there is no {'land' if np.isnan(r['mean confidence, land']) else 'sea'} grid point"
        auc = m["grid AUC inside" if where.startswith("inside") else "grid AUC outside"]
        return (
            f"{where} its mean confidence is {r['mean confidence, sea']:.3f} at sea against "
            f"{r['mean confidence, land']:.3f} on land (AUC of sea against land {auc:.3f})"
        )

    return text + (
        f"On the grid (day {p.grid.doy:g}; the support is within {p.support_km:g} km of a sample), "
        f"{gap('inside the support')}; {gap('outside the support')}. The paper finds the prior useless "
        "outside the support: there, an AUC near 0.5, or below the one inside."
    )


PAGE = Page("figure5", 3, configs=configs)
