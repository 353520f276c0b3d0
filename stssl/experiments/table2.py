"""Table 2: ablations of FixMatch + ST-SSL, each one option of the run (see :mod:`stssl.config`).

Rows (b)-(j) change one thing of the method; (k)-(m) set the distillation weight λ_D to the
paper's 0.1, 0.5 and 2. The paper's row (a) has λ_D = 1, and its Δ of rows (k)-(m) are measured
from it. Our row (a) uses the profile's λ_D (1 in the ``paper`` profile, 0.1 in ``cpu``, where
λ_D = 1 hurt tiny from-scratch students), so λ_D = 1 gets its own row (a′) when it is not already
(a), and the Δ of (k)-(m) are measured from (a′), as the paper's (:func:`baseline`); a λ_D row
that equals the profile's value *is* row (a), the same cached runs. Rows (b)-(j) are measured from
row (a), the profile's full method.
"""

from __future__ import annotations

import pandas as pd

from stssl.cache import Run
from stssl.config import RunConfig, resolve, seed_list
from stssl.experiments.page import Page
from stssl.paper import TABLE2
from stssl.report.stats import compare, tally
from stssl.report.tables import mean_std

ABLATIONS: dict[str, dict] = {
    "a": {},
    "b": {"metadata": "location"},
    "c": {"metadata": "time"},
    "d": {"fusion": "late"},
    "e": {"single_model": True},
    "f": {"lambda_d": 0.0},
    "g": {"distill": "mae"},
    "h": {"distill": "cos"},
    "i": {"distill_target": "cls"},
    "j": {"stop_gradient": False},
    "k": {"lambda_d": 0.1},
    "l": {"lambda_d": 0.5},
    "a′": {"lambda_d": 1.0},
    "m": {"lambda_d": 2.0},
    "p": {"permute_metadata": True},
}
"""Row -> the run options that make it (the paper's letters; a′ is the paper's λ_D = 1 of row a;
p, beyond the paper, gives the teacher another training sample's metadata: the control of what the
metadata's information brings, on any data set)."""

PERMUTED = "p"
"""The control row: row (a) minus it is the gain that the metadata's information brings."""

LAMBDA_ROWS = ("k", "l", "m")
"""The paper's λ_D rows, measured from λ_D = 1 (its row a)."""


def baseline(row: str, row_configs: dict[str, list[RunConfig]]) -> str:
    """The row that ``row``'s change is measured from, as in the paper: (a′), the runs with λ_D = 1,
    for the λ_D rows (k)-(m); row (a) for every other."""
    return "a′" if row in LAMBDA_ROWS and "a′" in row_configs else "a"


def rows(
    profile: str = "cpu",
    dataset: str | None = None,
    data_root: str | None = None,
    seeds=3,
    device: str = "auto",
    only: list[str] | None = None,
    config: dict | None = None,
) -> dict[str, list[RunConfig]]:
    """Row -> its FixMatch + ST-SSL configs, one per seed (``only``: these rows, (a) always, and
    (a′), λ_D = 1, with any of (k)-(m), their baseline). Row (a) is Table 1's FixMatch + ST-SSL
    with the same ``config`` overrides: the same runs."""
    where = {"dataset": dataset} if dataset else {}
    unknown = set(only or ()) - set(ABLATIONS)
    if unknown:
        raise ValueError(f"unknown Table 2 row(s) {sorted(unknown)}; valid: {', '.join(ABLATIONS)}")
    wanted = None if only is None else {"a", *only} | ({"a′"} if set(only) & set(LAMBDA_ROWS) else set())
    out = {}
    for row, options in ABLATIONS.items():
        if wanted is not None and row not in wanted:
            continue
        out[row] = [
            resolve(
                profile,
                algo="fixmatch",
                st=True,
                data_root=data_root,
                seed=s,
                device=device,
                algo_params={},
                **where,
                **{**(config or {}), **options},
            )
            for s in seed_list(seeds)
        ]
    return out


def configs(*args, **kwargs) -> list[RunConfig]:
    """Every run of the table, once (rows that equal row (a) share its runs)."""
    unique = {c.key(): c for cfgs in rows(*args, **kwargs).values() for c in cfgs}
    return list(unique.values())


def table(runs: list[Run], row_configs: dict[str, list[RunConfig]]) -> pd.DataFrame:
    """Per row: our test mAP (mean ± std over seeds, %), the change from its :func:`baseline`
    paired by seed (row a, or a′ with λ_D = 1 for the λ_D rows) with its 95 % interval and the
    seeds on which the row was ahead (:mod:`stssl.report.stats`), beside the paper's mAP and change
    (the difference of its printed mAPs; row g's printed Δ disagrees, see :mod:`stssl.paper`). A row
    whose runs are row (a)'s says so."""
    values = row_values(runs, row_configs)
    paper_a = TABLE2["a"][1]
    out = []
    for row, cfgs in row_configs.items():
        base = baseline(row, row_configs)
        same = row != "a" and cfgs == row_configs["a"]
        no_delta = row in ("a", "a′") or cfgs == row_configs[base]
        paper = TABLE2["a"][1] if row == "a′" else TABLE2.get(row, ("", None))[1]
        out.append(
            {
                "row": row,
                "ablation": _label(row, cfgs[0]) + (" (= row a)" if same else ""),
                "ours mAP (%)": mean_std(values[row], scale=1),
                "ours Δ (%)": "–" if no_delta else compare(values[row] - values[base]).describe(),
                "Δ from": "–" if no_delta else base,
                "seeds": len(cfgs),
                "paper mAP (%)": "–" if paper is None else f"{paper:.2f}",
                "paper Δ (%)": "–" if row in ("a", "a′") or paper is None else f"{paper - paper_a:+.2f}",
            }
        )
    return pd.DataFrame(out).set_index("row")


def _label(row: str, cfg: RunConfig) -> str:
    if row == "a":
        return f"FixMatch + ST-SSL ({cfg.distill.upper()} distillation, λ_D = {cfg.lambda_d:g})"
    if row in ("k", "l", "m", "a′"):
        return f"λ_D = {cfg.lambda_d:g}" + (" (the paper's row a)" if row == "a′" else "")
    if row == PERMUTED:
        return "the teacher given another sample's metadata (a fixed permutation; beyond the paper)"
    return TABLE2[row][0]


def row_values(runs: list[Run], row_configs: dict[str, list[RunConfig]]) -> pd.DataFrame:
    """Our test mAP (points): one row per seed, one column per Table 2 row."""
    by_key = {r.config.key(): r for r in runs}
    return pd.DataFrame(
        {row: {c.seed: 100 * by_key[c.key()].metrics["test_mAP"] for c in cfgs} for row, cfgs in row_configs.items()},
        dtype=float,
    )


def changes(runs: list[Run], row_configs: dict[str, list[RunConfig]]) -> pd.DataFrame:
    """Per seed (rows) and per paper row other than (a) with runs of its own (columns): our test
    mAP minus its :func:`baseline`'s (row a; a′, λ_D = 1, for the λ_D rows), paired by seed, in
    points: the paper's Δ."""
    values = row_values(runs, row_configs)
    return pd.DataFrame(
        {
            row: values[row] - values[baseline(row, row_configs)]
            for row in row_configs
            if row in TABLE2 and row != "a" and row_configs[row] != row_configs[baseline(row, row_configs)]
        },
        index=values.index,
        dtype=float,
    )


def lambda_d_above_f(runs: list[Run], row_configs: dict[str, list[RunConfig]]) -> pd.DataFrame:
    """Per seed and per λ_D row (k)-(m) with runs: our test mAP minus row (f)'s, without
    distillation (points). The paper: every λ_D "still gives us better mAP scores than" (f)."""
    if "f" not in row_configs:
        return pd.DataFrame(dtype=float)
    values = row_values(runs, row_configs)
    return pd.DataFrame(
        {row: values[row] - values["f"] for row in LAMBDA_ROWS if row in row_configs}, index=values.index, dtype=float
    )


def metadata_information(runs: list[Run], row_configs: dict[str, list[RunConfig]]) -> pd.Series:
    """Per seed, row (a) minus row (p), in points: what the metadata's information about each image
    brings, with the teacher, the distillation token and the metadata's distribution unchanged
    (empty without row p)."""
    if PERMUTED not in row_configs:
        return pd.Series(dtype=float)
    values = row_values(runs, row_configs)
    return (values["a"] - values[PERMUTED]).dropna()


def agreement(runs: list[Run], row_configs: dict[str, list[RunConfig]]) -> str:
    """Sentences with a verdict over seeds (:func:`stssl.report.stats.tally`): which rows lower the
    mAP as the paper's all do (rows k-m measured from λ_D = 1, as the paper's), what the metadata's
    information brings (a − p), and whether every λ_D stays above (f)."""
    delta = changes(runs, row_configs)
    if delta.empty:
        return "No ablation rows to compare."
    counts, listing = tally({f"({row})": d for row, d in delta.items()}, sign=-1)
    text = (
        f"**Every ablation lowers the paper's mAP; ours, {delta.shape[1]} rows: {counts}** (Δ in points paired by "
        f"seed, its 95 % interval and the seeds where the row was ahead of its baseline): {listing}."
    )
    if any(row in delta for row in LAMBDA_ROWS):
        text += " Rows (k)–(m) are measured from λ_D = 1, the paper's row (a)."
    information = metadata_information(runs, row_configs)
    if len(information):
        text += (
            " **Real metadata against another sample's (a − p), the gain that the metadata's information brings: "
            f"{compare(information).describe(+1, ' points')}.**"
        )
    above = lambda_d_above_f(runs, row_configs)
    if not above.empty:
        counts, listing = tally({f"λ_D = {row_configs[row][0].lambda_d:g}": d for row, d in above.items()})
        text += f" **The paper: every λ_D stays above no distillation (f); ours: {counts}** ({listing}; points against (f))."
    return text


PAGE = Page("table2", 3, configs=configs)
