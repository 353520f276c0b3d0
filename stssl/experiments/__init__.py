"""The paper's experiments, one module per table or figure, and the book's pages in reading order.

Every page module declares its ``PAGE`` (:class:`~stssl.experiments.page.Page`) and offers
``configs(profile, dataset=None, data_root=None, seeds=3, device="auto", ...)``, the runs it needs
(``dataset=None``: the profile's own data set), so a notebook, the reproduction summary, ``make
book``, ``stssl plan`` and ``stssl sweep`` ask for exactly the same runs and the run cache trains
each of them once. Its ``table(runs)`` (or ``plot``) turns the finished runs into the page's result.

A ``paper`` book reads BigEarthNet from ``data_root`` and EuroSAT (Table 4) from ``eurosat_root``;
the pages about GeoSynth (its own page and the context-strength page) keep the ``cpu`` profile,
since a real data set's context cannot be turned down. Adding a page is one module with its
``PAGE`` and one entry in :data:`PAGES`.
"""

from __future__ import annotations

from stssl.config import PROFILES, RunConfig, seed_list
from stssl.data import registry
from stssl.experiments import (
    context,
    encoders,
    explore,
    figure3,
    figure4,
    figure5,
    figure6,
    geosynth,
    missing,
    own_data,
    summary,
    table1,
    table2,
    table3,
    table4,
)
from stssl.experiments.page import Page

PAGES: tuple[Page, ...] = tuple(
    m.PAGE
    for m in (
        geosynth,
        table1,
        table2,
        table3,
        table4,
        figure3,
        figure4,
        figure5,
        figure6,
        context,
        encoders,
        missing,
        own_data,
        explore,
        summary,
    )
)
BY_NAME = {p.name: p for p in PAGES}
SEEDED = [p.name for p in PAGES if p.seeds is not None]  # the pages a reads_all page reads, with their seeds


def pages(names: list[str]) -> list[Page]:
    """``names`` (or ``["all"]``) as pages in reading order; an unknown name fails listing the valid ones."""
    unknown = [n for n in names if n != "all" and n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown page(s) {', '.join(unknown)}; valid: all, {', '.join(BY_NAME)}")
    return [p for p in PAGES if "all" in names or p.name in names]


def _generated(profile: str) -> bool:
    return registry.get(PROFILES[profile]["dataset"]).context_param is not None


def notebook_params(
    page: Page,
    profile: str,
    data_root: str | None = None,
    eurosat_root: str | None = None,
    seeds: int | str | list | None = None,
    dataset: str | None = None,
) -> dict:
    """The papermill parameters of ``page`` in a book built with ``profile`` (``seeds``: every page's
    seeds instead of its own default; ``dataset``: another data set than the profile's for the
    pages that take the profile's)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    if page.data == "none":
        params = {}
    elif page.data == "export":
        params = {"profile": profile if _generated(profile) else "cpu"}
    elif page.data == "generated" and not _generated(profile):
        params = {"profile": "cpu"}
    elif page.data == "single-label" and profile == "paper":
        if not eurosat_root:
            raise ValueError(
                "a paper-profile book needs EuroSAT for Table 4: give its folder (eurosat_root, "
                "EUROSAT_ROOT=... for make book)"
            )
        params = {"profile": profile, "data_root": eurosat_root}
    else:
        if profile == "paper" and not data_root:
            raise ValueError(
                "a paper-profile book needs BigEarthNet: give its folder (data_root, DATA_ROOT=... for make book)"
            )
        params = {
            "profile": profile,
            **({"data_root": data_root} if data_root else {}),
            **({"dataset": dataset} if dataset else {}),
        }
    if page.params is not None:
        params.update(page.params(profile))
    if page.reads_all:
        params["eurosat_root"] = eurosat_root
        params["seeds"] = {p: (seeds if seeds is not None else BY_NAME[p].seeds) for p in SEEDED}
    elif page.seeds is not None and seeds is not None:
        params["seeds"] = seeds
    return params


def page_configs(
    page: Page,
    profile: str,
    data_root: str | None = None,
    eurosat_root: str | None = None,
    seeds: int | str | list | None = None,
    dataset: str | None = None,
    device: str = "auto",
) -> list[RunConfig]:
    """The runs ``page`` asks for with :func:`notebook_params` (a ``reads_all`` page: every seeded page's)."""
    if page.reads_all:
        return [
            c
            for name in SEEDED
            for c in page_configs(BY_NAME[name], profile, data_root, eurosat_root, seeds, dataset, device)
        ]
    if page.configs is None:
        return []
    p = notebook_params(page, profile, data_root, eurosat_root, seeds, dataset)
    chosen = seed_list(p.get("seeds", page.seeds)) if page.seeds is not None else None
    return page.configs(p["profile"], p.get("dataset"), p.get("data_root"), chosen, device)
