"""The book's pages in reading order: the notebook parameters each page gets for a book built in a
given profile, and the runs it then asks for.

``make book``, ``stssl plan`` and ``stssl sweep`` all read this one table, so the runs a sweep
trains are exactly the runs the executed notebooks then read from the cache. A ``paper`` book
reads BigEarthNet from ``data_root`` and EuroSAT (Table 4) from ``eurosat_root``; the pages about
GeoSynth (its own page and the context-strength page) keep the ``cpu`` profile, since a real data
set's context cannot be turned down.
"""

from __future__ import annotations

from dataclasses import dataclass

from stssl.config import PROFILES, RunConfig, seed_list
from stssl.data import registry


@dataclass(frozen=True)
class Page:
    name: str
    seeds: int | None  # the notebook's default number of seeds (None: the page takes no ``seeds``)
    # "main": the profile's data set | "single-label": Table 4's (EuroSAT in the paper profile) | "generated": a data set whose context can be
    # turned down (GeoSynth; the cpu profile's when the book's has none) | "export": its own (a GeoSynth
    # export, whatever the book's data set) | "none"
    data: str = "main"


PAGES: tuple[Page, ...] = (
    Page("geosynth", None, "none"),
    Page("table1", 3), Page("table2", 3), Page("table3", 3), Page("table4", 3, "single-label"),
    Page("figure3", 3), Page("figure4", 3), Page("figure5", 3), Page("figure6", 3),
    Page("context", 3, "generated"), Page("encoders", 3), Page("own_data", 3, "export"),
    Page("explore", None), Page("summary", None),
)
BY_NAME = {p.name: p for p in PAGES}
SEEDED = [p.name for p in PAGES if p.seeds is not None]  # the pages the summary reads, with their seeds


def pages(names: list[str]) -> list[Page]:
    """``names`` (or ``["all"]``) as pages in reading order; an unknown name fails listing the valid ones."""
    unknown = [n for n in names if n != "all" and n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown page(s) {', '.join(unknown)}; valid: all, {', '.join(BY_NAME)}")
    return [p for p in PAGES if "all" in names or p.name in names]


def _generated(profile: str) -> bool:
    return registry.get(PROFILES[profile]["dataset"]).context_param is not None


def notebook_params(page: Page, profile: str, data_root: str | None = None, eurosat_root: str | None = None,
                    seeds: int | str | list | None = None, dataset: str | None = None) -> dict:
    """The papermill parameters of ``page`` in a book built with ``profile`` (``seeds``: every page's
    seeds instead of its own default; ``dataset``: another data set than the profile's for the
    pages that take the profile's)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    if page.name == "geosynth":
        return {"n_samples": PROFILES[profile].get("dataset_params", {}).get("n_samples", 20_000)}
    if page.data == "export":
        params = {"profile": profile if _generated(profile) else "cpu"}
    elif page.data == "generated" and not _generated(profile):
        params = {"profile": "cpu"}
    elif page.data == "single-label" and profile == "paper":
        if not eurosat_root:
            raise ValueError("a paper-profile book needs EuroSAT for Table 4: give its folder (eurosat_root, "
                             "EUROSAT_ROOT=... for make book)")
        params = {"profile": profile, "data_root": eurosat_root}
    else:
        if profile == "paper" and not data_root:
            raise ValueError("a paper-profile book needs BigEarthNet: give its folder (data_root, DATA_ROOT=... "
                             "for make book)")
        params = {"profile": profile, **({"data_root": data_root} if data_root else {}),
                  **({"dataset": dataset} if dataset else {})}
        if page.name == "summary":
            params["eurosat_root"] = eurosat_root
    if page.seeds is not None and seeds is not None:
        params["seeds"] = seeds
    if page.name == "summary":
        params["seeds"] = {p: (seeds if seeds is not None else BY_NAME[p].seeds) for p in SEEDED}
    return params


def page_configs(page: Page, profile: str, data_root: str | None = None, eurosat_root: str | None = None,
                 seeds: int | str | list | None = None, dataset: str | None = None,
                 device: str = "auto") -> list[RunConfig]:
    """The runs ``page`` asks for with :func:`notebook_params` (the summary: every page's)."""
    from stssl.experiments import (context, encoders, figure3, figure4, figure5, figure6, own_data, table1,
                                   table2, table3, table4)
    from stssl.explore import table1_config

    if page.name == "geosynth":
        return []
    if page.name == "summary":
        return [c for name in SEEDED
                for c in page_configs(BY_NAME[name], profile, data_root, eurosat_root, seeds, dataset, device)]
    p = notebook_params(page, profile, data_root, eurosat_root, seeds, dataset)
    if page.name == "explore":
        return [table1_config(p["profile"], p.get("dataset"), p.get("data_root"), 0, device)]
    module = {"table1": table1, "table2": table2, "table3": table3, "table4": table4, "figure3": figure3,
              "figure4": figure4, "figure5": figure5, "figure6": figure6, "context": context, "encoders": encoders,
              "own_data": own_data}[page.name]
    return module.configs(p["profile"], p.get("dataset"), p.get("data_root"), seed_list(p.get("seeds", page.seeds)),
                          device)


def distinct(cfgs: list[RunConfig]) -> list[RunConfig]:
    """Each run once (pages share runs: Table 1's FixMatch + ST-SSL is also Table 2 a, Table 3 a, ...)."""
    return list({(c.dataset, c.key()): c for c in cfgs}.values())
