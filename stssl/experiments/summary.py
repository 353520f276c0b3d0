"""The reproduction summary: each claim the paper's tables and figures make, and whether ours agree.

A claim is a direction (ST-SSL raises mAP, an ablation lowers it, the teacher loses more with
unseen locations than with unseen days, ...), because our numbers come from other data and
another scale than the paper's. Every claim is computed from the same runs as its page (the
same ``configs()``, so nothing is trained twice), seed by seed, and lists the paper's number beside
our mean, its 95 % interval over seeds and the seeds on the claim's side; its verdict
(:mod:`stssl.report.stats`) *holds* where the interval excludes 0 on the paper's side, is
*contradicted* where it excludes 0 on the other, and is otherwise *not resolved* at that many seeds,
never a sign of a mean. Where the paper states no direction (Table 4 at 40 and 80 labels:
"similar"), the claim is listed with its numbers and no verdict ("–"), and the headline counts only
the claims with a direction.
"""

from __future__ import annotations

import pandas as pd

from stssl.cache import Run
from stssl.experiments.figure6 import ALMOST_IDENTICAL
from stssl.experiments.page import Page
from stssl.experiments.table2 import LAMBDA_ROWS
from stssl.paper import (
    DISPLAY_NAMES,
    TABLE1,
    TABLE2,
    TABLE2_LAMBDA_D,
    TABLE2_PRINTED_DELTA,
    TABLE2_PRINTED_DELTA_DISAGREES,
    TABLE3,
    TABLE4,
    TABLE4_SIMILAR_AT,
)
from stssl.report.stats import CONTRADICTED, HOLDS, UNRESOLVED, compare, verdict_text
from stssl.report.tables import paired_gain, runs_frame

NO_VERDICT = "–"
"""``verdict`` of a claim without a direction (or whose measure is undefined here): not counted."""


def _claim(
    page: str,
    claim: str,
    paper: float,
    per_seed,
    sign: int | None,
    reference: float = 0.0,
    within: float | None = None,
) -> dict:
    """One row from the claim's measure on each seed (a Series indexed by seed; NaN ones left
    out). ``sign``: the paper's direction of ``per_seed - reference`` (+1, -1), None where it
    claims none; ``within``: the claim is instead that the measure lies within ±``within``."""
    values = pd.Series(per_seed, dtype=float).dropna()
    c = compare(values - reference)
    directed, agreeing = sign is not None or within is not None, 0
    if within is not None:
        agreeing = int(((values - reference).abs() <= within).sum())
    elif sign is not None:
        agreeing = int(((values - reference) * sign > 0).sum())
    return {
        "page": page,
        "claim": claim,
        "paper": round(paper, 3),
        "ours": round(c.mean + reference, 3),
        "95 % interval": f"[{c.low + reference:+.2f}, {c.high + reference:+.2f}]" if c.n > 1 else "–",
        "seeds for": f"{agreeing}/{c.n}" if directed and c.n else "–",
        "verdict": verdict_text(c, sign or 0, within) if directed and c.n else NO_VERDICT,
        "per seed": values.to_dict(),
    }


def frame(claims: list[dict]) -> pd.DataFrame:
    """The claims as the summary shows them (without their per-seed values)."""
    return pd.DataFrame(claims).drop(columns="per seed")


def per_seed_values(claims: list[dict]) -> pd.DataFrame:
    """One row per claim and seed: the value behind each claim's verdict (the CSV under the summary's
    table, :func:`stssl.report.downloads.show_table`)."""
    return pd.DataFrame(
        [
            {"page": c["page"], "claim": c["claim"], "seed": seed, "value": value}
            for c in claims
            for seed, value in c["per seed"].items()
        ],
        columns=["page", "claim", "seed", "value"],
    )


def table1_claims(runs: list[Run]) -> list[dict]:
    """+ ST-SSL raises each algorithm's mAP (gain in points, paired by seed)."""
    df = runs_frame(runs)
    return [
        _claim(
            "Table 1",
            f"+ ST-SSL raises {DISPLAY_NAMES[a]}'s mAP (Δ, points)",
            TABLE1[a][1] - TABLE1[a][0],
            paired_gain(df, a),
            +1,
        )
        for a in df[df.st].algo.unique()
        if len(paired_gain(df, a))
    ]


def table2_claims(changes: pd.DataFrame) -> list[dict]:
    """Each ablation lowers FixMatch + ST-SSL's mAP: rows (b)-(j) from row (a), the λ_D rows (k)-(m)
    from λ_D = 1 (the paper's row a), per seed in points (:func:`stssl.experiments.table2.changes`).
    The paper's number is the difference of its printed mAPs; where its printed Δ differs (row g),
    the claim says so."""
    out = []
    for row, d in changes.items():
        paper = TABLE2[row][1] - TABLE2["a"][1]
        base = "λ_D = 1" if row in LAMBDA_ROWS else "row a"
        note = (
            f"; the paper prints {TABLE2_PRINTED_DELTA[row]:+.2f}, its mAPs give {paper:+.2f}"
            if row in TABLE2_PRINTED_DELTA_DISAGREES
            else ""
        )
        out.append(
            _claim("Table 2", f"({row}) {TABLE2[row][0]} lowers mAP (Δ from {base}, points{note})", paper, d, -1)
        )
    return out


def table2_lambda_claims(above_f: pd.DataFrame) -> list[dict]:
    """The paper's claim about its λ_D rows as written: "setting λ_D suboptimally still gives us
    better mAP scores than not using the metatoken distillation at all (f)". Per λ_D row (k)-(m):
    its mAP minus (f)'s per seed, in points (:func:`stssl.experiments.table2.lambda_d_above_f`)."""
    return [
        _claim(
            "Table 2",
            f"({row}) λ_D = {TABLE2_LAMBDA_D[row]:g} stays above (f) without distillation (mAP difference, points)",
            TABLE2[row][1] - TABLE2["f"][1],
            d,
            +1,
        )
        for row, d in above_f.items()
    ]


def table3_claims(values: pd.DataFrame) -> list[dict]:
    """From Table 3's rows per seed (:func:`stssl.experiments.table3.row_values`): the teacher's
    losses under unseen metadata, in the paper's order, and the student ahead of the teacher."""
    paper = {k: v[3] for k, v in TABLE3.items()}
    claims = [
        ("b", "a", "the teacher with real metadata is below the student on test (b − a)"),
        ("c", "b", "unseen locations lower the teacher's mAP (c − b)"),
        ("d", "b", "unseen days lower the teacher's mAP (d − b)"),
        ("c", "d", "unseen locations cost the teacher more than unseen days (c − d)"),
        ("f", "e", "on the geographic split the teacher is below the student (f − e)"),
    ]
    return [
        _claim("Table 3", text, paper[x] - paper[y], values[x] - values[y], -1)
        for x, y, text in claims
        if x in values and y in values
    ]


def table4_claims(gains: dict[int, pd.Series]) -> list[dict]:
    """+ ST-SSL's accuracy gain over FixMatch per label budget, per seed. With few labels (10, 20)
    the paper finds a gain; at 40 and 80 labels it finds the two "similar", no direction: listed,
    no verdict."""
    out = []
    for n, g in gains.items():
        paper = TABLE4["FixMatch + ST-SSL"][n] - TABLE4["FixMatch"][n]
        if n in TABLE4_SIMILAR_AT:
            text, sign = f"+ ST-SSL and FixMatch similar at {n} labels, no direction claimed (accuracy Δ, points)", None
        else:
            text, sign = f"+ ST-SSL ahead of FixMatch at {n} labels (accuracy Δ, points)", +1
        out.append(_claim("Table 4", text, paper, g, sign))
    return out


def figure3_claims(gains: dict[float, pd.Series], scale: float) -> list[dict]:
    """+ ST-SSL is ahead of FixMatch at every labelled fraction (the paper: at all; its number only at 1 %)."""
    plain, st = TABLE1["fixmatch"]
    return [
        _claim(
            "Figure 3",
            f"+ ST-SSL ahead of FixMatch at {f:.1%} labels (stands for {f / scale:.1%}; Δ, points)",
            st - plain if abs(f / scale - 0.01) < 1e-9 else float("nan"),
            g,
            +1,
        )
        for f, g in gains.items()
    ]


def figure4_claims(errors: dict[int, pd.DataFrame]) -> list[dict]:
    """The teacher and the student make fewer inland false positives than FixMatch (the paper's
    maps, no number), per seed (:func:`stssl.experiments.figure4.errors_by_seed`)."""
    first = next(iter(errors.values()))
    col = "FP on land" if "FP on land" in first else "FP"
    fixmatch, teacher, student = first.index
    return [
        _claim(
            "Figure 4",
            f"{who} makes fewer {col} than FixMatch (difference, count)",
            float("nan"),
            pd.Series({seed: e.loc[who, col] - e.loc[fixmatch, col] for seed, e in errors.items()}),
            -1,
        )
        for who in (teacher, student)
    ]


def figure5_claims(measures: pd.DataFrame) -> list[dict]:
    """The paper's two claims about the grey-image prior (Figure 5 and Section 4.7), from
    :func:`stssl.experiments.figure5.measures` of each seed's teacher (one row per seed): "high
    confidences for the class 'sea & ocean' in coastal and maritime regions and low confidences in
    inland regions on the training dataset", and "the prior is clearly useless on
    out-of-distribution locations"; and its caption's "the model has learned the dataset's
    spatiotemporal distribution well" (samples with the class ranked above those without: AUC
    above 0.5)."""
    return [
        _claim(
            "Figure 5",
            "on the training samples the prior is higher near the sea than inland "
            "(mean confidence, coastal and maritime − inland)",
            float("nan"),
            measures["coastal − inland"],
            +1,
        ),
        _claim(
            "Figure 5",
            "the prior ranks the samples with the class above those without (AUC, above 0.5)",
            float("nan"),
            measures["sample AUC"],
            +1,
            reference=0.5,
        ),
        _claim(
            "Figure 5",
            "outside the training support the prior is useless: it tells sea from land worse than inside "
            "(grid AUC of sea against land, outside − inside)",
            float("nan"),
            measures["grid AUC outside"] - measures["grid AUC inside"],
            -1,
        ),
    ]


def figure6_claims(means: pd.DataFrame) -> list[dict]:
    """ST pseudo-labels are more precise, and about as many (within ±5 %, the figure page's "almost
    identical"), as FixMatch's, per seed (:func:`stssl.experiments.figure6.means`)."""
    band = ALMOST_IDENTICAL * 100
    a, b = means.loc["FixMatch"], means.loc["FixMatch + ST-SSL"]
    return [
        _claim(
            "Figure 6",
            "teacher pseudo-labels more precise than FixMatch's (precision difference)",
            float("nan"),
            b["pl_precision"] - a["pl_precision"],
            +1,
        ),
        _claim(
            "Figure 6",
            f"about as many pass the mask (quantity difference, %, within ±{band:g})",
            float("nan"),
            (b["pl_quantity"] - a["pl_quantity"]) / a["pl_quantity"] * 100,
            None,
            within=band,
        ),
    ]


def context_claims(gains: pd.DataFrame) -> list[dict]:
    """Beyond the paper (its Limitations): the gain needs informative metadata, so it grows with
    context strength (the strongest minus the weakest, per seed)."""
    per_seed = gains.pivot(index="seed", columns="context_strength", values="gain")
    lo, hi = per_seed.columns.min(), per_seed.columns.max()
    return [
        _claim(
            "Context",
            f"the gain at strength {hi:g} exceeds the gain at {lo:g} (difference, points)",
            float("nan"),
            per_seed[hi] - per_seed[lo],
            +1,
        )
    ]


def metadata_information_claims(information: pd.Series) -> list[dict]:
    """The paper's central claim, that the gain comes from the metadata, as a control any data set
    can run: the student with the teacher's real metadata minus with another training sample's
    (Table 2's a − p, per seed; :func:`stssl.experiments.table2.metadata_information`)."""
    if not len(information):
        return []
    return [
        _claim(
            "Metadata",
            "the metadata's information raises mAP: real metadata − another sample's (Table 2 a − p, points)",
            float("nan"),
            information,
            +1,
        )
    ]


def metadata_share_sentence(claims: pd.DataFrame) -> str:
    """The gain that the metadata's information brings (a − p), beside the context-strength
    control where the data set has one (GeoSynth): two ways of asking the same question, which
    should agree."""
    rows = {page: claims[claims.page == page].iloc[0] for page in ("Metadata", "Context") if page in set(claims.page)}
    if "Metadata" not in rows:
        return "No permuted-metadata runs (Table 2's row p) to measure what the metadata's information brings."

    def measured(row: pd.Series) -> str:
        interval = "" if row["95 % interval"] == NO_VERDICT else f" {row['95 % interval']}"
        return f"{row.ours:+.2f} points{interval} ({row['seeds for']} seeds ahead): {row.verdict}"

    text = (
        "**The gain that the metadata's information brings** (the student with the teacher's real metadata minus "
        f"with another training sample's, Table 2's a − p): {measured(rows['Metadata'])}."
    )
    if "Context" in rows:
        text += (
            " GeoSynth's own control, + ST-SSL's gain when its metadata carry the most information minus when they "
            f"carry none ({rows['Context'].claim.split(' (')[0].removeprefix('the ')}): {measured(rows['Context'])}. "
            "The two ask the same question two ways and should agree."
        )
    return text


VERDICTS = (HOLDS, CONTRADICTED, UNRESOLVED)


def verdict_counts(claims: pd.DataFrame) -> pd.DataFrame:
    """Per page (and in all), how many claims with a direction hold, are contradicted or are not resolved."""
    directed = claims[claims.verdict != NO_VERDICT]
    kind = directed.verdict.map(lambda v: next(k for k in VERDICTS if v.startswith(k)))
    counts = pd.crosstab(directed.page, kind).reindex(columns=list(VERDICTS), fill_value=0)
    counts = counts.reindex(directed.page.unique())
    counts.loc["all"] = counts.sum()
    return counts


def agreement_sentence(claims: pd.DataFrame) -> str:
    """The headline: of the claims with a direction, how many hold, are contradicted and are not
    resolved at this build's seeds, per page; the claims without a verdict (no direction claimed,
    or not measurable here) are counted apart."""
    counts = verdict_counts(claims)
    total = counts.loc["all"]
    pages = counts.drop(index="all")

    def spelled(row) -> str:
        return "/".join(str(row[k]) for k in VERDICTS)

    text = (
        f"**Of the {int(total.sum())} directions the paper claims, {total[HOLDS]} hold in ours, "
        f"{total[CONTRADICTED]} are contradicted and {total[UNRESOLVED]} are not resolved at this build's seeds** "
        f"(per page, holds/contradicted/not resolved: "
        + ", ".join(f"{page} {spelled(row)}" for page, row in pages.iterrows())
        + ")."
    )
    rest = claims[claims.verdict == NO_VERDICT]
    if len(rest):
        text += (
            f" {len(rest)} more "
            f"({', '.join(f'{page} {n}' for page, n in rest.groupby('page', sort=False).size().items())}) "
            "have no verdict: the paper claims no direction there, or ours is undefined."
        )
    return text


PAGE = Page("summary", None, reads_all=True)
