"""Table 1: every SSL algorithm, plain and + ST-SSL, beside the supervised baseline."""

from __future__ import annotations

from stssl.algorithms import ALGORITHMS, check_algorithm
from stssl.config import RunConfig, resolve, seed_list
from stssl.data import registry
from stssl.experiments.page import Page
from stssl.report import tables


def algorithms(algo: str, multilabel: bool | None = None) -> list[str]:
    """``"all"``: the seven SSL algorithms (those that take the task, when ``multilabel`` says which:
    CAP is multi-label only); otherwise the one named (checked, listing the valid names)."""
    if algo == "all":
        supports = {True: "supports_multilabel", False: "supports_single_label", None: "uses_unlabelled"}[multilabel]
        return [name for name, cls in ALGORITHMS.items() if name != "supervised" and getattr(cls, supports)]
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
    where = {"dataset": dataset} if dataset else {}
    data = resolve(profile, data_root=data_root, **where, **(config or {}))
    algos = algorithms(algo, registry.get(data.dataset).is_multilabel(data.dataset_params))
    algo_params = dict(algo_params or {})
    params = {a: dict(algo_params.get(a, {})) for a in algos} if algo == "all" else {algo: algo_params}
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
