"""A page of the book: its notebook, the seeds it runs by default, which data it reads, and the runs
it asks for. Each page's module declares its own ``PAGE`` (:mod:`stssl.experiments` lists them in
reading order); nothing dispatches on page names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stssl.config import RunConfig

DATA = ("main", "single-label", "generated", "export", "none")
"""Which data a page reads in a book built in some profile: ``main``, the profile's data set;
``single-label``, Table 4's (EuroSAT in the paper profile); ``generated``, a data set whose context
can be turned down (GeoSynth; the cpu profile's when the book's has none); ``export``, its own (a
GeoSynth export, whatever the book's data set); ``none``, no runs."""


@dataclass(frozen=True)
class Page:
    name: str  # its notebook: notebooks/<name>.ipynb
    seeds: int | None  # the notebook's default number of seeds (None: it takes no ``seeds``)
    data: str = "main"  # one of DATA
    # (profile, dataset, data_root, seeds, device) -> the runs it reads; None: no runs of its own
    configs: Callable[..., list[RunConfig]] | None = None
    # profile -> the page's own notebook parameters in a book of that profile (GeoSynth's size)
    params: Callable[[str], dict] | None = None
    reads_all: bool = False  # the summary: it reads every seeded page's runs, with each page's seeds
    figures_only: bool = False  # its notebook makes figures for a prose page; the executed copy is not a page

    def __post_init__(self):
        if self.data not in DATA:
            raise ValueError(f"page {self.name}: data={self.data!r}; valid: {', '.join(DATA)}")
