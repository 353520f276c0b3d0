"""Beyond the paper: metadata that go missing. How much of ST-SSL's gain survives when part of the
archive has no place or no date, and how a teacher does when its test images lack them.

Real archives lose metadata, and a teacher that needs every image's place and date is fragile
exactly where users need it most. Every run here gives the teacher a learned embedding for a
missing place and for a missing date (``meta_missing="learned"``, as Copernicus-FM and
Prithvi-EO-2.0 do for their metadata), and, per seed:

* FixMatch and FixMatch + ST-SSL (Table 1's runs, from the cache);
* ``dropout``: the teacher trained with each place and each date hidden with probability
  :data:`DROPOUT` at every step, so that it learns to do without either; its teacher is then
  evaluated with 0 %, 50 % and 100 % of the test images' places, dates or both missing
  (:func:`teacher_scores`);
* ``lossy archive``: a fixed :data:`LOST` share of the training images (labelled and unlabelled)
  has no place for good, and another, drawn independently, no date (so a quarter have neither):
  the student's gain over FixMatch there, against the full method's, is the gain that survives
  such an archive. (One run for both fields: two would cost the book 3 more of its 60 minutes.)

:data:`DROPOUT` and :data:`LOST` are one setting each, not tuned: half the time, half the archive.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from stssl.cache import Run
from stssl.config import RunConfig, resolve, seed_list
from stssl.data import DataSplits, registry
from stssl.evaluate import classification_metrics
from stssl.experiments import table1
from stssl.experiments.page import Page
from stssl.networks import Predictor
from stssl.report.stats import difference_cell
from stssl.report.tables import mean_std, runs_frame

DROPOUT = 0.5
"""The ``dropout`` runs' ``meta_dropout``: each place and each date hidden half the time."""
LOST = 0.5
"""The share of the training images without a place, and independently without a date, in the
``lossy archive`` runs."""
SHARES = (0.0, 0.5, 1.0)
"""Shares of the test images whose metadata the ``dropout`` teacher is evaluated without."""
FIELDS = ("place", "date", "both")

VARIANTS: dict[str, dict] = {
    "dropout": {"meta_missing": "learned", "meta_dropout": DROPOUT},
    "lossy archive": {"meta_missing": "learned", "hide_place": LOST, "hide_date": LOST},
}
"""Name -> the run options of each FixMatch + ST-SSL variant of the page."""


def variant(cfg: RunConfig) -> str:
    """The page's name for a run: FixMatch, FixMatch + ST-SSL (Table 1's) or one of :data:`VARIANTS`."""
    if not cfg.st:
        return "FixMatch"
    for name, options in VARIANTS.items():
        if all(getattr(cfg, k) == v for k, v in options.items() if k != "hide_date"):
            return name
    return "FixMatch + ST-SSL"


def variants(dataset: str) -> dict[str, dict]:
    """:data:`VARIANTS` for ``dataset``: without dates, a lossy archive loses places only."""
    if registry.get(dataset).has_dates:
        return VARIANTS
    return {name: {k: v for k, v in o.items() if k != "hide_date"} for name, o in VARIANTS.items()}


def configs(
    profile: str = "cpu",
    dataset: str | None = None,
    data_root: str | None = None,
    seeds=3,
    device: str = "auto",
    config: dict | None = None,
) -> list[RunConfig]:
    """Table 1's FixMatch and FixMatch + ST-SSL, then each variant's FixMatch + ST-SSL, every seed."""
    base = table1.configs(profile, dataset, data_root, seeds, device, algo="fixmatch", config=config)
    where = {"dataset": dataset} if dataset else {}
    common = dict(profile=profile, algo="fixmatch", st=True, data_root=data_root, device=device, **where)
    name = dataset or resolve(profile).dataset
    return [c for c in base if c.algo == "fixmatch"] + [
        resolve(seed=s, **common, **{**(config or {}), **options})
        for options in variants(name).values()
        for s in seed_list(seeds)
    ]


def hidden(n: int, share: float, seed: int, field: str) -> np.ndarray:
    """Which of ``n`` test images lose their ``field`` at ``share``: a fixed draw per seed and
    field, so that the images missing at 50 % are also missing at 100 %."""
    draw = np.random.default_rng([seed, 7, FIELDS.index(field)]).random(n)
    return draw < share


def without(dataset, indices: np.ndarray, lost: np.ndarray, field: str):
    """A copy of ``dataset`` whose images ``indices[lost]`` have no place, no date, or neither."""
    out = copy.copy(dataset)
    idx = np.asarray(indices)[lost]
    if field in ("place", "both"):
        out.lat, out.lon = dataset.lat.copy(), dataset.lon.copy()
        out.lat[idx] = out.lon[idx] = np.nan
    if field in ("date", "both"):
        out.doy = dataset.doy.copy()
        out.doy[idx] = np.nan
    return out


def teacher_rows(predictor: Predictor, data: DataSplits, shares=SHARES) -> list[dict]:
    """The teacher's test mAP with each share of the test images' place, date or both missing."""
    ds, test, seed = data.dataset, data.test, predictor.cfg.seed
    labels = ds.labels[test]
    fields = FIELDS if np.isfinite(ds.doy[test]).any() else ("place",)
    rows = []
    for field in fields:
        for share in shares:
            lost = hidden(len(test), share, seed, field)
            logits = predictor.dataset_logits(without(ds, test, lost, field), test, "teacher")
            score = classification_metrics(logits, labels, ds.task.multilabel)["mAP"]
            rows.append({"seed": seed, "missing": field, "share": share, "mAP": score})
    return rows


def teacher_scores(runs: list[Run], device: str = "auto") -> pd.DataFrame:
    """:func:`teacher_rows` of every ``dropout`` run: columns seed, missing, share, mAP."""
    rows = []
    for run in runs:
        if variant(run.config) == "dropout":
            data = run.data()
            rows += teacher_rows(run.predictor(device, data.dataset), data)
    return pd.DataFrame(rows, columns=["seed", "missing", "share", "mAP"])


def teacher_changes(scores: pd.DataFrame) -> dict[tuple[str, float], tuple[pd.Series, pd.Series]]:
    """Per (field, share) of :func:`teacher_scores`: the teacher's test mAP per seed (%) and its
    change from all metadata present, paired by seed (points)."""
    present = scores[scores.share == 0].groupby("seed")["mAP"].first() * 100
    changes = {}
    for (field, share), g in scores.groupby(["missing", "share"], sort=False):
        mAP = g.set_index("seed")["mAP"] * 100
        changes[(field, share)] = (mAP, mAP - present)
    return changes


def teacher_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per share of the test images without the field: the ``dropout`` teacher's test mAP (%) and
    its change from all metadata present, paired by seed."""
    rows = {
        (field, f"{share:.0%}"): {
            "teacher test mAP (%)": mean_std(mAP, scale=1),
            "change from none missing (points)": "–" if share == 0 else difference_cell(change),
        }
        for (field, share), (mAP, change) in teacher_changes(scores).items()
    }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.names = ["missing", "share of the test images"]
    return out


FULL = "FixMatch + ST-SSL"


def _methods_frame(runs: list[Run]) -> pd.DataFrame:
    """:func:`stssl.report.tables.runs_frame` with each run's method on this page (:func:`variant`)."""
    return runs_frame(runs).assign(method=[variant(r.config) for r in runs])


def gains(runs: list[Run]) -> pd.DataFrame:
    """Per seed (rows) and + ST-SSL method (columns): the student's test mAP minus the same seed's
    FixMatch's (points)."""
    mAP = _methods_frame(runs).pivot_table(index="seed", columns="method", values="test_mAP") * 100
    if "FixMatch" not in mAP:
        return pd.DataFrame()
    return mAP.drop(columns="FixMatch").sub(mAP["FixMatch"], axis=0)[[m for m in (FULL, *VARIANTS) if m in mAP]]


def gain_table(runs: list[Run]) -> pd.DataFrame:
    """Per method: the student's test mAP, its gain over FixMatch and that gain minus the full
    method's (how much of it the lost metadata cost), each paired by seed."""
    df = _methods_frame(runs)
    g = gains(runs)
    rows = {}
    for name, frame in df.groupby("method", sort=False):
        rows[name] = {
            "student test mAP (%)": mean_std(frame["test_mAP"]),
            "teacher test mAP (%)": mean_std(frame["teacher_test_mAP"]),
            "gain over FixMatch (points)": difference_cell(g[name]) if name in g else "–",
            "gain − the full method's (points)": (
                difference_cell(g[name] - g[FULL]) if name in g and name != FULL and FULL in g else "–"
            ),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("method")


def summary(runs: list[Run], scores: pd.DataFrame) -> str:
    """Sentences: the gain that survives each lost field, and the teacher with every test image's
    metadata missing; each paired by seed with its 95 % interval and seeds ahead."""
    g = gains(runs)
    if FULL not in g:
        return "The comparison needs FixMatch and FixMatch + ST-SSL runs."
    lost = [name for name in VARIANTS if name in g and name != "dropout"]
    text = f"**The full method's gain over FixMatch: {difference_cell(g[FULL])} points.**"
    if lost:
        text += (
            f" **With {LOST:.0%} of the training images' places and, independently, {LOST:.0%} of their dates lost for "
            "good, the gain that survives** "
            "(and its difference from the full method's): "
            + "; ".join(f"{name} {difference_cell(g[name])} ({difference_cell(g[name] - g[FULL])})" for name in lost)
            + "."
        )
    if len(scores):
        drops = [
            f"{field} missing {difference_cell(change)}"
            for (field, share), (_, change) in teacher_changes(scores).items()
            if share == 1
        ]
        text += (
            " **The teacher trained with metadata dropout, on test images that all lack them, against all "
            "present:** " + "; ".join(drops) + " (points)."
        )
    return text + " Differences in points of test mAP, paired by seed, with their 95 % interval and seeds ahead."


PAGE = Page("missing", 3, configs=configs)
