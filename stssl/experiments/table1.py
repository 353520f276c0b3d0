"""Table 1: every SSL algorithm, plain and + ST-SSL, beside the supervised baseline."""

from __future__ import annotations

from stssl.algorithms import ALGORITHMS, check_algorithm
from stssl.config import RunConfig, resolve, seed_list
from stssl.experiments.page import Page
from stssl.report import tables


def algorithms(algo: str) -> list[str]:
    """``"all"``: the seven SSL algorithms; otherwise the one named (checked, listing the valid names)."""
    if algo == "all":
        return [name for name in ALGORITHMS if name != "supervised"]
    check_algorithm(algo)
    return [] if algo == "supervised" else [algo]


def configs(
    profile: str = "cpu",
    dataset: str | None = None,
    data_root: str | None = None,
    seeds=3,
    device: str = "auto",
    algo: str = "all",
    algo_params: dict | None = None,
    config: dict | None = None,
) -> list[RunConfig]:
    """The supervised baseline, then each algorithm plain and + ST-SSL, every seed.
    ``algo_params`` is keyed by algorithm name for ``algo="all"``, else the one algorithm's."""
    algos, algo_params = algorithms(algo), dict(algo_params or {})
    params = {a: dict(algo_params.get(a, {})) for a in algos} if algo == "all" else {algo: algo_params}
    where = {"dataset": dataset} if dataset else {}
    methods = [("supervised", False)] + [(a, st) for a in algos for st in (False, True)]
    return [
        resolve(
            profile,
            algo=a,
            st=st,
            data_root=data_root,
            seed=s,
            device=device,
            algo_params=params.get(a, {}),
            **where,
            **(config or {}),
        )
        for a, st in methods
        for s in seed_list(seeds)
    ]


table = tables.table1
"""The page's table: each method's test mAP and paired gain beside the paper's."""


PAGE = Page("table1", 3, configs=configs)
