"""The reproduction summary: each claim the paper's tables and figures make, and whether ours agree.

A claim is a direction (ST-SSL raises mAP, an ablation lowers it, the teacher loses more with
unseen locations than with unseen days, ...), because our numbers come from other data and
another scale than the paper's. Every claim is computed from the same runs as its page (the
same ``configs()``, so nothing is trained twice) and lists the paper's number beside ours.
"""

from __future__ import annotations

import pandas as pd

from stssl.cache import Run
from stssl.experiments.page import Page
from stssl.paper import DISPLAY_NAMES, TABLE1, TABLE2, TABLE3, TABLE4
from stssl.report.tables import st_gains


def _claim(page: str, claim: str, paper: float, ours: float, agrees: bool) -> dict:
    return {
        "page": page,
        "claim": claim,
        "paper": round(paper, 3),
        "ours": round(ours, 3),
        "agrees": "yes" if agrees else "no",
    }


def table1_claims(runs: list[Run]) -> list[dict]:
    """+ ST-SSL raises each algorithm's mAP (paired gain in points)."""
    gains = st_gains(runs).set_index("algo")["mean"]
    return [
        _claim(
            "Table 1", f"+ ST-SSL raises {DISPLAY_NAMES[a]}'s mAP (Δ, points)", TABLE1[a][1] - TABLE1[a][0], g, g > 0
        )
        for a, g in gains.items()
    ]


def table2_claims(changes: pd.Series) -> list[dict]:
    """Each ablation lowers FixMatch + ST-SSL's mAP (change from row a, points)."""
    return [
        _claim("Table 2", f"({row}) {TABLE2[row][0]} lowers mAP (Δ, points)", TABLE2[row][1] - TABLE2["a"][1], d, d < 0)
        for row, d in changes.items()
    ]


def table3_claims(means: dict[str, float]) -> list[dict]:
    """From Table 3's row means (:func:`stssl.experiments.table3.row_means`): the teacher's losses
    under unseen metadata, in the paper's order, and the student ahead of the teacher."""
    paper = {k: v[3] for k, v in TABLE3.items()}
    claims = [
        ("b", "a", "the teacher with real metadata is below the student on test (b − a)"),
        ("c", "b", "unseen locations lower the teacher's mAP (c − b)"),
        ("d", "b", "unseen days lower the teacher's mAP (d − b)"),
        ("c", "d", "unseen locations cost the teacher more than unseen days (c − d)"),
        ("f", "e", "on the geographic split the teacher is below the student (f − e)"),
    ]
    return [
        _claim("Table 3", text, paper[x] - paper[y], means[x] - means[y], means[x] < means[y])
        for x, y, text in claims
        if x in means and y in means
    ]


def table4_claims(gains: dict[int, pd.Series]) -> list[dict]:
    """+ ST-SSL's accuracy gain over FixMatch per label budget has the paper's sign."""
    out = []
    for n, g in gains.items():
        paper = TABLE4["FixMatch + ST-SSL"][n] - TABLE4["FixMatch"][n]
        out.append(
            _claim(
                "Table 4",
                f"+ ST-SSL vs FixMatch at {n} labels (accuracy Δ, points)",
                paper,
                g.mean(),
                (g.mean() > 0) == (paper > 0),
            )
        )
    return out


def figure3_claims(gains: dict[float, pd.Series], scale: float) -> list[dict]:
    """+ ST-SSL is ahead of FixMatch at every labelled fraction (the paper: at all; its number only at 1 %)."""
    plain, st = TABLE1["fixmatch"]
    return [
        _claim(
            "Figure 3",
            f"+ ST-SSL ahead of FixMatch at {f:.1%} labels (stands for {f / scale:.1%}; Δ, points)",
            st - plain if abs(f / scale - 0.01) < 1e-9 else float("nan"),
            g.mean(),
            g.mean() > 0,
        )
        for f, g in gains.items()
    ]


def figure4_claims(errors: pd.DataFrame) -> list[dict]:
    """The teacher and the student make fewer inland false positives than FixMatch (the paper's maps, no number)."""
    col = "FP on land" if "FP on land" in errors else "FP"
    fixmatch, teacher, student = errors.index
    return [
        _claim(
            "Figure 4",
            f"{who} makes fewer {col} than FixMatch (difference, count)",
            float("nan"),
            errors.loc[who, col] - errors.loc[fixmatch, col],
            errors.loc[who, col] < errors.loc[fixmatch, col],
        )
        for who in (teacher, student)
    ]


def figure5_claims(auc: float) -> list[dict]:
    """On a grey image the teacher's confidence ranks samples with the class above those without (AUC)."""
    return [
        _claim(
            "Figure 5",
            "the teacher's grey-image prior separates samples with and without the class (AUC)",
            float("nan"),
            auc,
            auc > 0.5,
        )
    ]


def figure6_claims(means: pd.DataFrame) -> list[dict]:
    """ST pseudo-labels are more precise, and about as many (within 5 %), as FixMatch's."""
    a, b = means.loc["FixMatch"].mean(), means.loc["FixMatch + ST-SSL"].mean()
    rel = (b["pl_quantity"] - a["pl_quantity"]) / a["pl_quantity"] * 100
    return [
        _claim(
            "Figure 6",
            "teacher pseudo-labels more precise than FixMatch's (precision difference)",
            float("nan"),
            b["pl_precision"] - a["pl_precision"],
            b["pl_precision"] > a["pl_precision"],
        ),
        _claim(
            "Figure 6",
            "about as many pass the mask (quantity difference, %, within ±5)",
            float("nan"),
            rel,
            abs(rel) <= 5,
        ),
    ]


def context_claims(gains: pd.DataFrame) -> list[dict]:
    """Beyond the paper (its Limitations): the gain needs informative metadata, so it grows with context strength."""
    means = gains.groupby("context_strength")["gain"].mean()
    lo, hi = means.index.min(), means.index.max()
    return [
        _claim(
            "Context",
            f"the gain at strength {hi:g} exceeds the gain at {lo:g} (difference, points)",
            float("nan"),
            means[hi] - means[lo],
            means[hi] > means[lo],
        )
    ]


def agreement_sentence(claims: pd.DataFrame) -> str:
    """How many claims agree, per page."""
    per_page = claims.groupby("page", sort=False)["agrees"].agg(lambda a: f"{(a == 'yes').sum()}/{len(a)}")
    return (
        f"**{(claims.agrees == 'yes').sum()} of {len(claims)} of the paper's directions hold in ours** ("
        + ", ".join(f"{page} {n}" for page, n in per_page.items())
        + ")."
    )


PAGE = Page("summary", None, reads_all=True)
