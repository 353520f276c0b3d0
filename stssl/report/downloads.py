"""What a book page offers a reader to take away: each table as CSV, with the values of every run
behind it (every seed, not only the mean ± std), and each figure as PNG and SVG, linked under it.

A page's notebook shows its tables with :func:`show_table` and its figures with :func:`show_figure`.
In a book build, :func:`stssl.book.execute_notebooks` names the executed page in
``STSSL_BOOK_PAGE``; the files go to ``downloads/<page>/`` beside it and a line of links follows
the table or the figure (the book's build copies the files and checks that each exists). Run by
hand (papermill, JupyterLab) a notebook shows the table or the figure alone and writes nothing.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pandas as pd

from stssl.cache import Run
from stssl.report.tables import runs_frame

PAGE_ENV = "STSSL_BOOK_PAGE"  # the executed notebook of a book build: book/results/<page>.ipynb
_counts: dict[str, int] = {}  # tables and figures offered so far by this kernel, per kind


def _page() -> Path | None:
    page = os.environ.get(PAGE_ENV)
    return Path(page) if page else None


def _next(kind: str, page: Path) -> tuple[Path, str]:
    """The folder of ``page``'s files, and the next file stem of ``kind`` (``table1-table-2``)."""
    _counts[kind] = _counts.get(kind, 0) + 1
    folder = page.parent / "downloads" / page.stem
    folder.mkdir(parents=True, exist_ok=True)
    return folder, f"{page.stem}-{kind}-{_counts[kind]}"


def _links(page: Path, files: list[tuple[str, Path]]):
    """A line of links to ``files`` (label, path), relative to ``page``."""
    from IPython.display import Markdown

    return Markdown(
        "Download: " + " · ".join(f"[{label}]({path.relative_to(page.parent).as_posix()})" for label, path in files)
    )


def _shown_frame(table) -> pd.DataFrame:
    """The frame a table shows: a Styler's data with its hidden columns left out, or a frame."""
    if isinstance(table, pd.DataFrame):
        return table
    frame = table.data
    hidden = getattr(table, "hidden_columns", [])
    return frame.drop(columns=frame.columns[list(hidden)]) if len(hidden) else frame


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` as CSV; its index too unless it is only row numbers."""
    plain = isinstance(frame.index, pd.RangeIndex) and frame.index.name is None
    frame.to_csv(path, index=not plain)


def per_run(runs: list[Run], metric: str = "mAP", **columns) -> pd.DataFrame:
    """One row per run: its cache key, the settings in which the runs differ (the page's subject:
    a label budget, an option of Table 2, a location encoding), its seed and its test metrics
    (:func:`stssl.report.tables.runs_frame`); ``columns``: more columns, one value per run."""
    frame = runs_frame(runs, metric)
    settings = [dataclasses.asdict(r.config) for r in runs]
    varying = {}
    for name in settings[0] if settings else []:
        values = [repr(s[name]) if isinstance(s[name], (dict, list, tuple)) else s[name] for s in settings]
        if name not in ("seed", "algo", "st") and len({str(v) for v in values}) > 1:
            varying[name] = values
    front = pd.DataFrame({"key": [r.config.key() for r in runs], **columns, **varying})
    return pd.concat([front, frame], axis=1)


def show_table(table, data: pd.DataFrame | None = None) -> None:
    """Show ``table`` (a pandas Styler or frame) and, in a book build, link its CSV (what it shows)
    and ``data``'s (the values behind it: one row per run or per seed, e.g. :func:`per_run`)."""
    from IPython.display import display

    display(words_left(table))
    page = _page()
    if page is None:
        return
    folder, stem = _next("table", page)
    files = [("table (CSV)", folder / f"{stem}.csv")]
    _write_csv(_shown_frame(table), files[0][1])
    if data is not None:
        files.append(("every run and seed (CSV)", folder / f"{stem}-runs.csv"))
        _write_csv(data, files[1][1])
    display(_links(page, files))


def words_left(table):
    """A Styler with its columns of words (a claim, a verdict, an ablation, a file name) aligned
    left, header and cells: the book's CSS aligns cells right, for the numbers
    (:mod:`stssl.bookhtml`). A frame is returned as it is."""
    if isinstance(table, pd.DataFrame) or not table.data.columns.is_unique:
        return table
    words = [c for c in table.data.columns if _mostly_words(table.data[c])]
    left = [{"selector": "", "props": "text-align: left"}]
    return table.set_table_styles({c: left for c in words}, overwrite=False) if words else table


def _mostly_words(column: pd.Series) -> bool:
    """Most of the cells that hold letters or digits hold over twice as many letters as digits."""
    counts = [(sum(map(str.isalpha, v)), sum(map(str.isdigit, v))) for v in column if isinstance(v, str)]
    counted = [(a, d) for a, d in counts if a or d]
    return sum(a > 2 * d for a, d in counted) * 2 > len(counted) if counted else False


def show_figures(*figures, data: list[pd.DataFrame | None] | None = None) -> None:
    """Show ``figures`` (default: pyplot's current figure), each rendered to PNG and closed before
    any is displayed; in a book build, each linked as PNG and SVG, and ``data`` (per figure, the
    values it plots, or None) as CSV.

    Rendering first is what keeps a widget's redraw whole: in JupyterLab, a map drawn after a
    display in the same ``ipywidgets.interactive`` callback came out nearly blank (explore's class
    maps, measured in the browser test), while the same figures rendered before any display are
    right."""
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    figures = figures or (plt.gcf(),)
    data = data or [None] * len(figures)
    page = _page()
    shown = []
    for fig, values in zip(figures, data, strict=True):
        png = io.BytesIO()
        fig.savefig(png, format="png", bbox_inches="tight")
        files = _figure_files(fig, values, page) if page is not None else []
        plt.close(fig)
        shown.append((png.getvalue(), files))
    for png, files in shown:
        display(Image(png))
        if files:
            display(_links(page, files))


def show_figure(fig=None, data: pd.DataFrame | None = None) -> None:
    """:func:`show_figures` of one figure and the values it plots."""
    show_figures(*([fig] if fig is not None else []), data=[data] if fig is not None else None)


def _figure_files(fig, data: pd.DataFrame | None, page: Path) -> list[tuple[str, Path]]:
    """``fig`` as PNG and SVG and ``data`` as CSV beside ``page``: (label, path) for each."""
    folder, stem = _next("figure", page)
    files = [("PNG", folder / f"{stem}.png"), ("SVG", folder / f"{stem}.svg")]
    fig.savefig(files[0][1], dpi=150, bbox_inches="tight")
    fig.savefig(files[1][1], bbox_inches="tight")
    if data is not None:
        files.append(("data (CSV)", folder / f"{stem}.csv"))
        _write_csv(data, files[2][1])
    return files
