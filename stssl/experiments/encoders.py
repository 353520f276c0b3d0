"""Beyond the paper: how the teacher sees place. FixMatch + ST-SSL with each location encoding.

The paper feeds the teacher ``[lat/90, lon/180]`` (and the day of year) through a 2-layer MLP.
Over a continent that is a narrow input range, and classes such as "Sea and ocean" follow the
coastline, a high-frequency function of place. This page trains FixMatch + ST-SSL with each
location encoding of :mod:`stssl.encoders` (the paper's; multi-scale Fourier features of the
unit vector; spherical harmonics, under the teacher's MLP or, at degree 40, under a small sinusoidal
network), every seed, beside plain FixMatch (Table 1's runs, so the
cache shares them), and measures per encoding:

* the student's test mAP and its paired gain over FixMatch (same seed: same split and labelled
  subset), and the teacher's test mAP with its real metadata;
* the teacher's pseudo-labels over training (Figure 6's metrics: the entry precision, the
  precision, recall and F1 of the positive pseudo-labels, the mAP of its weak-view scores);
* its prior (Figure 5): the AUC with which the grey image's "Sea and ocean" confidence, from the
  metadata alone, ranks the samples that have the class above those that do not;
* its drop with out-of-distribution locations (Table 3 b minus c): does a sharper prior cost
  more where the teacher has never been?
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stssl.cache import Run
from stssl.config import RunConfig, resolve, seed_list
from stssl.data import DataSplits
from stssl.encoders import LOCATION_ENCODERS
from stssl.experiments import table3
from stssl.experiments.figure4 import SEA_AND_OCEAN, class_index, has_class
from stssl.experiments.figure5 import grey_prior
from stssl.experiments.page import Page
from stssl.meta import MetaEncoding
from stssl.networks import Predictor
from stssl.report.stats import UNRESOLVED, compare, difference_cell, verdict_text
from stssl.report.tables import mean_std, runs_frame

ENCODINGS: tuple[str, ...] = ("paper", "sphere-siren")
"""The page's location encodings, the paper's first. Any registered one can be asked for:
``fourier`` (multi-scale sinusoids; on the page until the book's 60 minutes needed its runs: its
student and prior lay between the other two's, repeating their trend), ``sphere`` (the same
harmonics at degree 20 under the teacher's MLP, replaced on the page by ``sphere-siren``, their
recommended degree and network), and ``geoclip``, GeoCLIP's pretrained encoder, with the optional
extra ``stssl[geoclip]``."""
PL_METRICS = {
    "pl_precision": "PL entry precision",
    "pl_pos_precision": "PL positive precision",
    "pl_pos_recall": "PL positive recall",
    "pl_pos_f1": "PL positive F1",
    "pl_mAP": "PL weak-score mAP",
}
"""The teacher's pseudo-label metrics (Figure 6), averaged over each run's evaluations."""


def configs(
    profile: str = "cpu",
    dataset: str | None = None,
    data_root: str | None = None,
    seeds=3,
    device: str = "auto",
    encodings=ENCODINGS,
    config: dict | None = None,
) -> list[RunConfig]:
    """Plain FixMatch, then FixMatch + ST-SSL with each encoding, every seed (the paper's
    encoding is Table 1's run: its key leaves the default out)."""
    unknown = [e for e in encodings if e not in LOCATION_ENCODERS]
    if unknown:
        raise ValueError(f"unknown encoding(s) {', '.join(unknown)}; valid: {', '.join(LOCATION_ENCODERS)}")
    where = {"dataset": dataset} if dataset else {}
    common = dict(profile=profile, algo="fixmatch", data_root=data_root, device=device, **where, **(config or {}))
    return [resolve(st=False, seed=s, **common) for s in seed_list(seeds)] + [
        resolve(st=True, meta_encoding=e, seed=s, **common) for e in encodings for s in seed_list(seeds)
    ]


def _encoding(run: Run) -> str:
    return run.config.meta_encoding if run.config.st else "none (FixMatch)"


def prior_auc(predictor: Predictor, data: DataSplits, class_name: str = SEA_AND_OCEAN) -> float:
    """Figure 5's AUC for one run's predictor and data: the teacher's confidence for ``class_name`` on
    the grey image with each sample's metadata, as a ranking of the samples that have the class."""
    from sklearn.metrics import roc_auc_score

    ds, cfg = data.dataset, predictor.cfg
    k = class_index(ds.task, class_name)
    truth = has_class(ds.labels, ds.task, k)
    confidence = grey_prior(
        predictor.network("teacher"),
        ds,
        ds.lat,
        ds.lon,
        ds.doy,
        k,
        batch_size=cfg.eval_batch_size,
        device=predictor.device,
        components=cfg.metadata,
        encoding=MetaEncoding.of(cfg),
    )
    return float(roc_auc_score(truth, confidence)) if 0 < truth.sum() < len(truth) else float("nan")


def per_run(
    runs: list[Run], class_name: str = SEA_AND_OCEAN, device: str = "auto", probes: bool = True
) -> pd.DataFrame:
    """One row per run: encoding, seed, student and teacher test mAP, the paired gain over the
    same seed's FixMatch, the teacher's pseudo-label metrics and, with ``probes`` (which
    re-evaluate each teacher), its prior's AUC and its test mAP with out-of-distribution
    locations (the mean over Table 3's five) and the drop to it from its real metadata."""
    frame = runs_frame(runs).assign(encoding=[_encoding(r) for r in runs])
    for metric in PL_METRICS:
        frame[metric] = [r.history[metric].mean() if metric in r.history else np.nan for r in runs]
    plain = frame[~frame.st].set_index("seed")["test_mAP"]
    frame["gain"] = [row.test_mAP - plain.get(row.seed, np.nan) if row.st else np.nan for row in frame.itertuples()]
    st_runs = [r for r in runs if r.config.st]
    for column in ("prior_auc", "teacher_ood_location_mAP", "ood_drop"):
        frame[column] = np.nan
    if not probes:
        return frame
    auc, real, ood = [], [], []
    for run in st_runs:  # each teacher loaded once for both probes
        data = run.data()
        predictor = run.predictor(device, data.dataset)
        auc.append(prior_auc(predictor, data, class_name))
        scores = pd.DataFrame(table3.teacher_ood_rows(predictor, data))
        real.append(scores.loc[scores.row == "b", "mAP"].mean())
        ood.append(scores.loc[scores.row == "c", "mAP"].mean())
    frame.loc[frame.st, "prior_auc"] = auc
    frame.loc[frame.st, "teacher_ood_location_mAP"] = ood
    frame.loc[frame.st, "ood_drop"] = np.subtract(real, ood)
    return frame


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per encoding, mean ± std over seeds (mAP and gains in points of %, the rest as fractions);
    the probes' columns only where :func:`per_run` ran them."""
    probed = frame["prior_auc"].notna().any()
    rows = {}
    for encoding, g in frame.groupby("encoding", sort=False):
        row = {
            "seeds": len(g),
            "student test mAP (%)": mean_std(g["test_mAP"]),
            "gain over FixMatch (points)": difference_cell(g["gain"] * 100),
            "teacher test mAP (%)": mean_std(g["teacher_test_mAP"]),
        }
        if probed:
            row.update(
                {
                    "teacher, OOD locations (%)": mean_std(g["teacher_ood_location_mAP"]),
                    "drop with OOD locations (points)": difference_cell(g["ood_drop"] * 100),
                    "prior AUC": mean_std(g["prior_auc"], scale=1),
                }
            )
        row.update({name: mean_std(g[m], scale=1) for m, name in PL_METRICS.items()})
        rows[encoding] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("location encoding")


def _paired(frame: pd.DataFrame, encoding: str, column: str) -> pd.Series:
    """``column`` of ``encoding``'s runs minus the paper encoding's, per seed."""
    by = {e: g.set_index("seed")[column] for e, g in frame[frame.st].groupby("encoding")}
    return (by[encoding] - by["paper"]).dropna()


def summary(frame: pd.DataFrame) -> str:
    """Markdown: each encoding against the paper's, seed by seed, on what the page measures."""
    st = frame[frame.st]
    others = [e for e in st["encoding"].unique() if e != "paper"]
    if "paper" not in set(st["encoding"]) or not others:
        return "The comparison needs the paper's encoding and at least one other."
    lines = []
    for e in others:
        parts = []
        for column, name, scale, unit in (
            ("test_mAP", "student test mAP", 100, " points"),
            ("teacher_test_mAP", "teacher test mAP", 100, " points"),
            ("pl_pos_f1", "F1 of the teacher's positive pseudo-labels", 1, ""),
            ("prior_auc", "prior AUC", 1, ""),
            ("ood_drop", "the teacher's drop with OOD locations", 100, " points"),
        ):
            c = compare(_paired(frame, e, column) * scale)
            if not c.n:
                continue
            resolved = c.verdict(+1) != UNRESOLVED
            parts.append(f"{name} {c.describe(unit=unit)}, " + ("resolved" if resolved else verdict_text(c, +1)))
        lines.append(f"* **{e}** against the paper's encoding, paired by seed: " + "; ".join(parts) + ".")
    best = st.groupby("encoding")["test_mAP"].mean().idxmax()
    return (
        "\n".join(lines) + f"\n\nThe best student on average is the one taught with the **{best}** encoding. "
        "Each difference is paired by seed, with its 95 % interval over seeds and the seeds on which the "
        "encoding was ahead; *resolved* where the interval excludes 0, else not resolved at this many seeds "
        "(with the seeds the observed spread would need)."
    )


PAGE = Page("encoders", 3, configs=configs)
