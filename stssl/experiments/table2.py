"""Table 2: ablations of FixMatch + ST-SSL, each one option of the run (see :mod:`stssl.config`).

Rows (b)-(j) change one thing of the method; (k)-(m) set the distillation weight λ_D to the
paper's 0.1, 0.5 and 2. Our row (a) uses the profile's λ_D (1 in the ``paper`` profile, 0.1 in
``cpu``, where λ_D = 1 hurt tiny from-scratch students), so λ_D = 1 gets its own row when it is
not already (a); a λ_D row that equals the profile's value *is* row (a), the same cached runs.
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


def rows(
    profile: str = "cpu",
    dataset: str | None = None,
    data_root: str | None = None,
    seeds=3,
    device: str = "auto",
    only: list[str] | None = None,
    config: dict | None = None,
) -> dict[str, list[RunConfig]]:
    """Row -> its FixMatch + ST-SSL configs, one per seed (``only``: these rows, and (a) always).
    Row (a) is Table 1's FixMatch + ST-SSL with the same ``config`` overrides: the same runs."""
    where = {"dataset": dataset} if dataset else {}
    unknown = set(only or ()) - set(ABLATIONS)
    if unknown:
        raise ValueError(f"unknown Table 2 row(s) {sorted(unknown)}; valid: {', '.join(ABLATIONS)}")
    out = {}
    for row, options in ABLATIONS.items():
        if only is not None and row not in only and row != "a":
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
    """Per row: our test mAP (mean ± std over seeds, %), the change from row (a) paired by seed,
    beside the paper's mAP and change. A row whose runs are row (a)'s says so."""
    by_key = {r.config.key(): r for r in runs}
    base = pd.Series({c.seed: by_key[c.key()].metrics["test_mAP"] for c in row_configs["a"]})
    paper_a = TABLE2["a"][1]
    out = []
    for row, cfgs in row_configs.items():
        mAP = pd.Series({c.seed: by_key[c.key()].metrics["test_mAP"] for c in cfgs})
        same = row != "a" and cfgs == row_configs["a"]
        label = _label(row, cfgs[0])
        paper = TABLE2["a"][1] if row == "a′" else TABLE2.get(row, ("", None))[1]
        out.append(
            {
                "row": row,
                "ablation": label + (" (= row a)" if same else ""),
                "ours mAP (%)": mean_std(mAP),
                "ours Δ (%)": "–" if row == "a" or same else mean_std((mAP - base) * 100, scale=1, signed=True),
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


def changes(runs: list[Run], row_configs: dict[str, list[RunConfig]]) -> pd.Series:
    """Per paper row other than (a) with runs of its own: our mean test mAP minus row (a)'s (points)."""
    by_key = {r.config.key(): r for r in runs}

    def mean(row: str) -> float:
        return 100 * sum(by_key[c.key()].metrics["test_mAP"] for c in row_configs[row]) / len(row_configs[row])

    return pd.Series(
        {
            row: mean(row) - mean("a")
            for row in row_configs
            if row in TABLE2 and row != "a" and row_configs[row] != row_configs["a"]
        },
        dtype=float,
    )


def agreement(runs: list[Run], row_configs: dict[str, list[RunConfig]]) -> str:
    """A sentence: in which rows our mean change from (a) has the paper's sign (all the paper's are drops)."""
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
    return text


PAGE = Page("table2", 3, configs=configs)
