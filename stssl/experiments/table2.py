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
}
"""Row -> the run options that make it (the paper's letters; a′ is the paper's λ_D = 1 of row a)."""

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
    paired by seed (row a, or a′ with λ_D = 1 for the λ_D rows), beside the paper's mAP and change
    (the difference of its printed mAPs; row g's printed Δ disagrees, see :mod:`stssl.paper`). A row
    whose runs are row (a)'s says so."""
    by_key = {r.config.key(): r for r in runs}

    def per_seed(row: str) -> pd.Series:
        return pd.Series({c.seed: by_key[c.key()].metrics["test_mAP"] for c in row_configs[row]})

    paper_a = TABLE2["a"][1]
    out = []
    for row, cfgs in row_configs.items():
        mAP = per_seed(row)
        base = baseline(row, row_configs)
        same = row != "a" and cfgs == row_configs["a"]
        no_delta = row in ("a", "a′") or cfgs == row_configs[base]
        paper = TABLE2["a"][1] if row == "a′" else TABLE2.get(row, ("", None))[1]
        out.append(
            {
                "row": row,
                "ablation": _label(row, cfgs[0]) + (" (= row a)" if same else ""),
                "ours mAP (%)": mean_std(mAP),
                "ours Δ (%)": "–" if no_delta else mean_std((mAP - per_seed(base)) * 100, scale=1, signed=True),
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
    return TABLE2[row][0]


def row_means(runs: list[Run], row_configs: dict[str, list[RunConfig]]) -> pd.Series:
    """Per row: our mean test mAP over seeds (points)."""
    by_key = {r.config.key(): r for r in runs}
    return pd.Series(
        {
            row: 100 * sum(by_key[c.key()].metrics["test_mAP"] for c in cfgs) / len(cfgs)
            for row, cfgs in row_configs.items()
        },
        dtype=float,
    )


def changes(runs: list[Run], row_configs: dict[str, list[RunConfig]]) -> pd.Series:
    """Per paper row other than (a) with runs of its own: our mean test mAP minus its
    :func:`baseline`'s (row a; a′, λ_D = 1, for the λ_D rows), in points: the paper's Δ."""
    means = row_means(runs, row_configs)
    return pd.Series(
        {
            row: means[row] - means[baseline(row, row_configs)]
            for row in row_configs
            if row in TABLE2 and row != "a" and row_configs[row] != row_configs[baseline(row, row_configs)]
        },
        dtype=float,
    )


def lambda_d_above_f(runs: list[Run], row_configs: dict[str, list[RunConfig]]) -> pd.Series:
    """Per λ_D row (k)-(m) with runs: our mean test mAP minus row (f)'s, without distillation
    (points). The paper: every λ_D "still gives us better mAP scores than" (f)."""
    if "f" not in row_configs:
        return pd.Series(dtype=float)
    means = row_means(runs, row_configs)
    return pd.Series({row: means[row] - means["f"] for row in LAMBDA_ROWS if row in row_configs}, dtype=float)


def agreement(runs: list[Run], row_configs: dict[str, list[RunConfig]]) -> str:
    """Sentences: in which rows our mean change has the paper's sign (all the paper's are drops;
    rows k-m measured from λ_D = 1, as the paper's), and whether every λ_D stays above (f)."""
    delta = changes(runs, row_configs)
    if delta.empty:
        return "No ablation rows to compare."
    drops = [row for row, d in delta.items() if d < 0]
    rises = [f"({row}) {d:+.2f}" for row, d in delta.items() if d >= 0]
    text = (
        f"**Every ablation lowers the paper's mAP; ours drops in {len(drops)} of {len(delta)} rows** "
        f"({', '.join(f'({r})' for r in drops) or 'none'})."
    )
    if rises:
        text += f" It does not in {', '.join(rises)} (points, mean over seeds)."
    if any(row in delta for row in LAMBDA_ROWS):
        text += " Rows (k)–(m) are measured from λ_D = 1, the paper's row (a)."
    above = lambda_d_above_f(runs, row_configs)
    if not above.empty:
        lam = {row: row_configs[row][0].lambda_d for row in above.index}
        text += (
            f" **The paper: every λ_D stays above no distillation (f); ours in {int((above > 0).sum())} of "
            f"{len(above)}** ("
            + ", ".join(f"λ_D = {lam[row]:g}: {d:+.2f}" for row, d in above.items())
            + " points against (f))."
        )
    return text


PAGE = Page("table2", 3, configs=configs)
