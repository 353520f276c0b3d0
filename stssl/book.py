"""Execute the book's notebooks, in reading order, for a book built in one profile (``make book``).

Each page gets the parameters :mod:`stssl.experiments.pages` gives it, so a ``paper`` book reads
the very runs ``stssl sweep all --profile paper`` trained. A page whose notebook fails stops the
build with the page's name and the path of its partly executed copy.
"""

from __future__ import annotations

import time
from pathlib import Path

from stssl.experiments.pages import notebook_params, page_configs, pages
from stssl.runs import run_dir

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def build_info(profile: str, data_root: str | None, eurosat_root: str | None) -> str:
    """The lines the introduction and the summary show: which profile and data produced the book."""
    data = {"paper": f"BigEarthNet from `{data_root}` and EuroSAT from `{eurosat_root}`"}.get(
        profile, "the embedded GeoSynth data set")
    return (f"This book was built with the **`{profile}` profile** ({data}) on "
            f"{time.strftime('%Y-%m-%d')}; the pages about GeoSynth itself use the `cpu` profile.\n")


def execute_notebooks(profile: str = "cpu", data_root: str | None = None, eurosat_root: str | None = None,
                      seeds=None, out: str | Path = "book/results", names: list[str] | None = None) -> None:
    import papermill

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "build-info.md").write_text(build_info(profile, data_root, eurosat_root))
    total = time.perf_counter()
    for page in pages(names or ["all"]):
        params = notebook_params(page, profile, data_root, eurosat_root, seeds)
        cfgs = page_configs(page, profile, data_root, eurosat_root, seeds)
        cached = sum((run_dir(c) / "metrics.json").exists() for c in cfgs)
        print(f"{page.name}: {len(cfgs)} runs, {cached} cached", flush=True)
        start = time.perf_counter()
        if page.name == "geosynth":
            params["out_dir"] = str((out / "figures").resolve())
        try:
            papermill.execute_notebook(str(NOTEBOOKS / f"{page.name}.ipynb"), str(out / f"{page.name}.ipynb"),
                                       parameters=params, cwd=str(NOTEBOOKS), progress_bar=False)
        except papermill.PapermillExecutionError as err:
            raise SystemExit(f"page {page.name} failed ({err.ename}: {err.evalue.splitlines()[0] if err.evalue else ''}); "
                             f"the executed notebook is {out / page.name}.ipynb") from None
        print(f"{page.name}: done in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"all pages executed in {time.perf_counter() - total:.0f} s", flush=True)
